#!/bin/sh
# ext4 on dm-remap over a failing disk: a dm-dust data device grows bad blocks (failing every
# write) while files are copied onto the mounted filesystem and fio writes a verified file in
# it. dm-remap remaps each bad block on the write that hits it, so the filesystem never sees an
# error: after sync and umount, fsck.ext4 -f -n finds it clean, and after re-creating the target
# (persistence) and mounting again every file has its original sha256 and fio's crc32c verify
# of its file passes. The stats show one automatic remap per bad block that was written, only
# injected blocks are remapped, and nothing read ever reached a bad block.
#
# The bad blocks are picked at random (seed in the log) among the blocks that the filesystem's
# on-disk bitmap shows free right after a sync: dust fails reads of a bad block as well, so a
# bad block holding data that nothing rewrites would be a genuinely unreadable block (that is
# 70-readerrors' business), not a write failure for dm-remap to absorb.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB: 16384 blocks of 4 KiB (remap, dust and ext4 block alike)
SPARE=/dev/ram1
TABLE="0 $LEN remap /dev/mapper/dust 0 $SPARE 0 32768"
MNT=/mnt/e4
SRC=/tmp/e4src
ROUNDS=3            # each: inject bad blocks, copy a batch of files, sync
PER_ROUND=12
SEED=${VMT_SEED:-$(date +%s)}
FIO_FS="--name=fsjob --directory=$MNT --filename=fio.dat --size=8m --bs=4k --rw=randwrite
  --ioengine=psync --fsync=64 --verify=crc32c --randseed=86 --eta=never"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# Free blocks per ext4's on-disk bitmaps (group lines are indented; the superblock's total is not).
