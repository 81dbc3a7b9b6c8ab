#!/bin/sh
# Recorded for tests/vm/report: the kernel panics while the test runs (no end marker).
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
check "true succeeds" true
echo c >/proc/sysrq-trigger
sleep 60
