#!/bin/sh
# Readahead failures pass through untouched: a buffered read of a healthy block whose readahead
# window runs into dm-dust bad blocks succeeds (the page cache reads the demanded page again
# without REQ_RAHEAD), the readahead errors are counted (stats readahead_errors > 0), and
# nothing is retried into a remap or marked lost.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=32768          # 16 MiB: 4096 blocks of 4 KiB
TABLE="0 $LEN remap /dev/mapper/dust 0 /dev/ram1 0 16384"
# A read of page 0 starts the page cache's initial readahead (4 pages for a 1-page read; a
# read elsewhere with no history is read alone): blocks 1-3 are in its window.
GOOD=0             # read by the test
BAD="1 2 3 4 5 6 7"
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# shellcheck disable=SC2317 # called through check
dust() { dmsetup message dust 0 -- "$@"; }

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r dust"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 16384 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "dust over ram0 with 4 KiB blocks" dmsetup create dust --table "0 $LEN dust /dev/ram0 0 4096" || exit 1
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
dd if=/tmp/blk of=/dev/mapper/dust bs=4096 seek=$GOOD oflag=direct 2>/dev/null
for b in $BAD; do dust addbadblock "$b" >/dev/null || fail "addbadblock $b"; done
dust quiet >/dev/null
check "enable dust" dust enable || exit 1
check_fails "the raw dust device fails a read of bad block 2" \
  dd if=/dev/mapper/dust of=/dev/null bs=4096 skip=2 count=1 iflag=direct
check "remap target over dust" dmsetup create r --table "$TABLE" || exit 1
check "readahead window of r: 128 KiB" blockdev --setra 256 /dev/mapper/r

echo 3 >/proc/sys/vm/drop_caches
dmesg_mark
check "a buffered read of healthy block $GOOD succeeds (its readahead hits bad blocks)" \
  dd if=/dev/mapper/r of=/tmp/got bs=4096 skip=$GOOD count=1
check "... and returns its data" cmp /tmp/got /tmp/blk
log "stats: $(msg stats)"
check "stats: readahead_errors > 0" [ "$(stat_of readahead_errors)" -gt 0 ]
check_eq "nothing remapped or lost (remapped lost)" "0 0" "$(stat_of remapped) $(stat_of lost)"
check_eq "list is empty" "" "$(msg list)"
check_eq "auto_remaps=0" 0 "$(stat_of auto_remaps)"
check "remove r" dmsetup remove r
exit 0
