#!/bin/sh
# A dead spare device does not hang the target: the spare's table (dm-linear over brd) is swapped
# to `error` under a live target holding a remapped block. A mapping change then fails and shows
# it (status metadata=failed, or spare=failed in the stats), and the target's own `dmsetup
# suspend` + `resume` succeeds: the failure still shows, reads of blocks that are not remapped
# work, the remapped block fails honestly, and nothing hangs (every command under a timeout).
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=32768          # 16 MiB of data on ram0
SPARE_LEN=16384    # 8 MiB spare area on ram1, behind the dm-linear "sp"
TABLE="0 $LEN remap /dev/ram0 0 /dev/mapper/sp 0 $SPARE_LEN"
MOVED=100
t() { timeout 20 "$@"; }   # nothing may hang
msg() { t dmsetup message r 0 -- "$@"; }
# shellcheck disable=SC2317 # called through check
metadata_state() { t dmsetup status r | cut -d' ' -f8; }
# shellcheck disable=SC2317 # called through check
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# shellcheck disable=SC2317 # called through check
failed_shown() {  # status says metadata=failed, or stats say spare=failed (issue 14 allows both)
  local m s
  m=$(metadata_state) s=$(stat_of spare)
  log "status metadata=$m, stats spare=$s"
  [ "$m" = failed ] || [ "$s" = failed ]
}
swap_sp() {  # table line: loads it in place of sp's live one
  echo "$1" | dmsetup load sp && dmsetup suspend sp && dmsetup resume sp
}
block_md5() { t dd if=/dev/mapper/r bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | md5sum; }
# shellcheck disable=SC2317 # called through check
suspended() { dmsetup info r | grep -q SUSPENDED; }

cleanup_push "brd_teardown"
cleanup_push "dm_remove r sp"
cleanup_push "swap_sp '0 $SPARE_LEN linear /dev/ram1 0'"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 16384 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "spare device: linear over ram1" dmsetup create sp --table "0 $SPARE_LEN linear /dev/ram1 0" || exit 1
check "remap target" dmsetup create r --table "$TABLE" || exit 1
check "some data" dd if=/dev/urandom of=/dev/mapper/r bs=65536 count=64 oflag=direct
good=$(block_md5 10)
check_eq "remap block $MOVED" "remapped=1 lost=0 already=0" "$(msg remap $((MOVED * 8)) 1)"

dmesg_mark
check "the spare dies: sp's table swapped to error" swap_sp "0 $SPARE_LEN error" || exit 1
check_fails "a remap of another block fails (its commit cannot be written)" msg remap 8000
check "the failure shows: metadata=failed (or spare=failed)" failed_shown
check "dmsetup suspend r" t dmsetup suspend r
check "dmsetup resume r" t dmsetup resume r
if ! check_fails "r is not left suspended" suspended; then
  # Any I/O would now wait forever: bring the spare back so that resume can succeed, and stop.
  swap_sp "0 $SPARE_LEN linear /dev/ram1 0" && t dmsetup resume r
  exit 1
fi
log "status: $(t dmsetup status r)"
log "stats: $(msg stats)"
check "after resume: the failure still shows" failed_shown
check_eq "a block that is not remapped reads its data" "$good" "$(block_md5 10)"
check "a write to a block that is not remapped works" \
  t dd if=/dev/zero of=/dev/mapper/r bs=4096 seek=20 count=1 oflag=direct
check_fails "the remapped block (on the dead spare) fails" \
  t dd if=/dev/mapper/r of=/dev/null bs=4096 skip=$MOVED count=1 iflag=direct
check "a second suspend + resume" sh -c "timeout 20 dmsetup suspend r && timeout 20 dmsetup resume r"
check "the spare comes back" swap_sp "0 $SPARE_LEN linear /dev/ram1 0"
check "remove r" t dmsetup remove r
exit 0
