#!/bin/bash
# The guest side of `make test-system`, run by dmremap-test.service once the booted Debian 12
# system is up. Boot 1 installs the dmremap package and the module, writes a dmremaptab line
# (and a nofail line whose spare disk does not exist), puts ext4 on the device, mounts it by
# UUID through fstab and remaps some blocks; boot 2 checks what a reboot must preserve and
# claim, then drives the monitor through spare low water, exhaustion and a spare device failure,
# and reinstalls and purges the package. Results: "PASS name" / "FAIL name: why" on ttyS1.
set -u
T=/root/t
R=/dev/ttyS1
exec >/dev/console 2>&1
say() { echo "$*" >"$R"; echo "== $*"; }
check() {
  local name=$1
  shift
  echo "== check $name: $*"
  if "$@" >/tmp/check.out 2>&1; then
    say "PASS $name"
  else
    say "FAIL $name: $(tr '\n' ' ' </tmp/check.out | cut -c1-400)"
  fi
  cat /tmp/check.out
}
# Waits up to 60 s for a journal line of the monitor with that priority and text; prints the
# number of such lines.
monitor_lines() {
  journalctl -q -o cat -u dmremap-monitor.service -p "$1..$1" --grep "$2" 2>/dev/null | wc -l
}
wait_monitor() {
  for _ in $(seq 60); do
    [ "$(monitor_lines "$1" "$2")" -ge 1 ] && return 0
    sleep 1
  done
  return 1
}
stat_of() { dmsetup message "$1" 0 stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }

phase=$(cat $T/phase 2>/dev/null || echo 1)
say "BOOT phase $phase $(cut -d' ' -f1 /proc/uptime)"

if [ "$phase" = 1 ]; then
  # mkinitramfs under TCG takes many minutes; the initramfs is not what these boots test.
  dpkg-divert --local --rename --add /usr/sbin/update-initramfs
  ln -s /bin/true /usr/sbin/update-initramfs
  check install-package dpkg -i $T/dmremap.deb
  mkdir -p "/lib/modules/$(uname -r)/updates"
  cp $T/dm-remap.ko "/lib/modules/$(uname -r)/updates/" && depmod -a
  cat >/etc/dmremaptab <<'EOF'
# system test
safe /dev/disk/by-id/virtio-dmrdata /dev/disk/by-id/virtio-dmrspare spare_len=8192,spare_low_water=100
miss /dev/disk/by-id/virtio-dmrthird /dev/disk/by-id/virtio-nonexistent nofail,device-timeout=5s
EOF
  echo 'DMREMAP_MONITOR_ARGS="--program /root/t/hook --textfile /run/dmremap.prom"' \
    >/etc/default/dmremap
  printf '#!/bin/sh\necho "$1 $2 $DMREMAP_SPARE_FREE" >>/run/dmremap-hook.log\n' >$T/hook
  chmod +x $T/hook
  systemctl daemon-reload
  check generator-unit test -s /run/systemd/generator/dmremap@safe.service
  check activate systemctl start dmremap@safe.service
  mkfs.ext4 -q /dev/mapper/safe
  uuid=$(blkid -s UUID -o value /dev/mapper/safe)
  echo "$uuid" >$T/uuid
  mkdir -p /mnt/safe
  echo "UUID=$uuid /mnt/safe ext4 defaults 0 2" >>/etc/fstab
  systemctl daemon-reload
  check mount-by-uuid mount /mnt/safe
  head -c 4M /dev/urandom >/mnt/safe/file && sync
  md5sum /mnt/safe/file | cut -d' ' -f1 >$T/md5
  check remap dmsetup message safe 0 remap 80000 3
  dmremap list safe >$T/list1
  echo 2 >$T/phase
  sync
  say "PHASE-DONE 1"
  systemctl reboot
  exit 0
fi

