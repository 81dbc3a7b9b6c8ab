#!/bin/sh
# A read-only table writes nothing: `dmsetup create --readonly` over a data device with a bad
# block (dm-dust) and a spare area. Reads of the bad block fail (no lost mark is committed, no
# move), other reads work, messages that change the mapping fail, status says `ro`, and the
# spare area is byte-identical before and after (cmp): both a fresh (all-zero) area, which must
# not be formatted, and a formatted one holding a remapped block.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=32768          # 16 MiB: 4096 blocks of 4 KiB
BADB=2000          # dust bad block
MOVED=100          # remapped by the read-write table first
TABLE="0 $LEN remap /dev/mapper/dust 0 /dev/ram1 0 16384"
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# shellcheck disable=SC2317 # called through check
dust() { dmsetup message dust 0 -- "$@"; }
block_md5() { dd if=/dev/mapper/r bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | md5sum; }
# shellcheck disable=SC2317 # called through check
readonly_checks() {  # what: the checks on a live read-only r
  check_fails "$1: a read of the bad block fails" \
    dd if=/dev/mapper/r of=/dev/null bs=4096 skip=$BADB count=1 iflag=direct
  check_fails "$1: a buffered read of the bad block fails" \
    dd if=/dev/mapper/r of=/dev/null bs=4096 skip=$BADB count=1
  check "$1: a healthy block reads" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=10 count=1 iflag=direct
  check_fails "$1: a write fails" dd if=/dev/zero of=/dev/mapper/r bs=4096 seek=10 count=1 oflag=direct
  check_fails "$1: message remap fails" msg remap $((BADB * 8))
  check_fails "$1: message remap of a healthy block fails" msg remap 800
  [ "$1" = fresh ] || check_fails "$1: message unremap of the remapped block fails" msg unremap $((MOVED * 8))
  check_eq "$1: status ends with ro" ro "$(dmsetup status r | awk '{ print $NF }')"
  log "$1: stats: $(msg stats)"
  check_eq "$1: lost=0" 0 "$(stat_of lost)"
}

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r dust"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 16384 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "some data on ram0" dd if=/dev/urandom of=/dev/ram0 bs=65536 count=256 oflag=direct
check "dust over ram0 with 4 KiB blocks" dmsetup create dust --table "0 $LEN dust /dev/ram0 0 4096" || exit 1
check "bad block $BADB" dust addbadblock $BADB || exit 1
dust quiet >/dev/null
check "enable dust" dust enable || exit 1
dd if=/dev/ram1 of=/tmp/spare-before bs=65536 2>/dev/null

# ---- a fresh spare area: --readonly must not format it ----
dmesg_mark
if dmsetup create --readonly r --table "$TABLE"; then
  log "fresh area: the read-only table loaded"
  readonly_checks fresh
  check "fresh area: remove r" dmsetup remove r
else
  log "fresh area: the read-only table was refused"
fi
check "fresh area: the spare device is byte-identical (not formatted)" cmp /dev/ram1 /tmp/spare-before

# ---- a formatted area with a remapped block ----
check "read-write table" dmsetup create r --table "$TABLE" || exit 1
moved=$(block_md5 $MOVED)
check_eq "remap block $MOVED" "remapped=1 lost=0 already=0" "$(msg remap $((MOVED * 8)) 1)"
check "remove the read-write table" dmsetup remove r
dd if=/dev/ram1 of=/tmp/spare-before bs=65536 2>/dev/null
check "read-only table over the formatted area" dmsetup create --readonly r --table "$TABLE" || exit 1
readonly_checks formatted
check_eq "the remapped block reads its data" "$moved" "$(block_md5 $MOVED)"
check_eq "list shows only the remapped block" "$MOVED" "$(msg list | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
check "remove r" dmsetup remove r
check "formatted area: the spare device is byte-identical" cmp /dev/ram1 /tmp/spare-before
rm -f /tmp/spare-before
exit 0
