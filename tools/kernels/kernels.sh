#!/usr/bin/env bash
# The kernels dm-remap supports, fetched and cached outside the repository, and the one way every
# other script reaches a kernel's build tree, image and modules.
#
#   kernels.sh fetch [SERIES...]   fetch or refresh the kernels (default: all; `make kernels`)
#   kernels.sh list                print the release of each supported kernel that is here
#   kernels.sh release SERIES      print the release of one series (6.1, 6.12, 7.2)
#   kernels.sh env KVER            print KDIR/KERNEL/MOD_BASE/MODDIR/SRC_TAR/ROOT/GXX for KVER
#   kernels.sh deps KVER           install the g++ matching KVER's gcc, and pahole
#   kernels.sh run KVER CMD...     run CMD where KVER's headers and compiler are (the host, or
#                                  the sid chroot with the repository and $PWD bound in)
#
# Supported kernels (SERIES, where from):
#   6.1   Debian 12: linux-image-amd64/linux-headers-amd64, installed on the host
#   6.12  Debian 12 security: linux-headers-6.12.*+deb12-amd64 and linux-source-6.12 installed on
#         the host (headers only: the host's default kernel stays 6.1), the image and modules
#         extracted into the cache
#   7.2   Debian sid: a chroot made with mmdebstrap (headers, gcc/g++-16, dwarves, dkms,
#         linux-source-7.2) in the cache; the image and modules from sid's linux-binary-K and
#         linux-modules-K, extracted into the cache and depmod'ed
# Cache: ${DMREMAP_CACHE:-~/.cache/dm-remap}/kernels/<release>/{boot,lib/modules}, sid-chroot/.
# `fetch` asks apt each time, so a kernel that moved on in the archive is refetched (stale cache).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/kernels/kernels.sh
CACHE=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}
KCACHE=$CACHE/kernels
CHROOT=$CACHE/sid-chroot
SID_MIRROR=${DMREMAP_SID_MIRROR:-http://deb.debian.org/debian}
SERIES_ALL=(6.1 6.12 7.2)

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# kernels: $*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export PATH=$PATH:/usr/sbin:/sbin
APT_OPTS=(-y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends)

# Newest release K of a series with headers in directory ROOT/lib/modules/K/build.
release_in() {  # root series
  local root=$1 series=$2 d k found=()
  for d in "$root"/lib/modules/"$series".*; do
    k=${d##*/}
    [[ $k == "$series".* && $k == *-amd64 ]] || continue
    [ -f "$d/build/Makefile" ] && found+=("$k")
  done
  [ ${#found[@]} -gt 0 ] || return 1
  printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

# Where a release lives: "host" or "chroot"; nothing (status 1) when it is not here.
where_is() {  # kver
  if [ -f "/lib/modules/$1/build/Makefile" ]; then echo host
  elif [ -f "$CHROOT/lib/modules/$1/build/Makefile" ]; then echo chroot
  else return 1
  fi
}

release_of() {  # series
  case $1 in
    6.1|6.12) release_in "" "$1" ;;
    7.2) release_in "$CHROOT" "$1" ;;
    *) die "unsupported kernel series '$1' (supported: ${SERIES_ALL[*]})" ;;
  esac
}

# The g++ that matches the compiler the kernel was built with (CONFIG_CC_VERSION_TEXT's first
# word: gcc-12, x86_64-linux-gnu-gcc-16, ...), and the Debian package that has it.
kernel_cc() {  # kdir-on-host
  local text
  text=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1/include/config/auto.conf" 2>/dev/null)
  [ -n "$text" ] || return 1
  echo "${text%% *}"
}
gxx_of() {  # cc  -> g++ name
  local cc=${1##*/}
  case $cc in
    *-gcc-*) echo "${cc%-gcc-*}-g++-${cc##*-gcc-}" ;;
    gcc-*) echo "g++-${cc#gcc-}" ;;
    *gcc) echo "${cc%gcc}g++" ;;
    *) return 1 ;;
  esac
}
gxx_package() {  # g++ name -> package (g++-12, g++-16, g++)
  local v
  v=$(sed -n 's/.*g++-\([0-9][0-9]*\)$/\1/p' <<<"$1")
  if [ -n "$v" ]; then echo "g++-$v"; else echo g++; fi
}

