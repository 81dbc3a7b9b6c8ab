#!/bin/sh
# vmtest: timeout=420
# Power cuts at random moments while remaps happen. The data device (brd -> dm-dust -> pdata) and
# the spare device (brd -> pspare) each sit under a dm-linear layer that is swapped for dm-flakey
# drop_writes at the cut (the flakey tables are loaded beforehand; the cut is suspend --nolockfs
# of both, then resume of both): from then on every write is acknowledged and thrown away, as
# when the power goes. dm-remap (pc) runs on top with, at once: manual `remap` messages (single
# and count forms) on data fio wrote and fsynced, a writer of checksummed 64 KiB batches with
# fsync (conv=fsync) across blocks that dust fails on write (automatic remaps before the write
# is acknowledged), and a fio load with fsync across more such blocks. At the cut the test keeps
# only what was acknowledged before it: the `list` and `stats` replies, the replies to remap
# messages and the batches whose dd had returned. Then it removes pc, puts plain linear tables
# back and creates pc again from what reached the disks; the next cut continues from there, so
# remaps accumulate over the cuts. Each cut proves:
#   - every `list` line from before the cut (except blocks shown "moving", not yet committed) and
#     every acknowledged remap (with its spare block) is there, the metadata is ok and seq and
#     remapped are not behind the pre-cut stats;
#   - the fio region (written and fsynced before the first cut) reads back unchanged (md5 at
#     every cut, fio's crc32c --verify_only at every 5th), the blocks remapped by message
#     included: each copy reached the spare before its ack;
#   - every acknowledged batch reads back with its md5, and each dust-bad block in it is
#     remapped: a write acknowledged through an automatic remap survives the cut.
# After the last cut fio writes and verifies the whole device.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

CUTS=${VMT_CUTS:-20}
# A debug kernel (KASAN + lockdep under TCG, ~6x slower): 5 cuts fit the time limit.
if [ "${VMT_DEBUG:-0}" = 1 ] && [ -z "${VMT_CUTS:-}" ]; then CUTS=5; fi
LEN=32768           # 16 MiB of data: 4096 blocks of 4 KiB
SPARE_LEN=8192      # 4 MiB of spare
ABLOCKS=512         # region A, blocks 0..511: fio data, fsynced before the remaps start
CSTART=1024         # region C, blocks 1024..2047: checksummed batches of 16 blocks
CBATCHES=64
BSTART=2048         # region B, blocks 2048..4095: fio load with fsync
TABLE="0 $LEN remap /dev/mapper/pdata 0 /dev/mapper/pspare 0 $SPARE_LEN"
SEED=${VMT_SEED:-$(date +%s)}

