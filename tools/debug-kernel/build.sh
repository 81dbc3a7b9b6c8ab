#!/usr/bin/env bash
# Builds (or reuses) the dm-remap debug kernel: Debian's linux-source-6.1 configured with
# tools/debug-kernel/config.fragment (KASAN, lockdep, kmemleak, UBSAN, KUnit, fault injection) for
# the QEMU test guest. Source, objects, ccache and the installed modules live in a cache outside the
# repo; nothing is rebuilt while the fragment, the source package version and this script are
# unchanged. On success it writes $DK/kernel.env (KVER, KERNEL, MODULES, KDIR) and prints it.
#
# Usage: tools/debug-kernel/build.sh [--force | --check]
#   --force  runs make even when the stamp matches
#   --check  builds and installs nothing: exits 0 if the cached kernel is current, 1 if not
# Environment: DMREMAP_CACHE (default ~/.cache/dm-remap), JOBS (default nproc).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/debug-kernel/build.sh
FRAGMENT=$REPO/tools/debug-kernel/config.fragment
DK=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}/debug-kernel
JOBS=${JOBS:-$(nproc)}
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# debug-kernel: $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

force=0
check=0
case ${1:-} in
  --force) force=1 ;;
  --check) check=1 ;;
  "") ;;
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument $1" ;;
esac

# ---- dependencies (each one is used: flex/bison for kconfig, bc for kernel/timeconst, libelf-dev
# for objtool, kmod for depmod in modules_install, cpio/xz for the source, ccache for rebuilds) ----
PKGS=(gcc make "$SRC_PKG" flex bison bc libelf-dev kmod xz-utils ccache)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$check" = 1 ]; then
  note "not built: ${missing[*]} missing"
  exit 1
