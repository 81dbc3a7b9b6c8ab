#!/bin/sh
# Growing online (issue 18): the data device below grows (a dm-linear table reloaded longer, as
# lvextend does), then `dmsetup reload` of the remap target with the longer length keeps every
# remap and all data, and the new blocks read, write and remap. The spare area grows in place
# while its table areas keep their size (more spare blocks, nothing reformatted); further than
# that, and shrinking the data range below a remapped block, are refused with clear errors and
# change nothing. Re-creating the target afterwards loads the grown geometry.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

OLD=131072          # 64 MiB of data at first (16384 blocks of 4 KiB) ...
NEW=196608          # ... then 96 MiB
SL=16384            # 8 MiB of spare: 2048 blocks, T = 9 table blocks per area
SL2=$((SL + 64))    # 8 more blocks: T stays 9 (up to 2 + 9 * 254 blocks)
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sum() { md5sum | cut -d' ' -f1; }
blocks() { dd if=/dev/mapper/r bs=4096 skip="$1" count="$2" iflag=direct 2>/dev/null | sum; }
table() { echo "0 $1 remap /dev/mapper/data 0 /dev/ram1 0 $2"; }
# shellcheck disable=SC2317 # called through check
reload_r() { dmsetup reload r --table "$(table "$1" "$2")" && dmsetup resume r; }

cleanup_push "brd_teardown"
cleanup_push "dm_remove r data"
cleanup_push "unload_module dm_remap"

check "ramdisks: data (96 MiB), spare" brd_setup 2 98304 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "a 64 MiB data device (dm-linear)" dmsetup create data --table "0 $OLD linear /dev/ram0 0" ||
  exit 1
check "remap target over it" dmsetup create r --table "$(table $OLD $SL)" || exit 1

dd if=/dev/urandom of=/tmp/pat bs=4096 count=2048 2>/dev/null
check "the first 8 MiB written" dd if=/tmp/pat of=/dev/mapper/r bs=4096 count=2048 oflag=direct
check "the last block written" dd if=/tmp/pat of=/dev/mapper/r bs=4096 count=1 seek=16383 oflag=direct
check_eq "remap of blocks 100..103" "remapped=4 lost=0 already=0" "$(msg remap 800 4)"
check "remap of the last block" msg remap $((16383 * 8))
list_before=$(msg list)
total=$(stat_of spare_total)

check "the data device grows to 96 MiB" \
  sh -c "dmsetup reload data --table '0 $NEW linear /dev/ram0 0' && dmsetup resume data"
dmesg_mark
check "reload with the longer data range" reload_r $NEW $SL
check_eq "the target is 96 MiB" "$NEW" "$(blockdev --getsz /dev/mapper/r)"
check_eq "every remap is kept" "$list_before" "$(msg list)"
check_eq "the first 8 MiB read back" "$(sum </tmp/pat)" "$(blocks 0 2048)"
check_eq "the last old block reads back" "$(dd if=/tmp/pat bs=4096 count=1 2>/dev/null | sum)" \
  "$(blocks 16383 1)"
check "a write past the old end" \
  dd if=/tmp/pat of=/dev/mapper/r bs=4096 count=256 seek=17000 oflag=direct
check_eq "... reads back" "$(dd if=/tmp/pat bs=4096 count=256 2>/dev/null | sum)" "$(blocks 17000 256)"
check_contains "a block past the old end remaps" "$(msg remap $((17001 * 8)))" "17001 "
check_eq "... and still reads back" "$(dd if=/tmp/pat bs=4096 count=256 2>/dev/null | sum)" \
  "$(blocks 17000 256)"
check "the last new block is writable" \
  dd if=/tmp/pat of=/dev/mapper/r bs=4096 count=1 seek=$((NEW / 8 - 1)) oflag=direct
log "kernel log: $(dmesg_since | grep remap | tr '\n' '|')"

out=$(dmremap resize r --spare-len $((SL * 2)) 2>&1)
rc=$?
log "dmremap resize --spare-len $((SL * 2)): exit $rc: $out"
check "dmremap resize refuses a spare area its table areas cannot describe" [ "$rc" -ne 0 ]
check_contains "... saying how far it can grow" "$out" "at most $((2288 * 8)) sectors"
line=$(dmremap resize r --spare-len $SL2 --dry-run)
log "dry run: $line"
check_contains "dmremap resize --dry-run prints the new line" "$line" "0 $NEW remap "
check_contains "... with the new spare length" "$line" " 0 $SL2"
check "dmremap resize --spare-len: 8 more spare blocks" dmremap resize r --spare-len $SL2
check_eq "spare_total grew by 8" "$((total + 8))" "$(stat_of spare_total)"
list_grown=$(msg list)
check_contains "the remaps are all there" "$list_grown" "$list_before"

dmesg_mark
check_fails "a spare area whose table areas would have to grow is refused" \
  dmsetup reload r --table "$(table $NEW $((SL * 2)))"
check "... the kernel log says why" dmesg_since_has "remap: The spare area cannot grow in place this far"
dmesg_mark
check_fails "shrinking below the block remapped past the old end is refused" \
  dmsetup reload r --table "$(table $OLD $SL2)"
check "... the kernel log says why" \
  dmesg_since_has "remap: The data range cannot shrink: a remapped or lost block lies past its new end"
out=$(dmremap resize r --data-len $OLD 2>&1)
rc=$?
log "dmremap resize --data-len $OLD: exit $rc: $out"
check "dmremap resize refuses it too" [ "$rc" -ne 0 ]
check_contains "... naming the block" "$out" "block 17001 is remapped or lost"
check "the live table still serves" dmsetup resume r
check_eq "nothing changed" "$list_grown" "$(msg list)"

check "remove and create again with the grown table" \
  sh -c "dmsetup remove r && dmsetup create r --table '$(table $NEW $SL2)'"
check_eq "the remaps load" "$list_grown" "$(msg list)"
check_eq "spare_total loads grown" "$((total + 8))" "$(stat_of spare_total)"
check_eq "the data past the old end reads back" "$(dd if=/tmp/pat bs=4096 count=256 2>/dev/null | sum)" \
  "$(blocks 17000 256)"
check_eq "the first 8 MiB read back" "$(sum </tmp/pat)" "$(blocks 0 2048)"
check "remove r" dmsetup remove r
exit 0
