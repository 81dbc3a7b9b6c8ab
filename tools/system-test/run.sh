#!/usr/bin/env bash
# make test-system: boots a Debian 12 image (build-image.sh, cached) under QEMU TCG with three
# virtio disks besides the root, installs the dmremap package and the module, and runs
# guest.sh over two boots (see there), then boots an image whose root is on dm-remap.
# With --dkms, the packages' lifecycle with the real dm-remap-dkms on the dkms image too
# (dkms-guest.sh, two more boots): install, upgrade to the packages in --dkms-next across a
# reboot, a second kernel (Debian 12's 6.12, whose .debs are cached next to the images),
# remove and purge. Prints the guest's PASS/FAIL lines and the wall times; exit status 1 if
# anything failed or a boot did not finish its phase.
# Usage: run.sh --deb dmremap_*.deb --module dm-remap.ko [--out DIR]
#               [--dkms DIR-WITH-V1-DEBS --dkms-next DIR-WITH-V2-DEBS]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/system-image
deb="" module="" out="" dkms="" dkms_next=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) deb=$(readlink -f "$2"); shift 2 ;;
    --module) module=$(readlink -f "$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --dkms) dkms=$(readlink -f "$2"); shift 2 ;;
    --dkms-next) dkms_next=$(readlink -f "$2"); shift 2 ;;
    *) echo "usage: $0 --deb DEB --module KO [--out DIR] [--dkms DIR --dkms-next DIR]" >&2; exit 2 ;;
  esac
done
{ [ -f "$deb" ] && [ -f "$module" ]; } || { echo "run.sh: --deb and --module must name files" >&2; exit 2; }
[ -z "$dkms" ] || [ -d "$dkms_next" ] || { echo "run.sh: --dkms needs --dkms-next" >&2; exit 2; }
kver=$(modinfo -F vermagic "$module" | cut -d' ' -f1)
out=${out:-$(dirname "$deb")/../system-test}
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)

# One boot: results on the second serial port in results<tag>.log. Disks are FILE:SERIAL, the
# first is /dev/vda.
qemu_boot() {  # tag timeout kernel initrd root disk...
  local tag=$1 limit=$2 kernel=$3 initrd=$4 root=$5 args=() i=0 d
  shift 5
  for d in "$@"; do
    args+=(-drive "file=${d%:*},if=none,id=d$i,format=raw,cache=writeback"
      -device "virtio-blk-pci,drive=d$i,serial=${d##*:}")
    i=$((i + 1))
  done
  timeout "$limit" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nodefaults -display none \
    -nic none -no-reboot -serial "file:$out/console$tag.log" -serial "file:$out/results$tag.log" \
    -kernel "$kernel" -initrd "$initrd" \
    -append "root=$root rw console=ttyS0 panic=-1 no_timer_check systemd.show_status=0" \
    "${args[@]}" </dev/null >"$out/qemu$tag.out" 2>&1
}

# Debian's packages of a second kernel K (image, headers, their common headers, kbuild), in
# the version `make kernels` extracted: from the cache next to the images, else from apt's
# cache, else downloaded once. Prints the directory.
kernel_debs() {  # K
  local k=$1 ver dir p f
  ver=$(cut -d' ' -f2 "$cache/../kernels/$k/stamp")
  dir=$cache/kernel-debs-$k
  mkdir -p "$dir"
  for p in "linux-image-$k" "linux-headers-$k" "linux-headers-${k%-amd64}-common" \
    "linux-kbuild-${k%-amd64}"; do
    f=$(find "$dir" /var/cache/apt/archives -maxdepth 1 -name "${p}_${ver/:/%3a}_*.deb" | head -n 1)
    if [ -z "$f" ]; then
      (cd "$dir" && apt-get download -qq "$p=$ver") >&2
    elif [ "$(dirname "$f")" != "$dir" ]; then
      cp "$f" "$dir/"
    fi
  done
  echo "$dir"
}

