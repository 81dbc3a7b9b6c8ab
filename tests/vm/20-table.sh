#!/bin/sh
# The table line from dmsetup's side. (a) Every refusal of the table parser, the device checks
# and the geometry that a table line can reach (plus the loader's refusals of metadata written
# with another geometry) is hit by a malformed line, logged as
# "device-mapper: table: MAJ:MIN: remap: <message> (-E...)", and leaves no device behind;
# the limits themselves are accepted. (b) Each of the 16 combinations of the four features
# makes a device whose "dmsetup table" line is normalized and reloads to the identical table.
# Not reachable from a table line: "Data/Spare range does not fit in 64-bit sector numbers"
# (the range checks refuse first) and the allocation failures.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

D=/dev/ram0          # data device
S=/dev/ram1          # spare device
LEN=65536            # 32 MiB of data: a multiple of every block size
SL=16384             # 8 MiB of spare: 2048 blocks of 4 KiB, 128 of 64 KiB
OK="$D 0 $S 0 $SL"   # a good set of positional arguments
NOT_ENOUGH='Not enough arguments: <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#features> <feature>...]'
BAD_BS='Invalid block_size: must be a power of two from 512 to 65536'
CFS=/sys/kernel/config/nullb

# dmesg_since_has with a fixed string: the messages are full of regex characters.
# shellcheck disable=SC2317 # called through check
# The line must also be device-mapper's table error: "device-mapper: table: MAJ:MIN: remap: ...".
dmesg_since_has_text() {
  if dmesg_since | grep -F -- "$1" | grep -Eq 'device-mapper: table: [0-9]+:[0-9]+: remap: '; then
    return 0
  fi
  log "no 'device-mapper: table: N:N:' line containing '$1' since the mark; new lines were:"
  dmesg_since | sed 's/^/#   /'
  return 1
}

n_refused=0
# refused description expected-message errno table-line
refused() {
  dmesg_mark
  n_refused=$((n_refused + 1))
  check_fails "refuses $1" dmsetup create bad --table "$4"
  check "no device left behind after: $1" no_device bad || dm_remove bad
  check "kernel log says 'remap: $2 ($3)' for: $1" dmesg_since_has_text "remap: $2 ($3)"
}
# The kernel's own list of dm devices, without starting dmsetup (slow under TCG) once more.
# shellcheck disable=SC2317 # called through check
no_device() {
  ! grep -qsx "$1" /sys/block/dm-*/dm/name && [ ! -e "/dev/mapper/$1" ]
}
fresh_spare() {  # both superblock slots (and more) zeroed: the next resume formats
  dd if=/dev/zero of="$1" bs=1M count=1 oflag=direct 2>/dev/null
}

# Run in reverse: devices first, then what they sit on.
cleanup_push "unload_module dm_remap"
cleanup_push "brd_teardown"
cleanup_push "unload_module null_blk"
cleanup_push "rmdir $CFS/nullbhuge 2>/dev/null; true"
cleanup_push "[ ! -e $CFS/nullbhuge/power ] || echo 0 >$CFS/nullbhuge/power"
cleanup_push "rmdir $CFS/nullb4k 2>/dev/null; true"
cleanup_push "[ ! -e $CFS/nullb4k/power ] || echo 0 >$CFS/nullb4k/power"
cleanup_push "dm_remove bad t"

check "two 64 MiB ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

# null_blk devices made through configfs (module parameters would give them all one shape):
# one with 4 KiB logical blocks, and one of 2.5 TiB (nothing stored: memory_backed=0) whose
# spare range has more 512-byte blocks than 32-bit spare block numbers can name.
nullb_make() {  # name size-MiB logical-block-size: prints the /dev path
  mkdir "$CFS/$1" && echo "$2" >"$CFS/$1/size" && echo "$3" >"$CFS/$1/blocksize" &&
    echo 1 >"$CFS/$1/power" || return 1
  # 6.1 names the disk after the configfs directory; older kernels used nullb<index>.
  if [ -e "/sys/block/$1" ]; then echo "/dev/$1"; else echo "/dev/nullb$(cat "$CFS/$1/index")"; fi
}
unload_module null_blk
check "load null_blk without default devices" modprobe null_blk nr_devices=0 || exit 1
[ -d "$CFS" ] || mount -t configfs configfs /sys/kernel/config
B4K=$(nullb_make nullb4k 1024 4096)
HUGE=$(nullb_make nullbhuge 2621440 512)
check "null_blk with 4096-byte logical blocks: $B4K" wait_for_dev "$B4K"
check "2.5 TiB null_blk with 512-byte logical blocks: $HUGE" wait_for_dev "$HUGE"
check_eq "$B4K has 4096-byte logical blocks" 4096 "$(blockdev --getss "$B4K")"
check_eq "$HUGE has 5368709120 sectors" 5368709120 "$(dev_sectors "$HUGE")"

