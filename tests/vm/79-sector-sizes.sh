#!/bin/sh
# Devices the target must refuse, or accept only when asked: a 4Kn spare (scsi_debug
# sector_size=4096) under a 512-byte data device would change the exported sector size, so the
# constructor and `dmremap create` refuse it unless the line says allow_larger_spare_sectors;
# with the feature the device has 4096-byte sectors and works (a remap keeps its data), and its
# metadata I/O never goes below the spare's logical block size (the "formatted with another
# block_size" probe included). A zoned device (null_blk zoned=1) is refused with a clear error.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }

cleanup_push "unload_module null_blk"
cleanup_push "unload_module scsi_debug"
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"
cleanup_push "unload_module dm_remap"

check "data ramdisk (512-byte sectors)" brd_setup 1 65536 || exit 1
check "scsi_debug spare with 4096-byte logical blocks" \
  modprobe scsi_debug dev_size_mb=32 sector_size=4096 || exit 1
modprobe sd_mod
n=0
while [ -z "$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null)" ] && [ $n -lt 50 ]; do
  sleep 0.1; n=$((n + 1))
done
set -- /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*
SD=${1##*/}
check "scsi_debug block device" wait_for_dev "/dev/$SD" || exit 1
check_eq "the spare has 4096-byte logical blocks" 4096 "$(blockdev --getss "/dev/$SD")"
check_eq "the data device has 512-byte logical blocks" 512 "$(blockdev --getss /dev/ram0)"
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

SPARE_LEN=$(dev_sectors "/dev/$SD")
TABLE="0 131072 remap /dev/ram0 0 /dev/$SD 0 $SPARE_LEN"

# ---- a larger spare sector is refused, by the module and by the tool ----
dmesg_mark
check_fails "a 4Kn spare under a 512-byte data device is refused" dmsetup create r --table "$TABLE"
check "the kernel log says why and names the feature" \
  dmesg_since_has "remap: Spare device's logical block size exceeds the data device's.*allow_larger_spare_sectors"
check "nothing was left behind" dm_absent r
check_eq "the refusal wrote nothing to the spare" 0 \
  "$(dd if="/dev/$SD" bs=4096 count=4 2>/dev/null | tr -d '\0' | wc -c)"
out=$(dmremap create r /dev/ram0 "/dev/$SD" --dry-run 2>&1)
check_fails "dmremap create refuses it too" dmremap create r /dev/ram0 "/dev/$SD" --dry-run
check_contains "... naming the option that accepts it" "$out" "--allow-larger-spare-sectors"
out=$(dmremap create r /dev/ram0 "/dev/$SD" --allow-larger-spare-sectors --dry-run 2>&1)
check_contains "dmremap create --allow-larger-spare-sectors puts the feature word in the line" \
  "$out" "1 allow_larger_spare_sectors"

# ---- accepted with the feature word, and working ----
dd if=/dev/urandom of=/tmp/blocks bs=4096 count=16 2>/dev/null
check "data written to the data device first" dd if=/tmp/blocks of=/dev/ram0 bs=4096 seek=100 count=16 conv=fsync
dmesg_mark
check "accepted with allow_larger_spare_sectors" \
  dmsetup create r --table "$TABLE 1 allow_larger_spare_sectors" || exit 1
check_eq "the dm device has 4096-byte sectors" 4096 "$(blockdev --getss /dev/mapper/r)"
check_contains "the table line keeps the feature word" "$(dmsetup table r)" \
  "$SPARE_LEN 1 allow_larger_spare_sectors"
check_contains "remap of block 105" "$(msg remap 840)" "105"
check_eq "stats: remapped=1" 1 "$(stat_of remapped)"
check_eq "the remapped block and its neighbours read back what was written" \
  "$(md5sum </tmp/blocks | cut -d' ' -f1)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=100 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
check "a write to the remapped block" dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=105 count=1 oflag=direct
check "remove and re-create" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE 1 allow_larger_spare_sectors'"
check_eq "the mapping persisted" "105 $(msg list 105 1 | cut -d' ' -f2) remapped" "$(msg list 105 1)"
check_eq "the write reads back from the spare" "$(md5sum </tmp/blk | cut -d' ' -f1)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=105 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
check "remove r" dmsetup remove r
check "dmremap check reads the 4Kn spare area" dmremap check "/dev/$SD"

# ---- the other-block_size probe reads whole logical blocks ----
dmesg_mark
check_fails "block_size 8192 over an area formatted with 4096 is refused" \
  dmsetup create r --table "$TABLE 3 allow_larger_spare_sectors block_size 8192"
check "... as formatted with another block_size (the probe read the 4096 superblock)" \
  dmesg_since_has "remap: Metadata was formatted with another block_size"
if dmesg_since | grep -Eqi "not aligned|unaligned|I/O error"; then
  dmesg_since | sed 's/^/#   /'
  fail "no misaligned or failed I/O reached the 4Kn spare"
else
  pass "no misaligned or failed I/O reached the 4Kn spare"
fi
check "nothing was left behind" dm_absent r

# ---- zoned devices are refused ----
check "null_blk zoned device" modprobe null_blk nr_devices=1 zoned=1 zone_size=16 gb=1 || exit 1
check "null_blk block device" wait_for_dev /dev/nullb0 || exit 1
check_eq "it is zoned" host-managed "$(cat /sys/block/nullb0/queue/zoned)"
dmesg_mark
check_fails "a zoned data device is refused" \
  dmsetup create r --table "0 131072 remap /dev/nullb0 0 /dev/ram0 0 32768"
check "the kernel log says why" dmesg_since_has "remap: Zoned devices are not supported"
dmesg_mark
check_fails "a zoned spare device is refused" \
  dmsetup create r --table "0 65536 remap /dev/ram0 0 /dev/nullb0 0 32768"
check "the kernel log says why" dmesg_since_has "remap: Zoned devices are not supported"
check "nothing was left behind" dm_absent r
exit 0