print_env() {  # kver
  local k=$1 loc root kdir kernel mod_base series src cc gxx
  loc=$(where_is "$k") || die "no kernel $k here (supported: ${SERIES_ALL[*]}; run 'make kernels')"
  root=""
  [ "$loc" = host ] || root=$CHROOT
  kdir=/lib/modules/$k/build
  series=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$k")
  if [ -e "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/kernel" ]; then
    kernel=/boot/vmlinuz-$k
    mod_base=/
  else
    kernel=$KCACHE/$k/boot/vmlinuz-$k
    mod_base=$KCACHE/$k
  fi
  src=$root/usr/src/linux-source-$series.tar.xz
  cc=$(kernel_cc "$root$kdir" || true)
  gxx=$(gxx_of "$cc" 2>/dev/null || true)
  printf 'KVER=%q\nSERIES=%q\nWHERE=%q\nROOT=%q\nKDIR=%q\nKERNEL=%q\nMOD_BASE=%q\nMODDIR=%q\n' \
    "$k" "$series" "$loc" "$root" "$kdir" "$kernel" "$mod_base" "${mod_base%/}/lib/modules/$k"
  printf 'SRC_TAR=%q\nKCC=%q\nGXX=%q\n' "$src" "$cc" "$gxx"
}

# Runs a command inside the chroot, in a private mount namespace (nothing leaks when it ends), with
# the repository, the cache directory of the caller's choice and $PWD at their host paths.
chroot_run() {  # cmd...
  local binds=("$REPO" "$PWD") b
  [ -z "${DMREMAP_BIND:-}" ] || binds+=("$DMREMAP_BIND")
  local script='set -e; c=$1; shift; n=$1; shift'
  script+='; mount -t proc proc "$c/proc"; mount --rbind /dev "$c/dev"'
  script+='; i=0; while [ $i -lt "$n" ]; do mkdir -p "$c$1"; mount --bind "$1" "$c$1"; shift; i=$((i+1)); done'
  script+='; exec chroot "$c" /usr/bin/env -C "$PWD" PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"'
  local uniq=()
  for b in "${binds[@]}"; do
    case " ${uniq[*]} " in *" $b "*) ;; *) uniq+=("$b") ;; esac
  done
  $SUDO unshare --mount --propagation private -- /bin/sh -c "$script" sh "$CHROOT" \
    "${#uniq[@]}" "${uniq[@]}" "$@"
}

run_in() {  # kver cmd...
  local k=$1 loc
  shift
  loc=$(where_is "$k") || die "no kernel $k here (supported: ${SERIES_ALL[*]}; run 'make kernels')"
  if [ "$loc" = host ]; then "$@"; else chroot_run "$@"; fi
}

# What building for a kernel needs besides tools/install-deps.sh: the g++ matching the gcc that
# built it (found from the kernel's own CONFIG_CC_VERSION_TEXT) and pahole for module BTF.
kernel_deps() {  # kver
  local kenv pkg
  kenv=$(print_env "$1")
  eval "$kenv" # sets KVER SERIES WHERE ROOT KDIR ... (print_env)
  # shellcheck disable=SC2153 # ROOT and KDIR come from print_env's output
  [ -n "$GXX" ] ||
    die "cannot tell which gcc built $KVER (no CONFIG_CC_VERSION_TEXT in $ROOT$KDIR/include/config/auto.conf)"
  pkg=$(gxx_package "$GXX")
  if [ "$WHERE" = host ]; then
    "$REPO/tools/install-deps.sh" "$pkg" dwarves >&2 ||
      die "cannot install $pkg, the C++ compiler matching $KVER's $KCC: dm-remap cannot be built for it"
    command -v "$GXX" >/dev/null ||
      die "$GXX (matching $KVER's $KCC) is not on PATH although $pkg is installed"
  elif [ ! -x "$CHROOT/usr/bin/$GXX" ]; then
    chroot_run env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" "$pkg" dwarves >&2 ||
      die "cannot install $pkg (matching $KVER's $KCC) in the sid chroot"
  fi
}

# ---- fetching ----

apt_candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' || true; }

