#!/usr/bin/env bash
# `make matrix`: the whole suite on every supported kernel here, then one table (kernel, checks
# passed/failed/skipped, wall time). The kernel-independent part (unit tests, fuzzers) runs once,
# as its own row; each kernel then gets: the module build, `dkms build`, the KUnit module (built
# out of tree from that kernel's linux-source) and the VM suite with the KUnit cases, each build
# one check. The last line is "N passed, N failed, N skipped" over all rows.
#
# Usage: tools/kernels/matrix.sh [--no-userspace] [KVER[:TEST,TEST...]]...
#   KVER  a release (default: every supported kernel here, tools/kernels/kernels.sh list);
#         ":TEST,..." runs only those VM tests on it (a named subset, as CI does for 6.12)
# Environment: BUILD (default build/), logs go to $BUILD/matrix/<kernel>.log.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
OUT=$BUILD/matrix
mkdir -p "$OUT"
userspace=1
if [ "${1:-}" = --no-userspace ]; then userspace=0; shift; fi
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  mapfile -t specs < <("$REPO/tools/kernels/kernels.sh" list)
  [ ${#specs[@]} -gt 0 ] || { echo "matrix: no supported kernel here (run 'make kernels')" >&2; exit 2; }
fi

rows=()
tp=0 tf=0 ts=0
add_row() {  # name passed failed skipped seconds note
  rows+=("$(printf '%-24s %7s %7s %8s %7s  %s' "$1" "$2" "$3" "$4" "$5 s" "$6")")
  tp=$((tp + $2)) tf=$((tf + $3)) ts=$((ts + $4))
}
# The last "N passed, N failed[, N skipped]" line of a log.
counts() {  # log -> "passed failed skipped" (or nothing)
  grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$1" | tail -n 1 |
    sed -E 's/^[a-z]+: //; s/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/' |
    awk '{ print $1, $2, ($3 == "" ? 0 : $3) }'
}

if [ "$userspace" = 1 ]; then
  t0=$(date +%s)
  log=$OUT/userspace.log
  p=0 f=0 s=0
  if make -C "$REPO" --no-print-directory BUILD="$BUILD" unit >"$log" 2>&1; then :; fi
  # ctest: "100% tests passed, 0 tests failed out of 233"
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
    p=$((total - f))
  else
    f=1   # the build of the unit tests failed
  fi
  if make -C "$REPO" --no-print-directory BUILD="$BUILD" fuzz >>"$log" 2>&1; then
    n=$(sed -n 's/^run-fuzzers: all \([0-9]*\) target.*/\1/p' "$log" | tail -n 1)
    p=$((p + ${n:-1}))
  else
    f=$((f + 1))
  fi
  add_row "userspace (unit, fuzz)" "$p" "$f" "$s" "$(( $(date +%s) - t0 ))" "$log"
fi

for spec in "${specs[@]}"; do
  k=${spec%%:*}
  tests=()
  if [ "$spec" != "$k" ]; then IFS=, read -r -a tests <<<"${spec#*:}"; fi
  t0=$(date +%s)
  log=$OUT/$k.log
  : >"$log"
  p=0 f=0 s=0 note=$log
  step() {  # description command...: one check
    local d=$1
    shift
    echo "matrix: $k: $d" >>"$log"
    if "$@" >>"$log" 2>&1; then p=$((p + 1)); return 0; fi
    f=$((f + 1))
    echo "matrix: $k: $d FAILED" >>"$log"
    return 1
  }
  mk() { make -C "$REPO" --no-print-directory BUILD="$BUILD" KVER="$k" "$@"; }
  if ! step "module build" mk module; then
    add_row "$k" "$p" "$f" "$s" "$(( $(date +%s) - t0 ))" "module build failed: $log"
    continue
  fi
  cp "$REPO/dm-remap.ko" "$OUT/dm-remap-$k.ko"
  step "dkms build" mk dkms-check
  kunit=()
  echo "matrix: $k: KUnit module build" >>"$log"
  if ! mk kunit >>"$log" 2>&1; then
    f=$((f + 1))
    echo "matrix: $k: KUnit module build FAILED" >>"$log"
  elif [ -f "$BUILD/kunit-ootree/dm-remap-kunit.ko" ]; then
    p=$((p + 1))
    kunit=(--kunit "$BUILD/kunit-ootree/dm-remap-kunit.ko")
  else
    s=$((s + 1))   # a series tools/kunit-ootree has no patches for (build.sh status 3)
  fi
  step "dmremap and lwreplay" mk dmremap lwreplay
  KVER=$k "$REPO/tools/vm/run-tests.sh" --module "$OUT/dm-remap-$k.ko" --tool "$BUILD/dmremap" \
    --lwreplay "$BUILD/lwreplay" "${kunit[@]}" "${tests[@]}" >>"$log" 2>&1
  read -r vp vf vs <<<"$(counts "$log")"
  if [ -z "${vp:-}" ]; then
    f=$((f + 1))
    note="VM suite gave no result: $log"
  else
    p=$((p + vp)) f=$((f + vf)) s=$((s + vs))
  fi
  [ ${#tests[@]} -eq 0 ] || note="subset ${tests[*]}: $log"
  add_row "$k" "$p" "$f" "$s" "$(( $(date +%s) - t0 ))" "$note"
done

echo
printf '%-24s %7s %7s %8s %7s  %s\n' kernel passed failed skipped wall log
printf '%s\n' "${rows[@]}"
echo
echo "matrix: $tp passed, $tf failed, $ts skipped"
[ "$tf" = 0 ]
