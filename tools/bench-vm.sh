#!/usr/bin/env bash
# Kernel-side benchmark of dm-remap (issue 7): boots the guest with bench/vm/io-bench.sh through
# tools/vm/run-tests.sh, then writes bench/results/REPORT.md and bench/results/vm-F.png with
# bench/vm/report.py. Not part of "make test"; "make bench" runs it after bench-core.
#
#   1. icount boot: QEMU "-icount shift=0,sleep=off" on one CPU (icount hangs with -smp 2), so guest
#      time is an instruction count: fio 4k randread/randwrite (QD32) and 1 MiB read/write (QD8)
#      on brd, raw vs dm-linear vs dm-remap (0 remaps, 100k remaps not hit, 100k remaps hit by
#      1% of the blocks), configurations interleaved, BENCH_ROUNDS rounds; memory per remap.
#   2. plain-TCG boot (no icount): the sequential workloads again, for wall-clock ratios.
#   3. nullb: an icount boot with null_blk (memory_backed=0) as the data device, the same
#      workloads and configurations (no memory or latency part).
#   4. seq (only when asked for): an icount boot of the 1 MiB workloads alone, on raw, dm-linear
#      and the dm-remap configurations with a target, with 16000 I/Os per run (BENCH_IOS_SEQ):
#      the precise 1 MiB figures (about 20 minutes).
#
#   tools/bench-vm.sh [--boots "icount tcg nullb"] [--no-mem-1m]    default boots: icount tcg nullb
#   tools/bench-vm.sh --report-only ICOUNT_LOG [TCG_LOG]    redo the report from kept raw logs
#                     (vm-icount-nullb.log next to ICOUNT_LOG is picked up too)
# Environment: BENCH_ROUNDS (4: two pairs of opposite orders), BENCH_TCG_ROUNDS (5), KVER as for run-tests.sh. While iterating:
# BENCH_WORKLOADS (icount and nullb boots; default all four), BENCH_CONFIGS (default all seven),
# BENCH_OUT (where results go; default bench/results), BENCH_IOS_SEQ (1 MiB I/Os per sequential
# run; default 4000).
# Raw guest output is kept as bench/results/vm-icount.log and vm-tcg.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
results=${BENCH_OUT:-$root/bench/results}
rounds=${BENCH_ROUNDS:-4}
# Optional knobs for the icount boots, passed on only when set.
extra=""
[ -z "${BENCH_WORKLOADS:-}" ] || extra="$extra WORKLOADS='$BENCH_WORKLOADS'"
[ -z "${BENCH_CONFIGS:-}" ] || extra="$extra CONFIGS='$BENCH_CONFIGS'"
[ -z "${BENCH_IOS_SEQ:-}" ] || extra="$extra IOS_seqread=$BENCH_IOS_SEQ IOS_seqwrite=$BENCH_IOS_SEQ"
[ -z "${BENCH_LATENCY:-}" ] || extra="$extra LATENCY=$BENCH_LATENCY"
module=${BENCH_MODULE:-$root/dm-remap.ko}
tcg_rounds=${BENCH_TCG_ROUNDS:-5}
boots="icount tcg nullb"
mem1m=1
report_only=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-tcg) boots=${boots/tcg/}; shift ;;
	--boots) [ $# -ge 2 ] || { echo "bench-vm: --boots needs a list" >&2; exit 2; }
		boots=$2; shift 2 ;;
	--no-mem-1m) mem1m=0; shift ;;
	--report-only) shift; report_only=("$@"); break ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "bench-vm: unknown argument $1" >&2; exit 2 ;;
	esac
done

# gnuplot draws the chart; installed once (apt-get update first: the lists may be stale).
if ! command -v gnuplot >/dev/null; then
	echo "bench-vm: installing gnuplot-nox"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
fi
mkdir -p "$results"
# The newest bench-core report, if any (its tables go into REPORT.md too).
latest_core() { find "$results" -maxdepth 1 -name 'core-*.txt' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-; }

if [ ${#report_only[@]} -gt 0 ]; then
	exec python3 "$root/bench/vm/report.py" --out "$results" --core "$(latest_core)" "${report_only[@]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_guest NAME "KNOBS" QEMU-ARGS...: one boot with io-bench.sh (the knobs are prepended to a
# copy of it as shell assignments); the guest's output is copied to $results/vm-NAME.log.
run_guest() {
	local name=$1 knobs=$2 out dir
	shift 2
	mkdir -p "$tmp/$name"
	{ echo '#!/bin/sh'; echo "$knobs"; tail -n +2 "$root/bench/vm/io-bench.sh"; } >"$tmp/$name/io-bench.sh"
	echo "bench-vm: $name boot ($knobs); this takes a while"
	out=$tmp/$name/runner.out
	# Not fatal: a failed check still leaves results worth reading; the report says what is missing.
	env DMREMAP_QEMU_SMP=1 DMREMAP_QEMU_MEM="${BENCH_QEMU_MEM:-4096}" "$@" "$root/tools/vm/run-tests.sh" \
		--module "$module" --timeout 3000 "$tmp/$name/io-bench.sh" >"$out" 2>&1 ||
		echo "bench-vm: $name boot reported failures (see below)"
	grep -E '^(not ok|# guest|# boots|[0-9]+ passed)' "$out" || true
	dir=$(sed -n 's/^# .*logs.* in \(\/.*\)$/\1/p' "$out" | tail -n 1)
	if [ -z "$dir" ] || [ ! -f "$dir/test-io-bench.log" ]; then
		echo "bench-vm: no guest log for the $name boot" >&2
		tail -n 30 "$out" >&2
		return 1
	fi
	{
		echo "# $name boot, $(date -Iseconds), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo "# knobs: $knobs; qemu: $* ; runner logs: $dir"
		cat "$dir/test-io-bench.log"
	} >"$results/vm-$name.log"
}

for b in $boots; do
	case $b in
	icount) run_guest icount "BENCH_MODE=icount ROUNDS=$rounds MEM_1M=$mem1m$extra" \
			DMREMAP_QEMU_ARGS="-icount shift=0,sleep=off" ;;
	tcg) run_guest tcg "BENCH_MODE=tcg ROUNDS=$tcg_rounds WORKLOADS='seqread seqwrite' MEM_1M=0" \
			DMREMAP_QEMU_ARGS="" ;;
	nullb) run_guest icount-nullb "BENCH_MODE=icount DATA_DEV=nullb ROUNDS=$rounds MEM_1M=0 LATENCY=0$extra" \
			DMREMAP_QEMU_ARGS="-icount shift=0,sleep=off" ;;
	seq) run_guest icount-seq "BENCH_MODE=icount ROUNDS=$rounds MEM_1M=0 LATENCY=0 WORKLOADS='seqread seqwrite' CONFIGS='raw linear remap0 remaparound' IOS_seqread=${BENCH_IOS_SEQ:-16000} IOS_seqwrite=${BENCH_IOS_SEQ:-16000}" \
			DMREMAP_QEMU_ARGS="-icount shift=0,sleep=off" ;;
	*) echo "bench-vm: unknown boot '$b' (icount, tcg, nullb, seq)" >&2; exit 2 ;;
	esac
done
if [ ! -f "$results/vm-icount.log" ]; then
	echo "bench-vm: no vm-icount.log in $results: no report (run the icount boot too, or --report-only)"
	exit 0
fi
logs=("$results/vm-icount.log")
[ ! -f "$results/vm-tcg.log" ] || logs+=("$results/vm-tcg.log")
python3 "$root/bench/vm/report.py" --out "$results" --core "$(latest_core)" "${logs[@]}"
