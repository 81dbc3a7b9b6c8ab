#!/bin/sh
# Metadata write failure: the metadata range of the spare device is made to fail by swapping
# an error segment in by reload. A write that needs a remap then fails (it depended on the
# commit: nothing is acknowledged that is not persisted), the target goes to metadata=failed
# with a dm event and a kernel error, remap messages are refused, no more automatic remaps
# happen, and reads and healthy writes keep working. Once the device is restored, a reload
# finds the last good commit and remaps work again.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB of data on ram0
SPARE_LEN=32768     # 16 MiB spare area on ram1
BAD=3000            # a data block whose writes fail (reads work) once the hole is in
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
metadata_state() { dmsetup status r | cut -d' ' -f8; }
events() { dmsetup info -c --noheadings -o events r | tr -d ' '; }
swap() {  # dev: loads the table on stdin in place of the live one
  dmsetup load "$1" && dmsetup suspend "$1" && dmsetup resume "$1"
}
data_with_hole() {
  printf '%s\n' "0 $((BAD * 8)) linear /dev/ram0 0" \
    "$((BAD * 8)) 8 flakey /dev/ram0 $((BAD * 8)) 0 10 1 error_writes" \
    "$((BAD * 8 + 8)) $((LEN - BAD * 8 - 8)) linear /dev/ram0 $((BAD * 8 + 8))" | swap data
}
spare_plain() { echo "0 $SPARE_LEN linear /dev/ram1 0" | swap sp; }
spare_metadata_fails() {  # $1: sectors of metadata at the start of the spare range
  printf '%s\n' "0 $1 error" "$1 $((SPARE_LEN - $1)) linear /dev/ram1 $1" | swap sp
}
fio_verify() {  # name args...
  local name=$1
  shift
  fio --name="$name" --filename=/dev/mapper/r --bs=64k --direct=1 --ioengine=libaio \
    --iodepth=8 --size=$((LEN * 512)) --verify=crc32c --rw=write --eta=never "$@" \
    --output="/tmp/$name.out"
  local rc=$?
  fio_summary "/tmp/$name.out"
  [ "$rc" -eq 0 ] && ! fio_complaint "/tmp/$name.out"
}
block_md5() { dd if=/dev/mapper/r bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | md5sum; }

cleanup_push "brd_teardown"
cleanup_push "dm_remove r sp data"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "data device" dmsetup create data --table "0 $LEN linear /dev/ram0 0" || exit 1
check "spare device" dmsetup create sp --table "0 $SPARE_LEN linear /dev/ram1 0" || exit 1
TABLE="0 $LEN remap /dev/mapper/data 0 /dev/mapper/sp 0 $SPARE_LEN"
check "remap target" dmsetup create r --table "$TABLE" || exit 1
check "fio fills the device" fio_verify fill
check_eq "remap 10 blocks" "remapped=10 lost=0 already=0" "$(msg remap 80000 10)"
good_list=$(msg list)
good_seq=$(stat_of seq)
metadata_sectors=$(( (SPARE_LEN / 8 - $(stat_of spare_total)) * 8 ))
log "metadata: the first $metadata_sectors sectors of the spare range"

# ---- the commit a failed write depends on cannot be written ----
check "block $BAD starts failing writes" data_with_hole
check "the metadata range starts failing" spare_metadata_fails "$metadata_sectors"
ev0=$(events)
we0=$(stat_of write_errors)
dmesg_mark
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
check_fails "a write to block $BAD (needs a remap, whose commit fails) fails" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=$BAD oflag=direct
check_eq "metadata=failed" failed "$(metadata_state)"
check "a dm event was raised" [ "$(events)" -gt "$ev0" ]
check "the kernel log says the commit failed" dmesg_since_has 'remap: metadata commit failed'
check_eq "auto_remaps=0" 0 "$(stat_of auto_remaps)"
check "the write error was counted" [ "$(stat_of write_errors)" -gt "$we0" ]
check_eq "remapped is still 10" 10 "$(stat_of remapped)"
check_fails "a remap message is refused" msg remap 60000
check_fails "another write to block $BAD fails too (no more automatic remaps)" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=$BAD oflag=direct
check "reads keep working: the whole device verifies" fio_verify fill --verify_only
check "a healthy block can be written" dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=5000 oflag=direct
check_eq "... and reads back" "$(md5sum </tmp/blk)" "$(block_md5 5000)"
check "a write to a remapped block works (no commit needed)" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=10001 oflag=direct
check_eq "... and reads back" "$(md5sum </tmp/blk)" "$(block_md5 10001)"

# ---- restore the spare device: a reload finds the last good commit ----
check "the spare device works again" spare_plain
check "reload the remap target" sh -c "dmsetup load r --table '$TABLE' && dmsetup suspend r && dmsetup resume r"
check_eq "metadata=ok" ok "$(metadata_state)"
check_eq "the last good commit's table" "$good_list" "$(msg list)"
check_eq "the last good commit's seq" "$good_seq" "$(stat_of seq)"
check "the remapped block kept the data written while metadata had failed" \
  [ "$(md5sum </tmp/blk)" = "$(block_md5 10001)" ]
check "a write to block $BAD now succeeds through a remap" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=$BAD oflag=direct
check_eq "auto_remaps=1" 1 "$(stat_of auto_remaps)"
check_eq "it reads back" "$(md5sum </tmp/blk)" "$(block_md5 $BAD)"
check "remap messages work again" msg remap 60000
check "re-create: everything persisted" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE'"
check_eq "remapped=12" 12 "$(stat_of remapped)"
check_eq "block $BAD still reads back" "$(md5sum </tmp/blk)" "$(block_md5 $BAD)"
check "remove r" dmsetup remove r
exit 0
