#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/*_fuzz.cpp) with clang into build/fuzz and runs each
# for the given number of seconds (default 20), one after the other. Each keeps its corpus in
# build/fuzz/corpus/<target>, so a later run starts where this one stopped, and any crashing
# input in build/fuzz/artifacts/<target>/. A target may write seed inputs from its
# LLVMFuzzerInitialize into $FUZZ_SEED_DIR (build/fuzz/seeds/<target>), read as a second
# corpus; so is tests/fuzz/corpus/<target> if it exists (read only: new inputs go to
# build/fuzz/corpus). Per-target libFuzzer options (input size limits) are in target_options
# below. Prints one summary line per target (executions, time, rate, new inputs). Fails if any
# target crashes, leaks or times out.
#   tools/run-fuzzers.sh [seconds-per-target]
set -euo pipefail

secs=${1:-20}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [seconds-per-target]" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD:-$root/build/fuzz}

shopt -s nullglob
sources=("$root"/tests/fuzz/*_fuzz.cpp)
if [ ${#sources[@]} -eq 0 ]; then
	echo "run-fuzzers: no tests/fuzz/*_fuzz.cpp targets" >&2
	exit 1
fi

# (CMAKE_CXX_FLAGS is cleared: an earlier version cached -Wno-error=unused-private-field.)
cmake -S "$root/tests/fuzz" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS= >/dev/null
cmake --build "$out" -j "$(nproc)"

# Extra libFuzzer options per target: keep inputs about the size that matters, so the time
# goes into mutating what the target reads rather than into bytes it ignores.
target_options() {
	case $1 in
	table_parser_fuzz) echo "-max_len=256" ;;  # one table line and a device geometry
	message_fuzz) echo "-max_len=384" ;;       # two control bytes and up to 16 short lines
	*) ;;
	esac
}

# One line per target from libFuzzer's final stats: executions, wall time, rate, new inputs.
summarize() {
	local name=$1 log=$2 elapsed=$3 status=$4 execs rate units rss
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	units=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
	printf 'run-fuzzers: %-24s %-6s %10s execs in %4ss (%s execs/s), %s new inputs, peak %s MB\n' \
		"$name" "$status" "${execs:-?}" "$elapsed" "${rate:-?}" "${units:-?}" "${rss:-?}"
}

failed=()
for src in "${sources[@]}"; do
	name=$(basename "$src" .cpp)
	corpus=$out/corpus/$name
	artifacts=$out/artifacts/$name
	seeds=$out/seeds/$name
	log=$out/$name.log
	rm -rf "$seeds"
	mkdir -p "$corpus" "$artifacts" "$seeds"
	extra=()
	[ -d "$root/tests/fuzz/corpus/$name" ] && extra+=("$root/tests/fuzz/corpus/$name")
	read -r -a options <<<"$(target_options "$name")"
	echo "run-fuzzers: $name for ${secs}s ${options[*]}"
	start=$(date +%s)
	# Value profiling helps past the multi-byte magic and geometry comparisons.
	if FUZZ_SEED_DIR=$seeds "$out/$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "${options[@]}" \
		"$corpus" "$seeds" "${extra[@]}" >"$log" 2>&1; then
		summarize "$name" "$log" $(($(date +%s) - start)) ok
	else
		tail -n 60 "$log" >&2
		echo "run-fuzzers: $name FAILED (log: $log, input: $artifacts/)" >&2
		summarize "$name" "$log" $(($(date +%s) - start)) FAILED >&2
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "run-fuzzers: failures in ${failed[*]}" >&2
	exit 1
fi
echo "run-fuzzers: all ${#sources[@]} target(s) ran clean for ${secs}s each"
