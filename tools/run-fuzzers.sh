#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/*_fuzz.cpp) with clang into build/fuzz and runs each
# for the given number of seconds (default 20), one after the other. Each keeps its corpus in
# build/fuzz/corpus/<target>, so a later run starts where this one stopped, and any crashing
# input in build/fuzz/artifacts/<target>/. A target may write seed inputs from its
# LLVMFuzzerInitialize into $FUZZ_SEED_DIR (build/fuzz/seeds/<target>), read as a second
# corpus. Fails if any target crashes, leaks or times out.
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

cmake -S "$root/tests/fuzz" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$out" -j "$(nproc)"

failed=()
for src in "${sources[@]}"; do
	name=$(basename "$src" .cpp)
	corpus=$out/corpus/$name
	artifacts=$out/artifacts/$name
	seeds=$out/seeds/$name
	log=$out/$name.log
	rm -rf "$seeds"
	mkdir -p "$corpus" "$artifacts" "$seeds"
	echo "run-fuzzers: $name for ${secs}s"
	# Value profiling helps past the multi-byte magic and geometry comparisons.
	if FUZZ_SEED_DIR=$seeds "$out/$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" \
		"$corpus" "$seeds" >"$log" 2>&1; then
		grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" |
			sed "s/^/run-fuzzers: $name /" || true
		grep -E '^#[0-9]+.*DONE' "$log" | tail -n 1 | sed "s/^/run-fuzzers: $name /" || true
	else
		tail -n 60 "$log" >&2
		echo "run-fuzzers: $name FAILED (log: $log, input: $artifacts/)" >&2
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "run-fuzzers: failures in ${failed[*]}" >&2
	exit 1
fi
echo "run-fuzzers: all ${#sources[@]} target(s) ran clean for ${secs}s each"