elif [ ${#missing[@]} -gt 0 ]; then
  note "installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
[ -r "$SRC_TAR" ] || die "$SRC_TAR missing although $SRC_PKG is installed"
[ -r "$FRAGMENT" ] || die "no config fragment at $FRAGMENT"

src_version=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
TREE=$DK/linux-$src_version
STAGING=$DK/staging
mkdir -p "$DK"
exec {lock_fd}>"$DK/lock"
flock "$lock_fd"   # one build at a time per cache

# Everything the result depends on: the source package, the fragment, this script, the compiler.
stamp=$( {
  echo "source $src_version"
  cat "$FRAGMENT"
  cat "$0"
  gcc --version | head -n 1
} | sha256sum | cut -d' ' -f1)

write_env() {
  local krel=$1
  cat >"$DK/kernel.env.tmp" <<EOF
KVER=$krel
KERNEL=$DK/bzImage
MODULES=$STAGING/lib/modules/$krel
KDIR=$TREE
EOF
  mv "$DK/kernel.env.tmp" "$DK/kernel.env"
}

if [ "$force" = 0 ] && [ "$(cat "$DK/stamp" 2>/dev/null)" = "$stamp" ] &&
   [ -f "$DK/kernel.env" ] && [ -f "$DK/bzImage" ] && [ -f "$TREE/Module.symvers" ]; then
  # shellcheck disable=SC1091
  . "$DK/kernel.env"
  if [ -d "$MODULES/kernel" ]; then
    note "cached: $KERNEL ($KVER, source $src_version); nothing to rebuild"
    cat "$DK/kernel.env"
    exit 0
  fi
fi
if [ "$check" = 1 ]; then
  note "no current cached kernel in $DK"
  exit 1
fi

t_all=$(date +%s.%N)
rm -f "$DK/stamp"

# ---- source: one extracted tree per source package version; older ones go ----
if [ ! -f "$TREE/Makefile" ]; then
  t0=$(date +%s.%N)
  note "extracting $SRC_TAR into $TREE"
  rm -rf "$TREE" "$TREE.tmp"
  mkdir -p "$TREE.tmp"
  tar -xJf "$SRC_TAR" -C "$TREE.tmp"
  mv "$TREE.tmp/linux-source-6.1" "$TREE"
  rmdir "$TREE.tmp"
  note "extracted in $(elapsed "$t0") s"
fi
for old in "$DK"/linux-*; do
  [ "$old" = "$TREE" ] || [ ! -d "$old" ] || { note "removing old tree $old"; rm -rf "$old"; }
done

# ccache through its compiler symlinks: CC stays "gcc", so out-of-tree module builds against this
# tree (plain gcc) see the same compiler as the kernel.
export CCACHE_DIR=$DK/ccache
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-6G}
export PATH=/usr/lib/ccache:$PATH
# Reproducible version strings keep init/version.o cacheable and the build independent of the host.
export KBUILD_BUILD_USER=dm-remap KBUILD_BUILD_HOST=debug-kernel
kmake() { make -C "$TREE" -j"$JOBS" "$@"; }

# ---- configuration: tinyconfig + fragment + olddefconfig, then check that every fragment line
# survived (Kconfig silently drops options whose dependencies are unmet). Kconfig's tinyconfig
# merges into the tree's own .config whatever KCONFIG_CONFIG says, so the config is generated in
# place; when the result equals the previous one, the previous file (and its mtime) comes back. ----
t0=$(date +%s.%N)
cfglog=$DK/config.log
prev=$DK/config.prev
rm -f "$prev"
[ ! -f "$TREE/.config" ] || cp -p "$TREE/.config" "$prev"
{
  kmake tinyconfig &&
  (cd "$TREE" && scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") &&
  kmake olddefconfig
} >"$cfglog" 2>&1 || { tail -n 30 "$cfglog" >&2; die "configuration failed (log: $cfglog)"; }
cfg=$TREE/.config
dropped=()
while IFS= read -r line; do
  case $line in
    CONFIG_*=*) want=$line ;;
    "# CONFIG_"*" is not set") want=$line ;;
    *) continue ;;
  esac
  if ! grep -qxF "$want" "$cfg"; then
    opt=${want#\# }; opt=${opt%%[= ]*}
    got=$(grep -E "^$opt=|^# $opt is not set" "$cfg" || echo "(absent: dependencies not met)")
    dropped+=("$want  ->  $got")
  fi
done <"$FRAGMENT"
if [ ${#dropped[@]} -gt 0 ]; then
  echo "$PROG: these fragment options did not end up in the configuration ($cfg):" >&2
  printf '  %s\n' "${dropped[@]}" >&2
  exit 1
fi
if [ -f "$prev" ] && cmp -s "$prev" "$cfg"; then
  cp -p "$prev" "$cfg"
  note "configuration unchanged"
else
  note "configuration written ($(grep -c '^CONFIG_' "$cfg") options set)"
fi
rm -f "$prev"
note "configured in $(elapsed "$t0") s"

# ---- build ----
t0=$(date +%s.%N)
ccache -z >/dev/null
note "building bzImage and modules with $JOBS jobs (log: $DK/build.log)"
if ! kmake bzImage modules >"$DK/build.log" 2>&1; then
  grep -E 'error|Error' "$DK/build.log" | head -n 40 >&2 || true
  tail -n 20 "$DK/build.log" >&2
  die "kernel build failed (full log: $DK/build.log)"
fi
build_secs=$(elapsed "$t0")
hits=$(ccache -s 2>/dev/null | awk '/^ *Hits:/ { print $2; exit } /cache hit \(direct\)/ { print $4; exit }')
note "bzImage + modules built in $build_secs s (ccache hits: ${hits:-?})"
if grep -E 'objtool:|warning:' "$DK/build.log" >"$DK/build-warnings.log"; then
  note "$(wc -l <"$DK/build-warnings.log") compiler/objtool warnings, see $DK/build-warnings.log"
fi

krel=$(kmake -s kernelrelease)
t0=$(date +%s.%N)
rm -rf "$STAGING"
kmake -s modules_install INSTALL_MOD_PATH="$STAGING" DEPMOD=/sbin/depmod >"$DK/install.log" 2>&1 ||
  { cat "$DK/install.log" >&2; die "modules_install failed"; }
# The build/source links point into the tree; the runner only reads the module files.
rm -f "$STAGING/lib/modules/$krel/build" "$STAGING/lib/modules/$krel/source"
cp "$TREE/arch/x86/boot/bzImage" "$DK/bzImage.tmp"
mv "$DK/bzImage.tmp" "$DK/bzImage"
note "modules installed into $STAGING/lib/modules/$krel in $(elapsed "$t0") s"

write_env "$krel"
echo "$stamp" >"$DK/stamp"
note "kernel $krel ready in $(elapsed "$t_all") s total (bzImage $(du -m "$DK/bzImage" | cut -f1) MB)"
cat "$DK/kernel.env"
