#!/usr/bin/env bash
# Micro-benchmarks of the C++ core in userspace (bench/): builds bench/ unsanitized (Release,
# -O2) into build/bench, then runs
#   1. latency             median / p99.9 per allocation and per lookup (self-timed batches,
#                          and single allocations timed one by one)
#   2. core_bench          Google Benchmark means, median of 3 repetitions
#   3. latency --callgrind instructions (and simulated branch mispredictions) per operation
#                          under valgrind: the figure to compare between runs on a noisy machine
# and writes everything to bench/results/core-<date>.txt, ending with a table of each figure
# next to its target (PASS/MISS). Takes about 1-2 minutes.
#   tools/bench-core.sh        BENCH_SAMPLES (100000) and BENCH_CALLGRIND_OPS (64000) tune it
# Timed runs are pinned to the CPU that was idler over half a second (taskset), since other
# work may share this machine; the report says how much it did (load, preempted samples,
# wall/CPU ratio, run-to-run cv).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_BUILD:-$root/build/bench}
samples=${BENCH_SAMPLES:-100000}
cg_ops=${BENCH_CALLGRIND_OPS:-64000}
results=$root/bench/results
report=$results/core-$(date +%Y-%m-%d).txt
mkdir -p "$results"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in cmake valgrind; do
	command -v "$tool" >/dev/null || { echo "bench-core: $tool is not installed" >&2; exit 1; }
done
[ -e /usr/include/benchmark/benchmark.h ] || {
	echo "bench-core: Google Benchmark is not installed (apt-get install libbenchmark-dev)" >&2
	exit 1
}

echo "bench-core: building $out (Release, -O2, no sanitizers)"
cmake -S "$root/bench" -B "$out" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out" -j "$(nproc)" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }

# The CPU with the most idle time over half a second, from /proc/stat.
idle_cpu() {
	local a b
	a=$(grep -E '^cpu[0-9]+ ' /proc/stat)
	sleep 0.5
	b=$(grep -E '^cpu[0-9]+ ' /proc/stat)
	paste <(echo "$a") <(echo "$b") | awk '
		{ n = (NF) / 2; cpu = substr($1, 4); idle = $(n + 5) - $5; busy = 0
		  for (i = 2; i <= n; i++) busy += $(n + i) - $i
		  busy -= idle
		  printf "%s %d %d\n", cpu, idle, busy }' | sort -k2,2nr | head -n 1
}
read -r cpu cpu_idle cpu_busy < <(idle_cpu)
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c "$cpu"); fi

{
	echo "# dm-remap core micro-benchmarks, $(date -Iseconds)"
	echo "# commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(
		[ -z "$(git -C "$root" --no-optional-locks status --porcelain -- src include 2>/dev/null)" ] ||
			echo ' + local changes in src/ or include/')"
	echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, kernel $(uname -r)$(grep -q hypervisor /proc/cpuinfo && echo ', virtual machine')"
	echo "# pinned to cpu $cpu (idle ${cpu_idle}/$((cpu_idle + cpu_busy)) jiffies over 0.5 s before the run)"
	echo "# load average before: $(cut -d' ' -f1-4 /proc/loadavg)"
	echo "# busiest other processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -n 3 | awk '{ printf "%s %s%%  ", $2, $1 }')"
	echo
	echo "## 1. latency ($samples samples per path)"
} >"$report"

echo "bench-core: latency percentiles on cpu $cpu"
"${pin[@]}" "$out/latency" --samples "$samples" | tee "$tmp/latency.txt" >>"$report"

echo "bench-core: Google Benchmark (3 repetitions)"
# shellcheck disable=SC2129 # the report is appended to between commands that also print
{
	echo
	echo "## 2. Google Benchmark (median of 3 repetitions; Time = wall, CPU = process CPU time)"
} >>"$report"
"${pin[@]}" "$out/core_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
	--benchmark_min_time=0.1 --benchmark_color=false \
	2>"$tmp/core_bench.err" | tee "$tmp/core_bench.txt" >>"$report"
# Its context (CPU, caches, load) and warnings go to stderr. Debian's libbenchmark warns that
# it was "built as DEBUG" (without NDEBUG); the timed loop is inlined into
# core_bench, so the figures are unaffected.
sed 's/^/# /' "$tmp/core_bench.err" >>"$report"

echo "bench-core: callgrind, $cg_ops operations per path"
valgrind --tool=callgrind --branch-sim=yes --collect-atstart=no --instr-atstart=no \
	--callgrind-out-file="$tmp/cg.out" "$out/latency" --callgrind "$cg_ops" \
	>"$tmp/callgrind.txt" 2>"$tmp/valgrind.log" || { cat "$tmp/valgrind.log" >&2; exit 1; }
