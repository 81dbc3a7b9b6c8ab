#!/bin/sh
# Recorded for tests/vm/report: report lines in the kernel log (KASAN- and lockdep-like), written
# at a level the console shows.
# shellcheck shell=dash source-path=SCRIPTDIR/../.. source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"
echo "<2>BUG: KASAN: slab-out-of-bounds in recorded_for_report_tests+0x0/0x10" >/dev/kmsg
echo "<2>WARNING: possible circular locking dependency detected (recorded for report tests)" >/dev/kmsg
check "wrote two report lines" true
