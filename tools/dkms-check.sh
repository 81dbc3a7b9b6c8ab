#!/usr/bin/env bash
# Builds dm-remap.ko with `dkms build` against a supported kernel's headers (the host's; for sid's
# kernel in the sid chroot with its dkms: tools/kernels/kernels.sh), the way a machine that
# installs the package with DKMS would, then removes it from DKMS again. The tree handed to DKMS
# holds only what dkms.conf and Kbuild need (no build/ output), under a version of its own
# (<version>+check<pid>) so that it never touches a dm-remap DKMS install on this machine or a
# concurrent check. Usage: tools/dkms-check.sh [KVER]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kver=${1:-$("$REPO/tools/vm/kver.sh")}
export PATH=$PATH:/usr/sbin:/sbin

# sid's kernel is built in the sid chroot, with that chroot's dkms (tools/kernels/kernels.sh).
if [ -z "${DMREMAP_IN_CHROOT:-}" ]; then
  where=$("$REPO/tools/kernels/kernels.sh" env "$kver" | sed -n 's/^WHERE=//p')
  [ -n "$where" ] || exit 2
  if [ "$where" = chroot ]; then
    exec "$REPO/tools/kernels/kernels.sh" run "$kver" env DMREMAP_IN_CHROOT=1 \
      bash "$REPO/tools/dkms-check.sh" "$kver"
  fi
fi

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$REPO/dkms.conf")
base_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$REPO/dkms.conf")
version="$base_version+check$$"
src=/usr/src/$name-$version

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

cleanup() {
  $SUDO dkms remove "$name/$version" --all >/dev/null 2>&1 || true
  $SUDO rm -rf "$src"
}
trap cleanup EXIT

$SUDO mkdir -p "$src/tools"
(cd "$REPO" && $SUDO cp -r Kbuild include src "$src/")
$SUDO cp "$REPO/tools/check-cxx-object.sh" "$src/tools/"
$SUDO rm -f "$src/src/kernel/compat_probed.h"   # generated for whatever kernel the tree was built for
sed "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$version\"/" "$REPO/dkms.conf" | $SUDO tee "$src/dkms.conf" >/dev/null

echo "dkms-check: dkms add + build $name/$version for $kver"
$SUDO dkms add "$name/$version"
if ! $SUDO dkms build "$name/$version" -k "$kver"; then
  log=/var/lib/dkms/$name/$version/build/make.log
  [ -f "$log" ] && tail -n 40 "$log" >&2
  echo "dkms-check: FAILED" >&2
  exit 1
fi
built=$(find "/var/lib/dkms/$name/$version/$kver" -name 'dm-remap.ko*' | head -n 1)
[ -n "$built" ] || { echo "dkms-check: dkms build left no dm-remap.ko" >&2; exit 1; }
modinfo -F vermagic "$built" | grep -q "^$kver " ||
  { echo "dkms-check: $built is not built for $kver" >&2; exit 1; }
echo "dkms-check: ok ($built)"
