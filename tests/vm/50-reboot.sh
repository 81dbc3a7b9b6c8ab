#!/bin/sh
# vmtest: disk=128 boots=2
# Persistence across a reboot, on a real (virtio) disk image that the runner keeps between two
# boots. Boot 1 makes a remap device on /dev/vda with data and spare ranges on that disk,
# remaps a few hundred blocks (single and count forms), writes all of the device with fio
# (crc32c verify), records the list checksum, seq and stats in a record region of the disk,
# syncs and powers off with the device still live. Boot 2 creates the device again with the
# same table: no reformat, identical list, seq and stats, remapped blocks read from the spare
# range, and fio --verify_only passes.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

DISK=${VMT_DISK:-/dev/vda}
LEN=131072          # data: the first 64 MiB of the disk
SPARE_OFF=131072    # spare: the next 16 MiB
SPARE_LEN=32768
RECORD=196608       # record region: 4 KiB at 96 MiB, past both ranges
TABLE="0 $LEN remap $DISK 0 $DISK $SPARE_OFF $SPARE_LEN"
FIO="--name=persist --filename=/dev/mapper/p --size=$((LEN * 512)) --bs=4k --rw=randwrite
  --direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c --randseed=50 --eta=never"

msg() { dmsetup message p 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
list_sum() { msg list | md5sum | cut -d' ' -f1; }
# shellcheck disable=SC2317 # called through check
fio_ok() {  # tag args...: exit status 0, no verify complaint, err= 0
  local tag=$1
  shift
  # shellcheck disable=SC2086 # FIO is a list of options
  fio $FIO "$@" --output="/tmp/fio-$tag.out" &&
    ! fio_complaint "/tmp/fio-$tag.out" &&
    grep -q 'err= *0:' "/tmp/fio-$tag.out" && return 0
  cat "/tmp/fio-$tag.out"
  return 1
}
record_read() { dd if="$DISK" bs=4096 skip=$((RECORD / 8)) count=1 iflag=direct 2>/dev/null | tr -d '\000'; }
record_get() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
# shellcheck disable=SC2317 # called through check
no_format() { ! dmesg_since | grep -q 'formatted the spare area'; }
block_md5() {  # device sector: one 4 KiB block
  dd if="$1" bs=4096 skip=$(($2 / 8)) count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

case ${VMT_BOOT:-} in
  1|2) ;;
  *) fail "needs tools/vm/run-tests.sh's disk and boots (VMT_BOOT='${VMT_BOOT:-}')"; exit 1 ;;
esac
check "the disk image is attached as $DISK" wait_for_dev "$DISK" || exit 1
check_eq "$DISK has 128 MiB" 262144 "$(dev_sectors "$DISK")" || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1

if [ "$VMT_BOOT" = 1 ]; then
  check_eq "the image is fresh: the record region is empty" "" "$(record_read)"
  # Both ranges and the record region end inside the disk, so nothing else overlaps.
  dmesg_mark
  check "create p: $TABLE" dmsetup create p --table "$TABLE" || exit 1
  check "kernel log says the spare area was formatted" dmesg_since_has 'remap: formatted the spare area'

  # ---- remaps: 20 singles, then two count forms (the first overlaps the last single) ----
  i=0
  n=0
  while [ $i -lt 20 ]; do
    b=$((5 + 53 * i))
    case $(msg remap $((b * 8 + i % 8))) in "$b "[0-9]*) n=$((n + 1)) ;; esac
    i=$((i + 1))
  done
  check_eq "20 single remaps replied '<block> <spare>'" 20 "$n"
  check_eq "remap 8000 150 (blocks 1000..1149)" "remapped=149 lost=0 already=1" "$(msg remap 8000 150)"
  check_eq "remap 80000 100 (blocks 10000..10099)" "remapped=100 lost=0 already=0" "$(msg remap 80000 100)"
  check_eq "269 remapped" 269 "$(stat_of remapped)"

  # ---- data through the device ----
  check "fio writes all of p and verifies it (crc32c)" fio_ok write --end_fsync=1

  # ---- the record, on the disk itself ----
  {
    echo "table=$(dmsetup table p)"
    echo "list=$(list_sum)"
    echo "lines=$(msg list | wc -l)"
    for k in seq remapped lost spare_used spare_total; do echo "$k=$(stat_of $k)"; done
    echo "status=$(dmsetup status p)"
  } >/tmp/record
  log "record:"
  sed 's/^/#   /' /tmp/record
  check "write the record at sector $RECORD" \
    dd if=/tmp/record of="$DISK" bs=4096 seek=$((RECORD / 8)) count=1 conv=sync,fsync oflag=direct
  check_eq "the record reads back" "$(cat /tmp/record)" "$(record_read)"
  check "sync" sync
  # Powered off with p still live, as a crash or a hurried shutdown would leave it.
  log "boot 1 done: powering off with p live"
  exit 0
fi

# ---- boot 2 ----
rec=$(record_read)
log "record from boot 1:"
printf '%s\n' "$rec" | sed 's/^/#   /'
check "boot 1 left its record" [ -n "$(record_get "$rec" list)" ] || exit 1
cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove p"
dmesg_mark
check "create p with the same table" dmsetup create p --table "$TABLE" || exit 1
check "no reformat: the metadata loaded" no_format
check_eq "the table is the one boot 1 had" "$(record_get "$rec" table)" "$(dmsetup table p)"
check_eq "the list checksum is identical" "$(record_get "$rec" list)" "$(list_sum)"
check_eq "the list has as many lines as in boot 1" "$(record_get "$rec" lines)" "$(msg list | wc -l)"
for k in seq remapped lost spare_used spare_total; do
  check_eq "stats: $k is identical ($(record_get "$rec" $k))" "$(record_get "$rec" $k)" "$(stat_of $k)"
done
check_eq "status is identical" "$(record_get "$rec" status)" "$(dmsetup status p)"
# Remapped blocks come from the spare range on the disk, which kept them across the reboot.
for b in 5 1100 10099; do
  s=$(msg list $b 1 | cut -d' ' -f2)
  check_eq "block $b reads the same as its spare block $s on $DISK" \
    "$(block_md5 "$DISK" $((SPARE_OFF + s * 8)))" "$(block_md5 /dev/mapper/p $((b * 8)))"
done
check "fio --verify_only: everything boot 1 wrote verifies" fio_ok verify --verify_only
check "remove p" dmsetup remove p
check "rmmod dm_remap" rmmod dm_remap
exit 0
