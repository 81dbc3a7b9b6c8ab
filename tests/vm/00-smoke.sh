#!/bin/sh
# First VM test of dm-remap: the module loads and registers "remap", data written through the target
# reads back intact, tables round-trip through dmsetup, malformed tables are refused with a
# "remap:" kernel message and leave nothing behind, and the module unloads again.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

DEV=/dev/ram0
DATA_LEN=98304     # sectors: 48 MiB of data at the start of the 64 MiB ramdisk
SPARE_OFF=98304    # spare right after the data ...
SPARE_LEN=32768    # ... 16 MiB, up to the end of the ramdisk
TABLE="0 $DATA_LEN remap $DEV 0 $DEV $SPARE_OFF $SPARE_LEN"
FIO_COMMON="--filename=/dev/mapper/r0 --bs=4k --direct=1 --ioengine=libaio --iodepth=16
  --verify=crc32c --size=$((DATA_LEN * 512))"

# shellcheck disable=SC2317 # called through check, which shellcheck cannot follow
run_fio() {  # name fio-args...: keep the report for fio_clean, show it in the log
  local name=$1 rc
  shift
  # shellcheck disable=SC2086 # FIO_COMMON is a list of options
  fio --name="$name" $FIO_COMMON --eta=never "$@" --output="/tmp/$name.out"
  rc=$?
  cat "/tmp/$name.out"
  return "$rc"
}
# shellcheck disable=SC2317
fio_clean() {  # no verify complaint anywhere, and the job summary says err= 0
  if fio_complaint "/tmp/$1.out"; then
    return 1
  fi
  grep -q 'err= *0:' "/tmp/$1.out"
}
refused() {  # description expected-kernel-message table
  dmesg_mark
  check_fails "refuses $1" dmsetup create bad --table "$3"
  check "no device left behind after: $1" dm_absent bad
  check "kernel log says 'remap: $2' for: $1" dmesg_since_has "remap: $2"
  dm_remove bad
}

cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove r0 bad"
cleanup_push "brd_teardown"

# ---- load ----
load_dm_remap_deps || { fail "load dm-remap dependencies ($DM_REMAP_DEPS)"; exit 1; }
check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
log "dmsetup targets:"
dmsetup targets | sed 's/^/#   /'
check "dmsetup targets lists remap" sh -c 'dmsetup targets | grep -Eq "^remap[[:space:]]"'

check "64 MiB brd ramdisk" brd_setup 1 65536 || exit 1
check_eq "ramdisk has 131072 sectors" 131072 "$(dev_sectors $DEV)"

# ---- create ----
check "dmsetup create r0: $TABLE" dmsetup create r0 --table "$TABLE" || exit 1
check "/dev/mapper/r0 exists" wait_for_dev /dev/mapper/r0 || exit 1
check_eq "r0 is as long as the data range" "$DATA_LEN" "$(dev_sectors /dev/mapper/r0)"

# ---- data integrity ----
check "fio randwrite + verify over all of r0 exits 0" run_fio smoke-write --rw=randwrite
check "fio randwrite + verify reports no verify errors" fio_clean smoke-write
check "fio sequential read-back verify exits 0" run_fio smoke-read --rw=read
check "fio sequential read-back verify reports no verify errors" fio_clean smoke-read

# ---- table and status ----
t1=$(dmsetup table r0)
log "table:  $t1"
check_contains "dmsetup table r0 prints the remap line" "$t1" "0 $DATA_LEN remap "
s1=$(dmsetup status r0)
log "status: $s1"
check_contains "dmsetup status r0 prints a remap status" "$s1" "0 $DATA_LEN remap"

check "reload r0 with the line dmsetup table printed" dmsetup reload r0 --table "$t1"
check "resume r0 after the reload" dmsetup resume r0
check_eq "table unchanged after the round trip" "$t1" "$(dmsetup table r0)"

# Features that do not change the on-disk geometry may change on reload; block_size may not.
FEATURES="5 read_retries 5 no_auto_remap spare_low_water 100"
check "reload r0 with features '$FEATURES'" dmsetup reload r0 --table "$TABLE $FEATURES"
check "resume r0 with features" dmsetup resume r0
t2=$(dmsetup table r0)
log "table:  $t2"
check_contains "table shows no_auto_remap" "$t2" "no_auto_remap"
check_contains "table shows read_retries 5" "$t2" "read_retries 5"
check "reload r0 with the feature line dmsetup table printed" dmsetup reload r0 --table "$t2"
check "resume r0 after the feature reload" dmsetup resume r0
check_eq "feature table unchanged after the round trip" "$t2" "$(dmsetup table r0)"
dmesg_mark
check_fails "reload with another block_size is refused" \
  dmsetup reload r0 --table "$TABLE 2 block_size 8192"
check "kernel log names the block_size mismatch" dmesg_since_has "remap: A reload must keep the live table's devices, offsets and block_size"
dmsetup clear r0 2>/dev/null
log "status: $(dmsetup status r0)"

# ---- malformed tables ----
refused "too few arguments" "Not enough arguments" "0 $DATA_LEN remap $DEV 0 $DEV $SPARE_OFF"
refused "non-numeric data offset" "Invalid data device offset" \
  "0 $DATA_LEN remap $DEV abc $DEV $SPARE_OFF $SPARE_LEN"
refused "negative data offset" "Invalid data device offset" \
  "0 $DATA_LEN remap $DEV -1 $DEV $SPARE_OFF $SPARE_LEN"
refused "unknown feature" "Unknown feature" "$TABLE 1 frobnicate"
refused "block_size 1000" "Invalid block_size" "$TABLE 2 block_size 1000"
refused "spare range overlapping the data range" "Spare range overlaps the data range" \
  "0 $DATA_LEN remap $DEV 0 $DEV 65536 $SPARE_LEN"
refused "spare range beyond the device end" "Spare range exceeds the spare device" \
  "0 $DATA_LEN remap $DEV 0 $DEV $SPARE_OFF 65536"
refused "missing data device" "Data device lookup failed" \
  "0 $DATA_LEN remap /dev/nonexistent 0 $DEV $SPARE_OFF $SPARE_LEN"
check_eq "r0 still serves its table after the refusals" "$t2" "$(dmsetup table r0)"

# ---- teardown ----
check "dmsetup remove r0" dmsetup remove r0
check "no dm devices left" dm_absent r0
check "rmmod dm_remap" rmmod dm_remap
exit 0