t_start=$(date +%s)
image=$("$here/build-image.sh" "$kver")
t_image=$(date +%s)
base=${image%.raw}

cp --sparse=always "$image" "$out/root.raw"
truncate -s 256M "$out/data.raw"
truncate -s 64M "$out/spare.raw"
truncate -s 128M "$out/third.raw"
{
  echo "mkdir /root/t"
  echo "write $deb /root/t/dmremap.deb"
  echo "write $module /root/t/dm-remap.ko"
  echo "write $here/guest.sh /root/t/guest.sh"
  echo "write $here/dmremap-test.service /etc/systemd/system/dmremap-test.service"
  echo "mkdir /etc/systemd/system/multi-user.target.wants"
  echo "symlink /etc/systemd/system/multi-user.target.wants/dmremap-test.service /etc/systemd/system/dmremap-test.service"
} >"$out/debugfs.cmds"
debugfs -w -f "$out/debugfs.cmds" "$out/root.raw" >"$out/debugfs.log" 2>&1

walls=()
for boot in 1 2; do
  t0=$(date +%s)
  rc=0
  qemu_boot "$boot" 1200 "$base.vmlinuz" "$base.initrd" /dev/vda "$out/root.raw:dmrroot" \
    "$out/data.raw:dmrdata" "$out/spare.raw:dmrspare" "$out/third.raw:dmrthird" || rc=$?
  walls+=("boot $boot: $(( $(date +%s) - t0 )) s (qemu status $rc)")
  grep -q "^PHASE-DONE $boot" "$out/results$boot.log" || break
done

# Root on dm-remap: the base image's files, with the package and the module installed and an
# initramfs line in dmremaptab, made into the data disk of a dm-remap device; its initramfs
# is built natively in a chroot (under TCG mkinitramfs takes many minutes).
if grep -q '^PHASE-DONE 2' "$out/results2.log" 2>/dev/null; then
  t0=$(date +%s)
  rd=$out/rootfs
  rm -rf "$rd" && mkdir -p "$rd"
  debugfs -R "rdump / $rd" "$image" >/dev/null 2>"$out/rdump.log"
  cp "$deb" "$rd/tmp/dmremap.deb"
  mkdir -p "$rd/lib/modules/$kver/updates"
  cp "$module" "$rd/lib/modules/$kver/updates/"
  echo "root /dev/disk/by-id/virtio-dmrroot /dev/disk/by-id/virtio-dmrrspare initramfs" \
    >"$rd/etc/dmremaptab.test"
  echo "/dev/mapper/root / ext4 defaults 0 1" >"$rd/etc/fstab"
  install -m 0755 "$here/root-guest.sh" "$rd/root/root-guest.sh"
  sed 's|/root/t/guest.sh|/root/root-guest.sh|' "$here/dmremap-test.service" \
    >"$rd/etc/systemd/system/dmremap-test.service"
  mkdir -p "$rd/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/dmremap-test.service "$rd/etc/systemd/system/multi-user.target.wants/"
  mount -t proc proc "$rd/proc"
  {
    chroot "$rd" dpkg -i /tmp/dmremap.deb &&
      mv "$rd/etc/dmremaptab.test" "$rd/etc/dmremaptab" &&
      chroot "$rd" depmod -a "$kver" &&
      chroot "$rd" update-initramfs -u -k "$kver"
  } >"$out/root-chroot.log" 2>&1 || echo "FAIL root-image: see $out/root-chroot.log" >>"$out/results3.log"
  umount "$rd/proc"
  cp "$rd/boot/initrd.img-$kver" "$out/root.initrd"
  rm -f "$rd/tmp/dmremap.deb"
  mkfs.ext4 -q -F -d "$rd" "$out/rootdata.raw" 2G
  rm -rf "$rd"
  truncate -s 64M "$out/rootspare.raw"
  rc=0
  qemu_boot 3b 1200 "$base.vmlinuz" "$out/root.initrd" /dev/mapper/root \
    "$out/rootdata.raw:dmrroot" "$out/rootspare.raw:dmrrspare" || rc=$?
  cat "$out/results3b.log" >>"$out/results3.log" 2>/dev/null
  walls+=("root on dm-remap (image + boot): $(( $(date +%s) - t0 )) s (qemu status $rc)")
