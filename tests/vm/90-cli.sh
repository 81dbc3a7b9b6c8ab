#!/bin/sh
# dmremap, the admin tool, end to end on brd ramdisks: create (and its refusals), import of a
# badblocks(8) list, status/list --json, export, remove; then offline: dump and check of the
# spare area the module wrote, check of a corrupted copy (exit 1), format --yes, and a device
# created again on the formatted area.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

DATA=/dev/ram0
SPARE=/dev/ram1
OTHER=/dev/ram2
SPARE_LEN=32768     # 16 MiB of the 64 MiB ramdisk: 4096 spare blocks of 4 KiB

# rc_of command...: prints the exit status, output discarded (logged).
rc_of() {
  "$@" >/tmp/rc_of.out 2>&1
  local rc=$?
  sed 's/^/#   /' /tmp/rc_of.out >&2   # to the test log, not into $(...)
  echo "$rc"
}
region_md5() {  # device: the first 64 MiB
  dd if="$1" bs=1M count=64 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove c bad"
cleanup_push "brd_teardown"

check "dmremap is installed" command -v dmremap || exit 1
check "three 64 MiB ramdisks" brd_setup 3 65536 || exit 1
check "insmod dm-remap.ko" load_dm_remap || exit 1

# ---- create ----
line=$(dmremap create c $DATA $SPARE --spare-len $SPARE_LEN --dry-run)
check_eq "create --dry-run prints the table line from the device sizes" \
  "0 131072 remap $DATA 0 $SPARE 0 $SPARE_LEN" "$line"
check_fails "nothing was created by --dry-run" dm_exists c
dd if=/dev/urandom of=$OTHER bs=1M count=1 2>/dev/null
check_fails "create refuses a spare area that is neither zero nor metadata" \
  dmremap create bad $DATA $OTHER --spare-len $SPARE_LEN
check "and creates nothing" dm_absent bad
check_fails "create refuses overlapping ranges on one device" \
  dmremap create bad $DATA $DATA --spare-offset 0 --spare-len 8192 --data-len 65536
check_fails "create refuses a name with a slash" dmremap create a/b $DATA $SPARE
check "create c" dmremap create c $DATA $SPARE --spare-len $SPARE_LEN || exit 1
check_contains "the device is a remap target" "$(dmsetup table c)" " remap "
check_eq "status: nothing remapped yet" 0 "$(dmsetup status c | cut -d' ' -f5)"

dd if=/dev/urandom of=/dev/mapper/c bs=1M count=64 oflag=direct 2>/dev/null
before=$(region_md5 /dev/mapper/c)

# ---- import ----
# badblocks' default block size is 1 KiB: 8 and 9 are in 4 KiB block 2, 100 in block 25,
# 4096 in block 1024, 65535 in the last block (16383).
printf '8\n9\n100\n\n4096\n65535\n' >/tmp/bb.txt
out=$(dmremap import c /tmp/bb.txt)
check_contains "import remaps the listed blocks" "$out" "into 4 block(s) of 4096 bytes: remapped=4 lost=0 already=0"
check_eq "status: 4 remapped" 4 "$(dmsetup status c | cut -d' ' -f5)"
out=$(dmremap import c /tmp/bb.txt)
check_contains "importing again changes nothing" "$out" "remapped=0 lost=0 already=4"
printf '1\nx2\n' >/tmp/bad.txt
check_eq "a list with a bad line is refused (exit 1)" 1 "$(rc_of dmremap import c /tmp/bad.txt)"
printf '200\n70000\n' >/tmp/outside.txt
check_eq "a block outside the data range is refused (exit 1)" 1 "$(rc_of dmremap import c /tmp/outside.txt)"
check_eq "refused imports remapped nothing" 4 "$(dmsetup status c | cut -d' ' -f5)"
out=$(dmremap import c /tmp/outside.txt --ignore-outside)
check_contains "--ignore-outside skips it" "$out" "remapped=1 lost=0 already=0 (skipped 1 outside"
check_eq "the data reads the same after the remaps" "$before" "$(region_md5 /dev/mapper/c)"

# ---- status / list ----
json=$(dmremap status c --json)
log "status --json: $json"
check_contains "status --json: remapped" "$json" '"remapped":5,'
check_contains "status --json: metadata ok" "$json" '"metadata":"ok"'
check_contains "status --json: stats" "$json" '"manual_remaps":5'
check_contains "status --json: table" "$json" "\"spare_len\":$SPARE_LEN"
check_contains "status (text)" "$(dmremap status c)" "5 remapped, 0 lost"
json=$(dmremap list c --json)
log "list --json: $json"
check_contains "list --json: first entry" "$json" '"entries":[{"data_block":2,"sector":16,"spare_block":'
check_contains "list --json: last entry" "$json" '{"data_block":16383,"sector":131064,"spare_block":'
check_eq "list prints what the list message does" "$(dmsetup message c 0 list)" "$(dmremap list c)"
check_eq "export --format md" "16 8
200 8
400 8
8192 8
131064 8" "$(dmremap export c --format md)"
check_eq "export (badblocks, 1 KiB) has 4 lines a block" 20 "$(dmremap export c | wc -l)"
check_eq "export's list imports as already remapped" "remapped=0 lost=0 already=5" \
  "$(dmremap export c | dmremap import c - | sed 's/.*: //')"

# ---- many blocks: list pages through them all; running out of spare blocks ----
seq 20000 4 31996 >/tmp/many.txt      # 1 KiB blocks: 4 KiB blocks 5000..7999
out=$(dmremap import c /tmp/many.txt)
check_contains "import of 3000 more blocks" "$out" "remapped=3000 lost=0 already=0"
check_eq "list pages through all 3005" 3005 "$(dmremap list c | wc -l)"
check_eq "list --json has them all" 3005 "$(dmremap list c --json | grep -o '"state"' | wc -l)"
check_eq "in ascending order" "$(dmremap list c | cut -d' ' -f1 | sort -n)" \
  "$(dmremap list c | cut -d' ' -f1)"
seq 40000 4 47996 >/tmp/toomany.txt   # 2000 more blocks; 1055 spare blocks are left
check_eq "an import that runs out of spare blocks fails (exit 1)" 1 \
  "$(rc_of dmremap import c /tmp/toomany.txt)"
check_contains "and says why" "$(cat /tmp/rc_of.out)" "No space left on device"
check_eq "the spare area is full" "4060/4060" "$(dmsetup status c | cut -d' ' -f7)"
check_eq "the data still reads the same" "$before" "$(region_md5 /dev/mapper/c)"
list_before=$(dmremap list c)
entries=$(printf '%s\n' "$list_before" | wc -l)
log "$entries blocks remapped"

# ---- remove, then offline ----
check "remove c" dmremap remove c
check "c is gone" dm_absent c
check_fails "remove refuses what does not exist" dmremap remove c
out=$(dmremap dump $SPARE)
log "$out"
check_contains "dump after remove: valid metadata" "$out" "metadata: valid, seq "
check_contains "dump: the geometry" "$out" "data_len 131072, spare_offset 0, spare_len $SPARE_LEN"
check_eq "dump: every remapped entry" "$entries" "$(printf '%s\n' "$out" | grep -c ' remapped$')"
json=$(dmremap dump $SPARE --json)
check_contains "dump --json" "$json" '"state":"valid"'
check_eq "check: clean (exit 0)" 0 "$(rc_of dmremap check $SPARE)"
check_contains "check says so" "$(dmremap check $SPARE)" "clean, seq"

active=$(printf '%s\n' "$json" | sed -n 's/.*"active_slot":\([01]\).*/\1/p')
log "active superblock slot: $active"
dd if=$SPARE of=/tmp/copy.img bs=1M count=16 2>/dev/null
printf 'X' | dd of=/tmp/copy.img bs=1 seek=$((active * 4096 + 100)) conv=notrunc 2>/dev/null
check_eq "check of a copy with a corrupted superblock: exit 1" 1 "$(rc_of dmremap check /tmp/copy.img)"
check_contains "and it names the slot" "$(dmremap check /tmp/copy.img)" "superblock slot $active is damaged"
printf 'X' | dd of=/tmp/copy.img bs=1 seek=$(((1 - active) * 4096 + 100)) conv=notrunc 2>/dev/null
check_eq "both superblocks corrupted: exit 1" 1 "$(rc_of dmremap check /tmp/copy.img)"
check_eq "dump of it: exit 1" 1 "$(rc_of dmremap dump /tmp/copy.img)"
check_eq "check of a missing device: exit 8" 8 "$(rc_of dmremap check /dev/nonexistent)"
check_eq "check with a bad option: exit 16" 16 "$(rc_of dmremap check $SPARE --frobnicate)"

# ---- the mapping comes back; format refuses while in use ----
check "create c again" dmremap create c $DATA $SPARE --spare-len $SPARE_LEN
check_eq "the mapping came back" "$list_before" "$(dmremap list c)"
check_fails "format refuses a spare device in use" \
  dmremap format $SPARE --data-dev $DATA --spare-len $SPARE_LEN --yes
check "remove c" dmremap remove c

# ---- format ----
check_eq "format without --yes: exit 1" 1 \
  "$(rc_of dmremap format $SPARE --data-dev $DATA --spare-len $SPARE_LEN)"
check_eq "and the mapping is still there" "$entries" "$(dmremap dump $SPARE | grep -c ' remapped$')"
check "format --yes" dmremap format $SPARE --data-dev $DATA --spare-len $SPARE_LEN --yes
check_contains "check after format: clean, seq 1, empty" "$(dmremap check $SPARE)" \
  "clean, seq 1, 0 remapped, 0 lost"
dmesg_mark
check "create c on the formatted area" dmremap create c $DATA $SPARE --spare-len $SPARE_LEN
check_eq "it starts empty" 0 "$(dmsetup status c | cut -d' ' -f5)"
check_fails "the module loaded it rather than formatting" dmesg_since_has 'formatting it at resume'
check "remove c" dmremap remove c
check "rmmod dm_remap" rmmod dm_remap
exit 0
