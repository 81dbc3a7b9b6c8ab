#!/usr/bin/env bash
# `make soak [MINUTES=30]`: runs tests/vm/soak.sh in one guest boot (tools/vm/run-tests.sh, or
# tools/debug-kernel/test-debug.sh with --debug) and prints its one line of figures last. Exits
# non-zero when any check failed (a figure that must be zero was not, or the guest had trouble).
#
# Usage: tools/vm/soak.sh [--minutes N] [--mib N] [--seed N] [--selftest] [--debug]
#                         [--module PATH] [--tool PATH]
# --selftest loses two blocks behind the target's back before the final verify: the run must
# then report at least 8192 lost bytes and fail (proof that the bookkeeping sees loss).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/vm/soak.sh
die() { echo "$PROG: $*" >&2; exit 2; }

minutes=30 mib="" seed="" selftest=0 debug=0 module=$REPO/dm-remap.ko tool=$REPO/build/dmremap
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=${2:-}; shift 2 ;;
    --mib) mib=${2:-}; shift 2 ;;
    --seed) seed=${2:-}; shift 2 ;;
    --selftest) selftest=1; shift ;;
    --debug) debug=1; shift ;;
    --module) module=${2:-}; shift 2 ;;
    --tool) tool=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $minutes =~ ^[1-9][0-9]{0,3}$ ]] || die "--minutes must be a whole number of minutes (1..9999)"
[ -z "$mib" ] || [[ $mib =~ ^[1-9][0-9]{0,3}$ ]] || die "--mib must be a number of MiB"
[ -z "$seed" ] || [[ $seed =~ ^[0-9]{1,9}$ ]] || die "--seed must be a number"

# The guest test gets the minutes plus room for the final verify, the metadata check and one
# pass that may run over the deadline (each pass is bounded at 600 s inside the guest).
args=(--tool "$tool" --timeout $((minutes * 60 + 900)) --env "VMT_SOAK_MINUTES=$minutes")
[ -z "$mib" ] || args+=(--env "VMT_SOAK_MIB=$mib")
[ -z "$seed" ] || args+=(--env "VMT_SEED=$seed")
[ "$selftest" = 0 ] || args+=(--env VMT_SOAK_SELFTEST=1)
args+=(soak)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
if [ "$debug" = 1 ]; then
  "$REPO/tools/debug-kernel/test-debug.sh" "${args[@]}" 2>&1 | tee "$out"
else
  "$REPO/tools/vm/run-tests.sh" --module "$module" "${args[@]}" 2>&1 | tee "$out"
fi
rc=${PIPESTATUS[0]}
set -e
# run-tests.sh ends with "# logs in DIR" or "# FAILED; logs (...) in DIR".
run_dir=$(sed -n 's/^# .*logs.* in \(\/[^ ]*\)$/\1/p' "$out" | tail -n 1)
line=""
if [ -n "$run_dir" ]; then
  line=$(grep -h '^SOAK ' "$run_dir"/test-soak*.log 2>/dev/null | tail -n 1 || true)
fi
echo "${line:-SOAK no figures line: the soak did not get that far (logs: ${run_dir:-?})}"
exit "$rc"
