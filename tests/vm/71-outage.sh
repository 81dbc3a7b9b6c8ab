#!/bin/sh
# A data-device outage is not a medium error: the data device (dm-linear over brd) has its table
# swapped to `error` for about a second while O_DIRECT and buffered readers run, then back. The
# reads during the outage fail, but no block is marked lost (stats lost=0, `list` empty): after
# the outage every byte reads back as written, and again after the target is removed and
# re-created (nothing was persisted).
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=32768          # 16 MiB of data on ram0
SPARE_LEN=16384    # 8 MiB spare area on ram1
TABLE="0 $LEN remap /dev/mapper/data 0 /dev/ram1 0 $SPARE_LEN"
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# shellcheck disable=SC2317 # called through check
swap_data() {  # table line: loads it in place of data's live one
  echo "$1" | dmsetup load data && dmsetup suspend data && dmsetup resume data
}
# reader NAME DD-ARGS...: reads all of r over and over until /tmp/stop-readers exists; counts
# the passes that failed in /tmp/NAME.fails and all passes in /tmp/NAME.passes.
reader() {
  local name=$1 passes=0 fails=0
  shift
  while [ ! -e /tmp/stop-readers ]; do
    dd if=/dev/mapper/r of=/dev/null "$@" 2>/dev/null || fails=$((fails + 1))
    passes=$((passes + 1))
    echo "$fails" >"/tmp/$name.fails"
    echo "$passes" >"/tmp/$name.passes"
  done
}
# shellcheck disable=SC2317 # called through check
verify_all() {  # the whole device against /tmp/image, O_DIRECT and through the page cache
  dd if=/dev/mapper/r bs=65536 iflag=direct 2>/dev/null | cmp - /tmp/image || return 1
  echo 3 >/proc/sys/vm/drop_caches
  cmp /dev/mapper/r /tmp/image
}

cleanup_push "brd_teardown"
cleanup_push "dm_remove r data"
cleanup_push "unload_module dm_remap"
cleanup_push "rm -f /tmp/image /tmp/stop-readers"

check "ramdisks" brd_setup 2 16384 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "data device: linear over ram0" dmsetup create data --table "0 $LEN linear /dev/ram0 0" || exit 1
check "remap target over it" dmsetup create r --table "$TABLE" || exit 1
dd if=/dev/urandom of=/tmp/image bs=65536 count=$((LEN / 128)) 2>/dev/null
check "16 MiB of random data written" dd if=/tmp/image of=/dev/mapper/r bs=65536 oflag=direct || exit 1

rm -f /tmp/stop-readers /tmp/direct.* /tmp/buffered.*
reader direct bs=16384 iflag=direct &
p1=$!
( while [ ! -e /tmp/stop-readers ]; do echo 3 >/proc/sys/vm/drop_caches; sleep 0.2; done ) &
p2=$!
reader buffered bs=65536 &
p3=$!
sleep 1
dmesg_mark
check "outage: data's table swapped to error" swap_data "0 $LEN error"
sleep 1
check "back: data's table swapped to linear" swap_data "0 $LEN linear /dev/ram0 0"
sleep 2   # readers run on a healthy device again, and whatever the target does settles
touch /tmp/stop-readers
wait $p1 $p2 $p3
log "O_DIRECT reader: $(cat /tmp/direct.fails) of $(cat /tmp/direct.passes) passes failed;" \
  "buffered reader: $(cat /tmp/buffered.fails) of $(cat /tmp/buffered.passes) passes failed"
log "stats: $(msg stats)"
check "the readers saw the outage (some passes failed)" \
  [ $(($(cat /tmp/direct.fails) + $(cat /tmp/buffered.fails))) -gt 0 ]
check_eq "stats: lost=0" 0 "$(stat_of lost)"
check_eq "list is empty (nothing lost, nothing moved)" "" "$(msg list)"
check "every byte verifies after the outage" verify_all
check "remove and re-create" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE'"
check_eq "after re-create: lost=0" 0 "$(stat_of lost)"
check_eq "after re-create: list is empty" "" "$(msg list)"
check "after re-create: every byte verifies" verify_all
check "remove r" dmsetup remove r
exit 0
