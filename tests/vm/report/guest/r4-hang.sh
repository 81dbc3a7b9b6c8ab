#!/bin/sh
# Recorded for tests/vm/report: a test that hangs until its timeout.
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
check "true succeeds" true
sleep 600
