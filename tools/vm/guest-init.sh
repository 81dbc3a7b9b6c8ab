#!/bin/sh
# PID 1 of the dm-remap test VM, copied by tools/vm/run-tests.sh into the per-run cpio as /init.
# Everything for the host goes to ttyS1 (the results UART); the console on ttyS0 is only a log.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:/vmtest/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/shm /tmp /run
mount -t tmpfs tmpfs /dev/shm
# No udev in the guest: dmsetup must create its /dev/mapper nodes itself.
DM_DISABLE_UDEV=1
HOME=/root
export DM_DISABLE_UDEV HOME
. /vmtest/config
VMT_LIB=/vmtest/lib.sh
export VMT_TIMEOUT VMT_LIB DM_REMAP_KO DM_REMAP_DEPS
if [ -n "${DM_DUST_KO:-}" ]; then export DM_DUST_KO; fi
# Boots of a multi-boot test: which boot this is, and its disk image as /dev/vda.
if [ -n "${VMT_BOOT:-}" ]; then export VMT_BOOT VMT_BOOTS; fi
if [ -n "${VMT_DISK:-}" ]; then
  modprobe virtio_pci && modprobe virtio_blk || echo "vmtest: cannot load the virtio modules"
  n=50
  while [ ! -b "$VMT_DISK" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  [ -b "$VMT_DISK" ] || echo "vmtest: no $VMT_DISK"
  export VMT_DISK
fi

if ! exec 9>/dev/ttyS1; then
  echo "vmtest: cannot open /dev/ttyS1"
  poweroff -f
fi
# raw: no \n -> \r\n translation, so the host sees the bytes the tests wrote.
stty -F /dev/ttyS1 115200 raw -echo
# A debug kernel (tools/debug-kernel) has kmemleak: it scans after each test and sends what it
# found to the host. kmemleak reports an object only when a scan finds it unreferenced with the
# same content (checksum) as at the scan before, so each check is two scans (~5-13 s each under
# TCG). Objects younger than 5 s are not reported yet: a leak made at the very end of a test
# shows up at the next check (the final one at the latest).
KMEMLEAK=/sys/kernel/debug/kmemleak
if [ -w "$KMEMLEAK" ]; then debug=1; else debug=0; fi
VMT_DEBUG=$debug   # tests may scale down on a debug kernel (KASAN + lockdep under TCG is slow)
export VMT_DEBUG
if [ "$debug" = 1 ]; then
  # Leak backtraces are symbolised when they are read, after the test unloaded its module: log
  # where dm_remap's code sections are whenever that changes, so the host can name those frames.
  # (A watcher, because busybox sh runs its own insmod applet whatever PATH says.)
  # The section files answer only a read from offset 0 (so no shell "read"), and a cat per poll
  # would cost a process: they are read once each time the module (re)appears.
  (
    logged=0
    while :; do
      if [ ! -e /sys/module/dm_remap/sections ]; then
        logged=0
      elif [ "$logged" = 0 ]; then
        for sect in .text .text.unlikely .init.text; do
          f=/sys/module/dm_remap/sections/$sect
          [ ! -e "$f" ] || echo "vmtest: module dm_remap $sect $(cat "$f")" >/dev/kmsg
        done
        logged=1
      fi
      sleep 0.2
    done
  ) </dev/null >/dev/null 2>&1 &
fi
kmemleak_scan() {  # label: report new leak suspects, then forget them
  [ "$debug" = 1 ] || return 0
  echo scan >"$KMEMLEAK" && echo scan >"$KMEMLEAK" || echo "vmtest: kmemleak scan failed"
  cat "$KMEMLEAK" >/tmp/kmemleak.out 2>&1
  if [ -s /tmp/kmemleak.out ]; then
    echo "@@KMEMLEAK-BEGIN $1" >&9
    cat /tmp/kmemleak.out >&9
    echo "@@KMEMLEAK-END $1" >&9
  fi
  echo clear >"$KMEMLEAK"
}
echo "@@BOOT $(uname -r) boot=${VMT_BOOT:-1} debug=$debug uptime=$(cut -d' ' -f1 /proc/uptime)" >&9
# What the kernel leaked while booting is not the tests' doing.
if [ "$debug" = 1 ]; then kmemleak_scan boot; fi

for t in $VMT_TESTS; do
  name=${t%.sh}
  echo "vmtest: running $name"
  echo "vmtest: begin $name" >/dev/kmsg
  echo "@@BEGIN $name" >&9
  t0=$(date +%s)
  # Own session, so a timeout can take down everything the test started, not just its shell;
  # -k: a test that ignores SIGTERM still gets SIGKILL.
  VMT_TEST=$name timeout -s TERM -k 10 "$VMT_TIMEOUT" setsid sh "/vmtest/tests/$t" </dev/null >&9 2>&1 9>&- &
  pid=$!
  wait "$pid"
  rc=$?
  kill -KILL -- "-$pid" 2>/dev/null
  secs=$(( $(date +%s) - t0 ))
  status=ok
  [ "$rc" -eq 0 ] || status=fail
  if [ "$rc" -ge 128 ] && [ "$secs" -ge "$VMT_TIMEOUT" ]; then status=timeout; fi
  echo "vmtest: end $name rc=$rc" >/dev/kmsg
  # A test killed by its timeout (or one that failed early) may leave devices and modules
  # behind: clear them so the next test starts from a clean kernel, not from its leftovers.
  if dmsetup ls 2>/dev/null | grep -qv '^No devices found' || [ -d /sys/module/dm_remap ]; then
    echo "vmtest: $name left devices or modules behind: removing them"
    dmsetup remove_all --force >/dev/null 2>&1
    for m in dm_remap dm_dust brd scsi_debug null_blk; do
      [ ! -d "/sys/module/$m" ] || rmmod "$m" 2>/dev/null || true
    done
  fi
  echo "@@DONE $name $rc $status $secs" >&9
  echo "vmtest: $name: $status (rc=$rc, ${secs}s)"
  kmemleak_scan "$name"
done
# The KUnit module runs its suites while it loads; the results stay in debugfs until it unloads.
if [ -n "${VMT_KUNIT:-}" ]; then
  echo "vmtest: running the KUnit suites"
  echo "vmtest: begin kunit" >/dev/kmsg
  echo "@@KUNIT-BEGIN" >&9
  t0=$(date +%s)
  # The glue suite runs the target's callbacks on two fresh 16 MiB ramdisks. insmod does not
  # load dependencies: the module's own (VMT_KUNIT_DEPS: dm-mod, libcrc32c) are loaded here,
  # whether or not a test loaded them before.
  rmmod brd 2>/dev/null
  for m in $VMT_KUNIT_DEPS; do
    modprobe "$m" || echo "vmtest: cannot load $m, which the KUnit module needs"
  done
  modprobe brd rd_nr=2 rd_size=16384 || echo "vmtest: cannot load brd for the KUnit glue suite"
  insmod "$VMT_KUNIT" >/tmp/kunit-insmod.out 2>&1
  rc=$?
  for d in /sys/kernel/debug/kunit/*/; do
    [ -f "$d/results" ] || continue
    s=$(basename "$d")
    echo "@@KTAP-BEGIN $s" >&9
    cat "$d/results" >&9
    echo "@@KTAP-END $s" >&9
  done
  [ "$rc" -ne 0 ] || rmmod "$VMT_KUNIT" || rc=$?
  rmmod brd 2>/dev/null
  echo "vmtest: end kunit rc=$rc" >/dev/kmsg
  echo "@@KUNIT-END $rc $(( $(date +%s) - t0 )) $(tr '\n' ' ' </tmp/kunit-insmod.out)" >&9
  kmemleak_scan kunit
fi
if [ "$debug" = 1 ]; then
  # Leaks younger than the minimum age at the last test's scan.
  sleep 5
  kmemleak_scan after-all
fi

echo "@@DMESG-BEGIN" >&9
dmesg -s 8388608 >&9   # all of it: busybox reads only the last 16 KiB by default
echo "@@DMESG-END" >&9
# The last close of the tty waits until the UART has sent everything; poweroff would not.
exec 9>&-
echo "@@ALL-DONE" >/dev/ttyS1
# Whatever a test left in the page cache reaches the disk image before the power goes.
sync
sleep 0.2
poweroff -f