# One dump per path: its name, its events line and its totals. The toggles' own cost (the
# "clock" path: nothing between two toggles) is subtracted per measured batch.
for f in "$tmp"/cg.out.*; do
	awk '/^desc: Trigger: Client Request: / { name = $5 }
	     /^events:/ { for (i = 2; i <= NF; i++) ev[$i] = i }
	     /^totals:/ { print name, $(ev["Ir"]), (ev["Bcm"] ? $(ev["Bcm"]) : 0) }' "$f"
done >"$tmp/cg_totals.txt"
awk 'NR == FNR { ir[$1] = $2; bcm[$1] = $3; next }
     $1 == "callgrind" { split($3, o, "="); split($4, b, "="); ops[$2] = o[2]; batches[$2] = b[2]; order[++n] = $2 }
     END {
	cir = ir["clock"] / batches["clock"]; cbcm = bcm["clock"] / batches["clock"]
	for (i = 1; i <= n; i++) {
		p = order[i]
		if (p == "clock") continue
		printf "%s %.1f %.2f %d\n", p, (ir[p] - cir * batches[p]) / ops[p],
		       (bcm[p] - cbcm * batches[p]) / ops[p], ops[p]
	}
     }' "$tmp/cg_totals.txt" "$tmp/callgrind.txt" >"$tmp/cg.txt"
{
	echo
	echo "## 3. callgrind (valgrind $(valgrind --version | sed 's/valgrind-//'), --branch-sim=yes): per operation, toggle cost subtracted"
	printf '%-32s %10s %10s %10s\n' "# path" "Ir/op" "Bcm/op" "ops"
	awk '{ printf "callgrind %-22s %10s %10s %10s\n", $1, $2, $3, $4 }' "$tmp/cg.txt"
	echo "# (*_miss: per refilling allocation; alloc_single_*: per allocation of a steady run;"
	echo "#  Bcm = mispredicted conditional branches, simulated)"
} >>"$report"

# ---------------------------------------------------------------------------------------
# The summary: each figure next to its target.
gb_ns() { # benchmark name prefix, column (time|cpu): its median, in ns
	awk -v name="$1" -v col="$2" '
		function ns(v, u) { return u == "ns" ? v : u == "us" ? v * 1e3 : u == "ms" ? v * 1e6 : v * 1e9 }
		$1 == name "_median" { print (col == "time" ? ns($2, $3) : ns($4, $5)); exit }' "$tmp/core_bench.txt"
}
gb_cv() {
	awk -v name="$1" -v col="$2" '$1 == name "_cv" { print (col == "time" ? $2 : $4); exit }' "$tmp/core_bench.txt"
}
lat() { awk -v p="$1" -v c="$2" '$1 == "latency" && $2 == p { print $(c + 2); exit }' "$tmp/latency.txt"; }
cg() { awk -v p="$1" '$1 == p { print $2; exit }' "$tmp/cg.txt"; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "PASS" : "MISS") }'; }

