#!/usr/bin/env bash
# `make test-debug`: builds (or reuses) the debug kernel, builds dm-remap.ko against its tree in a
# separate directory (./dm-remap.ko, built for Debian's kernel, is left alone), and runs the VM
# suite on that kernel, where KASAN, lockdep, UBSAN, sleep-in-atomic and kmemleak reports fail the
# run. Arguments go to tools/vm/run-tests.sh (test names, --timeout).
#
# Environment: BUILD (default build/, relative to the repo) holds the module build in
# $BUILD/debug-module; DMREMAP_CACHE as for build.sh and run-tests.sh.
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/debug-kernel/test-debug.sh
die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# test-debug: $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

t_all=$(date +%s.%N)
"$REPO/tools/install-deps.sh"

# ---- kernel ----
t0=$(date +%s.%N)
"$REPO/tools/debug-kernel/build.sh"
DK=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/debug-kernel
# shellcheck disable=SC1091
. "$DK/kernel.env"
kernel_secs=$(elapsed "$t0")

# ---- dm-remap.ko against the debug tree ----
# Kbuild writes its objects next to the sources and `make M=... clean` deletes every .ko below M,
# so the module is built from a mirror of the sources: files are copied only when their content
# changed (keeping make's incremental build), and mirrored files whose source is gone are removed.
build=${BUILD:-build}
case $build in /*) ;; *) build=$REPO/$build ;; esac
MOD=$build/debug-module      # dm-remap.ko
KUNIT=$build/debug-kunit     # dm-remap-kunit.ko (tests/kunit/Kbuild as its Kbuild)
mkdir -p "$MOD" "$KUNIT"
t0=$(date +%s.%N)
# shellcheck source=SCRIPTDIR/../lib/mirror.sh
. "$REPO/tools/lib/mirror.sh"
mirror "$MOD" Kbuild include src tools/check-cxx-object.sh
mirror "$KUNIT" include src tests/kunit tools/check-cxx-object.sh
cmp -s "$REPO/tests/kunit/Kbuild" "$KUNIT/Kbuild" || cp -p "$REPO/tests/kunit/Kbuild" "$KUNIT/Kbuild"

# Kbuild adds the sanitizer flags (CFLAGS_KASAN, CFLAGS_UBSAN) per object in its C rule only, so
# C++ objects built from $(KBUILD_CFLAGS) alone would be invisible to KASAN and UBSAN. KCFLAGS is
# appended to KBUILD_CFLAGS and so reaches both the C and the C++ rule (C objects get the same
# flags once more from Kbuild, later on the command line, which wins). -g lets faddr2line turn a
# report's dm_remap+0x... into a source line.
probe=$build/debug-flags-probe
mkdir -p "$probe"
# shellcheck disable=SC2016 # make syntax
printf '$(info REMAP_SANITIZE=$(CFLAGS_KASAN) $(CFLAGS_UBSAN))\n' >"$probe/Kbuild"
san_flags=$(make -s -C "$KDIR" M="$probe" 2>/dev/null | sed -n 's/^REMAP_SANITIZE=//p' | head -n 1)
rm -rf "$probe"
[ -n "$san_flags" ] || die "could not read the sanitizer flags of $KDIR"
# Global-variable instrumentation makes GCC emit a constructor (.init_array) per object, which the
# C++ section check refuses; heap, stack and vmalloc checks do not need it.
san_flags=${san_flags//asan-globals=1/asan-globals=0}
note "C++ objects get the kernel's sanitizer flags: $san_flags"
build_module() {  # dir log
  local rc=0
  make -C "$KDIR" M="$1" -j"$(nproc)" KCFLAGS="-g $san_flags" modules >"$2" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    grep -E 'error|Error' "$2" | head -n 40 >&2 || true
    tail -n 20 "$2" >&2
    die "module build in $1 against $KDIR failed (log: $2)"
  fi
  "$REPO/tools/check-module-log.sh" "$2"
}
build_module "$MOD" "$build/debug-module.log"
build_module "$KUNIT" "$build/debug-kunit.log"
module_secs=$(elapsed "$t0")
note "kernel ready in $kernel_secs s; dm-remap.ko and dm-remap-kunit.ko built in $module_secs s"

# ---- the VM suite on the debug kernel ----
set +e
DMREMAP_KERNEL=$KERNEL DMREMAP_MODULES=$MODULES "$REPO/tools/vm/run-tests.sh" \
  --module "$MOD/dm-remap.ko" --kunit "$KUNIT/dm-remap-kunit.ko" "$@"
rc=$?
set -e
note "make test-debug took $(elapsed "$t_all") s (kernel $kernel_secs s, module $module_secs s)"
exit "$rc"