msg() { dmsetup message pc 0 -- "$@"; }
stat_of() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
rnd() {  # n: R becomes a number in 0..n-1 from the seed (repeatable choices; timing is not)
  SEED=$(( (SEED * 1103515245 + 12345) % 2147483648 ))
  R=$(( SEED / 65536 % $1 ))
}
# list_all: the whole list, page by page. A reply holds as many whole lines as dmsetup's buffer
# takes (~16 KiB: 30-scale lists 105546 lines in ~140 pages), so a page of less than 8 KiB is
# the last one and saves a dmsetup call (~0.1 s under TCG).
list_all() {
  local first=0 page last
  while :; do
    page=$(msg list "$first") || return 1
    [ -n "$page" ] || return 0
    printf '%s\n' "$page"
    [ ${#page} -ge 8192 ] || return 0
    last=$(printf '%s\n' "$page" | tail -n 1)
    first=$((${last%% *} + 1))
  done
}
# shellcheck disable=SC2317 # called through check
not_behind() {  # pre-cut stats, post-cut stats: seq and remapped did not go back
  [ "$(stat_of "$2" seq)" -ge "$(stat_of "$1" seq)" ] &&
    [ "$(stat_of "$2" remapped)" -ge "$(stat_of "$1" remapped)" ]
}
# shellcheck disable=SC2317 # called through check
linear() { echo "0 $(dev_sectors "$2") linear $2 0" | dmsetup "$1" "$3"; }
# shellcheck disable=SC2317 # called through check
setup_lower() {  # brd -> pdust -> pdata, brd -> pspare
  dmsetup create pdust --table "0 $LEN dust /dev/ram0 0 4096" &&
    dmsetup message pdust 0 enable &&
    linear create /dev/mapper/pdust pdata &&
    linear create /dev/ram1 pspare
}
# shellcheck disable=SC2317 # called through check
load_cut() {  # the drop_writes tables, inactive until the cut
  echo "0 $(dev_sectors /dev/mapper/pdust) flakey /dev/mapper/pdust 0 0 1 1 drop_writes" |
    dmsetup load pdata &&
    echo "0 $(dev_sectors /dev/ram1) flakey /dev/ram1 0 0 1 1 drop_writes" | dmsetup load pspare
}
# shellcheck disable=SC2317 # called through check
cut_power() {  # both lower devices start dropping writes; everything above keeps running
  dmsetup suspend --nolockfs pdata && dmsetup suspend --nolockfs pspare &&
    dmsetup resume pdata && dmsetup resume pspare
}
# shellcheck disable=SC2317 # called through check
restore_power() {
  linear load /dev/mapper/pdust pdata && linear load /dev/ram1 pspare &&
    dmsetup resume pdata && dmsetup resume pspare &&
    [ "$(dmsetup table | grep -Ec '^(pdata|pspare): 0 [0-9]+ linear ')" = 2 ]
}
# shellcheck disable=SC2317 # called through check
region_a_md5() { dd if=/dev/mapper/pc bs=65536 count=$((ABLOCKS / 16)) iflag=direct 2>/dev/null | md5sum; }
# shellcheck disable=SC2317 # called through check
fio_a() {  # args...: region A, crc32c (its header names the offset: a wrong block fails)
  fio --name=a --filename=/dev/mapper/pc --size=$((ABLOCKS * 4096)) --rw=write --bs=64k \
    --direct=1 --ioengine=libaio --iodepth=4 --verify=crc32c --randseed=87 \
    --eta=never "$@" --output=/tmp/pc/a.out
  local rc=$?
  [ "$rc" -eq 0 ] && grep -q 'err= *0:' /tmp/pc/a.out &&
    ! fio_complaint /tmp/pc/a.out && return 0
  sed 's/^/#   /' /tmp/pc/a.out | head -n 30
  return 1
}

# ---- the workload (background; each loop records an acknowledgement only after it got it) ----
remap_loop() {
  local b r
  while [ ! -e /tmp/pc/stop ]; do
    rnd $((ABLOCKS - 4))
    b=$R
    rnd 48
    if [ $R -lt 8 ]; then
      r=$(dmsetup message pc 0 remap $((b * 8)) 4 2>/dev/null) && echo "$b 4 $r" >>/tmp/pc/ack.remap
    else
      r=$(dmsetup message pc 0 remap $((b * 8 + R % 8)) 2>/dev/null) && echo "$b 1 $r" >>/tmp/pc/ack.remap
    fi
  done
}
writer_loop() {
  local k=0
  while [ ! -e /tmp/pc/stop ] && [ $k -lt $CBATCHES ]; do
    head -c 65536 /dev/urandom >/tmp/pc/c.bin || break
    dd if=/tmp/pc/c.bin of=/dev/mapper/pc bs=65536 seek=$((CSTART / 16 + k)) count=1 oflag=direct \
      conv=fsync 2>/dev/null && echo "$k $(md5sum </tmp/pc/c.bin | cut -d' ' -f1)" >>/tmp/pc/ack.batch
    k=$((k + 1))
  done
}

# ---- checks after a cut ----
# The checks read the list once and compare in one awk each: a process per line would cost
# seconds per cut under TCG.
# shellcheck disable=SC2317 # called through check
lines_kept() {  # file with list lines from before the cut: each is in the list now
  list_all >/tmp/pc/list.after || return 1
  awk 'FILENAME == ARGV[1] { now[$0] = 1; next }
       $3 != "moving" && !($0 in now) { print "# list line \047" $0 "\047 from before the cut is gone"; bad = 1 }
       END { exit bad }' /tmp/pc/list.after "$1"
}
# shellcheck disable=SC2317 # called through check
acked_remaps_kept() {  # acknowledged replies: "<b> 1 <block> <spare>" or "<b> 4 remapped=..."
  awk 'FILENAME == ARGV[1] { st[$1] = $2 " " $3; next }
       $2 == 1 && st[$3] != $4 " remapped" {
         print "# acknowledged remap \047" $3 " " $4 "\047 is \047" st[$3] "\047 after the cut"; bad = 1 }
       $2 == 4 && $3 !~ /^remapped=/ { print "# odd reply: " $0; bad = 1 }
       $2 == 4 { for (i = 0; i < 4; i++) if (st[$1 + i] !~ / remapped$/) {
         print "# block " ($1 + i) " of an acknowledged \047remap " ($1 * 8) " 4\047 is \047" st[$1 + i] "\047"; bad = 1 } }
       END { exit bad }' /tmp/pc/list.after /tmp/pc/snap.remap
}
# shellcheck disable=SC2317 # called through check
batches_verify() {  # acknowledged batches read back; their dust-bad blocks are remapped
  local k sum got b need="" bad=0
  while read -r k sum; do
    got=$(dd if=/dev/mapper/pc bs=65536 skip=$((CSTART / 16 + k)) count=1 iflag=direct 2>/dev/null |
          md5sum | cut -d' ' -f1)
    [ "$got" = "$sum" ] || { log "batch $k (blocks $((CSTART + 16 * k))..): md5 $got, acknowledged $sum"; bad=1; }
    for b in $cbad; do
      if [ "$b" -ge $((CSTART + 16 * k)) ] && [ "$b" -lt $((CSTART + 16 * k + 16)) ]; then
        need="$need $b"
        auto_acked=$((auto_acked + 1))
      fi
    done
  done </tmp/pc/snap.batch
  [ -z "$need" ] || log "dust-bad blocks in acknowledged batches:$need"
  echo "$need" | awk 'FILENAME == ARGV[1] { st[$1] = $3; next }
    { for (i = 1; i <= NF; i++) if (st[$i] != "remapped") {
        print "# dust-bad block " $i " of an acknowledged batch is not remapped after the cut"; bad = 1 } }
    END { exit bad }' /tmp/pc/list.after - || bad=1
  return "$bad"
}

work_pids="" fio_pid=""
# shellcheck disable=SC2317 # called through check
stop_workload() {  # ends the loops (at their next turn) and fio; fails if one does not end in 60 s
  local n=0 p alive
  touch /tmp/pc/stop
  # SIGKILL: fio 3.33 sometimes deadlocks in its own futexes on SIGTERM (seen once in ~60 cuts,
  # with no task blocked in the kernel). Its data is not checked, and a process with I/O stuck
  # in the kernel would still not exit (exit waits for its AIO), so the check below still holds.
  [ -z "$fio_pid" ] || kill -KILL "$fio_pid" 2>/dev/null
  while :; do
    alive=""
    for p in $work_pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -n "$alive" ] || break
    if [ "$n" -ge 600 ]; then
      log "still running 60 s after the cut:$alive; their children, states and kernel stacks:"
      for p in $alive $(for q in $alive; do cat /proc/"$q"/task/*/children 2>/dev/null; done); do
        log "pid $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null) state $(sed -n 's/^State:[[:space:]]*//p' /proc/"$p"/status 2>/dev/null)"
        sed 's/^/#     /' /proc/"$p"/stack 2>/dev/null
      done
      echo w >/proc/sysrq-trigger   # blocked (D state) tasks with their stacks, into the kernel log
      dmesg | tail -n 80 | sed 's/^/#   /'
      return 1
    fi
    usleep 100000
    n=$((n + 1))
  done
  wait
  work_pids="" fio_pid=""
}
cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove pc pdata pspare pdust"
cleanup_push "stop_workload; for p in \$work_pids; do kill -KILL \$p; done"
cleanup_push "unload_module dm_remap"

log "seed $SEED (VMT_SEED=$SEED at the top of this script repeats the choices; the cut timing still varies)"
mkdir -p /tmp/pc
check "ramdisks" brd_setup 2 16384 || exit 1
check "dm-dust loads" load_dm_dust || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "lower devices: pdata (linear over dust over ram0), pspare (linear over ram1)" setup_lower || exit 1

cbad=""
check "create pc" dmsetup create pc --table "$TABLE" || exit 1
check "fio writes region A (blocks 0..$((ABLOCKS - 1))) and fsyncs it" fio_a --end_fsync=1 || exit 1
a_md5=$(region_a_md5)
total_remaps=0 total_batches=0 total_list=0 auto_acked=0 auto_pre=0 manual_pre=0
cut=1
while [ $cut -le "$CUTS" ]; do
  c="cut $cut/$CUTS"
  rm -f /tmp/pc/stop /tmp/pc/ack.* /tmp/pc/snap.*
  : >/tmp/pc/ack.remap
  : >/tmp/pc/ack.batch
  # New dust-bad blocks: 2 in region C (cbad keeps them all: one not written yet fails in a later
  # cut's batch), 1 in region B. A block picked twice is refused by dust, harmlessly.
  rnd 1024
  b1=$((CSTART + R))
  rnd 1024
  b2=$((CSTART + R))
  rnd 2048
  for b in $b1 $b2 $((BSTART + R)); do dmsetup message pdust 0 addbadblock "$b" 255 2>/dev/null; done
  cbad="$cbad $b1 $b2"
  check "$c: drop_writes tables loaded (inactive)" load_cut || break

  # The workload, then the cut at a random moment once something was acknowledged.
  remap_loop &
  work_pids=$!
  writer_loop &
  work_pids="$work_pids $!"
  fio --name=load --filename=/dev/mapper/pc --offset=$((BSTART * 4096)) --size=$(((4096 - BSTART) * 4096)) \
    --rw=randwrite --bs=16k --direct=1 --ioengine=libaio --iodepth=4 --fsync=4 --time_based \
    --runtime=60 --thread --eta=never --output=/dev/null &
  fio_pid=$!
  work_pids="$work_pids $!"
  n=0
  while { [ ! -s /tmp/pc/ack.remap ] || [ ! -s /tmp/pc/ack.batch ]; } && [ $n -lt 100 ]; do usleep 20000; n=$((n + 1)); done
  rnd 1200
  usleep $((R * 1000))
  # What was acknowledged before the cut: replies first, then the cut.
  pre_stats=$(msg stats)
  list_all >/tmp/pc/snap.list
  cp /tmp/pc/ack.remap /tmp/pc/snap.remap
  cp /tmp/pc/ack.batch /tmp/pc/snap.batch
  check "$c: power cut (pdata and pspare drop writes)" cut_power || break
  check "$c: the workload ends after the cut (no I/O stuck)" stop_workload || exit 1
  n_remap=$(wc -l </tmp/pc/snap.remap)
  n_batch=$(wc -l </tmp/pc/snap.batch)
  n_list=$(wc -l </tmp/pc/snap.list)
  log "$c: before the cut: $n_remap remap replies, $n_batch batches, $n_list list lines; $pre_stats"
  auto_pre=$((auto_pre + $(stat_of "$pre_stats" auto_remaps)))
  manual_pre=$((manual_pre + $(stat_of "$pre_stats" manual_remaps)))

  check "$c: remove pc (its last writes are dropped too)" dmsetup remove pc
  check "$c: lower tables back to plain linear" restore_power || break
  check "$c: create pc again from what reached the disks" dmsetup create pc --table "$TABLE" || break
  post_stats=$(msg stats)
  check "$c: every list line from before the cut is there" lines_kept /tmp/pc/snap.list
  check "$c: every acknowledged remap message is there ($n_remap)" acked_remaps_kept
  check_eq "$c: metadata ok, nothing lost" "ok 0" "$(stat_of "$post_stats" metadata) $(stat_of "$post_stats" lost)"
  check "$c: seq and remapped not behind the pre-cut stats" not_behind "$pre_stats" "$post_stats"
  # fio's own verify every 5th cut (a fio start costs ~1.5 s under TCG); the md5 of the region,
  # which nothing writes after the first fill, at every cut.
  check_eq "$c: region A reads back unchanged (md5), remapped blocks included" "$a_md5" "$(region_a_md5)"
  [ $((cut % 5)) != 0 ] || check "$c: region A verifies (fio --verify_only)" fio_a --verify_only
  check "$c: acknowledged batches read back and their bad blocks are remapped ($n_batch)" batches_verify
  total_remaps=$((total_remaps + n_remap))
  total_batches=$((total_batches + n_batch))
  total_list=$((total_list + n_list))
  cut=$((cut + 1))
done
check_eq "all $CUTS cuts ran" "$((CUTS + 1))" "$cut"
log "over all cuts: $total_remaps acknowledged remap replies, $total_batches batches, $total_list list lines," \
  "$auto_acked bad blocks in acknowledged batches; stats before the cuts: auto_remaps $auto_pre, manual_remaps $manual_pre"
check "the cuts caught acknowledged manual remaps ($total_remaps)" [ "$total_remaps" -gt 0 ]
check "the cuts caught writes acknowledged through automatic remaps ($auto_acked)" [ "$auto_acked" -gt 0 ]
check "automatic remaps happened before the cuts ($auto_pre)" [ "$auto_pre" -gt 0 ]
check "manual remaps happened before the cuts ($manual_pre)" [ "$manual_pre" -gt 0 ]

# ---- after the last cut: the device works end to end ----
check "fio writes and verifies all of pc after the last cut" fio --name=all --filename=/dev/mapper/pc \
  --rw=write --bs=64k --direct=1 --ioengine=libaio --iodepth=4 --verify=crc32c --eta=never --output=/tmp/pc/all.out
grep -E 'err=' /tmp/pc/all.out | sed 's/^/# /'
check_eq "metadata ok after all that" ok "$(stat_of "$(msg stats)" metadata)"
check "remove pc" dmsetup remove pc
check "remove the lower devices" dmsetup remove pdata pspare pdust
exit 0
