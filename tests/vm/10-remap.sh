#!/bin/sh
# The remap engine end to end: a fresh spare area is formatted at resume; blocks remapped by
# message keep their data and afterwards take their I/O on the spare device; unremap copies
# back; the mapping survives remove/create, suspend/resume and reload; bad messages are refused;
# an unreadable block becomes lost and fails reads without touching the disk.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

DATA=/dev/ram0
SPARE=/dev/ram1
LEN=131072          # 64 MiB of data
SPARE_LEN=32768     # 16 MiB of spare: 4096 blocks of 4 KiB
TABLE="0 $LEN remap $DATA 0 $SPARE 0 $SPARE_LEN"
FIO="--filename=/dev/mapper/r --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c
  --size=$((LEN * 512)) --eta=never --randseed=42"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# shellcheck disable=SC2317
fio_ok() {  # name args...: exit status 0 and no verify complaint
  local name=$1
  shift
  # shellcheck disable=SC2086
  fio --name="$name" $FIO "$@" --output="/tmp/$name.out" || { cat "/tmp/$name.out"; return 1; }
  ! fio_complaint "/tmp/$name.out"
}
block_md5() {  # device block-number
  dd if="$1" bs=4096 skip="$2" count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove r holey"
cleanup_push "brd_teardown"

check "three 64 MiB ramdisks" brd_setup 3 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

# ---- fresh area: formatted at the first resume ----
dmesg_mark
check "create r over a fresh spare area" dmsetup create r --table "$TABLE" || exit 1
check "kernel log says the area was formatted" dmesg_since_has 'remap: formatted the spare area'
s=$(dmsetup status r)
log "status: $s"
check_contains "status: block size, nothing remapped, metadata ok at seq 1" "$s" "remap 4096 0 0 0/"
check_contains "status ends with 'ok 1 rw'" "$s" " ok 1 rw"

# ---- data written before remapping survives the remap ----
check "fio writes and verifies all of r" fio_ok fill --rw=write
blocks=""
i=1
while [ $i -le 50 ]; do
  sector=$((i * 2048 + 3))   # inside block i*256
  reply=$(msg remap $sector) || { fail "remap $sector"; break; }
  case $reply in
    "$((sector / 8)) "[0-9]*) ;;
    *) fail "remap $sector replied '$reply'"; break ;;
  esac
  blocks="$blocks $((sector / 8))"
  i=$((i + 1))
done
check_eq "50 remaps made by message" 51 "$i"
check_eq "stats: remapped=50" 50 "$(stat_of remapped)"
check_eq "stats: manual_remaps=50" 50 "$(stat_of manual_remaps)"
check_eq "list shows 50 lines" 50 "$(msg list | grep -c remapped)"
check_eq "remap of a remapped block changes nothing" "$(msg list 256 1 | cut -d' ' -f1-2)" \
  "$(msg remap 2048)"
check_eq "still 50 remapped" 50 "$(stat_of remapped)"
check "everything written before the remaps still verifies" fio_ok fill --rw=write --verify_only

# ---- after a remap, the block's I/O goes to the spare device ----
b=512
spare=$(msg list $b 1 | cut -d' ' -f2)
log "block $b lives in spare block $spare"
dd if=/dev/urandom of=/tmp/pattern bs=4096 count=1 2>/dev/null
want=$(md5sum </tmp/pattern | cut -d' ' -f1)
check "write a block through r" dd if=/tmp/pattern of=/dev/mapper/r bs=4096 seek=$b count=1 oflag=direct
check_eq "the write landed in the spare block" "$want" "$(block_md5 $SPARE "$spare")"
check "the data device's copy was not touched" [ "$want" != "$(block_md5 $DATA $b)" ]
check_eq "reads through r return it" "$want" "$(block_md5 /dev/mapper/r $b)"

# ---- unremap copies back ----
check "unremap block $b" msg unremap $((b * 8))
check_eq "the data device now holds the block" "$want" "$(block_md5 $DATA $b)"
check_eq "reads through r still return it" "$want" "$(block_md5 /dev/mapper/r $b)"
check_eq "49 remapped" 49 "$(stat_of remapped)"
check "unremap of a block that is not remapped is a no-op" msg unremap $((b * 8))

# ---- full I/O across remapped blocks ----
check "fio random writes + verify across the remapped blocks" fio_ok mix --rw=randwrite
list_before=$(msg list)
seq_before=$(stat_of seq)

