#!/bin/sh
# Honest read errors: a block that never reads (scsi_debug medium error, which stays bad) fails
# with its original status (ENODATA for an O_DIRECT read of a medium error), is marked lost and
# persisted; later reads fail fast without reaching the disk; a whole-block write brings the
# block back on a spare block.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sd_reads() { awk '{print $1}' "/sys/block/$SD/stat"; }

cleanup_push "unload_module scsi_debug"
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"
cleanup_push "unload_module dm_remap"

check "spare ramdisk" brd_setup 1 65536 || exit 1
# 64 MiB disk whose sectors 8192..8199 (4 KiB block 1024) return MEDIUM ERROR on read.
check "scsi_debug disk with a medium error at block 1024" \
  modprobe scsi_debug dev_size_mb=64 opts=2 medium_error_start=8192 medium_error_count=8 || exit 1
modprobe sd_mod
n=0
while [ -z "$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null)" ] && [ $n -lt 50 ]; do
  sleep 0.1; n=$((n + 1))
done
set -- /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*
SD=${1##*/}
check "scsi_debug block device" wait_for_dev "/dev/$SD" || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "remap target over it" \
  dmsetup create r --table "0 131072 remap /dev/$SD 0 /dev/ram0 0 32768 2 read_retries 1" || exit 1

check "blocks next to the bad one read" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=1023 count=1 iflag=direct
err=$(dd if=/dev/mapper/r of=/dev/null bs=4096 skip=1024 count=1 iflag=direct 2>&1)
log "read of block 1024: $err"
check_contains "the read fails with the original status (ENODATA)" "$err" "No data available"
check_eq "the block is marked lost" "1024 - lost" "$(msg list 1024 1)"
check_eq "stats: lost=1" 1 "$(stat_of lost)"
check "read_errors counted" [ "$(stat_of read_errors)" -ge 1 ]
before=$(sd_reads)
check_fails "a second read fails" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=1024 count=1 iflag=direct
check_eq "... without reaching the disk" "$before" "$(sd_reads)"
check "remove and re-create" sh -c "dmsetup remove r && dmsetup create r --table '0 131072 remap /dev/$SD 0 /dev/ram0 0 32768 2 read_retries 1'"
check_eq "the lost mark persisted" "1024 - lost" "$(msg list 1024 1)"

dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
check "a whole-block write brings the block back" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=1024 count=1 oflag=direct
check_eq "it reads back" "$(md5sum </tmp/blk | cut -d' ' -f1)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=1024 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
check_eq "lost=0 remapped=1" "0 1" "$(stat_of lost) $(stat_of remapped)"
fio_all() {  # args...: the whole device, 64 KiB sequential, crc32c verify
  fio --name=all --filename=/dev/mapper/r --rw=write --bs=64k --direct=1 --ioengine=libaio \
    --iodepth=4 --verify=crc32c --eta=never "$@" --output=/tmp/all.out
  local rc=$?
  fio_summary /tmp/all.out
  [ "$rc" -eq 0 ] && ! fio_complaint /tmp/all.out
}
check "fio rewrites the whole device and verifies it (the bad sectors are still bad below)" fio_all
check_eq "still lost=0 remapped=1: the rewritten block stayed on its spare block" "0 1" \
  "$(stat_of lost) $(stat_of remapped)"
check "re-create" sh -c "dmsetup remove r && dmsetup create r --table '0 131072 remap /dev/$SD 0 /dev/ram0 0 32768'"
check "the whole device verifies after re-create" fio_all --verify_only
check "remove r" dmsetup remove r
exit 0
