#!/bin/sh
# Spare exhaustion: a dm event wakes `dmsetup wait` when free spare blocks reach
# spare_low_water and again when none are left; past the end a remap fails with ENOSPC, a
# write that needs a spare block fails with EIO (nothing acknowledged falsely), no oops.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
events() { dmsetup info -c --noheadings -o events r | tr -d ' '; }

cleanup_push "brd_teardown"
cleanup_push "dm_remove r holey"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
# 24 spare blocks of 4 KiB: 4 hold metadata, 20 are usable; warn at 5 left.
check "remap target with a tiny spare area" \
  dmsetup create r --table "0 131072 remap /dev/ram0 0 /dev/ram1 0 192 2 spare_low_water 5" || exit 1
check_eq "spare_total=20" 20 "$(stat_of spare_total)"

ev0=$(events)
log "event counter before: $ev0"
check "remap 14 blocks (6 left): no event yet" msg remap 0 14
check_eq "no event above the low-water mark" "$ev0" "$(events)"
timeout 20 dmsetup wait r "$ev0" &
waiter=$!
check "remap 1 more block (5 left)" msg remap 800 1
check "dmsetup wait woke up on the low-water event" wait $waiter
ev1=$(events)
check "the event counter moved" [ "$ev1" -gt "$ev0" ]

timeout 20 dmsetup wait r "$ev1" &
waiter=$!
check "remap the last 5 blocks" msg remap 1600 5
check "dmsetup wait woke up on the exhaustion event" wait $waiter
check_eq "spare_free=0" 0 "$(stat_of spare_free)"
dmesg_mark
check_fails "remap past the end fails" msg remap 4000
check "kernel log says no spare blocks are left" dmesg_since_has 'remap: .*no spare blocks left'
check_eq "status shows all spare blocks used" "20/20" "$(dmsetup status r | cut -d' ' -f7)"
check "remove r" dmsetup remove r

# A write that needs a spare block when none is left fails; it is not acknowledged.
printf '%s\n' "0 8192 linear /dev/ram0 0" "8192 8 error" "8200 122872 linear /dev/ram0 8200" |
  dmsetup create holey
check "zero the spare area" dd if=/dev/zero of=/dev/ram1 bs=4096 count=24 oflag=direct
check "remap target over a failing disk with a full spare area" \
  sh -c "dmsetup create r --table '0 131072 remap /dev/mapper/holey 0 /dev/ram1 0 192' && dmsetup message r 0 remap 0 20"
check_eq "spare_free=0" 0 "$(stat_of spare_free)"
check_fails "a write to the failing block fails (no spare block for it)" \
  dd if=/dev/zero of=/dev/mapper/r bs=4096 seek=1024 count=1 oflag=direct
check_eq "auto_remaps=0" 0 "$(stat_of auto_remaps)"
check "write_errors counted" [ "$(stat_of write_errors)" -ge 1 ]
check "the healthy blocks before it still take writes that verify (fio, crc32c)" \
  fio --name=healthy --filename=/dev/mapper/r --rw=randwrite --bs=4k --size=4M --direct=1 \
    --ioengine=libaio --iodepth=8 --verify=crc32c --eta=never --output=/tmp/healthy.out
check "... with no verify error" sh -c "! grep -Eqi 'verify.*(fail|bad|mismatch)|bad magic' /tmp/healthy.out"
check "remove r" dmsetup remove r
check "remove holey" dmsetup remove holey
exit 0
