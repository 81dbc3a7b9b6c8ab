#!/bin/sh
# Recorded for tests/vm/report: a test that skips after one check.
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
check "true succeeds" true
skip_test "this kernel cannot run the rest"
