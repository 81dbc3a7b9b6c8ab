#!/usr/bin/env bash
# Tests of tools/vm/report.sh, the parser that turns a VM boot's results UART into TAP: each case
# feeds it the files one real boot left in its run directory and compares what parse_boot prints,
# and the pass/fail/skip counts it keeps, with what they must be. Runs in about a second; ctest
# (`make unit`) runs it.
#
# A case is a directory tests/vm/report/<case>/ with
#   results.log   the results UART of the boot (the @@ lines tools/vm/guest-init.sh writes)
#   console.log   the console UART (optional; what a boot without an end marker is judged by)
#   qemu.out      QEMU's own output (optional)
#   case.conf     shell assignments: tests (the boot's test names, an array), with_kunit (0/1),
#                 qemu_rc (QEMU's exit status), per_test_timeout and boot_timeout (as the run
#                 had them), and expect="PASSED FAILED SKIPPED", the counts parse_boot must reach
#   expected.tap  everything parse_boot prints, with the run directory written as RUN
# The recordings come from run-tests.sh runs on Debian's 6.1 kernel (see README.md there).
#
# Usage: tests/vm/report/run.sh [case...]        (default: every case)
# Environment: REPORT_SH (default tools/vm/report.sh), to check that a broken parser fails here;
# REPORT_RECORD=1 writes each case's expected.tap from what parse_boot prints (for a new case:
# read it through before committing it; the counts in case.conf are still checked).
# Prints TAP; exits 1 when any case fails.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
REPORT_SH=${REPORT_SH:-$REPO/tools/vm/report.sh}

case_names=("$@")
if [ ${#case_names[@]} -eq 0 ]; then
  for d in "$HERE"/*/; do [ -f "$d/case.conf" ] && case_names+=("$(basename "$d")"); done
fi
[ ${#case_names[@]} -gt 0 ] || { echo "report tests: no cases in $HERE" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One boot through parse_boot, in a subshell of its own (report.sh keeps its counts in globals):
# prints parse_boot's output, then "counts PASSED FAILED SKIPPED".
parse_case() {  # case-dir run-dir
  local dir=$1 f
  run_dir=$2
  mkdir -p "$run_dir"
  for f in results.log console.log qemu.out; do
    [ ! -f "$dir/$f" ] || cp "$dir/$f" "$run_dir/$f"
  done
  # shellcheck disable=SC2034,SC2154 # the globals report.sh reads and the counts it keeps
  (
    # What run-tests.sh sets around parse_boot for the ordinary (shared) boot; case.conf may
    # override them.
    tests=() with_kunit=0 qemu_rc=0 demo=0 per_test_timeout=240 boot_timeout=1000
    module=/nonexistent/dm-remap.ko
    # shellcheck source=/dev/null
    . "$dir/case.conf"
    note() { echo "# $*"; }
    # shellcheck source=tools/vm/report.sh
    . "$REPORT_SH"
    # shellcheck source=tools/vm/debug-report.sh
    . "$REPO/tools/vm/debug-report.sh"
    parse_boot "${tests[@]}"
    echo "counts $passed $failed $skipped"
  )
}

n=0
bad=0
for c in "${case_names[@]}"; do
  dir=$HERE/$c
  n=$((n + 1))
  [ "${REPORT_RECORD:-0}" = 0 ] || : >"$dir/expected.tap"
  if [ ! -f "$dir/case.conf" ] || [ ! -f "$dir/expected.tap" ]; then
    echo "not ok $n - $c: no case.conf or expected.tap in $dir"
    bad=1
    continue
  fi
  out=$work/$c.out
  parse_case "$dir" "$work/run-$c" 2>&1 | sed "s|$work/run-$c|RUN|g" >"$out" || true
  # shellcheck source=/dev/null
  want=$(expect=""; . "$dir/case.conf"; echo "counts $expect")
  got=$(tail -n 1 "$out")
  [ "${REPORT_RECORD:-0}" = 0 ] || head -n -1 "$out" >"$dir/expected.tap"
  if [ "$got" != "$want" ]; then
    echo "not ok $n - $c: $want (parse_boot: ${got:-nothing})"
    bad=1
  elif ! head -n -1 "$out" | diff -u "$dir/expected.tap" - >"$work/$c.diff"; then
    echo "not ok $n - $c: parse_boot's output differs from expected.tap"
    sed 's/^/#   /' "$work/$c.diff" | head -n 60
    bad=1
  else
    echo "ok $n - $c: $want"
  fi
done
echo "1..$n"
exit "$bad"
