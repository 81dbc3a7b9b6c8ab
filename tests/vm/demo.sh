#!/bin/sh
# `make demo`: dm-remap at work in a VM, told as a short story: ext4 on a disk that develops
# bad sectors while files are copied onto it. Each step is also a check, so a demo that goes
# wrong says so.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=262144    # the disk: 128 MiB (ram0)
say() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }
# The disk: a dm-dust device over a RAM disk, so it can grow bad sectors on demand.
# wear_out: one in every 256 blocks that ext4 has not used yet stops taking writes, as a
# drive's worn sectors do (the blocks holding files 1-20 stay readable).
free_ranges() { dumpe2fs /dev/mapper/demo 2>/dev/null | sed -n 's/^  Free blocks: //p' | tr ',' '\n'; }
wear_out() {
  local b
  for b in $(free_ranges | awk '{ gsub(/ /, ""); if ($0 == "") next
      split($0, r, "-"); hi = (r[2] == "") ? r[1] : r[2]
      for (b = r[1]; b <= hi; b++) if (b > 0 && n++ % 256 == 128) print b }'); do
    dmsetup message disk 0 addbadblock "$b" 255 >/dev/null || return 1
  done
  dmsetup message disk 0 enable
}
make_files() {  # dir first last: 512 KiB files of random data, with their checksums
  local i=$2
  while [ "$i" -le "$3" ]; do
    dd if=/dev/urandom of="/tmp/src/f$i" bs=64k count=8 2>/dev/null || return 1
    i=$((i + 1))
  done
}
copy_files() {  # first last
  local i=$1
  while [ "$i" -le "$2" ]; do
    cp "/tmp/src/f$i" /mnt/demo/ || return 1
    i=$((i + 1))
  done
  sync
}
verify_files() { (cd /tmp/src && md5sum f*) >/tmp/sums && (cd /mnt/demo && md5sum -c -s /tmp/sums); }

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove demo disk"
cleanup_push "umount /mnt/demo 2>/dev/null || true"

say "A 128 MiB disk (a RAM disk behind dm-dust, which can make sectors go bad), a 16 MiB" \
  "RAM disk for spare blocks, and the dm-remap module"
check "ramdisks" brd_setup 2 131072 || exit 1
check "dm-dust" load_dm_dust || exit 1
check "the disk" dmsetup create disk --table "0 $LEN dust /dev/ram0 0 4096" || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

say "dmremap builds the table from the devices and creates the device"
show dmremap create demo /dev/mapper/disk /dev/ram1 --spare-len 32768
check "device created" wait_for_dev /dev/mapper/demo || exit 1
show dmsetup table demo
show dmremap status demo

say "An ext4 file system on it, and the first 20 files (10 MiB) copied onto it"
mkdir -p /tmp/src /mnt/demo
check "files to copy" make_files /tmp/src 1 40 || exit 1
check "ext4 module" sh -c "grep -qw ext4 /proc/filesystems || modprobe ext4" || exit 1
check "mkfs.ext4 (4 KiB blocks, as dm-remap and dust)" mkfs.ext4 -q -F -b 4096 /dev/mapper/demo || exit 1
check "mount" mount /dev/mapper/demo /mnt/demo || exit 1
check "copy files 1-20" copy_files 1 20

say "The disk ages: one in every 256 of its free blocks stops taking writes"
check "bad sectors appear" wear_out
show dmsetup message disk 0 countbadblocks
bad=$(dmsetup message disk 0 countbadblocks | tr -dc 0-9)
dmesg_mark

say "Copy files 21-40 and sync: the writes that hit bad sectors are moved to spare blocks"
check "copy files 21-40 (no error reaches the file system)" copy_files 21 40
dmesg_since | grep 'remap:' | head -n 4 | sed 's/^\[[^]]*\] /  kernel: /'
show dmremap status demo
remaps=$(dmsetup message demo 0 stats | tr ' ' '\n' | sed -n 's/^auto_remaps=//p')
check "blocks were remapped on the way ($remaps)" [ "${remaps:-0}" -gt 0 ]

say "Unmount, check the file system, mount again and compare every file"
check "umount" umount /mnt/demo
show fsck.ext4 -f -n /dev/mapper/demo
check "fsck.ext4 -f finds the file system clean" sh -c 'fsck.ext4 -f -n /dev/mapper/demo >/dev/null 2>&1'
check "mount again" mount /dev/mapper/demo /mnt/demo
check "all 40 files match their checksums" verify_files
check "umount" umount /mnt/demo

say "The remaps are on disk: remove the device, create it again, and look"
show dmremap remove demo
show dmremap create demo /dev/mapper/disk /dev/ram1 --spare-len 32768
show dmremap list demo
check_eq "the remaps came back" "$remaps" "$(dmsetup message demo 0 stats | tr ' ' '\n' | sed -n 's/^remapped=//p')"
check "mount after re-create" mount /dev/mapper/demo /mnt/demo
check "files still match" verify_files
check "umount" umount /mnt/demo
check "removed" dmsetup remove demo
check "disk removed" dmsetup remove disk
say "Verdict: $bad blocks of the disk went bad under" \
  "a live ext4; the $remaps that were written moved to spare blocks without an error" \
  "reaching the file system, which checks clean, every file matches, and the remaps" \
  "survived re-creation."
exit 0
