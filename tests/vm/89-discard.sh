#!/bin/sh
# Discard and write-zeroes through the target (issue 18).
#
# Part 1, a scsi_debug disk that takes UNMAP and WRITE SAME (discard and write-zeroes), with a
# medium error over blocks 1024-1025, holding both the data and the spare range: the target offers
# both operations; a discard of a lost block succeeds and leaves it lost; a discard of remapped
# blocks succeeds and leaves them remapped; `fallocate --zero-range` over half of a lost block
# revives those sectors only (the rest stay lost), over a whole lost block revives it; `blkdiscard
# -z` over plain, remapped and partly lost blocks leaves every byte of the range reading as zero,
# nothing lost, the remaps in place, and the blocks around the range untouched.
#
# Part 2, ext4 on the target over a dm-thin volume, with a brd spare that takes no discards: the
# target's discard limits are the thin volume's (granularity, max bytes), `fstrim` gives the
# blocks of a deleted file back to the pool (its used data blocks drop) although remapped blocks
# lie in the trimmed range, the remaps stay, and fsck finds the file system clean.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sum() { md5sum | cut -d' ' -f1; }
# util-linux's, by path: busybox's applets of the same names (which the guest's shell prefers)
# have no -z.
# -f: no probe for signatures first (its reads would meet the lost blocks).
blkdiscard() { /usr/sbin/blkdiscard -f "$@"; }
fallocate() { /usr/bin/fallocate "$@"; }
q() { cat "/sys/block/$1/queue/$2"; }
dm_name() { echo "dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')"; }
blocks() { dd if=/dev/mapper/r bs=4096 skip="$1" count="$2" iflag=direct 2>/dev/null | sum; }
zeros() { dd if=/dev/zero bs=4096 count="$1" 2>/dev/null | sum; }
pat() { dd if=/tmp/pat bs=4096 skip="$1" count="$2" 2>/dev/null | sum; }
# shellcheck disable=SC2317 # called through check
rd() { dio read /dev/mapper/r $(($1 * 512)) $(($2 * 512)); }   # first-sector sectors

cleanup_push "brd_teardown"
cleanup_push "unload_module scsi_debug"
cleanup_push "unload_module dm_thin_pool"
cleanup_push "dm_remove r thin pool"
cleanup_push "umount /mnt/trim 2>/dev/null"
cleanup_push "unload_module dm_remap"

check "dio helper" command -v dio || exit 1
check "util-linux blkdiscard (-z)" sh -c '/usr/sbin/blkdiscard --help 2>&1 | grep -q -- --zeroout' || exit 1
check "util-linux fallocate (--zero-range)" sh -c '/usr/bin/fallocate --help 2>&1 | grep -q -- --zero-range' ||
  exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

# ---- part 1: plain, remapped and lost blocks --------------------------------------------------
# 64 MiB: data 0..98303 (blocks 0..12287 of 4 KiB), spare 98304..131071 on the same disk.
# Sectors 8192..8207 (blocks 1024 and 1025) return MEDIUM ERROR on read.
check "scsi_debug disk with UNMAP, WRITE SAME and a medium error at blocks 1024-1025" \
  modprobe scsi_debug dev_size_mb=64 opts=2 medium_error_start=8192 medium_error_count=16 \
  lbpu=1 lbpws=1 || exit 1
modprobe sd_mod
n=0
while [ -z "$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null)" ] &&
  [ $n -lt 50 ]; do
  sleep 0.1; n=$((n + 1))