# ---- (a) malformed lines ---------------------------------------------------------------------
# Argument parsing.
refused "no arguments at all" "$NOT_ENOUGH" -EINVAL "0 $LEN remap"
refused "four arguments" "$NOT_ENOUGH" -EINVAL "0 $LEN remap $D 0 $S 0"
refused "non-numeric data offset" "Invalid data device offset" -EINVAL "0 $LEN remap $D x $S 0 $SL"
refused "negative data offset" "Invalid data device offset" -EINVAL "0 $LEN remap $D -8 $S 0 $SL"
refused "data offset beyond 64 bits" "Invalid data device offset" -EINVAL \
  "0 $LEN remap $D 18446744073709551616 $S 0 $SL"
refused "hexadecimal spare offset" "Invalid spare device offset" -EINVAL "0 $LEN remap $D 0 $S 0x8 $SL"
refused "spare length with a unit" "Invalid spare length" -EINVAL "0 $LEN remap $D 0 $S 0 8k"
refused "non-numeric feature count" "Invalid number of feature arguments" -EINVAL \
  "0 $LEN remap $OK x no_auto_remap"
refused "feature count larger than the words" "Number of feature arguments does not match the table line" \
  -EINVAL "0 $LEN remap $OK 2 no_auto_remap"
refused "feature count smaller than the words" "Number of feature arguments does not match the table line" \
  -EINVAL "0 $LEN remap $OK 1 read_retries 3"
refused "feature count with no features" "Number of feature arguments does not match the table line" \
  -EINVAL "0 $LEN remap $OK 1"
refused "unknown feature" "Unknown feature" -EINVAL "0 $LEN remap $OK 1 turbo"
refused "duplicate no_auto_remap" "Feature given more than once" -EINVAL \
  "0 $LEN remap $OK 2 no_auto_remap NO_AUTO_REMAP"
refused "duplicate read_retries" "Feature given more than once" -EINVAL \
  "0 $LEN remap $OK 4 read_retries 1 read_retries 2"
refused "block_size without its value" "Feature is missing its value" -EINVAL "0 $LEN remap $OK 1 block_size"
refused "read_retries without its value" "Feature is missing its value" -EINVAL \
  "0 $LEN remap $OK 2 no_auto_remap read_retries"
refused "block_size 1000 (not a power of two)" "$BAD_BS" -EINVAL "0 $LEN remap $OK 2 block_size 1000"
refused "block_size 256 (too small)" "$BAD_BS" -EINVAL "0 $LEN remap $OK 2 block_size 256"
refused "block_size 131072 (too large)" "$BAD_BS" -EINVAL "0 $LEN remap $OK 2 block_size 131072"
refused "block_size 4k (not a number)" "$BAD_BS" -EINVAL "0 $LEN remap $OK 2 block_size 4k"
refused "read_retries 101" "Invalid read_retries: must be 0 to 100" -EINVAL \
  "0 $LEN remap $OK 2 read_retries 101"
refused "read_retries -1" "Invalid read_retries: must be 0 to 100" -EINVAL \
  "0 $LEN remap $OK 2 read_retries -1"
refused "non-numeric spare_low_water" "Invalid spare_low_water" -EINVAL \
  "0 $LEN remap $OK 2 spare_low_water many"

