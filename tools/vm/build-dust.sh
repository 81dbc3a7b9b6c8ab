#!/usr/bin/env bash
# Builds (or reuses) dm-dust.ko for a Debian kernel that does not ship it (CONFIG_DM_DUST is not
# set in Debian's 6.1, 6.12 or 7.2): drivers/md/dm-dust.c from that kernel's own
# linux-source-<series>, compiled out of tree against that kernel's headers (on the host, or in
# the sid chroot: tools/kernels/kernels.sh). Source and module live in a cache outside the repo;
# nothing is rebuilt while the source package, the headers and this script are unchanged. Prints
# the path of the module on stdout (everything else goes to stderr).
#
# Usage: tools/vm/build-dust.sh [KVER]   (default: tools/vm/kver.sh)
# Environment: DMREMAP_CACHE (default ~/.cache/dm-remap).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/vm/build-dust.sh

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# build-dust: $*" >&2; }

case ${1:-} in
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
KVER=${1:-$("$REPO/tools/vm/kver.sh")}
KERNELS=$REPO/tools/kernels/kernels.sh
# KDIR, SERIES, WHERE, ROOT (the chroot, or empty) and SRC_TAR (as the host sees it).
kenv=$("$KERNELS" env "$KVER") || die "no kernel headers for $KVER"
eval "$kenv"
SRC_PKG=linux-source-$SERIES
MEMBER=linux-source-$SERIES/drivers/md/dm-dust.c
[ -f "$ROOT$KDIR/Makefile" ] || die "no kernel headers for $KVER ($ROOT$KDIR/Makefile)"

# ---- the source package (the sid chroot has its own: tools/kernels/kernels.sh fetch) ----
if [ "$WHERE" = host ]; then
  "$REPO/tools/install-deps.sh" "$SRC_PKG" xz-utils >&2
fi
[ -r "$SRC_TAR" ] || die "$SRC_TAR missing (package $SRC_PKG; run 'make kernels')"

DIR=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/dm-dust/$KVER
mkdir -p "$DIR"
exec {lock_fd}>"$DIR/lock"
flock "$lock_fd"   # a concurrent run may be building the same module

stamp=$( {
  echo "source $SRC_PKG kver $KVER"
  stat -L -c '%n %s %Y' "$ROOT$KDIR/Makefile" "$ROOT$KDIR/Module.symvers" "$SRC_TAR"
  cat "$0"
} | sha256sum | cut -d' ' -f1)
if [ "$(cat "$DIR/stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$DIR/dm-dust.ko" ]; then
  note "cached: $DIR/dm-dust.ko"
  printf '%s\n' "$DIR/dm-dust.ko"
  exit 0
fi

rm -f "$DIR/stamp" "$DIR/dm-dust.ko"
build=$DIR/build
rm -rf "$build"
mkdir -p "$build"
# Only one file of the ~140 MB archive is needed; --occurrence stops reading once it is found.
tar -xJf "$SRC_TAR" -O --occurrence=1 "$MEMBER" >"$build/dm-dust.c" ||
  die "cannot extract $MEMBER from $SRC_TAR"
[ -s "$build/dm-dust.c" ] || die "$MEMBER is empty or missing in $SRC_TAR"
echo 'obj-m := dm-dust.o' >"$build/Kbuild"
note "building dm-dust.ko for $KVER from $SRC_PKG"
if ! DMREMAP_BIND=$build "$KERNELS" run "$KVER" make -C "$KDIR" M="$build" modules \
     >"$DIR/build.log" 2>&1; then
  tail -n 30 "$DIR/build.log" >&2
  die "build failed (log: $DIR/build.log)"
fi
vermagic=$(modinfo -F vermagic "$build/dm-dust.ko")
[ "${vermagic%% *}" = "$KVER" ] || die "built dm-dust.ko has vermagic '$vermagic', expected $KVER"
# Outside the build directory, so a "make clean" there cannot take it.
cp "$build/dm-dust.ko" "$DIR/dm-dust.ko.tmp"
mv "$DIR/dm-dust.ko.tmp" "$DIR/dm-dust.ko"
echo "$stamp" >"$DIR/stamp"
note "built $DIR/dm-dust.ko"
printf '%s\n' "$DIR/dm-dust.ko"