# Extracts an image package (and its modules package, if separate) into KCACHE/K and runs depmod.
extract_kernel() {  # kver dir-with-debs
  local k=$1 debs=$2 out=$KCACHE/$1 tmp
  tmp=$KCACHE/.tmp-$k
  rm -rf "$tmp"
  mkdir -p "$tmp/x"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
  # Debian 12 puts the image in /boot and modules in /lib/modules; sid in /usr/lib/modules/K/.
  mkdir -p "$tmp/out/boot" "$tmp/out/lib/modules"
  if [ -f "$tmp/x/boot/vmlinuz-$k" ]; then
    mv "$tmp/x/boot/vmlinuz-$k" "$tmp/out/boot/"
  elif [ -f "$tmp/x/usr/lib/modules/$k/vmlinuz" ]; then
    mv "$tmp/x/usr/lib/modules/$k/vmlinuz" "$tmp/out/boot/vmlinuz-$k"
  else
    die "no kernel image for $k in $(ls "$debs")"
  fi
  if [ -d "$tmp/x/lib/modules/$k" ]; then mv "$tmp/x/lib/modules/$k" "$tmp/out/lib/modules/"
  elif [ -d "$tmp/x/usr/lib/modules/$k" ]; then mv "$tmp/x/usr/lib/modules/$k" "$tmp/out/lib/modules/"
  else die "no modules for $k in $(ls "$debs")"
  fi
  [ -d "$tmp/out/lib/modules/$k/kernel" ] || die "the modules of $k have no kernel/ directory"
  rm -f "$tmp/out/lib/modules/$k/build" "$tmp/out/lib/modules/$k/source"
  # sid ships modules.order and modules.builtin* with the headers, not the modules.
  for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ -e "$tmp/out/lib/modules/$k/$f" ] || [ ! -e "$CHROOT/lib/modules/$k/$f" ] ||
      cp "$CHROOT/lib/modules/$k/$f" "$tmp/out/lib/modules/$k/$f"
  done
  depmod -b "$tmp/out" "$k"
  rm -rf "$out"
  mv "$tmp/out" "$out"
  rm -rf "$tmp"
}

fetch_61() {
  "$REPO/tools/install-deps.sh" linux-source-6.1 xz-utils
  local k
  k=$(release_of 6.1) || die "Debian 12's 6.1 headers are not installed after install-deps"
  [ -e "/boot/vmlinuz-$k" ] || die "no /boot/vmlinuz-$k"
  note "6.1: $k (host, /boot and /lib/modules)"
}