# Devices. A path that names no device fails dm_get_device() with the kernel's own errno (6.1:
# -ENODEV; 6.12 on: -ENOENT, from lookup_bdev()): dm-linear, given the same path, says which, and
# dm-remap must pass on exactly that.
dmesg_mark
dmsetup create nodevprobe --table "0 8 linear /dev/nonexistent 0" 2>/dev/null && dm_remove nodevprobe
NODEV=$(dmesg_since | sed -n 's/.*: linear: Device lookup failed (\(-E[A-Z]*\)).*/\1/p' | head -n 1)
log "dm-linear: a missing device path gives '$NODEV'"
check "dm-linear refuses a missing device path with -ENODEV or -ENOENT" \
  eval 'case $NODEV in -ENODEV|-ENOENT) true ;; *) false ;; esac'
refused "missing data device" "Data device lookup failed" "$NODEV" \
  "0 $LEN remap /dev/nonexistent 0 $S 0 $SL"
refused "missing spare device" "Spare device lookup failed" "$NODEV" \
  "0 $LEN remap $D 0 /dev/nonexistent 0 $SL"
refused "block_size 2048 on a data device with 4 KiB logical blocks" \
  "block_size is smaller than the data device's logical block size" -EINVAL \
  "0 $LEN remap $B4K 0 $S 0 $SL 2 block_size 2048"
refused "block_size 512 on a spare device with 4 KiB logical blocks" \
  "block_size is smaller than the spare device's logical block size" -EINVAL \
  "0 $LEN remap $D 0 $B4K 0 $SL 3 block_size 512 allow_larger_spare_sectors"

# Geometry.
refused "target length not a multiple of 4 KiB" "Target length is not a non-zero multiple of block_size" \
  -EINVAL "0 65540 remap $OK"
refused "target length not a multiple of block_size 8192" \
  "Target length is not a non-zero multiple of block_size" -EINVAL "0 65544 remap $OK 2 block_size 8192"
refused "misaligned data offset" "Data offset is not aligned to block_size" -EINVAL "0 $LEN remap $D 1 $S 0 $SL"
refused "data offset aligned to 4 KiB, not to block_size 65536" "Data offset is not aligned to block_size" \
  -EINVAL "0 $LEN remap $D 8 $S 0 $SL 2 block_size 65536"
refused "data range past the device end" "Data range exceeds the data device" -EINVAL \
  "0 $LEN remap $D 65544 $S 0 $SL"
refused "data range wrapping 64 bits" "Data range exceeds the data device" -EINVAL \
  "0 $LEN remap $D 18446744073709551608 $S 0 $SL"
refused "misaligned spare offset" "Spare offset is not aligned to block_size" -EINVAL \
  "0 $LEN remap $D 0 $S 4 $SL"
refused "zero spare length" "Spare length is not a non-zero multiple of block_size" -EINVAL \
  "0 $LEN remap $D 0 $S 0 0"
refused "spare length not a multiple of block_size" "Spare length is not a non-zero multiple of block_size" \
  -EINVAL "0 $LEN remap $D 0 $S 0 12"
refused "spare range past the device end" "Spare range exceeds the spare device" -EINVAL \
  "0 $LEN remap $D 0 $S 122880 $SL"
refused "spare range overlapping the data range's end" "Spare range overlaps the data range" -EINVAL \
  "0 $LEN remap $D 0 $D 65528 $SL"
refused "spare range overlapping the data range's start" "Spare range overlaps the data range" -EINVAL \
  "0 $LEN remap $D $SL $D 0 $((SL + 8))"
refused "spare_low_water above the spare blocks" "spare_low_water exceeds the number of spare blocks" \
  -EINVAL "0 $LEN remap $OK 2 spare_low_water 2049"
refused "spare range of four blocks" "Spare area too small for the metadata and one spare block" \
  -EINVAL "0 $LEN remap $D 0 $S 0 32"
refused "spare range of 2^32+ blocks of 512 bytes" "Spare range too large: at most 4294967294 blocks" \
  -EINVAL "0 $LEN remap $D 0 $HUGE 0 4294967296 2 block_size 512"

# Metadata that another geometry wrote: format with one table, then change it.
fresh_spare $S
check "create t (formats the spare area)" dmsetup create t --table "0 $LEN remap $OK" || exit 1
check "remove t" dmsetup remove t
check "a shorter target over formatted metadata with nothing remapped past it" \
  dmsetup create t --table "0 $((LEN - 8)) remap $OK"
