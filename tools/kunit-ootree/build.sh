#!/usr/bin/env bash
# Builds dm-remap-kunit.ko for a Debian kernel (KVER: 6.1, 6.12 or 7.2; default tools/vm/kver.sh),
# which has no CONFIG_KUNIT and ships no kunit.ko: KUnit's own sources (lib/kunit of that kernel's
# linux-source-<series>, the same version as its headers) are patched (patches/<series>) and
# linked into the test module together with the suites of tests/kunit and the C++ core, built
# where the kernel's compiler is (the host, or the sid chroot). See tools/kunit-ootree/README.md.
#
# Usage: tools/kunit-ootree/build.sh
# Prints the module's path as its last line. Exits non-zero with a message when anything fails
# (missing package, a source edit that no longer applies, a compile error, an objtool or modpost
# finding).
#
# Exit status 3: no patches for that kernel series (skipped).
# Environment: KVER/KDIR (default: tools/vm/kver.sh, /lib/modules/$KVER/build), BUILD (default
# build/, relative to the repo; the module is built in $BUILD/kunit-ootree), DMREMAP_CACHE
# (default ~/.cache/dm-remap; the patched KUnit sources are kept in its kunit-ootree/).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/kunit-ootree/build.sh
HERE=$REPO/tools/kunit-ootree

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# kunit-ootree: $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument $1" ;;
esac

t_all=$(date +%s.%N)
KVER=${KVER:-$("$REPO/tools/vm/kver.sh")}
KERNELS=$REPO/tools/kernels/kernels.sh
# KDIR (as seen where the kernel's compiler is), SERIES, WHERE (host or chroot), ROOT (the sid
# chroot, or empty) and SRC_TAR (linux-source-<series>, as the host sees it).
kdir_env=${KDIR:-}
kenv=$("$KERNELS" env "$KVER") || die "no kernel headers for $KVER (run 'make kernels')"
eval "$kenv"
KDIR=${kdir_env:-$KDIR}
SRC_PKG=linux-source-$SERIES
PATCHES=$HERE/patches/$SERIES
# lib/kunit files the module needs, per series (see Kbuild: every .c here is compiled): the core
# of the kernel's own kunit.o. Left out: hooks.c (the kernel's built-in part), KUnit's own tests,
# and the helpers for tests that dm-remap's suites do not use, whose API kunit/*.h declare only
# with CONFIG_KUNIT (device.c, platform.c, user_alloc.c, static_stub.c; 7.2's bug.c).
case $SERIES in
  6.1) KUNIT_FILES=(test.c resource.c string-stream.c string-stream.h assert.c try-catch.c
                    try-catch-impl.h debugfs.c debugfs.h) ;;
  6.12|7.2)
    KUNIT_FILES=(test.c resource.c string-stream.c string-stream.h assert.c try-catch.c
                 try-catch-impl.h executor.c attributes.c hooks-impl.h debugfs.c debugfs.h) ;;
  *) note "skipped: no lib/kunit patches for the $SERIES series ($PATCHES)"; exit 3 ;;
esac
[ -d "$PATCHES" ] || die "no $PATCHES"
# shellcheck disable=SC2153 # WHERE comes from kernels.sh env
if [ "$WHERE" = host ]; then
  "$REPO/tools/install-deps.sh" "$SRC_PKG" xz-utils patch
else
  command -v patch >/dev/null || "$REPO/tools/install-deps.sh" patch
fi
[ -r "$SRC_TAR" ] || die "$SRC_TAR missing (package $SRC_PKG; run 'make kernels')"
[ -f "$ROOT$KDIR/Makefile" ] || die "no kernel build tree at $ROOT$KDIR (KVER=$KVER)"

