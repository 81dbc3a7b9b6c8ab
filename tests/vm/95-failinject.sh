#!/bin/sh
# Kernel fault injection (the debug kernel of `make test-debug`; Debian's kernel has none, and
# the test is skipped there):
# - Allocation failures in the constructor path: `dmsetup create` is run once per allocation it
#   makes in the kernel, with exactly that allocation failed (the task's fail-nth, FAILSLAB).
#   Every run either creates a working target or fails with a clear error and leaves nothing
#   behind; kmemleak (the runner's scan after the test) proves no run leaked.
# - The same for a `remap` message: it is acknowledged only if the block was remapped and
#   persisted (checked after a reload), and a refused one changed nothing.
# - Failed metadata I/O (FAIL_MAKE_REQUEST on the spare device): the remap is refused, the
#   target goes to metadata=failed with a dm event, reads and writes go on, and a reload once
#   the device works again finds the last good commit.
# - A write error that does not repeat: the write succeeds without a remap.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

FS=/sys/kernel/debug/failslab
FMR=/sys/kernel/debug/fail_make_request
[ -d $FS ] && [ -d $FMR ] ||
  skip_test "this kernel has no FAILSLAB / FAIL_MAKE_REQUEST (make test-debug runs it)"

TABLE="0 65536 remap /dev/ram0 0 /dev/ram1 0 16384"
MAX_NTH=3000   # a bound on the sweeps (a create makes a few hundred allocations)
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
metadata_state() { dmsetup status r | cut -d' ' -f8; }   # ok, degraded or failed
forced() { dmesg_since | grep -c 'FAULT_INJECTION: forcing a failure'; }

faults_off() {
  echo 0 >$FS/probability
  echo 0 >$FMR/probability
  for d in /sys/block/ram*/make-it-fail; do echo 0 >"$d"; done
}
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"
cleanup_push "unload_module dm_remap"
cleanup_push "faults_off"

# Only the task given a fail-nth fails, and only that one allocation; GFP_KERNEL allocations
# (which may sleep) are included. verbose=1 logs one line per forced failure, no stack.
echo N >$FS/ignore-gfp-wait
echo N >$FS/task-filter
echo 1 >$FS/verbose
echo 0 >$FS/probability   # fail-nth works without it
echo 1 >$FMR/verbose

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "format the spare area once" sh -c "dmsetup create r --table '$TABLE' && dmsetup remove r" ||
  exit 1

# run_nth N CMD...: runs CMD in a child whose N-th fault-injection point (counted from its
# exec) fails. The child stops itself before exec so fail-nth is set in the exec'd task.
run_nth() {
  local n=$1 pid rc
  shift
  sh -c 'kill -STOP $$; exec "$@"' nth "$@" &
  pid=$!
  while ! grep -q '^State:.*T' /proc/$pid/status 2>/dev/null; do sleep 0.01; done
  echo "$n" >/proc/$pid/task/$pid/fail-nth
  kill -CONT $pid
  wait $pid
  rc=$?
  return $rc
}

# ---- 1. dmsetup create with each of its kernel allocations failed in turn -------------------
# fail-nth counts from the exec, so the first few dozen failures hit exec and dmsetup's own
# start-up; those runs fail before they reach device-mapper, which is fine (and fast).
n=0 created=0 refused=0 bad=0 unclean=0
while [ $n -lt $MAX_NTH ]; do
  n=$((n + 1))
  dmesg_mark
  if run_nth $n dmsetup create r --table "$TABLE" >/tmp/fi.out 2>&1; then
    created=$((created + 1))
    # A created target must be whole: its status answers and a write reads back.
    if [ "$(metadata_state)" != ok ] ||
       ! dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null ||
       ! dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=7 oflag=direct 2>/dev/null ||
       [ "$(dd if=/dev/mapper/r bs=4096 skip=7 count=1 iflag=direct 2>/dev/null | md5sum)" != \
         "$(md5sum </tmp/blk)" ]; then
      bad=$((bad + 1))
      log "nth=$n: created, but the target does not work: $(dmsetup status r 2>&1)"
    fi
    f=$(forced)
    dmsetup remove r || { unclean=$((unclean + 1)); log "nth=$n: cannot remove r"; }
    # Past its last allocation nothing is forced any more: the sweep is complete.
    [ "$f" -gt 0 ] || break
  else
    refused=$((refused + 1))
    if ! dm_absent r; then
      unclean=$((unclean + 1))
      log "nth=$n: create failed ($(tr '\n' ' ' </tmp/fi.out)) but left r behind"
      dm_remove r
    fi
  fi
done
log "create sweep: $n runs, $created created, $refused refused"
check "the create sweep reached the end (a run with no forced failure)" [ $n -lt $MAX_NTH ]
check "some creates were refused by an injected failure" [ $refused -gt 0 ]
check_eq "every created target worked" 0 $bad
check_eq "no failed create left a device behind" 0 $unclean

