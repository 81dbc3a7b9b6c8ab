#!/bin/sh
# A slow error does not stall the device: failing reads that take >= 1 s each (dm-delay over
# dm-dust bad blocks, under dm-remap). While such a read is being handled, `dmsetup status`
# answers in under a second and fio on healthy blocks keeps at least half the IOPS it had
# before. The figures are printed. Under TCG on a loaded host a dmsetup process alone can take
# most of a second (seen: 0.26-0.98 s with nothing else going on), so status is judged by what
# it takes beyond the slowest of 5 probes made before: under 1 s more, where a status that
# waited for the error handling would take its seconds.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=65536          # 32 MiB: 8192 blocks of 4 KiB
SLOW=49152         # sectors [SLOW, SLOW + 8192) (blocks 6144..7167) are read with a 1 s delay
BADB=6200          # a dust bad block in the slow part
HEALTHY=16         # fio reads the first 16 MiB
TABLE="0 $LEN remap /dev/mapper/slow 0 /dev/ram1 0 16384 2 read_retries 5"
msg() { dmsetup message r 0 -- "$@"; }
# shellcheck disable=SC2317 # called through check
dust() { dmsetup message dust 0 -- "$@"; }
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }   # centiseconds
status_probes() {  # what: the slowest of 5 `dmsetup status` runs 0.3 s apart, in centiseconds
  local i s e worst=0
  for i in 1 2 3 4 5; do
    s=$(now_cs)
    timeout 10 dmsetup status r >/dev/null
    e=$(( $(now_cs) - s ))
    log "$1: dmsetup status $i: ${e}0 ms" >&2   # stdout is the answer
    [ "$e" -le "$worst" ] || worst=$e
    sleep 0.3
  done
  echo "$worst"
}
fio_iops() {  # the read IOPS of 3 s of 4 KiB random O_DIRECT reads on the healthy part
  fio --name=healthy --filename=/dev/mapper/r --size=${HEALTHY}m --rw=randread --bs=4k \
    --direct=1 --ioengine=libaio --iodepth=8 --time_based --runtime=3 --minimal |
    cut -d';' -f8
}

cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r slow dust"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 32768 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
check "dm-delay loads" modprobe dm-delay || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "fill ram0 (brd allocates on first write)" dd if=/dev/zero of=/dev/ram0 bs=1M count=32 oflag=direct
check "dust over ram0 with 4 KiB blocks" dmsetup create dust --table "0 $LEN dust /dev/ram0 0 4096" || exit 1
check "bad block $BADB" dust addbadblock $BADB || exit 1
dust quiet >/dev/null
check "enable dust" dust enable || exit 1
check "slow: a 1 s read delay over part of dust" dmsetup create slow --table "0 $SLOW linear /dev/mapper/dust 0
$SLOW 8192 delay /dev/mapper/dust $SLOW 1000
$((SLOW + 8192)) $((LEN - SLOW - 8192)) linear /dev/mapper/dust $((SLOW + 8192))" || exit 1
check "remap target over it" dmsetup create r --table "$TABLE" || exit 1

before=$(fio_iops)
log "fio on healthy blocks before: $before IOPS"
idle=$(status_probes idle)
check "fio measured IOPS before" [ "${before:-0}" -gt 0 ]

dmesg_mark
t0=$(now_cs)
dd if=/dev/mapper/r of=/dev/null bs=4096 skip=$BADB count=1 iflag=direct 2>/tmp/slow-dd.err &
slow=$!
sleep 1   # the read has failed once (>= 1 s) and is being handled
fio_iops >/tmp/during.iops &
fio_pid=$!
worst=$(status_probes "while handled")
wait $fio_pid
during=$(cat /tmp/during.iops)
still=0
kill -0 $slow 2>/dev/null && still=1
wait $slow
rc=$?
t1=$(now_cs)
log "fio on healthy blocks while the failing read was handled: $during IOPS (before: $before)"
log "dmsetup status: slowest ${worst}0 ms of 5 while the error was handled, ${idle}0 ms before"
log "the failing read: exit $rc after $(( (t1 - t0) * 10 )) ms: $(tr '\n' ' ' </tmp/slow-dd.err)"
log "stats: $(msg stats)"
check "the failing read was still being handled when the measurements ended" [ "$still" = 1 ]
check "the failing read fails" [ "$rc" -ne 0 ]
check "it took over 1 s (the slow error is real)" [ $((t1 - t0)) -ge 100 ]
check "dmsetup status answered within 1 s of its idle time (slowest ${worst}0 ms, idle ${idle}0 ms)" \
  [ "$worst" -lt $((idle + 100)) ]
check "fio kept >= 50% of its IOPS ($during vs $before)" [ $((${during:-0} * 2)) -ge "$before" ]
check "remove r" dmsetup remove r
exit 0
