#!/bin/sh
# Pending lost marks and `reprobe` (issue 14): a scsi_debug disk whose 4 KiB block 1024 returns
# MEDIUM ERROR on reads. The block's data is written first (scsi_debug keeps it; only reads of
# the range fail). A read of the block fails with ENODATA and marks it lost; `reprobe` while the
# medium still fails replies reprobed=1 rescued=0 still_lost=1. Once the medium error range is
# cleared (medium_error_count=0, opts=0), reads of the block still fail without reaching the disk
# until `reprobe <sector> <count>` re-reads it: reply reprobed=1 rescued=1 still_lost=0, the block
# is moved to a spare block with its data (list: remapped), reads return what was written, the
# counters say so, and it all persists across re-creating the target. A reprobe with nothing
# lost reprobes nothing; bad arguments are refused.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB
BLK=1024            # the bad 4 KiB block: sectors 8192..8199
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sum() { md5sum | cut -d' ' -f1; }
# shellcheck disable=SC2317 # called through check
rd_blk() { dio read "${2:-/dev/mapper/r}" $(($1 * 4096)) 4096; }
blk_of_pat() { dd if=/tmp/pat bs=4096 skip=$(($1 - BLK + 4)) count=1 2>/dev/null; }
sd_reads() { awk '{print $1}' /sys/block/"$SD"/stat; }
# shellcheck disable=SC2317 # called through check
create_r() { dmsetup create r --table "0 $LEN remap /dev/$SD 0 /dev/ram0 0 32768 2 read_retries 1"; }
# shellcheck disable=SC2317 # called through check
recreate_r() { dmsetup remove r && create_r; }

cleanup_push "unload_module scsi_debug"
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"
cleanup_push "unload_module dm_remap"

check "dio helper" command -v dio || exit 1
check "spare ramdisk" brd_setup 1 16384 || exit 1
check "scsi_debug disk with a medium error at block $BLK" \
  modprobe scsi_debug dev_size_mb=64 opts=2 medium_error_start=$((BLK * 8)) medium_error_count=8 || exit 1
modprobe sd_mod
n=0
while [ -z "$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null)" ] && [ $n -lt 50 ]; do
  sleep 0.1; n=$((n + 1))
done
# shellcheck disable=SC2012 # sysfs names
SD=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block | head -n 1)
check "scsi_debug block device" wait_for_dev "/dev/$SD" || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "remap target over it" create_r || exit 1

# Blocks 1020..1027 get known data; writes reach the medium even in the error range.
dd if=/dev/urandom of=/tmp/pat bs=4096 count=8 2>/dev/null
check "data written to blocks $((BLK - 4))..$((BLK + 3))" \
  dd if=/tmp/pat of=/dev/mapper/r bs=4096 seek=$((BLK - 4)) count=8 oflag=direct
err=$(rd_blk $BLK 2>&1 >/dev/null)
log "read of block $BLK: $err"
check_contains "the read of block $BLK fails with ENODATA (medium error)" "$err" "No data available"
check_contains "the block is marked lost" "$(msg list $BLK 1)" "lost"
check_eq "stats: lost=1" 1 "$(stat_of lost)"
check_eq "the block after it reads back" "$(blk_of_pat $((BLK + 1)) | sum)" "$(rd_blk $((BLK + 1)) | sum)"

# ---- reprobe while the medium still fails ----
out=$(msg reprobe 2>&1)
log "reprobe (medium still bad): $out"
check_eq "reprobe while the medium still fails: nothing rescued" \
  "reprobed=1 rescued=0 still_lost=1" "$out"
check_eq "stats: reprobed=1 rescued=0 lost=1" "1 0 1" "$(stat_of reprobed) $(stat_of rescued) $(stat_of lost)"
check_fails "the block still fails to read" rd_blk $BLK

# ---- the medium recovers ----
echo 0 >/sys/module/scsi_debug/parameters/medium_error_count
echo 0 >/sys/bus/pseudo/drivers/scsi_debug/opts
check_eq "the raw disk reads block $BLK again, with the data written before" \
  "$(blk_of_pat $BLK | sum)" "$(rd_blk $BLK /dev/"$SD" | sum)"
before=$(sd_reads)
check_fails "before a reprobe the block still fails (the lost mark is pending)" rd_blk $BLK
check_eq "... without reaching the disk" "$before" "$(sd_reads)"
check_fails "reprobe with a bad argument is refused" msg reprobe x
check_fails "reprobe with a sector past the end is refused" msg reprobe $LEN 1
out=$(msg reprobe $((BLK * 8)) 8 2>&1)
log "reprobe $((BLK * 8)) 8: $out"
check_eq "reprobe of the block's range rescues it" "reprobed=1 rescued=1 still_lost=0" "$out"
check_eq "the block reads back the data written before the medium failed" \
  "$(blk_of_pat $BLK | sum)" "$(rd_blk $BLK | sum)"
out=$(msg list $BLK 1)
log "list $BLK 1: $out"
check_contains "it was moved to a spare block (weak block)" "$out" "remapped"
check_eq "stats: lost=0 remapped=1 reprobed=2 rescued=1 lost_sectors=0" "0 1 2 1 0" \
  "$(stat_of lost) $(stat_of remapped) $(stat_of reprobed) $(stat_of rescued) $(stat_of lost_sectors)"
check_eq "reprobe with nothing lost reprobes nothing" "reprobed=0 rescued=0 still_lost=0" \
  "$(msg reprobe 2>&1)"

check "remove and re-create the target" recreate_r || exit 1
check_contains "the rescue persisted" "$(msg list $BLK 1)" "remapped"
check_eq "the block reads back after re-create" "$(blk_of_pat $BLK | sum)" "$(rd_blk $BLK | sum)"
check "remove r" dmsetup remove r
exit 0
