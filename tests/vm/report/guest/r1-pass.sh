#!/bin/sh
# Recorded for tests/vm/report: a test whose checks all pass.
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
check "true succeeds" true
check_eq "two and two make four" 4 "$((2 + 2))"
check_fails "false fails" false
exit "$VMT_FAILURES"