# shellcheck disable=SC2317 # called through check
free_ranges() { dumpe2fs /dev/mapper/r 2>/dev/null | sed -n 's/^  Free blocks: //p' | tr ',' '\n'; }
# shellcheck disable=SC2317 # called through check
inject() {  # round: PER_ROUND new bad blocks among the free ones, added to dust and /tmp/injected
  local picks b
  picks=$(free_ranges | awk -v n="$PER_ROUND" -v seed=$((SEED + $1)) -v used=/tmp/injected '
    BEGIN { while ((getline l < used) > 0) skip[l] = 1 }
    { gsub(/ /, ""); if ($0 == "") next
      split($0, r, "-"); lo = r[1]; hi = (r[2] == "") ? r[1] : r[2]
      # Block 0 never: dust fails empty flushes as writes to its block 0.
      for (b = lo; b <= hi; b++) if (b > 0 && !(b in skip)) cand[m++] = b }
    END { srand(seed); if (m < n) exit 1
          for (i = 0; i < n; i++) { j = i + int(rand() * (m - i)); t = cand[i]; cand[i] = cand[j]; cand[j] = t; print cand[i] } }')
  [ -n "$picks" ] || return 1
  for b in $picks; do
    dmsetup message dust 0 addbadblock "$b" 255 || return 1
    echo "$b" >>/tmp/injected
  done
  log "round $1 bad blocks: $(echo "$picks" | tr '\n' ' ')"
}
# shellcheck disable=SC2317 # called through check
make_sources() {  # odd sizes from 1 byte to ~3 MiB, ~40 MiB in all, and their sha256
  local i=0 size
  rm -rf "$SRC" && mkdir -p "$SRC" || return 1
  while [ "$i" -lt 30 ]; do
    size=$(( (i * 104729 + 1) % 3000000 + i * 7 + 1 ))
    head -c "$size" /dev/urandom >"$SRC/f$i" || return 1
    i=$((i + 1))
  done
  (cd "$SRC" && sha256sum f* >/tmp/e4.sha256)
}
# shellcheck disable=SC2317 # called through check
copy_batch() {  # round: files of that third, into their own directory
  local i d=$MNT/round$1
  mkdir -p "$d" || return 1
  for i in $(seq $(( ($1 - 1) * 10 )) $(( $1 * 10 - 1 ))); do cp "$SRC/f$i" "$d/f$i" || return 1; done
}
# shellcheck disable=SC2317 # called through check
files_match() {  # every file of every round has its original sha256
  local r f ok=0
  for r in $(seq 1 "$ROUNDS"); do
    for f in "$MNT/round$r"/f*; do
      grep " $(basename "$f")\$" /tmp/e4.sha256 | sed "s|  |  $MNT/round$r/|"
    done
  done >/tmp/e4.check
  [ "$(wc -l </tmp/e4.check)" -eq 30 ] || { log "expected 30 files, found $(wc -l </tmp/e4.check)"; ok=1; }
  sha256sum -c /tmp/e4.check >/tmp/e4.check.out 2>&1 || { grep -v ': OK$' /tmp/e4.check.out; ok=1; }
  return "$ok"
}
# shellcheck disable=SC2317 # called through check
fio_fs() {  # args...: the fio job inside the filesystem, verified
  # shellcheck disable=SC2086 # FIO_FS is a list of options
  fio $FIO_FS "$@" --output=/tmp/fsjob.out
  local rc=$?
  fio_summary /tmp/fsjob.out
  [ "$rc" -eq 0 ] && grep -q 'err= *0:' /tmp/fsjob.out &&
    ! fio_complaint /tmp/fsjob.out
}
# shellcheck disable=SC2317 # called through check
only_injected() {  # every remapped block is one dust was told to fail
  local b bad=0
  for b in $(msg list | cut -d' ' -f1); do
    grep -qx "$b" /tmp/injected || { log "block $b remapped but never injected"; bad=1; }
  done
  return "$bad"
}
# shellcheck disable=SC2317 # called through check
is_mounted() { grep -q " $MNT ext4 " /proc/mounts; }

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r dust"
cleanup_push "umount $MNT 2>/dev/null"
cleanup_push "unload_module dm_remap"

log "seed $SEED (VMT_SEED=$SEED at the top of this script repeats the choice of bad blocks)"
check "ext4 available" sh -c 'grep -qw ext4 /proc/filesystems || modprobe ext4' || exit 1
check "mkfs.ext4, fsck.ext4 and dumpe2fs in the guest" \
  sh -c 'command -v mkfs.ext4 && command -v fsck.ext4 && command -v dumpe2fs' || exit 1
check "ramdisks" brd_setup 2 65536 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "dust over ram0 with 4 KiB blocks, read failures enabled" sh -c \
  "dmsetup create dust --table '0 $LEN dust /dev/ram0 0 4096' && dmsetup message dust 0 enable" || exit 1
dd if=/dev/zero of=$SPARE bs=1M count=1 oflag=direct 2>/dev/null
check "remap target over dust" dmsetup create r --table "$TABLE" || exit 1
check "source files (30, odd sizes) and their sha256" make_sources || exit 1
: >/tmp/injected

dmesg_mark
check "mkfs.ext4 -b 4096 on r" mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/r || exit 1
mkdir -p $MNT
check "mount" mount -t ext4 /dev/mapper/r $MNT || exit 1
r=1
while [ $r -le $ROUNDS ]; do
  sync
  check "round $r: $PER_ROUND new bad blocks among the blocks free after a sync" inject $r
  if [ $r = 2 ]; then
    check "round $r: fio writes a verified 8 MiB file in the filesystem (fsync every 64 writes)" fio_fs
  fi
  check "round $r: copy 10 files" copy_batch $r
  check "round $r: sync" sync
  log "after round $r: $(msg stats)"
  r=$((r + 1))
done
check "umount" umount $MNT
check_eq "dust holds all $((ROUNDS * PER_ROUND)) injected bad blocks" "$(sort -n /tmp/injected | tr '\n' ' ')" \
  "$(dmsetup message dust 0 listbadblocks | sort -n | tr '\n' ' ')"
check "fsck.ext4 -f -n: clean (exit 0)" fsck.ext4 -f -n /dev/mapper/r

# ---- persistence: a new target over the same still-failing disk ----
list=$(msg list)
remaps=$(stat_of auto_remaps)
log "stats before re-create: $(msg stats)"
check "remapped blocks were hit (auto_remaps=$remaps > 0)" [ "$remaps" -gt 0 ]
check_eq "auto_remaps = remapped = lines of list" "$remaps $remaps" "$(stat_of remapped) $(msg list | wc -l)"
check "every remapped block is an injected bad block" only_injected
check_eq "no read ever failed, nothing lost, metadata ok" "0 0 ok" \
  "$(stat_of read_errors) $(stat_of lost) $(stat_of metadata)"
# Failed writes are retried block by block; each commit logs how many blocks it moved (writes
# that failed together share one; a big one is redone in pieces). None of them may fail.
check "write errors were seen (write_errors=$(stat_of write_errors))" [ "$(stat_of write_errors)" -gt 0 ]
no_failed_rewrite() { ! dmesg_since | grep -q 'could not remap a failed write'; }
check "no failed write was left failed" no_failed_rewrite
check_eq "the blocks those lines moved add up to auto_remaps" "$remaps" \
  "$(dmesg_since | sed -n 's/.*remap: remapped \([0-9]*\) block(s) after [0-9]* failed write(s).*/\1/p' |
     awk '{ s += $1 } END { print s + 0 }')"
check "remove r" dmsetup remove r
check "create r again" dmsetup create r --table "$TABLE" || exit 1
check_eq "the remaps persisted" "$list" "$(msg list)"
check "fsck.ext4 -f -n after re-create: clean" fsck.ext4 -f -n /dev/mapper/r
check "mount again" mount -t ext4 /dev/mapper/r $MNT || exit 1
check "all 30 files have their original sha256" files_match
check "fio --verify_only of its file in the filesystem" fio_fs --verify_only
check "umount" umount $MNT
check_fails "nothing mounted any more" is_mounted
check_eq "no read failed after re-create" 0 "$(stat_of read_errors)"
check "remove r" dmsetup remove r
check "remove dust" dmsetup remove dust
exit 0
