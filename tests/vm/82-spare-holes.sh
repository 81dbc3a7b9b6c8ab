#!/bin/sh
# A spare area with holes of its own (an error target over some spare blocks): a remap whose
# spare block fails the write retires that block (bad_spare, persisted) and takes the next
# one, by message and after a write error alike. Retired blocks are never handed out again,
# not after unremaps and not after the target is re-created; the data verifies throughout.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB of data on ram0
SPARE_LEN=32768     # 16 MiB spare area on ram1: 4096 blocks of 4 KiB, 34 of them metadata
# Every other spare block from 40 to 98 fails (never two in a row: a remap tries three).
HOLES=$(seq 40 2 98 | tr '\n' ' ')
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
spares_used() { msg list | awk '$2 != "-" { print $2 }'; }
spare_table() {  # the spare device: ram1 with an error target over each hole
  local pos=0 h
  for h in $HOLES; do
    echo "$pos $((h * 8 - pos)) linear /dev/ram1 $pos"
    echo "$((h * 8)) 8 error"
    pos=$((h * 8 + 8))
  done
  echo "$pos $((SPARE_LEN - pos)) linear /dev/ram1 $pos"
}
# A data device whose block 3000 fails every write (reloaded in when needed).
data_table() {
  if [ "$1" = holey ]; then
    printf '%s\n' "0 24000 linear /dev/ram0 0" "24000 8 error" "24008 $((LEN - 24008)) linear /dev/ram0 24008"
  else
    echo "0 $LEN linear /dev/ram0 0"
  fi
}
fio_verify() {  # name args...
  local name=$1
  shift
  fio --name="$name" --filename=/dev/mapper/r --bs=4k --direct=1 --ioengine=libaio \
    --iodepth=16 --size=$((LEN * 512)) --verify=crc32c --randseed=82 --eta=never "$@" \
    --output="/tmp/$name.out"
  local rc=$?
  fio_summary "/tmp/$name.out"
  [ "$rc" -eq 0 ] && ! fio_complaint "/tmp/$name.out"
}
no_hole_used() {  # every spare block in the list is outside the holes
  local s h
  for s in $(spares_used); do
    for h in $HOLES; do
      [ "$s" != "$h" ] || { log "spare block $s is a hole but holds data"; return 1; }
    done
  done
}
holes_below() {  # how many holes lie below spare block $1
  local h n=0
  for h in $HOLES; do [ "$h" -ge "$1" ] || n=$((n + 1)); done
  echo $n
}
counts_add_up() {
  [ $(($(stat_of spare_used) + $(stat_of spare_free) + $(stat_of bad_spare))) -eq "$(stat_of spare_total)" ]
}

cleanup_push "brd_teardown"
cleanup_push "dm_remove r sp data"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
mk_spare() { spare_table | dmsetup create sp; }
mk_data() { data_table | dmsetup create data; }
reload_data() { data_table "$1" | dmsetup load data && dmsetup suspend data && dmsetup resume data; }
check "spare device with 30 failing blocks" mk_spare || exit 1
check "data device" mk_data || exit 1
TABLE="0 $LEN remap /dev/mapper/data 0 /dev/mapper/sp 0 $SPARE_LEN"
check "remap target over them" dmsetup create r --table "$TABLE" || exit 1
check "fio fills the device" fio_verify fill --rw=write --bs=64k

# ---- by message: 40 blocks move, skipping (and retiring) the holes they meet ----
check_eq "remap 40 blocks" "remapped=40 lost=0 already=0" "$(msg remap 8000 40)"
max=$(spares_used | sort -n | tail -n 1)
log "highest spare block used: $max"
check_eq "bad_spare counts every hole the allocator met" "$(holes_below "$max")" "$(stat_of bad_spare)"
check "bad_spare > 0" [ "$(stat_of bad_spare)" -gt 0 ]
check_eq "remapped=40" 40 "$(stat_of remapped)"
check "no remapped block lives in a hole" no_hole_used
check "spare_used + spare_free + bad_spare = spare_total" counts_add_up
check "the moved data verifies" fio_verify fill --rw=write --bs=64k --verify_only
bad=$(stat_of bad_spare)

# ---- after a write error: the data goes to a good spare block ----
check "a data block starts failing writes" reload_data holey
check "random writes across the device verify" fio_verify mix --rw=randwrite
check_eq "auto_remaps=1 (block 3000)" 1 "$(stat_of auto_remaps)"
check_eq "block 3000 is remapped" 3000 "$(msg list 3000 1 | cut -d' ' -f1)"
check "still no block in a hole" no_hole_used
check "bad_spare never shrinks" [ "$(stat_of bad_spare)" -ge "$bad" ]
check "spare_used + spare_free + bad_spare = spare_total" counts_add_up
bad=$(stat_of bad_spare)

# ---- retired blocks stay retired: unremap everything, remap again, re-create ----
for b in $(msg list | awk '$1 != 3000 { print $1 }'); do
  msg unremap $((b * 8)) || fail "unremap block $b"
done
check_eq "only block 3000 is left" 1 "$(stat_of remapped)"
check_eq "bad_spare kept" "$bad" "$(stat_of bad_spare)"
check_eq "remap 60 other blocks" "remapped=60 lost=0 already=0" "$(msg remap 40000 60)"
check "none of them lands in a hole" no_hole_used
list=$(msg list)
check "re-create the target" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE'"
check_eq "the remaps persisted" "$list" "$(msg list)"
check "bad_spare persisted" [ "$(stat_of bad_spare)" -ge "$bad" ]
check "spare_used + spare_free + bad_spare = spare_total" counts_add_up
check "the data verifies after re-create" fio_verify mix --rw=randwrite --verify_only
check "remove r" dmsetup remove r
exit 0
