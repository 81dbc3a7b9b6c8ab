#!/bin/sh
# Sub-block salvage (issue 14, finding 5): one unreadable 512-byte sector (dm-dust with 512-byte
# blocks) inside a 4 KiB and inside a 64 KiB remap block. After the read that fails, the readable
# sectors of the block still read back their data (512-byte O_DIRECT reads, and 4 KiB reads that
# miss the bad sector), a read touching the bad sector fails, `list` and `stats` (lost_sectors)
# show the lost sector, and all of that survives re-creating the target. A 4 KiB write into the
# 64 KiB block that misses the bad sector succeeds and reads back; a write covering the bad
# sector (512 bytes in the 4 KiB block, 4 KiB in the 64 KiB one) revives it: then the whole block
# reads back, merged from the salvaged data and the writes, and lost_sectors is 0.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=32768           # 16 MiB of data on ram0 behind dust; the spare area is ram1
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sum() { md5sum | cut -d' ' -f1; }
# shellcheck disable=SC2317 # called through check
rd() { dio read /dev/mapper/r $(($1 * 512)) $(($2 * 512)); }   # first-sector sectors
pat() { dd if=/tmp/pat bs=512 skip="$1" count="$2" 2>/dev/null; }
# reads_as "description" first count file: the sectors read back as the file holds them
reads_as() {
  local got
  got=$(rd "$2" "$3" 2>/tmp/rd.err | sum)
  [ ! -s /tmp/rd.err ] || log "$(cat /tmp/rd.err)"
  check_eq "$1" "$(sum <"$4")" "$got"
}
# shellcheck disable=SC2317 # called through recreate_r
create_r() { dmsetup create r --table "0 $LEN remap /dev/mapper/dust 0 /dev/ram1 0 32768 4 block_size $1 read_retries 1"; }
# shellcheck disable=SC2317 # called through check
recreate_r() { dmsetup remove r && create_r "$1"; }

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r dust"
cleanup_push "unload_module dm_remap"

check "dio helper" command -v dio || exit 1
check "ramdisks" brd_setup 2 16384 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
dd if=/dev/urandom of=/tmp/pat bs=64k count=4 2>/dev/null   # the first 256 KiB of data

salvage_case() {  # block_size block bad-sector-within-the-block
  local bs=$1 blk=$2 spb=$(($1 / 512)) first bad
  first=$((blk * spb))
  bad=$((first + $3))
  log "---- block_size $bs: block $blk (sectors $first..$((first + spb - 1))), bad sector $bad ----"
  dm_remove r dust
  dd if=/dev/zero of=/dev/ram1 bs=1M count=16 2>/dev/null
  check "bs=$bs: data written to ram0" dd if=/tmp/pat of=/dev/ram0 bs=64k count=4 oflag=direct || return 1
  check "bs=$bs: dust over ram0 with 512-byte blocks" \
    dmsetup create dust --table "0 $LEN dust /dev/ram0 0 512" || return 1
  check "bs=$bs: sector $bad made bad" dmsetup message dust 0 addbadblock $bad || return 1
  check "bs=$bs: dust enabled" dmsetup message dust 0 enable || return 1
  check "bs=$bs: remap target with block_size $bs" create_r "$bs" || return 1

  check_fails "bs=$bs: a read of the whole block fails (it touches the bad sector)" rd $first $spb
  pat $first $((bad - first)) >/tmp/before
  pat $((bad + 1)) $((first + spb - bad - 1)) >/tmp/after
  reads_as "bs=$bs: after the failing read, the sectors before the bad one read back (O_DIRECT)" \
    $first $((bad - first)) /tmp/before
  reads_as "bs=$bs: ... and the sectors after it" $((bad + 1)) $((first + spb - bad - 1)) /tmp/after
  pat $((bad - 1)) 1 >/tmp/one
  reads_as "bs=$bs: the sector right before the bad one reads alone" $((bad - 1)) 1 /tmp/one
  check_fails "bs=$bs: a 512-byte read of the bad sector fails" rd $bad 1
  check_fails "bs=$bs: a 4 KiB read touching the bad sector fails" rd $((bad / 8 * 8)) 8
  if [ "$bs" -gt 4096 ]; then
    pat $((first + 64)) 8 >/tmp/p4k
    reads_as "bs=$bs: a 4 KiB read elsewhere in the block reads back" $((first + 64)) 8 /tmp/p4k
  fi
  check_eq "bs=$bs: stats: lost_sectors=1" 1 "$(stat_of lost_sectors)"
  out=$(msg list "$blk" 1)
  log "list $blk 1: $out"
  check_contains "bs=$bs: list names the block" "$out" "$blk "
  check_contains "bs=$bs: list shows it has lost data" "$out" "lost"
  pat $((first - spb)) $spb >/tmp/prev
  reads_as "bs=$bs: the block before reads back" $((first - spb)) $spb /tmp/prev

  check "bs=$bs: remove and re-create the target" recreate_r "$bs" || return 1
  reads_as "bs=$bs: after re-create the readable sectors still read back" \
    $first $((bad - first)) /tmp/before
  check_fails "bs=$bs: ... and the bad sector still fails" rd $bad 1
  check_eq "bs=$bs: ... and lost_sectors=1 persisted" 1 "$(stat_of lost_sectors)"

  pat $first $spb >/tmp/expect
  if [ "$bs" -gt 4096 ]; then
    # 4 KiB at sector first+64: misses the bad sector
    dd if=/dev/urandom of=/tmp/w1 bs=4096 count=1 2>/dev/null
    check "bs=$bs: a 4 KiB write into the block (missing the bad sector) succeeds" \
      sh -c "dio write /dev/mapper/r $(((first + 64) * 512)) 4096 </tmp/w1"
    reads_as "bs=$bs: ... and reads back" $((first + 64)) 8 /tmp/w1
    dd if=/tmp/w1 of=/tmp/expect bs=512 seek=64 conv=notrunc 2>/dev/null
    check_fails "bs=$bs: the bad sector still fails" rd $bad 1
    # 4 KiB covering the bad sector revives it
    dd if=/dev/urandom of=/tmp/w2 bs=4096 count=1 2>/dev/null
    w2=$((bad / 8 * 8))
    check "bs=$bs: a 4 KiB write covering the bad sector succeeds" \
      sh -c "dio write /dev/mapper/r $((w2 * 512)) 4096 </tmp/w2"
    dd if=/tmp/w2 of=/tmp/expect bs=512 seek=$((w2 - first)) conv=notrunc 2>/dev/null
  else
    dd if=/dev/urandom of=/tmp/w2 bs=512 count=1 2>/dev/null
    check "bs=$bs: a 512-byte write of the bad sector succeeds" \
      sh -c "dio write /dev/mapper/r $((bad * 512)) 512 </tmp/w2"
    dd if=/tmp/w2 of=/tmp/expect bs=512 seek=$((bad - first)) conv=notrunc 2>/dev/null
  fi
  reads_as "bs=$bs: the whole block reads back: salvaged data merged with the writes" \
    $first $spb /tmp/expect
  check_eq "bs=$bs: lost_sectors=0 once the bad sector was written" 0 "$(stat_of lost_sectors)"
  check_eq "bs=$bs: nothing lost" 0 "$(stat_of lost)"
  check "bs=$bs: remove the target" dmsetup remove r
  check "bs=$bs: remove dust" dmsetup remove dust
}

salvage_case 4096 10 3
salvage_case 65536 2 37
exit 0
