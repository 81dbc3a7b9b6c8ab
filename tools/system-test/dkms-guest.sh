#!/bin/bash
# The guest side of `make test-system SYSTEM_TEST_DKMS=1`: the packages' lifecycle with the real
# dm-remap-dkms on the dkms image (build-image.sh KVER dkms), over two boots. The packages and a
# second kernel's .debs come on a disk labelled "debs" (run.sh): v1/ (make deb), v2/ (make
# deb-next, one version up) and k2/ (Debian 12's 6.12 image, headers and kbuild).
# Boot 1 installs v1 (DKMS builds the module for the running kernel), brings a dmremaptab line
# up, remaps blocks and upgrades to v2 with the device active; boot 2 checks the device, its
# remaps and the module after the reboot, installs the second kernel (DKMS builds for it too),
# then removes and purges both packages. Results: "PASS name" / "FAIL name: why" on ttyS1.
set -u
T=/root/t
R=/dev/ttyS1
D=/mnt/debs
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
timed() {  # label cmd...: runs cmd, says how long it took
  local label=$1 t0 rc
  shift
  t0=$(date +%s)
  "$@"
  rc=$?
  say "TIME $label $(( $(date +%s) - t0 )) s"
  return $rc
}
kver=$(uname -r)
ver() { dpkg-deb -f "$(ls $D/"$1"/dm-remap-dkms_*.deb)" Version | sed 's/-[^-]*$//'; }
# "dm-remap/V, K, x86_64: installed" (dkms 3.0's format) for that version and kernel.
dkms_installed() { dkms status dm-remap | grep -q "^dm-remap/$1, $2, [^:]*: installed"; }
# The module DKMS installed for kernel K (dm-remap.ko, or .ko.xz where the kernel compresses its
# modules, as Debian's 6.12 does); "none" when there is none.
ko() {
  local f
  for f in "/lib/modules/$1/updates/dkms/dm-remap.ko"*; do
    [ -e "$f" ] && { echo "$f"; return; }
  done
  echo none
}
# The module the kernel runs is the file DKMS installed for it (same srcversion).
loaded_is_dkms() { test "$(cat /sys/module/dm_remap/srcversion)" = "$(modinfo -F srcversion "$(ko "$kver")")"; }
# The installed module is v2's build, installed after the upgrade started.
module_rebuilt() {
  local f
  f=$(ko "$kver")
  test "$(stat -c %Y "$f")" -ge "$(cat $T/upgrade-start)" &&
    cmp "$f" "/var/lib/dkms/dm-remap/$v2/$kver/x86_64/module/${f##*/}"
}
# Files (not directories: those may be shared) the packages owned that are still there.
owned_left() {
  local f left=0
  while read -r f; do
    if [ -e "$f" ] && [ ! -d "$f" ]; then echo "left: $f"; left=1; fi
  done <$T/owned
  return $left
}

mkdir -p $D
mount -o ro /dev/disk/by-label/debs $D || say "FAIL debs-disk: cannot mount it"
phase=$(cat $T/phase 2>/dev/null || echo 1)
say "BOOT dkms phase $phase $(cut -d' ' -f1 /proc/uptime)"
v1=$(ver v1)
v2=$(ver v2)

if [ "$phase" = 1 ]; then
  # mkinitramfs under TCG takes many minutes; the initramfs is not what these boots test.
  dpkg-divert --local --rename --add /usr/sbin/update-initramfs
  ln -s /bin/true /usr/sbin/update-initramfs
  check install-dkms-and-tool timed install dpkg -i $D/v1/dm-remap-dkms_*.deb $D/v1/dmremap_*.deb
  check dkms-built-v1 dkms_installed "$v1" "$kver"
  check module-file-v1 sh -c "modinfo -F vermagic '$(ko "$kver")' | grep -q '^$kver '"
  cat >/etc/dmremaptab <<'EOF2'
