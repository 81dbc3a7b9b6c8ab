#!/usr/bin/env bash
# Install (idempotently) everything the build, the unit tests and the VM tests need on Debian 12,
# plus any packages named as arguments.
# Runs apt-get only when a package is missing, so a warm machine pays nothing.
set -euo pipefail

PKGS=(
  # module build and guest kernel
  gcc g++ make bc kmod cpio linux-image-amd64 linux-headers-amd64
  # guest userspace and emulator
  qemu-system-x86 busybox-static fio dmsetup e2fsprogs
  # userspace build of the core
  cmake libgtest-dev libisal-dev clang
  # benchmarks
  libbenchmark-dev valgrind
  # make dkms-check
  dkms
)

# Extra packages a caller needs besides these (e.g. tools/kunit-ootree: linux-source-6.1).
PKGS+=("$@")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
  $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
fi