fetch_612() {
  local hdr k ver stamp debs
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600 || note "apt-get update failed; using the lists as they are"
  # The newest 6.12 ABI in bookworm-security (package names linux-headers-6.12.N+deb12-amd64).
  hdr=$(apt-cache pkgnames linux-headers-6.12. | grep -E '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' |
        sort -V | tail -n 1)
  [ -n "$hdr" ] || die "apt knows no linux-headers-6.12.*+deb12-amd64 (is bookworm-security in sources.list?)"
  k=${hdr#linux-headers-}
  ver=$(apt_candidate "$hdr")
  "$REPO/tools/install-deps.sh" "$hdr" linux-source-6.12 xz-utils
  stamp="linux-image-$k $ver"
  if [ "$(cat "$KCACHE/$k/stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$KCACHE/$k/boot/vmlinuz-$k" ]; then
    note "6.12: $k cached ($KCACHE/$k)"
    return 0
  fi
  debs=$KCACHE/.debs-$k
  rm -rf "$debs"
  mkdir -p "$debs"
  (cd "$debs" && apt-get download -qq "linux-image-$k") ||
    die "apt-get download linux-image-$k failed"
  extract_kernel "$k" "$debs"
  rm -rf "$debs"
  echo "$stamp" >"$KCACHE/$k/stamp"
  note "6.12: $k extracted into $KCACHE/$k"
}

SID_PKGS=(linux-headers-amd64 gcc g++ make dwarves kmod dkms xz-utils bc cpio)
fetch_72() {
  local k series t0 debs stamp ver
  "$REPO/tools/install-deps.sh" mmdebstrap
  if [ ! -x "$CHROOT/usr/bin/apt-get" ] || [ ! -f "$CHROOT/.dm-remap-complete" ]; then
    t0=$(date +%s.%N)
    $SUDO rm -rf "$CHROOT" "$CHROOT.tmp"
    mkdir -p "$CACHE"
    note "sid: creating the chroot $CHROOT with mmdebstrap"
    $SUDO mmdebstrap --variant=buildd --quiet \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --include="$(IFS=,; echo "${SID_PKGS[*]}")" sid "$CHROOT.tmp" "$SID_MIRROR" ||
      die "mmdebstrap of sid failed"
    $SUDO mv "$CHROOT.tmp" "$CHROOT"
    $SUDO touch "$CHROOT/.dm-remap-complete"
    note "sid: chroot made in $(elapsed "$t0") s"
  else
    # Stale lists or an older kernel in sid: upgrade what is there (cheap when nothing moved).
    chroot_run apt-get update -qq || note "sid: apt-get update failed; using the chroot as it is"
    chroot_run env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" "${SID_PKGS[@]}" >/dev/null
  fi
  # The newest headers in the chroot decide the release and series; its g++ and source go in too.
  k=$(find "$CHROOT/usr/src" -mindepth 1 -maxdepth 1 -name 'linux-headers-*-amd64' -printf '%f\n' |
    sed 's/^linux-headers-//' | sort -V | tail -n 1)
  [ -n "$k" ] || die "the sid chroot has no linux-headers-*-amd64"
  series=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$k")
  [ "$series" = 7.2 ] || note "warning: sid's kernel is now $k, not 7.2 (supported: ${SERIES_ALL[*]})"
  local gxx
  gxx=$(gxx_of "$(kernel_cc "$CHROOT/usr/src/linux-headers-$k")") || die "cannot tell $k's compiler"
  chroot_run env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" \
    "$(gxx_package "$gxx")" "linux-source-$series" >/dev/null ||
    die "sid: cannot install $(gxx_package "$gxx") linux-source-$series in the chroot"
  ver=$(chroot_run dpkg-query -W -f='${Version}' "linux-headers-$k")
  stamp="linux-binary-$k $ver"
  if [ "$(cat "$KCACHE/$k/stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$KCACHE/$k/boot/vmlinuz-$k" ]; then
    note "$series: $k cached ($KCACHE/$k)"
    return 0
  fi
  debs=$KCACHE/.debs-$k
  rm -rf "$debs"
  mkdir -p "$debs"
  # linux-image-K is an empty metapackage in sid: the image and modules are in these two.
  DMREMAP_BIND=$debs chroot_run sh -c "cd '$debs' && apt-get download -qq linux-binary-$k linux-modules-$k" ||
    die "sid: apt-get download linux-binary-$k linux-modules-$k failed"
  extract_kernel "$k" "$debs"
  rm -rf "$debs"
  echo "$stamp" >"$KCACHE/$k/stamp"
  note "$series: $k extracted into $KCACHE/$k"
}

fetch() {
  local s t0
  [ $# -gt 0 ] || set -- "${SERIES_ALL[@]}"
  mkdir -p "$KCACHE"
  exec {lock_fd}>"$CACHE/kernels.lock"
  flock "$lock_fd"
  for s in "$@"; do
    t0=$(date +%s.%N)
    case $s in
      6.1) fetch_61 ;;
      6.12) fetch_612 ;;
      7.2) fetch_72 ;;
      *) die "unsupported kernel series '$s' (supported: ${SERIES_ALL[*]})" ;;
    esac
    note "$s: ready in $(elapsed "$t0") s"
  done
  list
}

list() {
  local s k
  for s in "${SERIES_ALL[@]}"; do
    if k=$(release_of "$s" 2>/dev/null); then echo "$k"; fi
  done
}

case ${1:-} in
  fetch) shift; fetch "$@" ;;
  list) list ;;
  release) [ $# -eq 2 ] || die "usage: release SERIES"; release_of "$2" || die "no $2 kernel here (run 'make kernels')" ;;
  env) [ $# -eq 2 ] || die "usage: env KVER"; print_env "$2" ;;
  deps) [ $# -eq 2 ] || die "usage: deps KVER"; kernel_deps "$2" ;;
  run) [ $# -ge 3 ] || die "usage: run KVER CMD..."; k=$2; shift 2; run_in "$k" "$@" ;;
  -h|--help|"") sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (see --help)" ;;
esac
