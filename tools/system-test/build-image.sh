#!/usr/bin/env bash
# The Debian 12 images `make test-system` boots: mmdebstrap (minbase plus systemd, udev,
# initramfs-tools, e2fsprogs, dmsetup, libisal2 and Debian's kernel KVER) into a raw ext4 file
# system, cached in ~/.cache/dm-remap/system-image under a key of everything that shapes it.
# The dkms variant adds what installing dm-remap-dkms needs (KVER's headers, dkms, g++, pahole
# and linux-base, which a second kernel's packages need) on a bigger file system. Both are built
# once with the network (deb.debian.org) and then only read from the cache; the key is what
# goes into the image (packages, size, hooks, mirrors), so editing this script's text alone does
# not rebuild them. Prints the image path; the kernel and initrd sit next to it.
# Usage: build-image.sh [--check] KVER [dkms]   (--check: exit status 0 if the image is cached)
set -euo pipefail

check=""
[ "${1:-}" != --check ] || { check=1; shift; }
kver=$1
variant=${2:-base}
cache=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/system-image
pkgs="systemd,systemd-sysv,udev,initramfs-tools,e2fsprogs,dmsetup,kmod,libisal2,procps"
pkgs="$pkgs,util-linux,linux-image-$kver"
size=2G
name=debian12
case $variant in
  base) ;;
  dkms)
    pkgs="$pkgs,linux-headers-$kver,dkms,g++,make,dwarves,linux-base"
    size=3G
    name=debian12-dkms
    ;;
  *) echo "usage: $0 KVER [dkms]" >&2; exit 2 ;;
esac
hooks=(--customize-hook='echo dmremap-test >"$1/etc/hostname"'
  --customize-hook='echo "/dev/vda / ext4 defaults 0 1" >"$1/etc/fstab"'
  --customize-hook='chroot "$1" passwd -d root')
mirrors=("deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main")
key=$(printf '%s\n' "$pkgs" "$size" "${hooks[@]}" "${mirrors[@]}" | sha256sum | cut -c1-16)
image=$cache/$name-$key.raw
if [ -s "$image" ] && [ -s "$cache/$name-$key.initrd" ]; then
  [ -n "$check" ] || echo "$image"
  exit 0
fi
[ -z "$check" ] || exit 1

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if [ -s "$image" ] && [ -s "$cache/$name-$key.initrd" ]; then
  echo "$image"
  exit 0
fi
root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "build-image: mmdebstrap bookworm ($pkgs)" >&2
mmdebstrap --variant=minbase --include="$pkgs" "${hooks[@]}" bookworm "$root" "${mirrors[@]}" >&2
cp "$root/boot/initrd.img-$kver" "$cache/$name-$key.initrd.tmp"
cp "$root/boot/vmlinuz-$kver" "$cache/$name-$key.vmlinuz"
rm -f "$image.tmp"
mkfs.ext4 -q -F -L root -d "$root" "$image.tmp" "$size"
mv "$image.tmp" "$image"
mv "$cache/$name-$key.initrd.tmp" "$cache/$name-$key.initrd"
echo "$image"
