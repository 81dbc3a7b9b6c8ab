#!/usr/bin/env bash
# The Debian 12 image `make test-system` boots: mmdebstrap (minbase plus systemd, udev,
# initramfs-tools, e2fsprogs, dmsetup, libisal2 and Debian's kernel KVER) into a raw ext4 file
# system, cached in ~/.cache/dm-remap/system-image under a key of everything that shapes it.
# Prints the image path; the kernel and initrd sit next to it. Usage: build-image.sh KVER
set -euo pipefail

kver=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/system-image
pkgs="systemd,systemd-sysv,udev,initramfs-tools,e2fsprogs,dmsetup,kmod,libisal2,procps"
pkgs="$pkgs,util-linux,linux-image-$kver"
key=$(printf '%s\n' "$pkgs" "$(cat "$here/build-image.sh")" | sha256sum | cut -c1-16)
image=$cache/debian12-$key.raw
if [ -s "$image" ] && [ -s "$cache/debian12-$key.initrd" ]; then
  echo "$image"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if [ -s "$image" ] && [ -s "$cache/debian12-$key.initrd" ]; then
  echo "$image"
  exit 0
fi
root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "build-image: mmdebstrap bookworm ($pkgs)" >&2
mmdebstrap --variant=minbase --include="$pkgs" \
  --customize-hook='echo dmremap-test >"$1/etc/hostname"' \
  --customize-hook='echo "/dev/vda / ext4 defaults 0 1" >"$1/etc/fstab"' \
  --customize-hook='chroot "$1" passwd -d root' \
  bookworm "$root" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" >&2
cp "$root/boot/initrd.img-$kver" "$cache/debian12-$key.initrd.tmp"
cp "$root/boot/vmlinuz-$kver" "$cache/debian12-$key.vmlinuz"
rm -f "$image.tmp"
mkfs.ext4 -q -F -L root -d "$root" "$image.tmp" 2G
mv "$image.tmp" "$image"
mv "$cache/debian12-$key.initrd.tmp" "$cache/debian12-$key.initrd"
echo "$image"
