#!/bin/sh
# Out of space is not a bad block: dm-remap over a thin volume of a small pool with
# error_if_no_space. A writer that fills the pool gets ENOSPC (it is never acknowledged by a move
# to the spare), nothing is remapped, and the spare device is byte-identical before and after.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

POOL=8192          # 4 MiB of pool data on ram0
VIRT=65536         # a 32 MiB thin volume
TABLE="0 $VIRT remap /dev/mapper/thin 0 /dev/ram2 0 16384"
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_thin_pool"
cleanup_push "dm_remove r thin pool"
cleanup_push "unload_module dm_remap"

check "ramdisks: pool data, pool metadata, spare" brd_setup 3 8192 || exit 1
# The debug kernel is built without DM_THIN_PROVISIONING (tools/debug-kernel/config.fragment).
modprobe dm-thin-pool 2>/dev/null || dmsetup targets | grep -qw thin-pool ||
  skip_test "this kernel has no dm-thin-pool (CONFIG_DM_THIN_PROVISIONING)"
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "a 4 MiB thin pool with error_if_no_space" \
  dmsetup create pool --table "0 $POOL thin-pool /dev/ram1 /dev/ram0 128 0 1 error_if_no_space" || exit 1
check "thin device 0" dmsetup message pool 0 "create_thin 0" || exit 1
check "a 32 MiB thin volume" dmsetup create thin --table "0 $VIRT thin /dev/mapper/pool 0" || exit 1
check "remap target over the thin volume" dmsetup create r --table "$TABLE" || exit 1
spare_before=$(md5sum </dev/ram2)

dmesg_mark
err=$(dd if=/dev/zero of=/dev/mapper/r bs=65536 count=$((VIRT / 128)) oflag=direct 2>&1)
rc=$?
log "dd: exit $rc: $err"
check "the writer fails" [ "$rc" -ne 0 ]
check_contains "... with ENOSPC" "$err" "No space left on device"
log "stats: $(msg stats)"
check_eq "nothing remapped or lost (remapped lost auto_remaps)" "0 0 0" \
  "$(stat_of remapped) $(stat_of lost) $(stat_of auto_remaps)"
check "stats: nospc_errors > 0" [ "$(stat_of nospc_errors)" -gt 0 ]
check_eq "list is empty" "" "$(msg list)"
check_eq "the spare device is untouched (md5 before and after)" "$spare_before" "$(md5sum </dev/ram2)"
check "remove r" dmsetup remove r
exit 0