fi

# The packages' lifecycle with the real dm-remap-dkms, on the dkms image: the packages and the
# second kernel's .debs on a disk labelled "debs" (dkms-guest.sh).
results=()
for f in "$out"/results1.log "$out"/results2.log "$out"/results3.log; do
  [ ! -e "$f" ] || results+=("$f")
done
if [ -n "$dkms" ]; then
  t0=$(date +%s)
  dimage=$("$here/build-image.sh" "$kver" dkms)
  k2=$("$here/../kernels/kernels.sh" release 6.12)
  kdebs=$(kernel_debs "$k2")
  mkdir -p "$out/debs/v1" "$out/debs/v2" "$out/debs/k2"
  cp "$dkms"/dm-remap-dkms_*.deb "$dkms"/dmremap_*.deb "$out/debs/v1/"
  cp "$dkms_next"/dm-remap-dkms_*.deb "$dkms_next"/dmremap_*.deb "$out/debs/v2/"
  cp "$kdebs"/*.deb "$out/debs/k2/"
  mkfs.ext4 -q -F -L debs -d "$out/debs" "$out/debs.raw" 512M
  rm -rf "$out/debs"
  cp --sparse=always "$dimage" "$out/droot.raw"
  truncate -s 256M "$out/ddata.raw"
  truncate -s 64M "$out/dspare.raw"
  {
    echo "mkdir /root/t"
    echo "write $here/dkms-guest.sh /root/t/guest.sh"
    echo "write $here/dmremap-test.service /etc/systemd/system/dmremap-test.service"
    echo "mkdir /etc/systemd/system/multi-user.target.wants"
    echo "symlink /etc/systemd/system/multi-user.target.wants/dmremap-test.service /etc/systemd/system/dmremap-test.service"
  } >"$out/debugfs-dkms.cmds"
  debugfs -w -f "$out/debugfs-dkms.cmds" "$out/droot.raw" >"$out/debugfs-dkms.log" 2>&1
  walls+=("dkms image and disks: $(( $(date +%s) - t0 )) s")
  for boot in 1 2; do
    t0=$(date +%s)
    rc=0
    qemu_boot "d$boot" 3600 "${dimage%.raw}.vmlinuz" "${dimage%.raw}.initrd" /dev/vda \
      "$out/droot.raw:dmrroot" "$out/ddata.raw:dmrdata" "$out/dspare.raw:dmrspare" \
      "$out/debs.raw:dmrdebs" || rc=$?
    walls+=("dkms boot $boot: $(( $(date +%s) - t0 )) s (qemu status $rc)")
    results+=("$out/resultsd$boot.log")
    grep -q "^PHASE-DONE dkms$boot" "$out/resultsd$boot.log" || break
  done
fi

cat "${results[@]}" | tr -d '\r'
echo "system-test: image $(( t_image - t_start )) s; ${walls[*]}; total $(( $(date +%s) - t_start )) s"
pass=$(cat "${results[@]}" | grep -c '^PASS' || true)
fail=$(cat "${results[@]}" | grep -c '^FAIL' || true)
echo "system-test: $pass passed, $fail failed (console logs in $out)"
[ "$fail" = 0 ] && grep -q '^PHASE-DONE 2' "$out/results2.log" 2>/dev/null &&
  grep -q '^PHASE-DONE root' "$out/results3.log" 2>/dev/null &&
  { [ -z "$dkms" ] || grep -q '^PHASE-DONE dkms2' "$out/resultsd2.log" 2>/dev/null; }
