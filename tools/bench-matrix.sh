#!/usr/bin/env bash
# `make bench-matrix`: F on every supported kernel (issue 15). For each kernel: builds
# dm-remap.ko for it (`make module KVER=...`, kept as $BUILD/bench-matrix/<kernel>/dm-remap.ko),
# then one icount boot of bench/vm/io-bench.sh (tools/bench-vm.sh --boots icount) with the
# 4k random read and write workloads on raw brd, dm-linear, dm-remap with 0 remaps and with
# 100k remaps around the fio region (no memory or latency part), and finally one table
# (bench/vm/matrix.py): kernel, workload, configuration, F, guest ns (= instructions under
# -icount) per I/O over raw brd of dm-linear and of dm-remap, the target and the verdict. The
# table and each kernel's guest log go to bench/results/matrix-<date>.txt and
# matrix-<date>-<kernel>.log. Exit status 1 if a boot failed or a target was missed.
#
#   tools/bench-matrix.sh [KVER...]     default: every supported kernel here (kernels.sh list)
# Environment: BENCH_ROUNDS (2: one pair of rounds in opposite orders; under -icount a round's
# F is repeatable to about 0.001), BENCH_CONFIGS (raw linear remap0 remaparound),
# BENCH_WORKLOADS (randread randwrite), BENCH_MATRIX_JOBS (1: boots one after the other; each
# boot uses one CPU, and -icount figures do not depend on host load, so 2 or 3 halve the
# wall time on an idle host), BUILD (build/), BENCH_OUT (bench/results).
# About 10 minutes a kernel on an idle 2-core host (most of it the 100k remaps and the boot).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}/bench-matrix
results=${BENCH_OUT:-$root/bench/results}
jobs=${BENCH_MATRIX_JOBS:-1}
export BENCH_ROUNDS=${BENCH_ROUNDS:-2}
export BENCH_CONFIGS=${BENCH_CONFIGS:-raw linear remap0 remaparound}
export BENCH_WORKLOADS=${BENCH_WORKLOADS:-randread randwrite}
export BENCH_LATENCY=0

case ${1:-} in -h | --help) sed -n '2,19p' "$0"; exit 0 ;; esac
kernels=("$@")
if [ ${#kernels[@]} -eq 0 ]; then
	mapfile -t kernels < <("$root/tools/kernels/kernels.sh" list)
	[ ${#kernels[@]} -gt 0 ] || { echo "bench-matrix: no supported kernel here (make kernels)" >&2; exit 2; }
fi
mkdir -p "$build" "$results"
status=0

# The modules first, one at a time: each is built in the source tree (Kbuild M=).
for k in "${kernels[@]}"; do
	mkdir -p "$build/$k"
	rm -f "$build/$k/dm-remap.ko"
	echo "bench-matrix: building dm-remap.ko for $k"
	if make -C "$root" --no-print-directory module KVER="$k" >"$build/$k/module.log" 2>&1; then
		cp "$root/dm-remap.ko" "$build/$k/dm-remap.ko"
	else
		echo "bench-matrix: the module build for $k failed (see $build/$k/module.log)" >&2
		tail -n 20 "$build/$k/module.log" >&2
		status=1
	fi
done

# boot KVER: one icount boot; its output in $build/KVER/bench.out, its guest log in
# $build/KVER/vm-icount.log.
boot() {
	local k=$1
	KVER=$k BENCH_MODULE=$build/$k/dm-remap.ko BENCH_OUT=$build/$k \
		nice -n 5 "$root/tools/bench-vm.sh" --boots icount --no-mem-1m >"$build/$k/bench.out" 2>&1
}
running=0
for k in "${kernels[@]}"; do
	[ -f "$build/$k/dm-remap.ko" ] || continue
	rm -f "$build/$k/vm-icount.log"
	echo "bench-matrix: icount boot on $k ($(date +%H:%M:%S); output in $build/$k/bench.out)"
	boot "$k" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

day=$(date +%Y-%m-%d)
args=()
for k in "${kernels[@]}"; do
	if [ -f "$build/$k/vm-icount.log" ]; then
		cp "$build/$k/vm-icount.log" "$results/matrix-$day-$k.log"
		args+=("$k=$results/matrix-$day-$k.log")
		grep -E '^(not ok|# guest)' "$build/$k/bench.out" | sed "s/^/$k: /"
	else
		echo "bench-matrix: no guest log for $k (see $build/$k/bench.out)" >&2
		status=1
	fi
done
[ ${#args[@]} -gt 0 ] || exit 1
{
	echo "# make bench-matrix, $(date -Iseconds), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "# rounds=$BENCH_ROUNDS workloads='$BENCH_WORKLOADS' configs='$BENCH_CONFIGS'; guest logs: matrix-$day-<kernel>.log"
	python3 "$root/bench/vm/matrix.py" "${args[@]}"
} | tee "$results/matrix-$day.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
python3 "$root/bench/vm/matrix.py" --markdown "${args[@]}" >"$results/matrix-$day.md" || true
exit "$status"