# ---- 2. a remap message with each of its kernel allocations failed in turn ------------------
check "create r" dmsetup create r --table "$TABLE" || exit 1
n=0 acked=0 refused=0 wrong=0 blk=100   # a block number; messages take sectors
listed() { msg list "$1" 1 | grep "^$1 "; }
while [ $n -lt $MAX_NTH ]; do
  n=$((n + 1))
  dmesg_mark
  before=$(stat_of remapped)
  if run_nth $n dmsetup message r 0 remap $((blk * 8)) >/tmp/fi.out 2>&1; then
    acked=$((acked + 1))
    if [ -z "$(listed $blk)" ] ||
       [ "$(stat_of remapped)" != $((before + 1)) ]; then
      wrong=$((wrong + 1))
      log "nth=$n: remap of block $blk acknowledged but it is not listed"
    fi
    f=$(forced)
    blk=$((blk + 1))
    [ "$f" -gt 0 ] || break
  else
    refused=$((refused + 1))
    if [ -n "$(listed $blk)" ] || [ "$(stat_of remapped)" != "$before" ]; then
      wrong=$((wrong + 1))
      log "nth=$n: remap of block $blk refused but it changed the table: '$(listed $blk)'"
    fi
  fi
  # A commit that failed may have left metadata=failed: that is allowed (and then permanent
  # until a reload), so reload to keep sweeping.
  if [ "$(metadata_state)" != ok ]; then
    log "nth=$n: metadata=$(metadata_state) after the failure; reloading"
    dmsetup suspend r && dmsetup load r --table "$TABLE" && dmsetup resume r ||
      { wrong=$((wrong + 1)); log "nth=$n: reload failed"; }
  fi
done
log "message sweep: $n runs, $acked acknowledged, $refused refused"
check "the message sweep reached the end" [ $n -lt $MAX_NTH ]
check "some remap messages were refused by an injected failure" [ $refused -gt 0 ]
check_eq "every acknowledged remap is in the table, every refused one is not" 0 $wrong
list_before=$(msg list | md5sum)
check "remove and re-create r" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE'"
check_eq "the acknowledged remaps were persisted, nothing else" "$list_before" "$(msg list | md5sum)"

# ---- 3. failed metadata I/O -----------------------------------------------------------------
remapped=$(stat_of remapped)
ev0=$(dmsetup info -c --noheadings -o events r | tr -d ' ')
echo 100 >$FMR/probability
echo -1 >$FMR/times
echo 1 >/sys/block/ram1/make-it-fail   # every bio to the spare device fails from here on
dmesg_mark
check_fails "a remap whose commit cannot be written is refused" msg remap $((5000 * 8))
check_eq "status says metadata failed" failed "$(metadata_state)"
check "a dm event was raised" [ "$(dmsetup info -c --noheadings -o events r | tr -d ' ')" -gt "$ev0" ]
check "the kernel log says why" dmesg_since_has 'remap: .*metadata commit failed'
check_eq "block 5000 is not remapped" "" "$(listed 5000)"
check_fails "further remaps are refused" msg remap $((5001 * 8))
check "writes to the data device still work" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=9 oflag=direct
check_eq "... and read back" "$(md5sum </tmp/blk)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=9 count=1 iflag=direct 2>/dev/null | md5sum)"
echo 0 >/sys/block/ram1/make-it-fail
check "reload once the spare device works again" \
  sh -c "dmsetup suspend r && dmsetup load r --table '$TABLE' && dmsetup resume r"
check_eq "the reload found the last good commit" "$remapped" "$(stat_of remapped)"
check_eq "metadata ok again" ok "$(metadata_state)"
check "and remaps work again" msg remap $((5000 * 8))

# ---- 4. a write error that does not repeat --------------------------------------------------
we=$(stat_of write_errors) ar=$(stat_of auto_remaps)
echo 1 >$FMR/times
echo 1 >/sys/block/ram0/make-it-fail   # the next bio to the data device fails, once
check "a write whose first attempt fails succeeds" \
  dd if=/tmp/blk of=/dev/mapper/r bs=4096 seek=11 oflag=direct
echo 0 >/sys/block/ram0/make-it-fail
check_eq "it was counted as a write error" $((we + 1)) "$(stat_of write_errors)"
check_eq "the retry succeeded, so nothing was remapped" "$ar" "$(stat_of auto_remaps)"
check_eq "the data reads back" "$(md5sum </tmp/blk)" \
  "$(dd if=/dev/mapper/r bs=4096 skip=11 count=1 iflag=direct 2>/dev/null | md5sum)"
check "remove r" dmsetup remove r