done
set -- /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*
SD=${1##*/}
check "scsi_debug block device" wait_for_dev "/dev/$SD" || exit 1
log "$SD: discard_max_bytes=$(q "$SD" discard_max_bytes)" \
  "discard_granularity=$(q "$SD" discard_granularity)" \
  "write_zeroes_max_bytes=$(q "$SD" write_zeroes_max_bytes)"
check "the disk takes discards" [ "$(q "$SD" discard_max_bytes)" -gt 0 ]
check "the disk takes write-zeroes" [ "$(q "$SD" write_zeroes_max_bytes)" -gt 0 ]
check "remap target over it" \
  dmsetup create r --table "0 98304 remap /dev/$SD 0 /dev/$SD 98304 32768 2 read_retries 1" || exit 1
R=$(dm_name r)
log "$R: discard_max_bytes=$(q "$R" discard_max_bytes)" \
  "discard_granularity=$(q "$R" discard_granularity)" \
  "write_zeroes_max_bytes=$(q "$R" write_zeroes_max_bytes)"
check "the target offers discard" [ "$(q "$R" discard_max_bytes)" -gt 0 ]
check "the target offers write-zeroes" [ "$(q "$R" write_zeroes_max_bytes)" -gt 0 ]

dd if=/dev/urandom of=/tmp/pat bs=4096 count=2048 2>/dev/null   # blocks 0..2047
check "blocks 0..2047 written" dd if=/tmp/pat of=/dev/mapper/r bs=4096 count=2048 oflag=direct ||
  exit 1
check_fails "a read of block 1024 fails" rd 8192 8
check_fails "a read of block 1025 fails" rd 8200 8
check_eq "blocks 1024 and 1025 are lost" "1024 - lost
1025 - lost" "$(msg list 1024 2)"
check_eq "remap of blocks 100..107" "remapped=8 lost=0 already=0" "$(msg remap 800 8)"
remaps=$(msg list 100 8)

check "discard of the lost block 1024 succeeds" blkdiscard -o $((1024 * 4096)) -l 4096 /dev/mapper/r
check_eq "... and it stays lost" "1024 - lost" "$(msg list 1024 1)"
check_fails "... and still does not read" rd 8192 8
check "discard of the remapped blocks 100..107 succeeds" \
  blkdiscard -o $((100 * 4096)) -l $((8 * 4096)) /dev/mapper/r
check_eq "... and they stay remapped where they were" "$remaps" "$(msg list 100 8)"

check "zero-range over the first half of lost block 1024" \
  fallocate --zero-range -o $((8192 * 512)) -l 2048 /dev/mapper/r
check_eq "... its first four sectors read as zeros" \
  "$(dd if=/dev/zero bs=2048 count=1 2>/dev/null | sum)" "$(rd 8192 4 | sum)"
check_fails "... its last four still fail" rd 8196 4
check_contains "... it is a salvaged block with 4 lost sectors" "$(msg list 1024 1)" \
  "remapped lost_sectors=4"
check "zero-range over all of lost block 1025" \
  fallocate --zero-range -o $((1025 * 4096)) -l 4096 /dev/mapper/r
check_eq "... it reads as zeros" "$(zeros 1)" "$(blocks 1025 1)"
check_contains "... it is remapped, nothing lost" "$(msg list 1025 1)" " remapped"
check_eq "stats: lost=0 lost_sectors=4" "0 4" "$(stat_of lost) $(stat_of lost_sectors)"

# Blocks 96..1031: plain, the remapped 100..107, plain, the salvaged 1024, 1025, plain.
check "blkdiscard -z over blocks 96..1031" \
  blkdiscard -z -o $((96 * 4096)) -l $((936 * 4096)) /dev/mapper/r
check_eq "every byte of blocks 96..1031 reads as zero" "$(zeros 936)" "$(blocks 96 936)"
check_eq "stats: lost=0 lost_sectors=0" "0 0" "$(stat_of lost) $(stat_of lost_sectors)"
check_eq "blocks 100..107 are still remapped where they were" "$remaps" "$(msg list 100 8)"
check_eq "block 95 is untouched" "$(pat 95 1)" "$(blocks 95 1)"
check_eq "blocks 1032..2047 are untouched" "$(pat 1032 1016)" "$(blocks 1032 1016)"
check "remove and re-create" sh -c "dmsetup remove r && dmsetup create r --table \
  '0 98304 remap /dev/$SD 0 /dev/$SD 98304 32768 2 read_retries 1'"
check_eq "after re-creating, blocks 96..1031 still read as zero" "$(zeros 936)" "$(blocks 96 936)"
check "remove r" dmsetup remove r
unload_module scsi_debug

# ---- part 2: fstrim through the target to a thin pool ----------------------------------------
if ! { modprobe dm-thin-pool 2>/dev/null || dmsetup targets | grep -qw thin-pool; }; then
  skip_test "this kernel has no dm-thin-pool (CONFIG_DM_THIN_PROVISIONING)"
fi
modprobe ext4 2>/dev/null
check "ramdisks: pool data (64 MiB), pool metadata, spare" brd_setup 3 65536 || exit 1
log "ram2 (spare): discard_max_bytes=$(q ram2 discard_max_bytes)"
check "a 64 MiB pool of 64 KiB blocks" \
  dmsetup create pool --table "0 131072 thin-pool /dev/ram1 /dev/ram0 128 0" || exit 1
check "thin device 0" dmsetup message pool 0 "create_thin 0" || exit 1
check "a 64 MiB thin volume" dmsetup create thin --table "0 131072 thin /dev/mapper/pool 0" || exit 1
check "remap target over the thin volume, spare on ram2" \
  dmsetup create r --table "0 131072 remap /dev/mapper/thin 0 /dev/ram2 0 32768" || exit 1
T=$(dm_name thin)
R=$(dm_name r)
tmax=$(q "$T" discard_max_bytes)
smax=$(q ram2 discard_max_bytes)
want_max=$tmax
[ "$smax" -eq 0 ] || [ "$smax" -ge "$tmax" ] || want_max=$smax
want_gran=$(q "$T" discard_granularity)
[ "$(q ram2 discard_granularity)" -le "$want_gran" ] || want_gran=$(q ram2 discard_granularity)
log "thin $T: discard_max_bytes=$tmax granularity=$(q "$T" discard_granularity);" \
  "ram2: $smax $(q ram2 discard_granularity); target $R: $(q "$R" discard_max_bytes)" \
  "$(q "$R" discard_granularity)"
check_eq "target discard granularity: the thin volume's (64 KiB)" "65536 $want_gran" \
  "$(q "$R" discard_granularity) $(q "$T" discard_granularity)"
check_eq "target discard_max_bytes: stacked from the thin volume and the spare" "$want_max" \
  "$(q "$R" discard_max_bytes)"

used() { dmsetup status pool | awk '{ split($6, a, "/"); print a[1] }'; }
check "mkfs.ext4" mkfs.ext4 -q -F -E nodiscard -b 4096 /dev/mapper/r || exit 1
mkdir -p /mnt/trim
check "mount" mount -t ext4 /dev/mapper/r /mnt/trim || exit 1
check "a 40 MiB file" dd if=/dev/zero of=/mnt/trim/f bs=1M count=40 conv=fsync || exit 1
sync
# Free blocks per ext4's on-disk bitmaps (group lines are indented).
is_free() {
  dumpe2fs /dev/mapper/r 2>/dev/null | sed -n 's/^  Free blocks: //p' | tr ',' '\n' |
    awk -v b="$1" '{ gsub(/ /, ""); if ($0 == "") next; split($0, r, "-");
                     hi = (r[2] == "") ? r[1] : r[2]; if (b >= r[1] && b <= hi) f = 1 }
                   END { exit !f }'
}
check_fails "block 4096 holds file data" is_free 4096
check_eq "remap of blocks 4096..4351 (in the file)" "remapped=256 lost=0 already=0" \
  "$(msg remap 32768 256)"
remaps=$(msg list 4096 256 | sum)
before=$(used)
check "rm the file, sync" sh -c 'rm /mnt/trim/f && sync'
check "block 4096 is free now" is_free 4096
out=$(fstrim -v /mnt/trim 2>&1)
rc=$?
log "fstrim: exit $rc: $out"
check "fstrim succeeds" [ "$rc" -eq 0 ]
after=$(used)
log "pool used data blocks (64 KiB): $before before the trim, $after after"
check "the pool got at least 32 MiB back (512 blocks)" [ "$after" -le $((before - 512)) ]
check_eq "the 256 remaps are still there" "$remaps" "$(msg list 4096 256 | sum)"
check_eq "stats: remapped=256 lost=0 write_errors=0" "256 0 0" \
  "$(stat_of remapped) $(stat_of lost) $(stat_of write_errors)"
check "umount" umount /mnt/trim
check "fsck.ext4 -f -n finds it clean" fsck.ext4 -f -n /dev/mapper/r
check "remove r" dmsetup remove r
exit 0
