#!/bin/sh
# `make demo`: dm-remap at work in a VM, told as a short story: ext4 on a disk that develops
# bad sectors while files are copied onto it. Each step is also a check, so a demo that goes
# wrong says so.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=262144    # the disk: 128 MiB (ram0)
say() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }
# The disk as it is today (healthy) or after it developed bad sectors: one 4 KiB block in
# every MiB no longer takes writes (it still reads its old data, like a drive's pending
# sectors).
disk_table() {
  local pos=0 bad
  if [ "$1" = worn ]; then
    bad=1024
    while [ $bad -lt $LEN ]; do
      echo "$pos $((bad - pos)) linear /dev/ram0 $pos"
      echo "$bad 8 flakey /dev/ram0 $bad 0 10 1 error_writes"
      pos=$((bad + 8))
      bad=$((bad + 2048))
    done
  fi
  echo "$pos $((LEN - pos)) linear /dev/ram0 $pos"
}
wear_out() { disk_table worn | dmsetup load disk && dmsetup suspend disk && dmsetup resume disk; }
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
cleanup_push "dm_remove demo disk"
cleanup_push "umount /mnt/demo 2>/dev/null"
cleanup_push "unload_module dm_remap"

say "A 128 MiB disk (a RAM disk behind a dm table we can age), a 16 MiB RAM disk for" \
  "spare blocks, and the dm-remap module"
check "ramdisks" brd_setup 2 131072 || exit 1
check "the disk" sh -c "echo '0 $LEN linear /dev/ram0 0' | dmsetup create disk" || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

say "dmremap builds the table from the devices and creates the device"
show dmremap create demo /dev/mapper/disk /dev/ram1 --spare-len 32768
check "device created" wait_for_dev /dev/mapper/demo || exit 1
show dmsetup table demo
show dmremap status demo

say "An ext4 file system on it, and the first 20 files (10 MiB) copied onto it"
mkdir -p /tmp/src /mnt/demo
check "files to copy" make_files /tmp/src 1 40 || exit 1
check "mkfs.ext4" mkfs.ext4 -q -F /dev/mapper/demo || exit 1
check "mount" mount /dev/mapper/demo /mnt/demo || exit 1
check "copy files 1-20" copy_files 1 20

say "The disk ages: from now on one block in every MiB refuses writes"
check "bad sectors appear" wear_out
show dd if=/dev/zero of=/dev/mapper/disk bs=4096 seek=128 count=1 oflag=direct
dmesg_mark

say "Copy files 21-40 and sync: the writes that hit bad sectors are moved to spare blocks"
check "copy files 21-40 (no error reaches the file system)" copy_files 21 40
dmesg_since | grep 'remap:' | head -n 5 | sed 's/^\[[^]]*\] /  kernel: /'
show dmremap status demo
remaps=$(dmsetup message demo 0 stats | tr ' ' '\n' | sed -n 's/^auto_remaps=//p')
check "blocks were remapped on the way ($remaps)" [ "${remaps:-0}" -gt 0 ]

say "Unmount, check the file system, mount again and compare every file"
check "umount" umount /mnt/demo
show e2fsck -f -n /dev/mapper/demo
check "e2fsck -f finds the file system clean" e2fsck -f -n /dev/mapper/demo
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
say "Verdict: the disk grew $remaps bad blocks under a live ext4; every write landed, the" \
  "file system checks clean, every file matches, and the remaps survived re-creation."
exit 0
