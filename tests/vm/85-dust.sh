#!/bin/sh
# dm-dust under dm-remap: bad blocks that fail writes (dust's wr_fail_cnt) are remapped on the
# write that hits them, and the write succeeds. With the dust block size equal to the remap block
# size each bad block is one remap, so auto_remaps counts the bad blocks exactly; a block whose
# failure does not repeat (wr_fail_cnt 1: the block-by-block retry writes) is counted as a write
# error but not remapped. The remapped blocks are never written to the data device again (dust
# still holds them as bad: a write there would have cleared them), reads with dust's read
# failures enabled never reach them, fio's crc32c verify and a final whole-device verify pass,
# bad blocks that appear later are remapped as exactly, and everything survives re-creating the
# target (persistence).
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB: 16384 blocks of 4 KiB
SPARE=/dev/ram1
TABLE="0 $LEN remap /dev/mapper/dust 0 $SPARE 0 32768"
# Bad blocks that fail every write until remapped: "block:wr_fail_cnt" (2 is the least that
# makes the retry fail too). First and last blocks, a pair across a 64 KiB fio block boundary,
# and the largest count dust takes.
BAD="0:2 1:3 1023:2 1024:5 8000:10 12345:255 16383:2"
NBAD=7
FLAKY=4000          # wr_fail_cnt 1: the first write fails, the retry succeeds
LATER="2:3 9000:4 16000:2"   # added after the first fill
NLATER=3

msg() { dmsetup message r 0 -- "$@"; }
# shellcheck disable=SC2317 # called through check
dust() { dmsetup message dust 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
blocks_of() { for p in $1; do printf '%s\n' "${p%%:*}"; done | sort -n | tr '\n' ' ' | sed 's/ $//'; }
# Failed 64 KiB writes of a sequential fill: one per 16-block chunk holding a bad block.
chunks_of() { for p in $1; do echo $((${p%%:*} / 16)); done | sort -u | wc -l; }
list_blocks() { msg list | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//'; }
dust_list() { dmsetup message dust 0 listbadblocks | sort -n | tr '\n' ' ' | sed 's/ $//'; }
# shellcheck disable=SC2317 # called through check
add_bad() {  # "block:count ..."
  local p
  for p in $1; do dust addbadblock "${p%%:*}" "${p#*:}" || return 1; done
}
# shellcheck disable=SC2317 # called through check
fio_verify() {  # name args...: fio's own verify (crc32c), exit 0, err=0, no complaint
  local name=$1
  shift
  fio --name="$name" --filename=/dev/mapper/r --direct=1 --ioengine=libaio --iodepth=8 \
    --size=$((LEN * 512)) --verify=crc32c --eta=never "$@" --output="/tmp/$name.out"
  local rc=$?
  fio_summary "/tmp/$name.out"
  [ "$rc" -eq 0 ] && grep -q 'err= *0:' "/tmp/$name.out" &&
    ! fio_complaint "/tmp/$name.out"
}

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r dust"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
check "dm-dust loads (the kernel's or the one built from linux-source)" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "dust over ram0 with 4 KiB blocks" dmsetup create dust --table "0 $LEN dust /dev/ram0 0 4096" || exit 1
check "add $NBAD bad blocks that keep failing writes" add_bad "$BAD" || exit 1
check "add block $FLAKY failing one write" dust addbadblock $FLAKY 1 || exit 1
check "enable dust" dust enable || exit 1
check_eq "dust lists the $((NBAD + 1)) bad blocks" "$(blocks_of "$BAD $FLAKY:1")" "$(dust_list)"
check_fails "the raw dust device fails a read of bad block 1024" \
  dd if=/dev/mapper/dust of=/dev/null bs=4096 skip=1024 count=1 iflag=direct

dd if=/dev/zero of=$SPARE bs=1M count=1 oflag=direct 2>/dev/null
check "remap target over dust" dmsetup create r --table "$TABLE" || exit 1

# ---- the first fill: every bad block is hit by one 64 KiB write ----
dmesg_mark
check "fio writes all of r (64 KiB I/O) and verifies it with dust failing reads" \
  fio_verify fill --rw=write --bs=64k
check_eq "auto_remaps=$NBAD (one per bad block)" $NBAD "$(stat_of auto_remaps)"
check_eq "remapped=$NBAD lost=0" "$NBAD 0" "$(stat_of remapped) $(stat_of lost)"
werr=$(chunks_of "$BAD $FLAKY:1")
check_eq "write_errors=$werr (one per failed 64 KiB write: blocks 0 and 1 share one; $FLAKY's counts)" \
  "$werr" "$(stat_of write_errors)"
check_eq "read_errors=0 (reads never reached a bad block)" 0 "$(stat_of read_errors)"
check_eq "list names exactly the bad blocks" "$(blocks_of "$BAD")" "$(list_blocks)"
check "kernel log reports the remaps" dmesg_since_has 'remap: remapped [0-9]+ block\(s\) after [0-9]+ failed write\(s\)'
check_eq "dust still holds the remapped blocks as bad (never written there again); $FLAKY cleared" \
  "$(blocks_of "$BAD")" "$(dust_list)"

# ---- more bad blocks appear; random 4 KiB writes over everything ----
check "add $NLATER more bad blocks" add_bad "$LATER" || exit 1
check "fio random 4 KiB writes over all of r verify" fio_verify mix --rw=randwrite --bs=4k --randseed=85
check_eq "auto_remaps=$((NBAD + NLATER))" $((NBAD + NLATER)) "$(stat_of auto_remaps)"
check_eq "write_errors=$((werr + NLATER)) (one more per new bad block)" $((werr + NLATER)) "$(stat_of write_errors)"
check_eq "read_errors=0" 0 "$(stat_of read_errors)"
check_eq "list names the old and the new bad blocks" "$(blocks_of "$BAD $LATER")" "$(list_blocks)"
check_eq "metadata ok, nothing lost, no bad spare" "ok 0 0" \
  "$(stat_of metadata) $(stat_of lost) $(stat_of bad_spare)"

# ---- persistence: re-create the target over the same (still failing) dust device ----
list=$(msg list)
check "remove r" dmsetup remove r
check "create r again" dmsetup create r --table "$TABLE" || exit 1
check_eq "the automatic remaps persisted" "$list" "$(msg list)"
check "whole-device verify after re-create (fio --verify_only of the random pass)" \
  fio_verify mix --rw=randwrite --bs=4k --randseed=85 --verify_only
check_eq "the verify read nothing that failed" 0 "$(stat_of read_errors)"
check_eq "no remaps after re-create" 0 "$(stat_of auto_remaps)"
check "remove r" dmsetup remove r
check "remove dust" dmsetup remove dust
exit 0
