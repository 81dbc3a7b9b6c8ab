#!/bin/sh
# Recorded for tests/vm/report: a test with a failing check, which exits non-zero.
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
check "true succeeds" true
echo "some output of the test"
check_eq "a # in a description is escaped" "a" "a"
check "false succeeds (it does not)" false
exit "$VMT_FAILURES"
