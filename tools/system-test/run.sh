#!/usr/bin/env bash
# make test-system: boots a Debian 12 image (build-image.sh, cached) under QEMU TCG with three
# virtio disks besides the root, installs the dmremap package and the module, and runs
# guest.sh over two boots (see there). Prints the guest's PASS/FAIL lines and the wall times;
# exit status 1 if anything failed or a boot did not finish its phase.
# Usage: run.sh --deb dmremap_*.deb --module dm-remap.ko [--out DIR]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deb="" module="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) deb=$(readlink -f "$2"); shift 2 ;;
    --module) module=$(readlink -f "$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 --deb DEB --module KO [--out DIR]" >&2; exit 2 ;;
  esac
done
{ [ -f "$deb" ] && [ -f "$module" ]; } || { echo "run.sh: --deb and --module must name files" >&2; exit 2; }
kver=$(modinfo -F vermagic "$module" | cut -d' ' -f1)
out=${out:-$(dirname "$deb")/../system-test}
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)

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
  timeout 1200 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nodefaults -display none -nic none \
    -no-reboot -serial "file:$out/console$boot.log" -serial "file:$out/results$boot.log" \
    -kernel "$base.vmlinuz" -initrd "$base.initrd" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 no_timer_check systemd.show_status=0" \
    -drive "file=$out/root.raw,if=none,id=root,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=root,serial=dmrroot \
    -drive "file=$out/data.raw,if=none,id=data,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=data,serial=dmrdata \
    -drive "file=$out/spare.raw,if=none,id=spare,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=spare,serial=dmrspare \
    -drive "file=$out/third.raw,if=none,id=third,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=third,serial=dmrthird \
    </dev/null >"$out/qemu$boot.out" 2>&1 || rc=$?
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
  timeout 1200 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nodefaults -display none -nic none \
    -no-reboot -serial "file:$out/console3.log" -serial "file:$out/results3b.log" \
    -kernel "$base.vmlinuz" -initrd "$out/root.initrd" \
    -append "root=/dev/mapper/root rw console=ttyS0 panic=-1 no_timer_check systemd.show_status=0" \
    -drive "file=$out/rootdata.raw,if=none,id=root,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=root,serial=dmrroot \
    -drive "file=$out/rootspare.raw,if=none,id=spare,format=raw,cache=writeback" \
    -device virtio-blk-pci,drive=spare,serial=dmrrspare \
    </dev/null >"$out/qemu3.out" 2>&1 || rc=$?
  cat "$out/results3b.log" >>"$out/results3.log" 2>/dev/null
  walls+=("root on dm-remap (image + boot): $(( $(date +%s) - t0 )) s (qemu status $rc)")
fi

cat "$out"/results[123].log | tr -d '\r'
echo "system-test: image $(( t_image - t_start )) s; ${walls[*]}; total $(( $(date +%s) - t_start )) s"
pass=$(cat "$out"/results[123].log | grep -c '^PASS' || true)
fail=$(cat "$out"/results[123].log | grep -c '^FAIL' || true)
echo "system-test: $pass passed, $fail failed (console logs in $out)"
[ "$fail" = 0 ] && grep -q '^PHASE-DONE 2' "$out/results2.log" 2>/dev/null &&
  grep -q '^PHASE-DONE root' "$out/results3.log" 2>/dev/null
