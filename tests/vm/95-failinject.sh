#!/bin/sh
# Kernel fault injection (the debug kernel of `make test-debug`; Debian's kernel has none, and
# the test is skipped there), FAIL_MAKE_REQUEST on one device at a time:
# - Failed metadata I/O (every bio to the spare device fails): a remap is refused, the target
#   goes to metadata=failed with a dm event and a kernel error, reads and writes go on, and a
#   reload once the device works again finds the last good commit.
# - A write error that does not repeat (the next bio to the data device fails, once): the
#   write succeeds without a remap, and is counted.
# - Allocation failures (FAILSLAB through /proc/thread-self/fail-nth, scoped to the task making
#   the ioctl; tests/vm/helpers/dm-failnth.c): the constructor of a reload, a remap message and
#   the read-only messages, with each of their allocations failing in turn. Every failure is a
#   clean error, a failed remap leaves nothing remapped, a succeeded one is listed; afterwards
#   the target works and a reload finds exactly the remaps that succeeded. The runner's kmemleak
#   scan and log watch after the test catch leaks and reports. (fail-nth set from a shell would
#   be spent in exec and dmsetup's own start-up, so the helper arms it and makes the ioctl.)
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

FMR=/sys/kernel/debug/fail_make_request
[ -d $FMR ] || skip_test "this kernel has no FAIL_MAKE_REQUEST (make test-debug runs it)"

TABLE="0 65536 remap /dev/ram0 0 /dev/ram1 0 16384"
msg() { dmsetup message r 0 -- "$@"; }
listed() { msg list "$1" 1 | grep "^$1 "; }   # the list line of block $1, if any
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
metadata_state() { dmsetup status r | cut -d' ' -f8; }   # ok, degraded or failed

faults_off() {
  [ ! -d $FMR ] || echo 0 >$FMR/probability
  for d in /sys/block/ram*/make-it-fail; do echo 0 >"$d"; done
}
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"
cleanup_push "dm_remove f"
cleanup_push "unload_module dm_remap"
cleanup_push "faults_off"

echo 1 >$FMR/verbose   # one log line per forced failure, no stack

check "ramdisks" brd_setup 4 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "create r" dmsetup create r --table "$TABLE" || exit 1
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
check "remap two blocks" msg remap 800 2

# ---- a spare device that fails every write ------------------------------------------------
# No spare block accepts the copy, so the move fails before any commit: that is the spare
# device failing (spare=failed, docs/dm-remap.rst "Spare device failure"), not its blocks, and
# not the metadata (83-metadata-failure fails a commit alone).
remapped=$(stat_of remapped)
ev0=$(dmsetup info -c --noheadings -o events r | tr -d ' ')
echo 100 >$FMR/probability
echo -1 >$FMR/times
echo 1 >/sys/block/ram1/make-it-fail   # every bio to the spare device fails from here on
dmesg_mark
check_fails "a remap whose spare writes fail is refused" msg remap $((5000 * 8))
check_eq "stats says the spare device failed" failed "$(stat_of spare)"
check_eq "nothing was committed: metadata ok" ok "$(metadata_state)"
check_eq "no spare block was retired for it" 0 "$(stat_of bad_spare)"
check "a dm event was raised" [ "$(dmsetup info -c --noheadings -o events r | tr -d ' ')" -gt "$ev0" ]
check "the kernel log says why" dmesg_since_has 'remap: .*the spare device failed'
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
check_eq "and the spare device too" ok "$(stat_of spare)"
check "and remaps work again" msg remap $((5000 * 8))

# ---- a write error that does not repeat --------------------------------------------------
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

# ---- allocation failures (FAILSLAB, one task's allocations in turn) ------------------------
FTABLE="0 65536 remap /dev/ram2 0 /dev/ram3 0 16384"
fmsg() { dmsetup message f 0 -- "$@"; }
fstat() { dmsetup message f 0 stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# A sweep must have made its operation fail at least a few times, or it tested nothing.
sweep() {
  desc=$1
  shift
  out=$(dm-failnth "$@" 2>&1)
  rc=$?
  printf '%s\n' "$out" | tail -n 3 | sed 's/^/# /'
  points=$(printf '%s\n' "$out" | sed -n 's/^swept \([0-9]*\) points: \([0-9]*\) failed.*/\1 \2/p')
  verdict=bad
  if [ "$rc" = 0 ] && [ -n "$points" ] && [ "${points#* }" -ge 1 ]; then verdict=clean; fi
  check_eq "$desc: clean errors, nothing done that was refused (points, failures: $points)" \
    clean "$verdict"
}
if [ -d /sys/kernel/debug/failslab ]; then
  check "create f (metadata on ram3)" dmsetup create f --table "$FTABLE" || exit 1
  for b in 100 200 300 4000; do fmsg remap $((b * 8)) >/dev/null; done
  check_eq "f has four remaps" 4 "$(fstat remapped)"
  sweep "reload constructor with each allocation failing" load f "$FTABLE"
  sweep "remap message with each allocation failing" remap f $((3000 * 8)) 3000
  sweep "stats with each allocation failing" msg f stats
  sweep "list with each allocation failing" msg f list 0 100
  check_eq "f still has its four remaps" 4 "$(fstat remapped)"
  check_eq "metadata ok" ok "$(dmsetup status f | cut -d' ' -f8)"
  check "remap after the sweeps" fmsg remap $((3000 * 8))
  check "reload f" sh -c "dmsetup suspend f && dmsetup load f --table '$FTABLE' && dmsetup resume f"
  check_eq "the reload found all five remaps" 5 "$(fstat remapped)"
  check "remove f" dmsetup remove f
else
  log "no FAILSLAB on this kernel: allocation-failure sweeps skipped"
fi