{
	echo
	echo "## Summary (ns per operation; targets: allocation <= 100 median and <= 1000 p99.9,"
	echo "## lookup <= 50 at 1M remaps and ~1 with none, read as <= 1.5; lookups at 1k and 100k"
	echo "## held to the 1M target)"
	printf '%-36s %10s %10s %9s  %-20s %s\n' "figure" "median" "p99.9" "Ir/op" "target" "result"
	row() { # label, path, median target, p99.9 target ("-" for none)
		local med p999 ir res=PASS
		med=$(lat "$2" 1); p999=$(lat "$2" 4); ir=$(cg "$2")
		[ "$(verdict "$med" "$3")" = PASS ] || res=MISS
		if [ "$4" != - ] && [ "$(verdict "$p999" "$4")" != PASS ]; then res=MISS; fi
		printf '%-36s %10.2f %10.2f %9s  %-20s %s\n' "$1" "$med" "$p999" "$ir" \
			"<=$3$([ "$4" = - ] || echo ", <=$4")" "$res"
	}
	info_row() { # label, path: figures without a target of their own
		local med p999 ir
		med=$(lat "$2" 1); p999=$(lat "$2" 4); ir=$(cg "$2")
		printf '%-36s %10.2f %10.2f %9s  %-20s %s\n' "$1" "$med" "$p999" "$ir" "-" "-"
	}
	row "alloc cache hit" alloc_hit 100 1000
	row "alloc, batches of 64, empty bitmap" alloc_refill 100 1000
	row "alloc, batches of 64, 99.9% full" alloc_nearly_full 100 1000
	row "alloc, single allocs, empty bitmap" alloc_single_empty 100 1000
	row "alloc, single allocs, 99.9% full" alloc_single_full 100 1000
	info_row "  refilling alloc, empty bitmap" alloc_refill_miss
	info_row "  refilling alloc, 99.9% full" alloc_nearly_full_miss
	row "lookup, 0 remaps" lookup_0 1.5 -
	row "lookup, 1k remaps" lookup_1k 50 -
	row "lookup, 100k remaps" lookup_100k 50 -
	row "lookup, 1M remaps" lookup_1M 50 -
	echo "# batches of 64: a sample is 64 allocations from an empty cache, / 64. single allocs:"
	echo "# every allocation of a steady run timed alone, median and p99.9 over all of them"
	echo "# (refills included), Ir/op per allocation. refilling alloc: only the allocation that"
	echo "# refills (its latency = the spinlock held), Ir/op per refill."
	echo
	printf '%-36s %10s %8s  %-20s %s\n' "Google Benchmark (median of 3)" "mean" "cv" "target" "result"
	gb_row() { # label, benchmark, column, target ("-" for none)
		local v cv res=-
		v=$(gb_ns "$2" "$3"); cv=$(gb_cv "$2" "$3")
		[ -n "$v" ] || { printf '%-36s %10s\n' "$1" "(missing)"; return; }
		[ "$4" = - ] || res=$(verdict "$v" "$4")
		awk -v l="$1" -v v="$v" -v cv="$cv" -v t="$4" -v r="$res" 'BEGIN {
			u = "ns"; if (v >= 1e6) { v /= 1e6; u = "ms" } else if (v >= 1e4) { v /= 1e3; u = "us" }
			printf "%-36s %7.2f %s %7s%%  %-20s %s\n", l, v, u, cv, (t == "-" ? "-" : "<=" t), r }'
	}
	gb_row "alloc+release, cache hit (pair)" BM_AllocCacheHit cpu 100
	gb_row "alloc, batches of 64, empty" BM_AllocRefill/iterations:40000/manual_time time 100
	gb_row "alloc, batches of 64, 99.9% full" BM_AllocNearlyFull/iterations:20000/manual_time time 100
	for n in 0 1000 100000 1000000; do
		t=50; [ $n = 0 ] && t=1.5
		gb_row "LookupTable::find, $n" BM_LookupFind/$n cpu $t
	done
	gb_row "find, chained (latency), 1000000" BM_LookupFindChained/1000000 cpu 50
	gb_row "lower_bound, 1000000" BM_LookupLowerBound/1000000 cpu 50
	gb_row "rc_target_map, 0" BM_TargetMap/0 cpu 1.5
	gb_row "rc_target_map, 1000000" BM_TargetMap/1000000 cpu 50
	gb_row "merge 1 change, 100k" BM_Merge1/100000 cpu -
	gb_row "merge 1 change, 1M" BM_Merge1/1000000 cpu -
	gb_row "commit inserting 1M" BM_CommitInsert1M/iterations:5 cpu -
	gb_row "commit changing 1 of 1M" BM_CommitChange1 cpu -
	gb_row "commit insert 1 + free 1, 1M (x2)" BM_CommitInsertThenFree1 cpu -
	gb_row "find_slot, 1M (unremap)" BM_FindSlot cpu -
	gb_row "remap+unremap message, 1M" BM_RemapUnremapMessage/iterations:20 cpu -
	gb_row "parse_message(\"remap 123456\")" BM_ParseMessage cpu -
	echo
	echo "# noise: load average after: $(cut -d' ' -f1-4 /proc/loadavg); clock: $(sed -n 's/^# steady_clock pair: //p' "$tmp/latency.txt")"
	awk '$1 == "latency" { n++; r += $8 } END { printf "# latency samples retaken after preemption: %d over %d paths\n", r, n }' "$tmp/latency.txt"
	awk 'function ns(v, u) { return u == "ns" ? v : u == "us" ? v * 1e3 : u == "ms" ? v * 1e6 : v * 1e9 }
	     $1 ~ /_median$/ && $1 !~ /manual_time/ { w += ns($2, $3); c += ns($4, $5) }
	     $1 ~ /_cv$/ && $1 !~ /manual_time/ { n++; if ($4 + 0 > m) { m = $4 + 0; mn = $1 } }
	     END { printf "# Google Benchmark: wall/CPU time %.2f (1.00 = had a CPU to itself); worst cv %.1f%% (%s)\n", w / c, m, mn }' "$tmp/core_bench.txt"
} >"$tmp/summary.txt"

cat "$tmp/summary.txt" >>"$report"
echo
cat "$tmp/summary.txt"
echo
echo "bench-core: full results in ${report#"$root"/}"
