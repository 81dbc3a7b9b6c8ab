#!/bin/sh
# `make demo`: dm-remap at work in a VM, told as a short story. Each step is also a check, so a
# demo that goes wrong says so.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

say() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }
md5_block() { dd if="$1" bs=4096 skip="$2" count=1 iflag=direct 2>/dev/null | md5sum | cut -c1-12; }

cleanup_push "brd_teardown"
cleanup_push "dm_remove demo disk"
cleanup_push "unload_module dm_remap"

say "A 64 MiB disk whose block 1024 cannot be read (an error target over a RAM disk)," \
  "a 16 MiB RAM disk for spare blocks, and the dm-remap module"
check "ramdisks" brd_setup 2 65536 || exit 1
printf '0 8192 linear /dev/ram0 0\n8192 8 error\n8200 122872 linear /dev/ram0 8200\n' >/tmp/disk
check "failing disk" dmsetup create disk /tmp/disk || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

say "Put dm-remap in front of the disk; the spare area is formatted at the first resume"
TABLE="0 131072 remap /dev/mapper/disk 0 /dev/ram1 0 32768"
dmesg_mark
show dmsetup create demo --table "$TABLE"
check "device created" wait_for_dev /dev/mapper/demo || exit 1
dmesg_since | grep 'remap:' | sed 's/^\[[^]]*\] /  kernel: /'
show dmsetup table demo
show dmsetup status demo

say "Fill it with data, then move block 512 (sectors 4096-4103) to the spare area by hand"
dd if=/dev/urandom of=/dev/mapper/demo bs=1M count=4 oflag=direct 2>/dev/null
before=$(md5_block /dev/mapper/demo 512)
show dmsetup message demo 0 remap 4096
check_eq "block 512 reads the same after the move" "$before" "$(md5_block /dev/mapper/demo 512)"
spare=$(dmsetup message demo 0 list 512 1 | cut -d' ' -f2)
printf '  block 512 through dm-remap  %s\n  spare block %s on ram1    %s\n' "$before" "$spare" \
  "$(md5_block /dev/ram1 "$spare")"

say "Writes to block 512 now land in the spare block; the old copy on the disk is left alone"
dd if=/dev/urandom of=/dev/mapper/demo bs=4096 seek=512 count=1 oflag=direct 2>/dev/null
printf '  through dm-remap  %s\n  spare block       %s\n  old disk block    %s\n' \
  "$(md5_block /dev/mapper/demo 512)" "$(md5_block /dev/ram1 "$spare")" \
  "$(md5_block /dev/ram0 512)"
check_eq "the write went to the spare block" "$(md5_block /dev/mapper/demo 512)" \
  "$(md5_block /dev/ram1 "$spare")"

say "Block 1024 cannot be read: remapping it marks it lost, and reads fail fast and honestly"
show dmsetup message demo 0 remap 8192
show dd if=/dev/mapper/demo of=/dev/null bs=4096 skip=1024 count=1 iflag=direct
show dmsetup message demo 0 list
show dmsetup message demo 0 stats

say "The mapping is on disk: remove the device and create it again"
show dmsetup remove demo
show dmsetup create demo --table "$TABLE"
show dmsetup message demo 0 list
check_eq "block 512 still reads its latest data" \
  "$(md5_block /dev/ram1 "$spare")" "$(md5_block /dev/mapper/demo 512)"
show dmsetup status demo
check "removed" dmsetup remove demo
check "failing disk removed" dmsetup remove disk
say "Verdict: dm-remap moved a block without losing a byte, persisted the move, and" \
  "refused to invent data for a block it could not read."
exit 0