if [ "$phase" = 2 ]; then
  uuid=$(cat $T/uuid)
  echo "== diagnostics"
  cat /etc/fstab
  ls -l /dev/disk/by-uuid /dev/mapper /dev/disk/dmremap/*
  udevadm info -q property /dev/mapper/safe
  systemctl status --no-pager mnt-safe.mount "dev-disk-by\\x2duuid-${uuid//-/\\x2d}.device" \
    dmremap@safe.service local-fs.target
  journalctl -b --no-pager -u mnt-safe.mount -u dmremap@safe.service -u local-fs.target | tail -n 40
  echo "== end of diagnostics"
  check unit-active systemctl is-active dmremap@safe.service
  remap_t=$(systemctl show -P ActiveEnterTimestampMonotonic dmremap@safe.service)
  localfs_t=$(systemctl show -P ActiveEnterTimestampMonotonic local-fs.target)
  check up-before-local-fs test "$remap_t" -gt 0 -a "$remap_t" -le "$localfs_t"
  check mounted-through-mapper test "$(findmnt -n -o SOURCE /mnt/safe)" = /dev/mapper/safe
  check by-uuid-is-mapper test "$(readlink -f "/dev/disk/by-uuid/$uuid")" = \
    "$(readlink -f /dev/mapper/safe)"
  check raw-not-systemd-ready sh -c 'udevadm info -q property /dev/vdb | grep -qx SYSTEMD_READY=0'
  check raw-udisks-ignore sh -c 'udevadm info -q property /dev/vdb | grep -qx UDISKS_IGNORE=1'
  check raw-no-fs-identity sh -c '! udevadm info -q property /dev/vdb | grep -q "^ID_FS_UUID="'
  check raw-device-unit-inactive sh -c \
    'test "$(systemctl show -P ActiveState dev-vdb.device)" != active'
  check raw-not-mounted sh -c '! findmnt -n -S /dev/vdb'
  check blkid-tells-truth sh -c "blkid -p -s UUID -o value /dev/vdb | grep -qx $uuid"
  check remaps-survive sh -c "dmremap list safe | cmp - $T/list1"
  check data-survives sh -c "md5sum /mnt/safe/file | cut -d' ' -f1 | cmp - $T/md5"
  check nofail-unit-failed systemctl is-failed dmremap@miss.service
  check nofail-journal-says-why sh -c \
    'journalctl -b -u dmremap@miss.service | grep "spare device /dev/disk/by-id/virtio-nonexistent not found after waiting 5 s"'
  check boot-completed sh -c 'systemctl is-system-running --wait | grep -qx degraded'

  # The monitor.
  check monitor-active systemctl is-active dmremap-monitor.service
  check monitor-textfile grep -qx 'dmremap_remapped_blocks{device="safe"} 3' /run/dmremap.prom
  free=$(stat_of safe spare_free)
  t0=$(date +%s.%N)
  dmsetup message safe 0 remap 100000 $((free - 100)) >/dev/null
  check low-water-journal wait_monitor 4 'safe: spare blocks low'
  t1=$(date +%s.%N)
  say "TIME low-water-event $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
  check low-water-once test "$(monitor_lines 4 'safe: spare blocks low')" = 1
  check remapped-warning wait_monitor 4 "safe: $((free - 100)) more block\\(s\\) remapped"
  check low-water-program grep -q '^SpareLowWater safe 100$' /run/dmremap-hook.log
  check low-water-textfile grep -qx 'dmremap_spare_free_blocks{device="safe"} 100' /run/dmremap.prom
  dmsetup message safe 0 remap 200000 100 >/dev/null
  check exhausted-journal wait_monitor 2 'safe: no spare blocks left'
  check exhausted-program grep -q '^SpareExhausted safe 0$' /run/dmremap-hook.log
  # A device created while the monitor runs, and its spare device failing under it (an error
  # table swapped under the spare: no spare block accepts the remap's write).
  dmsetup create d3 --table "0 65536 linear /dev/vdd 0"
  dmsetup create s3 --table "0 16384 linear /dev/vdd 65536"
  check create-mon2 dmremap create mon2 /dev/mapper/d3 /dev/mapper/s3
  check new-device-seen wait_monitor 6 'mon2: monitoring'
  dmsetup suspend s3 && dmsetup load s3 --table "0 16384 error" && dmsetup resume s3
  dmsetup message mon2 0 remap 0 >/dev/null 2>&1
  check spare-device-failed-journal wait_monitor 2 'mon2: spare device failed'
  check spare-device-failed-once test "$(monitor_lines 2 'mon2: spare device failed')" = 1
  check spare-device-failed-textfile sh -c \
    'sleep 1; grep -qx "dmremap_spare_ok{device=\"mon2\"} 0" /run/dmremap.prom'
  check spare-device-failed-program grep -q '^SpareDeviceFailed mon2' /run/dmremap-hook.log
  dmremap remove mon2
  check device-removed-seen wait_monitor 5 'mon2: removed'
  check monitor-sigterm systemctl stop dmremap-monitor.service
  check monitor-clean-exit sh -c \
    'test "$(systemctl show -P Result dmremap-monitor.service)" = success && journalctl -b -u dmremap-monitor.service | grep -q "stopping on Terminated"'

  # Upgrade (reinstall) and purge: the device and its mount stay up, the claim goes.
  check reinstall dpkg -i $T/dmremap.deb
  check up-after-reinstall test "$(findmnt -n -o SOURCE /mnt/safe)" = /dev/mapper/safe
  check purge dpkg --purge dmremap
  check purge-removes-conffiles test ! -e /etc/dmremaptab -a ! -e /etc/default/dmremap
  check purge-removes-rule test ! -e /lib/udev/rules.d/61-dmremap.rules
  udevadm settle
  check purge-releases-claim sh -c '! udevadm info -q property /dev/vdb | grep -qx SYSTEMD_READY=0'
  check up-after-purge test "$(findmnt -n -o SOURCE /mnt/safe)" = /dev/mapper/safe
  echo 3 >$T/phase
  sync
  say "PHASE-DONE 2"
  systemctl poweroff
  exit 0
fi
say "FAIL phase: unexpected phase $phase"
systemctl poweroff
