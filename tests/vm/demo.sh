#!/bin/sh
# `make demo`: dm-remap at work in a VM, told as a short story. It grows with the target; each
# step is also a check, so a demo that goes wrong says so.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

say() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }

cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove demo"
cleanup_push "brd_teardown"

say "A 64 MiB disk (a brd ramdisk) and the dm-remap module"
check "ramdisk" brd_setup 1 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
show dmsetup targets

say "Protect the first 48 MiB; keep the last 16 MiB as the spare area"
TABLE="0 98304 remap /dev/ram0 0 /dev/ram0 98304 32768"
show dmsetup create demo --table "$TABLE"
check "device created" wait_for_dev /dev/mapper/demo || exit 1
show dmsetup table demo
show dmsetup status demo

say "Write 16 MiB of random data through it and read it back"
dd if=/dev/urandom of=/tmp/payload bs=1M count=16 2>/dev/null
dd if=/tmp/payload of=/dev/mapper/demo bs=1M oflag=direct 2>/dev/null
want=$(md5sum </tmp/payload | cut -d' ' -f1)
got=$(dd if=/dev/mapper/demo bs=1M count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
printf '  written  %s\n  read     %s\n' "$want" "$got"
check_eq "data reads back as written" "$want" "$got"

say "A table line that would put the spare area on top of the data is refused"
dmesg_mark
show dmsetup create bad --table "0 98304 remap /dev/ram0 0 /dev/ram0 65536 32768"
dmesg_since | grep 'remap:' | sed 's/^/  kernel: /'
check "refused with a message naming the problem" dmesg_since_has 'remap: Spare range overlaps'

say "Reload with the table dmsetup printed, plus a feature, and tear down"
show dmsetup reload demo --table "$TABLE 2 read_retries 5"
show dmsetup resume demo
show dmsetup table demo
check "removed" dmsetup remove demo
say "Verdict: dm-remap passed I/O through intact and refused a dangerous table."
exit 0
