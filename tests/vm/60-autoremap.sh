#!/bin/sh
# Automatic remap on write errors: a write that fails on the data device is retried block by
# block, the blocks that still fail move to spare blocks holding the written data, and the
# write completes successfully; fio's verify proves every acknowledged byte reads back. A lost
# block comes back when it is written whole; a partial write to it fails. With no_auto_remap
# errors pass through, still counted.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072
SPARE=/dev/ram1
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# A data device whose blocks 1024 and 2048 (4 KiB blocks) fail every read and write.
holey() {
  printf '%s\n' "0 8192 linear /dev/ram0 0" "8192 8 error" "8200 8184 linear /dev/ram0 8200" \
    "16384 8 error" "16392 114680 linear /dev/ram0 16392" | dmsetup create holey
}
fresh_remap() {  # extra table words...
  dd if=/dev/zero of="$SPARE" bs=1M count=1 oflag=direct 2>/dev/null &&
    dmsetup create r --table "0 $LEN remap /dev/mapper/holey 0 $SPARE 0 32768 $*"
}
fio_verify() {  # name args...
  local name=$1
  shift
  fio --name="$name" --filename=/dev/mapper/r --bs=64k --direct=1 --ioengine=libaio \
    --iodepth=8 --size=$((LEN * 512)) --verify=crc32c --eta=never "$@" --output="/tmp/$name.out"
  local rc=$?
  fio_summary "/tmp/$name.out"
  [ "$rc" -eq 0 ] && ! fio_complaint "/tmp/$name.out"
}

cleanup_push "brd_teardown"
cleanup_push "dm_remove r holey"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "data device with two failing blocks" holey || exit 1
check_fails "the raw holey device fails writes at block 1024" \
  dd if=/dev/zero of=/dev/mapper/holey bs=4096 seek=1024 count=1 oflag=direct

# ---- writes that fail are remapped, and succeed ----
check "remap target over it" fresh_remap || exit 1
dmesg_mark
check "fio writes the whole device (64 KiB I/O across the bad blocks) and verifies it" \
  fio_verify fill --rw=write
check_eq "auto_remaps=2 (one per bad block)" 2 "$(stat_of auto_remaps)"
check_eq "remapped=2" 2 "$(stat_of remapped)"
check "write_errors counted" [ "$(stat_of write_errors)" -ge 2 ]
check_eq "list shows the two blocks" "1024 2048" "$(msg list | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
check "kernel log reports the remaps" dmesg_since_has 'remap: remapped 1 block\(s\) after 1 failed write\(s\)'
check "random rewrites over the remapped blocks verify" fio_verify mix --rw=randwrite --bs=4k
check_eq "no further remaps for blocks already on spare" 2 "$(stat_of auto_remaps)"
list=$(msg list)
check "remove r" dmsetup remove r
check "create r again" dmsetup create r --table "0 $LEN remap /dev/mapper/holey 0 $SPARE 0 32768"
check_eq "the automatic remaps persisted" "$list" "$(msg list)"
check "data verifies after re-create" fio_verify mix --rw=randwrite --bs=4k --verify_only
check "remove r" dmsetup remove r

# ---- a lost block comes back when written whole ----
check "remap target over it again, fresh" fresh_remap || exit 1
check_eq "remap of an unreadable block: lost" "2048 lost" "$(msg remap 16384)"
check_fails "reads of the lost block fail" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=2048 count=1 iflag=direct
check_fails "a partial write to the lost block fails (the rest of it is gone)" \
  dd if=/dev/urandom of=/dev/mapper/r bs=512 seek=16385 count=1 oflag=direct
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
check "a whole-block write to the lost block succeeds" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=2048 count=1 oflag=direct
check_eq "and reads back" "$(md5sum </tmp/blk | cut -d' ' -f1)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=2048 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
check_eq "lost=0 remapped=1" "0 1" "$(stat_of lost) $(stat_of remapped)"
check "remove r" dmsetup remove r

# ---- no_auto_remap: errors pass through, counted ----
check "remap target with no_auto_remap" fresh_remap 1 no_auto_remap || exit 1
check_fails "a write to a bad block fails" \
  dd if=/dev/zero of=/dev/mapper/r bs=4096 seek=1024 count=1 oflag=direct
check_eq "auto_remaps=0" 0 "$(stat_of auto_remaps)"
check "write_errors counted" [ "$(stat_of write_errors)" -ge 1 ]
check "remove r" dmsetup remove r
check "remove holey" dmsetup remove holey
exit 0
