#!/usr/bin/env bash
# Builds dm-remap-kunit.ko for Debian's kernel (KVER of tools/vm/kver.sh), which has no
# CONFIG_KUNIT and ships no kunit.ko: KUnit's own sources (lib/kunit of Debian's linux-source-6.1,
# the same version as the kernel headers) are patched and linked into the test module together
# with the suites of tests/kunit and the C++ core. See tools/kunit-ootree/README.md.
#
# Usage: tools/kunit-ootree/build.sh
# Prints the module's path as its last line. Exits non-zero with a message when anything fails
# (missing package, a source edit that no longer applies, a compile error, an objtool or modpost
# finding).
#
# Environment: KVER/KDIR (default: tools/vm/kver.sh, /lib/modules/$KVER/build), BUILD (default
# build/, relative to the repo; the module is built in $BUILD/kunit-ootree), DMREMAP_CACHE
# (default ~/.cache/dm-remap; the patched KUnit sources are kept in its kunit-ootree/).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/kunit-ootree/build.sh
HERE=$REPO/tools/kunit-ootree
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
# lib/kunit files the module needs (see Kbuild): executor.c and KUnit's own tests are left out.
KUNIT_FILES=(test.c resource.c string-stream.c string-stream.h assert.c try-catch.c
             try-catch-impl.h debugfs.c debugfs.h)

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# kunit-ootree: $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument $1" ;;
esac

t_all=$(date +%s.%N)
KVER=${KVER:-$("$REPO/tools/vm/kver.sh")}
KDIR=${KDIR:-/lib/modules/$KVER/build}
# The edits below fit 6.1's lib/kunit only. From 6.12 on, KUnit also needs the kernel's
# kunit_hooks table and kunit_running static key, its executor and device bus, and (7.2)
# __kunit_test_suites_init() takes a third argument: not ported yet. Exit status 3: skipped.
case $KVER in
  6.1.*) ;;
  *) note "skipped: KUnit out of tree is ported to 6.1's lib/kunit only, not to $KVER"
     exit 3 ;;
esac
"$REPO/tools/install-deps.sh" "$SRC_PKG" xz-utils
[ -r "$SRC_TAR" ] || die "$SRC_TAR missing although $SRC_PKG is installed"
[ -f "$KDIR/Makefile" ] || die "no kernel build tree at $KDIR (KVER=$KVER)"

# KUnit's .c files must match the kunit headers of the kernel tree they are compiled against.
src_version=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
hdr_pkg=$(dpkg-query -S "$(readlink -f "$KDIR")/Makefile" 2>/dev/null | cut -d: -f1 | head -n 1 || true)
if [ -n "$hdr_pkg" ]; then
  hdr_version=$(dpkg-query -W -f='${Version}' "$hdr_pkg")
  [ "$hdr_version" = "$src_version" ] ||
    note "warning: $SRC_PKG is $src_version but $hdr_pkg is $hdr_version; KUnit's sources and" \
         "the kernel's kunit headers may disagree"
fi

# ---- the patched KUnit sources, cached per source version and patch recipe ----
# Each edit names the pattern it expects and how many lines must match; a source that no longer
# matches stops the build here rather than producing a module that misbehaves.
edit() {  # file expected-lines sed-regex sed-replacement why
  local file=$1 want=$2 re=$3 repl=$4 got
  got=$(grep -c -E -- "$re" "$file" || true)
  [ "$got" = "$want" ] ||
    die "lib/kunit/$(basename "$file"): expected $want line(s) matching '$re', found $got ($5)"
  sed -E -i "s@$re@$repl@g" "$file"
}