# ---- persistence ----
check "remove r" dmsetup remove r
check "create r again" dmsetup create r --table "$TABLE"
check_eq "the mapping came back" "$list_before" "$(msg list)"
check_eq "seq came back" "$seq_before" "$(stat_of seq)"
check "the data verifies after re-create" fio_ok mix --rw=randwrite --verify_only

check "suspend r" dmsetup suspend r
dmesg_mark
check_fails "remap is refused while suspended" msg remap 8
check "kernel log says why" dmesg_since_has 'remap: remap: the device is suspended'
check "resume r" dmsetup resume r
check "reload r with its own table" dmsetup reload r --table "$(dmsetup table r)"
check "resume after reload" dmsetup resume r
check_eq "the mapping survived suspend, resume and reload" "$list_before" "$(msg list)"
check "the data verifies after reload" fio_ok mix --rw=randwrite --verify_only

# ---- bad messages ----
for m in "remap" "remap x" "remap -1" "remap $LEN" "unremap 1 2" "frobnicate" "list a"; do
  dmesg_mark
  # shellcheck disable=SC2086
  check_fails "message '$m' is refused" msg $m
  check "kernel log names the problem for '$m'" dmesg_since_has 'remap: message rejected: '
done
check_eq "nothing changed by refused messages" "$list_before" "$(msg list)"
check_contains "help lists the verbs" "$(msg help)" "unremap <sector>"
check "clear_stats" msg clear_stats
check_eq "manual_remaps cleared" 0 "$(stat_of manual_remaps)"

# ---- writes racing with moves are never lost ----
# fio rewrites the first 1 MiB (blocks 0..255) with verify headers while the same blocks are
# remapped and unremapped underneath it; fio's final verify reads back the last write to every
# block. A write that raced with a copy and got lost would show as a verify failure.
race_loop() {
  local n=0 b
  while [ "$n" -lt 2 ]; do
    b=0
    while [ "$b" -lt 256 ]; do msg remap $((b * 8)) 16 >/dev/null || return 1; b=$((b + 16)); done
    b=0
    while [ "$b" -lt 256 ]; do msg unremap $((b * 8)) || return 1; b=$((b + 17)); done
    n=$((n + 1))
  done
}
fio --name=race --filename=/dev/mapper/r --bs=4k --direct=1 --ioengine=libaio --iodepth=8 \
  --rw=randwrite --size=1M --loops=10 --verify=crc32c --eta=never --output=/tmp/race.out &
fio_pid=$!
t0=$(date +%s)
check "remap/unremap loop while fio rewrites the same blocks" race_loop
log "race loop: $(( $(date +%s) - t0 )) s for 64 messages"
check "fio saw every write it made (no verify errors)" wait $fio_pid
fio_summary /tmp/race.out

# ---- paging: list never cuts a line ----
page=$(msg list 0 10)
check_eq "list 0 10 gives 10 lines" 10 "$(printf '%s\n' "$page" | grep -c remapped)"
next=$(( $(printf '%s\n' "$page" | tail -n 1 | cut -d' ' -f1) + 1 ))
check_eq "the next page starts after it" "$(msg list | sed -n 11p)" "$(msg list $next 1)"
check "remove r" dmsetup remove r

# ---- an unreadable block becomes lost ----
# ram2 with an error hole at sectors 8192..8199 (block 1024) as the data device.
printf '0 8192 linear /dev/ram2 0\n8192 8 error\n8200 122872 linear /dev/ram2 8200\n' >/tmp/holey
check "holey data device" dmsetup create holey /tmp/holey
check "create r over it (reusing the spare area: a fresh format)" \
  sh -c "dd if=/dev/zero of=$SPARE bs=1M count=1 oflag=direct 2>/dev/null &&
         dmsetup create r --table '0 $LEN remap /dev/mapper/holey 0 $SPARE 0 $SPARE_LEN'"
check_eq "remap of the unreadable block replies 'lost'" "1024 lost" "$(msg remap 8195)"
check_eq "stats: lost=1" 1 "$(stat_of lost)"
check_eq "list shows it lost" "1024 - lost" "$(msg list 1024 1)"
check_fails "reads of the lost block fail" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=1024 count=1 iflag=direct
check "reads next to it work" dd if=/dev/mapper/r of=/dev/null bs=4096 skip=1023 count=1 iflag=direct
check "remove r" dmsetup remove r
check "remove holey" dmsetup remove holey
check "rmmod dm_remap" rmmod dm_remap
exit 0