safe /dev/disk/by-id/virtio-dmrdata /dev/disk/by-id/virtio-dmrspare spare_len=8192
EOF2
  systemctl daemon-reload
  check activate-from-dkms-module systemctl start dmremap@safe.service
  check module-loaded-from-dkms loaded_is_dkms
  head -c 1M /dev/urandom >$T/data
  dd if=$T/data of=/dev/mapper/safe bs=1M seek=8 oflag=direct status=none
  check remap-under-data dmsetup message safe 0 remap 16384 3
  dmremap list safe >$T/list1
  md5sum <$T/data >$T/md5
  sleep 1
  date +%s >$T/upgrade-start
  check upgrade-with-device-active timed upgrade dpkg -i $D/v2/dm-remap-dkms_*.deb $D/v2/dmremap_*.deb
  check upgraded-versions sh -c "dpkg-query -W -f='\${Version} ' dm-remap-dkms dmremap | grep -qx '$v2-[^ ]* $v2-[^ ]* '"
  check device-up-across-upgrade sh -c 'dmsetup status safe | grep -q " remap "'
  check dkms-built-v2 dkms_installed "$v2" "$kver"
  check dkms-v1-gone sh -c "! dkms status dm-remap | grep -q '^dm-remap/$v1,' && test ! -e /usr/src/dm-remap-$v1"
  check module-file-rebuilt module_rebuilt
  echo 2 >$T/phase
  sync
  say "PHASE-DONE dkms1"
  systemctl reboot
  exit 0
fi

if [ "$phase" = 2 ]; then
  check unit-back-after-upgrade systemctl is-active dmremap@safe.service
  check module-loaded-is-v2-build loaded_is_dkms
  check dkms-v2-after-reboot dkms_installed "$v2" "$kver"
  check remaps-survive-upgrade sh -c "dmremap list safe | cmp - $T/list1"
  check data-survives-upgrade sh -c \
    "dd if=/dev/mapper/safe bs=1M skip=8 count=1 iflag=direct status=none | md5sum | cmp - $T/md5"
  check remap-after-upgrade dmsetup message safe 0 remap 90000
  # A second supported kernel: its packages install, and DKMS builds the module for it.
  k2=$(dpkg-deb -f "$(ls $D/k2/linux-image-*.deb)" Package | sed 's/^linux-image-//')
  check install-second-kernel timed second-kernel dpkg -i $D/k2/*.deb
  check dkms-built-second-kernel dkms_installed "$v2" "$k2"
  check dkms-still-first-kernel dkms_installed "$v2" "$kver"
  check module-file-second-kernel sh -c "modinfo -F vermagic '$(ko "$k2")' | grep -q '^$k2 '"
  dkms status
  # Remove: DKMS forgets the module, the tool's files go, the configuration stays (conffiles).
  dpkg-query -L dm-remap-dkms dmremap | sort -u >$T/owned
  echo '# kept on remove' >>/etc/dmremaptab
  check remove timed remove dpkg -r dmremap dm-remap-dkms
  check remove-dkms-empty sh -c 'test -z "$(dkms status dm-remap)"'
  check remove-module-files sh -c "test $(ko "$kver") = none -a $(ko "$k2") = none -a ! -e /var/lib/dkms/dm-remap"
  check remove-keeps-conffiles sh -c \
    'grep -q "kept on remove" /etc/dmremaptab && test -e /etc/default/dmremap && dpkg-query -W -f="\${db:Status-Status}" dmremap | grep -qx config-files'
  check device-up-after-remove sh -c 'dmsetup status safe | grep -q " remap "'
  # Purge: the conffiles go too, and nothing the packages owned is left.
  check purge dpkg --purge dmremap dm-remap-dkms
  check purge-removes-conffiles test ! -e /etc/dmremaptab -a ! -e /etc/default/dmremap
  check purge-not-known sh -c '! dpkg-query -W dmremap dm-remap-dkms 2>/dev/null | grep -q .'
  check purge-no-owned-files-left owned_left
  check purge-no-owned-dirs-left sh -c \
    "test ! -e /usr/src/dm-remap-$v2 -a ! -e /usr/share/doc/dmremap -a ! -e /usr/share/doc/dm-remap-dkms"
  echo 3 >$T/phase
  sync
  say "PHASE-DONE dkms2"
  systemctl poweroff
  exit 0
fi
say "FAIL phase: unexpected phase $phase"
systemctl poweroff