dm_remove t
refused "a smaller spare area over formatted metadata" \
  "Superblock geometry does not match the table line: spare_len (the spare area cannot shrink)" \
  -EINVAL "0 $LEN remap $D 0 $S 0 $((SL - 8))"
refused "another data offset over formatted metadata" \
  "Superblock geometry does not match the table line: data_offset" -EINVAL "0 $LEN remap $D 8 $S 0 $SL"
refused "a spare area grown past what its table areas describe" \
  "The spare area cannot grow in place this far: its table areas would have to grow (see \"Growing\" in the admin guide)" \
  -EINVAL "0 $LEN remap $D 0 $S 0 $((SL * 2))"
refused "another block_size over formatted metadata" "Metadata was formatted with another block_size" \
  -EINVAL "0 $LEN remap $OK 2 block_size 8192"
log "$n_refused malformed lines refused"
check "at least 22 malformed lines tried" [ "$n_refused" -ge 22 ]

# The limits themselves are accepted.
fresh_spare $S
check "spare_low_water equal to the spare blocks (2048) is accepted" \
  dmsetup create t --table "0 $LEN remap $OK 2 spare_low_water 2048"
dm_remove t
for r in 0 100; do
  fresh_spare $S
  check "read_retries $r is accepted" dmsetup create t --table "0 $LEN remap $OK 2 read_retries $r"
  dm_remove t
done
fresh_spare $S
check "a spare range of five blocks is accepted" dmsetup create t --table "0 $LEN remap $D 0 $S 0 40"
check_contains "and has one spare block to hand out" "$(dmsetup status t)" " 0/1 ok 1"
dm_remove t

# ---- (b) every feature combination round-trips -----------------------------------------------
DEVS=$(cat /sys/class/block/${D#/dev/}/dev)
SDEVS=$(cat /sys/class/block/${S#/dev/}/dev)
log "data device $D is $DEVS, spare device $S is $SDEVS"
# One block size per subset that has block_size: every power of two from 512 to 65536.
set -- 512 1024 2048 8192 16384 32768 65536 4096
mask=0
while [ $mask -lt 16 ]; do
  given=""     # in reverse canonical order: the table must print them in canonical order
  canon=""
  words=0
  bs=4096
  if [ $((mask & 8)) -ne 0 ]; then given="$given spare_low_water 100"; words=$((words + 2)); fi
  if [ $((mask & 4)) -ne 0 ]; then given="$given read_retries $mask"; words=$((words + 2)); fi
  if [ $((mask & 2)) -ne 0 ]; then given="$given no_auto_remap"; words=$((words + 1)); fi
  if [ $((mask & 1)) -ne 0 ]; then bs=$1; shift; given="$given block_size $bs"; words=$((words + 2)); fi
  [ $((mask & 1)) -eq 0 ] || canon="$canon block_size $bs"
  [ $((mask & 2)) -eq 0 ] || canon="$canon no_auto_remap"
  [ $((mask & 4)) -eq 0 ] || canon="$canon read_retries $mask"
  [ $((mask & 8)) -eq 0 ] || canon="$canon spare_low_water 100"
  line="0 $LEN remap $D 0 $S 0 $SL"
  expect="0 $LEN remap $DEVS 0 $SDEVS 0 $SL"
  if [ $words -gt 0 ]; then line="$line $words$given"; expect="$expect $words$canon"; fi
  fresh_spare $S
  if check "features {$given } (block_size $bs): create" dmsetup create t --table "$line"; then
    t1=$(dmsetup table t)
    check_eq "features {$given }: table is normalized" "$expect" "$t1"
    check_contains "features {$given }: status reports block_size $bs, metadata ok" \
      "$(dmsetup status t)" "remap $bs 0 0 0/"
    check "features {$given }: reload with the printed line" dmsetup reload t --table "$t1"
    check "features {$given }: resume" dmsetup resume t
    check_eq "features {$given }: table identical after the round trip" "$t1" "$(dmsetup table t)"
    check "features {$given }: remove" dmsetup remove t
  fi
  dm_remove t
  mask=$((mask + 1))
done

check "rmmod dm_remap" rmmod dm_remap
exit 0