# The edits, all in test.c; every one is needed because the kernel has no CONFIG_KUNIT.
patch_kunit() {  # dir
  local t=$1/test.c
  # 1. struct task_struct has no kunit_test field: the test being run goes in a file static.
  #    (Outside the IS_BUILTIN(CONFIG_KUNIT) block, which is compiled out in a module, KUnit only
  #    ever writes it.)
  edit "$t" 1 '^#include "try-catch-impl.h"$' \
    '#include "try-catch-impl.h"\n#include "kunit_ootree.h"\n\n/* kunit-ootree: no task_struct::kunit_test without CONFIG_KUNIT */\nstatic struct kunit *kunit_ootree_current_test;' \
    "where the file static goes"
  edit "$t" 7 'current->kunit_test' 'kunit_ootree_current_test' "uses of current->kunit_test"
  # 2. The module notifier runs mod->kunit_suites of each loading module; struct module has no
  #    such field. Its definition, registration and unregistration are the three
  #    CONFIG_MODULES blocks; the test module runs its suites itself instead.
  edit "$t" 3 '^#ifdef CONFIG_MODULES$' \
    '#if 0 /* kunit-ootree: no struct module::kunit_suites without CONFIG_KUNIT */' \
    "the module notifier's blocks"
  # 3. kunit_init/kunit_exit become functions the test module's init and exit call (one module
  #    has one init): kunit_ootree_init() and kunit_ootree_exit() of kunit_ootree.h.
  edit "$t" 1 '^static int __init kunit_init\(void\)$' 'int __init kunit_ootree_init(void)' \
    "KUnit's init"
  edit "$t" 1 '^late_initcall\(kunit_init\);$' \
    '/* kunit-ootree: called from the test module'"'"'s init */' "KUnit's initcall"
  edit "$t" 1 '^static void __exit kunit_exit\(void\)$' 'void kunit_ootree_exit(void)' \
    "KUnit's exit"
  edit "$t" 1 '^module_exit\(kunit_exit\);$' \
    '/* kunit-ootree: called from the test module'"'"'s exit */' "KUnit's module_exit"
  # No initcall left (the test module has the only init and exit), no current->kunit_test.
  ! grep -n -E '^(late_initcall|module_init|module_exit)\(|current->kunit_test' "$t" >&2 ||
    die "lib/kunit/test.c: the lines above survived the edits"
}

CACHE=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/kunit-ootree
SRC=$CACHE/lib-kunit
mkdir -p "$CACHE"
exec {lock_fd}>"$CACHE/lock"
flock "$lock_fd"
stamp=$( {
  echo "source $src_version ${KUNIT_FILES[*]}"
  declare -f edit patch_kunit
} | sha256sum | cut -d' ' -f1)
if [ "$(cat "$SRC/stamp" 2>/dev/null)" = "$stamp" ]; then
  note "KUnit sources: cached $SRC ($SRC_PKG $src_version)"
else
  t0=$(date +%s.%N)
  rm -rf "$SRC" "$CACHE/tmp"
  mkdir -p "$CACHE/tmp"
  # Only lib/kunit (xz still has to decompress the whole tarball once).
  tar -xJf "$SRC_TAR" -C "$CACHE/tmp" linux-source-6.1/lib/kunit ||
    die "could not extract linux-source-6.1/lib/kunit from $SRC_TAR"
  mkdir -p "$CACHE/tmp/patched"
  for f in "${KUNIT_FILES[@]}"; do
    [ -f "$CACHE/tmp/linux-source-6.1/lib/kunit/$f" ] || die "$SRC_TAR has no lib/kunit/$f"
    cp "$CACHE/tmp/linux-source-6.1/lib/kunit/$f" "$CACHE/tmp/patched/$f"
  done
  patch_kunit "$CACHE/tmp/patched"
  echo "$stamp" >"$CACHE/tmp/patched/stamp"
  mv "$CACHE/tmp/patched" "$SRC"
  rm -rf "$CACHE/tmp"
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
sync_file "$HERE/kunit_ootree.h" "$OUT/kunit/kunit_ootree.h"

# ---- build; objtool and modpost findings fail it ----
t0=$(date +%s.%N)
log=$build/kunit-ootree.log
rc=0
make -C "$KDIR" M="$OUT" -j"$(nproc)" modules >"$log" 2>&1 || rc=$?
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