# KUnit's .c files must match the kunit headers of the kernel tree they are compiled against.
pkg_version() { "$KERNELS" run "$KVER" dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
src_version=$(pkg_version "$SRC_PKG")
[ -n "$src_version" ] || die "$SRC_PKG is not installed for $KVER (run 'make kernels')"
hdr_version=$(pkg_version "linux-headers-$KVER")
[ -z "$hdr_version" ] || [ "$hdr_version" = "$src_version" ] ||
  note "warning: $SRC_PKG is $src_version but linux-headers-$KVER is $hdr_version; KUnit's" \
       "sources and the kernel's kunit headers may disagree"

# ---- the patched KUnit sources, cached per series, source version and patches ----
# patches/<series>/NN-*.patch, applied in order with no fuzz: a source they no longer fit stops
# the build here rather than producing a module that misbehaves. Each one says why it is needed
# (all because the kernel has no CONFIG_KUNIT).
CACHE=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/kunit-ootree
SRC=$CACHE/lib-kunit-$SERIES
mkdir -p "$CACHE"
exec {lock_fd}>"$CACHE/lock"
flock "$lock_fd"
stamp=$( {
  echo "source $SRC_PKG $src_version ${KUNIT_FILES[*]}"
  cat "$PATCHES"/*.patch
} | sha256sum | cut -d' ' -f1)
if [ "$(cat "$SRC/stamp" 2>/dev/null)" = "$stamp" ]; then
  note "KUnit sources: cached $SRC ($SRC_PKG $src_version)"
else
  t0=$(date +%s.%N)
  tmp=$CACHE/tmp-$SERIES
  rm -rf "$SRC" "$tmp"
  mkdir -p "$tmp"
  # Only lib/kunit (xz still has to decompress the whole tarball once).
  tar -xJf "$SRC_TAR" -C "$tmp" "linux-source-$SERIES/lib/kunit" ||
    die "could not extract linux-source-$SERIES/lib/kunit from $SRC_TAR"
  mkdir -p "$tmp/patched"
  for f in "${KUNIT_FILES[@]}"; do
    [ -f "$tmp/linux-source-$SERIES/lib/kunit/$f" ] || die "$SRC_TAR has no lib/kunit/$f"
    cp "$tmp/linux-source-$SERIES/lib/kunit/$f" "$tmp/patched/$f"
  done
  for p in "$PATCHES"/*.patch; do
    patch -d "$tmp/patched" -p1 -F0 -N -s --no-backup-if-mismatch <"$p" >&2 ||
      die "lib/kunit of $SRC_PKG $src_version: ${p#"$REPO"/} does not apply"
  done
  # No initcall left (the test module has the only init and exit), no current->kunit_test.
  ! grep -n -E '^(late_initcall|module_init|module_exit)\(|current->kunit_test' \
    "$tmp/patched/test.c" >&2 || die "lib/kunit/test.c: the lines above survived the patches"
  echo "$stamp" >"$tmp/patched/stamp"
  mv "$tmp/patched" "$SRC"
  rm -rf "$tmp"
  note "KUnit sources: extracted and patched into $SRC in $(elapsed "$t0") s"
fi

# ---- the build directory: a mirror of the sources (never build inside src/) ----
# Files are copied only when their content changed, so make's incremental build holds; mirrored
# files whose source is gone are removed.
build=${BUILD:-build}
case $build in /*) ;; *) build=$REPO/$build ;; esac
OUT=$build/kunit-ootree
mkdir -p "$OUT"
# shellcheck source=SCRIPTDIR/../lib/mirror.sh
. "$REPO/tools/lib/mirror.sh"
mirror "$OUT" include src tests/kunit tools/check-cxx-object.sh
sync_file "$HERE/Kbuild" "$OUT/Kbuild"
for f in "${KUNIT_FILES[@]}"; do sync_file "$SRC/$f" "$OUT/kunit/$f"; done
# Another series' files (Kbuild compiles every kunit/*.c) go.
for f in "$OUT"/kunit/*.[ch]; do
  case " ${KUNIT_FILES[*]} kunit_ootree.h " in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
done
sync_file "$HERE/kunit_ootree.h" "$OUT/kunit/kunit_ootree.h"

# ---- build; objtool and modpost findings fail it ----
t0=$(date +%s.%N)
log=$build/kunit-ootree.log
rc=0
DMREMAP_BIND=$OUT "$KERNELS" run "$KVER" make -C "$KDIR" M="$OUT" -j"$(nproc)" modules \
  >"$log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
  grep -E 'error|Error' "$log" | head -n 40 >&2 || true
  tail -n 20 "$log" >&2
  die "building dm-remap-kunit.ko (KUnit + suites + core) for $KVER failed (log: $log)"
fi
"$REPO/tools/check-module-log.sh" "$log" ||
  die "dm-remap-kunit.ko for $KVER: objtool or modpost findings (log: $log)"
ko=$OUT/dm-remap-kunit.ko
vermagic=$(modinfo -F vermagic "$ko")
[ "${vermagic%% *}" = "$KVER" ] || die "$ko was built for '${vermagic%% *}', not $KVER"
note "built in $(elapsed "$t0") s (all: $(elapsed "$t_all") s) for $KVER: $ko"
echo "$ko"
