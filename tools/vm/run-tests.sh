#!/usr/bin/env bash
# Runs the dm-remap VM tests: boots the Debian target kernel under QEMU TCG (the host cannot load
# modules and its /dev/kvm cannot run ordinary guests) with a cached base initramfs plus a small per-run
# cpio, then turns the guest's report lines into TAP and a final "N passed, N failed" line.
set -euo pipefail
shopt -s inherit_errexit   # so failures inside $(...) stop the run too

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tools/vm/run-tests.sh

# Modules every guest gets; dm-remap's own dependencies are added from its modinfo. virtio_pci
# and virtio_blk serve the disk image of tests that declare one (see the usage text).
BASE_MODULES=(dm-mod dm-flakey brd null_blk scsi_debug sd_mod virtio_pci virtio_blk)
# Added when the kernel has them (Debian's kernel has no dm-dust; the debug kernel has all three).
# Without a dm-dust module, tools/vm/build-dust.sh builds one from the kernel's own linux-source
# and the per-run cpio carries it. ext4 serves tests/vm/86-ext4.sh (built in on some kernels),
# dm-delay tests/vm/74-slow-errors.sh, dm-thin-pool tests/vm/73-thin-nospc.sh.
OPTIONAL_MODULES=(dm-dust dm-log-writes dm-delay dm-thin-pool ext4)

usage() {
  cat <<EOF
Usage: $PROG [--module PATH] [--tool PATH] [--lwreplay PATH] [--kunit PATH] [--timeout SECS]
       [--env NAME=VALUE]... [--demo] [test-name...]

  --module PATH   dm-remap.ko to test (default: ./dm-remap.ko relative to the repo root)
  --tool PATH     the dmremap binary, installed in the guest as /usr/sbin/dmremap with the
                  libraries ldd names (default: build/dmremap; "make dmremap" builds it)
  --lwreplay PATH the lwreplay binary (tools/lwreplay), installed as /usr/sbin/lwreplay the
                  same way (default: lwreplay next to the dmremap binary; "make lwreplay")
  --env NAME=VALUE
                  exported to the tests in the guest, e.g. VMT_SEED=7 (NAME: VMT_ and capitals,
                  digits, _; VALUE: letters, digits and ._,:/=-); repeatable
  --timeout SECS  per-test timeout inside the guest (default 240); each boot is bounded
                  by 90 + (SECS + 15) * number-of-its-tests seconds
  --demo          run tests/vm/demo.sh and show its narration as it is told (checks still count)
  --kunit PATH    a KUnit test module (tests/kunit; for Debian's kernel, which has no
                  CONFIG_KUNIT, as built by tools/kunit-ootree/build.sh): loaded
                  after the tests of the first boot; each of its test cases becomes a check,
                  read from the KTAP in /sys/kernel/debug/kunit/<suite>/results
  test-name       NN-name, NN-name.sh or a path to a test script (default: tests/vm/[0-9]*.sh)

Tests share one boot, except those with a line "# vmtest: disk=<MiB> boots=<N> timeout=<secs>"
(any part may be left out; boots defaults to 1): such a test gets N boots of its own, one after
the other, with the same fresh sparse raw image of <MiB> attached as the virtio disk /dev/vda,
and runs with VMT_BOOT=1..N and VMT_BOOTS=N exported. Its checks are reported as "boot<k>: ...".
timeout=<secs> raises its per-test timeout to at least <secs> (a long test, such as 87-powercut).

Environment: KVER (target kernel, default: tools/vm/kver.sh), DMREMAP_CACHE (default
~/.cache/dm-remap) holds the base initramfs and one log directory per run, DMREMAP_QEMU_ARGS
adds QEMU options (never -accel kvm: this host's KVM cannot run the guest), DMREMAP_QEMU_SMP
sets the guest's CPU count (default 2; QEMU's "-icount" needs 1, see bench/vm/README.md).

Another kernel (the debug kernel of tools/debug-kernel/build.sh): DMREMAP_KERNEL=<bzImage> and
DMREMAP_MODULES=<dir>/lib/modules/<release> (as "make modules_install INSTALL_MOD_PATH=<dir>"
leaves it; KVER becomes <release>). Such a guest gets 2048 MiB (DMREMAP_QEMU_MEM overrides) and a
default per-test timeout of 600 s. When the guest has /sys/kernel/debug/kmemleak, every test is
followed by a kmemleak scan, and each test gets a check that the kernel logged no KASAN, lockdep,
UBSAN, sleep-in-atomic or other BUG/WARNING report and kmemleak found no new leak while it ran.
EOF
}

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "# $*"; }

module=$REPO/dm-remap.ko
tool=$REPO/build/dmremap
lwreplay_tool=""
kunit_module=""
guest_env=()
per_test_timeout=
demo=0
tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --module) [ $# -ge 2 ] || die "--module needs a path"; module=$2; shift 2 ;;
    --module=*) module=${1#--module=}; shift ;;
    --tool) [ $# -ge 2 ] || die "--tool needs a path"; tool=$2; shift 2 ;;
    --tool=*) tool=${1#--tool=}; shift ;;
    --lwreplay) [ $# -ge 2 ] || die "--lwreplay needs a path"; lwreplay_tool=$2; shift 2 ;;
    --lwreplay=*) lwreplay_tool=${1#--lwreplay=}; shift ;;
    --env) [ $# -ge 2 ] || die "--env needs NAME=VALUE"; guest_env+=("$2"); shift 2 ;;
    --env=*) guest_env+=("${1#--env=}"); shift ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; per_test_timeout=$2; shift 2 ;;
    --timeout=*) per_test_timeout=${1#--timeout=}; shift ;;
    --demo) demo=1; shift ;;
    --kunit) [ $# -ge 2 ] || die "--kunit needs a path"; kunit_module=$2; shift 2 ;;
    --kunit=*) kunit_module=${1#--kunit=}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; tests+=("$@"); break ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) tests+=("$1"); shift ;;
  esac
done
[ -n "$lwreplay_tool" ] || lwreplay_tool=$(dirname "$tool")/lwreplay
for e in "${guest_env[@]}"; do
  [[ $e =~ ^VMT_[A-Z0-9_]+=[A-Za-z0-9._,:/=-]*$ ]] ||
    die "--env '$e': want VMT_<NAME>=<value> (value: letters, digits and ._,:/=-)"
done
custom_kernel=0
if [ -n "${DMREMAP_KERNEL:-}${DMREMAP_MODULES:-}" ]; then custom_kernel=1; fi
if [ -z "$per_test_timeout" ]; then
  # A timeout is for hangs: a loaded host (other guests, builds) has made the longest tests
  # on Debian's kernel (82, 84: ~50-65 s when quiet) take 130 s.
  per_test_timeout=240
  [ "$custom_kernel" = 0 ] || per_test_timeout=600   # KASAN + lockdep under TCG is slow
fi
[[ $per_test_timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer"

"$REPO/tools/install-deps.sh"
export PATH=$PATH:/usr/sbin:/sbin

if [ "$custom_kernel" = 1 ]; then
  { [ -n "${DMREMAP_KERNEL:-}" ] && [ -n "${DMREMAP_MODULES:-}" ]; } ||
    die "DMREMAP_KERNEL and DMREMAP_MODULES go together"
  KERNEL=$DMREMAP_KERNEL
  MODDIR=${DMREMAP_MODULES%/}
  KVER=$(basename "$MODDIR")
  MOD_BASE=${MODDIR%/lib/modules/"$KVER"}
  { [ "$MOD_BASE/lib/modules/$KVER" = "$MODDIR" ] && [ -n "$MOD_BASE" ]; } ||
    die "DMREMAP_MODULES=$DMREMAP_MODULES must end in /lib/modules/<release>"
  QEMU_MEM=${DMREMAP_QEMU_MEM:-2048}
else
  KVER=$("$REPO/tools/vm/kver.sh")
  # The host's /boot and /lib/modules, or a kernel `make kernels` cached (tools/kernels).
  # Sets KERNEL, MOD_BASE and MODDIR (and KDIR, SRC_TAR, ...; see kernels.sh).
  kenv=$("$REPO/tools/kernels/kernels.sh" env "$KVER")
  eval "$kenv"
  QEMU_MEM=${DMREMAP_QEMU_MEM:-1024}
fi
QEMU_SMP=${DMREMAP_QEMU_SMP:-2}
[[ $QEMU_SMP =~ ^[1-9][0-9]?$ ]] || die "DMREMAP_QEMU_SMP must be a CPU count (1..99)"
[ -r "$KERNEL" ] || die "no readable $KERNEL for KVER=$KVER"
[ -d "$MODDIR/kernel" ] || die "no $MODDIR/kernel for KVER=$KVER"
# modinfo for the target kernel's module tree (which may be a staging directory).
kmodinfo() { modinfo -b "$MOD_BASE" -k "$KVER" "$@"; }

# Relative module paths are relative to the repo root, as documented, not to the caller's cwd.
case $module in /*) ;; *) module=$REPO/$module ;; esac
[ -f "$module" ] || die "module $module not found (build it first: make)"
vermagic=$(modinfo -F vermagic "$module" 2>/dev/null || true)
[ "${vermagic%% *}" = "$KVER" ] ||
  die "module $module was built for '${vermagic%% *}', but the guest kernel is $KVER"
read -r -a module_deps <<<"$(modinfo -F depends "$module" | tr ',' ' ')"
if [ -n "$kunit_module" ]; then
  case $kunit_module in /*) ;; *) kunit_module=$REPO/$kunit_module ;; esac
  [ -f "$kunit_module" ] || die "KUnit module $kunit_module not found"
  vermagic=$(modinfo -F vermagic "$kunit_module" 2>/dev/null || true)
  [ "${vermagic%% *}" = "$KVER" ] ||
    die "KUnit module $kunit_module was built for '${vermagic%% *}', but the guest kernel is $KVER"
fi

# Resolve test names to scripts; guest-side names must stay shell-word safe.
if [ "$demo" = 1 ]; then
  tests=(demo)
elif [ ${#tests[@]} -eq 0 ]; then
  for f in "$REPO"/tests/vm/[0-9]*.sh; do [ -e "$f" ] && tests+=("$f"); done
  [ ${#tests[@]} -gt 0 ] || die "no tests in tests/vm/[0-9]*.sh"
fi
test_files=()
test_names=()
for t in "${tests[@]}"; do
  if [ -f "$t" ]; then f=$t
  elif [ -f "$REPO/tests/vm/$t" ]; then f=$REPO/tests/vm/$t
  elif [ -f "$REPO/tests/vm/$t.sh" ]; then f=$REPO/tests/vm/$t.sh
  else die "test '$t' not found (looked for it as a path and in tests/vm/)"
  fi
  name=$(basename "$f" .sh)
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "test name '$name' must match [A-Za-z0-9._-]+"
  for n in "${test_names[@]}"; do [ "$n" != "$name" ] || die "test '$name' selected twice"; done
  test_files+=("$f")
  test_names+=("$name")
done

# Multi-boot tests declare "# vmtest: disk=<MiB> boots=<N> timeout=<secs>"; test_disk/test_boots/
# test_timeout stay 0 for the tests that share the ordinary boot.
test_disk=()
test_boots=()
test_timeout=()
for i in "${!test_files[@]}"; do
  disk=0 boots=0 min_timeout=0
  directive=$(grep -m1 -E '^#[[:space:]]*vmtest:' "${test_files[$i]}" || true)
  if [ -n "$directive" ]; then
    for word in ${directive#*vmtest:}; do
      case $word in
        disk=*) disk=${word#disk=}
                [[ $disk =~ ^[1-9][0-9]{0,6}$ ]] || die "${test_files[$i]}: bad '$word' (disk=<MiB>)" ;;
        boots=*) boots=${word#boots=}
                 [[ $boots =~ ^[1-9][0-9]?$ ]] || die "${test_files[$i]}: bad '$word' (boots=<1..99>)" ;;
        timeout=*) min_timeout=${word#timeout=}
                   [[ $min_timeout =~ ^[1-9][0-9]{0,4}$ ]] || die "${test_files[$i]}: bad '$word' (timeout=<secs>)" ;;
        *) die "${test_files[$i]}: unknown vmtest directive '$word' (known: disk=<MiB> boots=<N> timeout=<secs>)" ;;
      esac
    done
    [ "$boots" != 0 ] || boots=1
  fi
  test_disk+=("$disk")
  test_boots+=("$boots")
  test_timeout+=("$min_timeout")
done

CACHE=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}
BASE_DIR=$CACHE/initramfs-$KVER
mkdir -p "$BASE_DIR" "$CACHE/runs"
optional_modules=()
for m in "${OPTIONAL_MODULES[@]}"; do
  if kmodinfo -n "$m" >/dev/null 2>&1; then optional_modules+=("$m"); fi
done
# dm-dust built out of tree when the kernel lacks it (possible only where its headers are).
dust_module=""
if ! kmodinfo -n dm-dust >/dev/null 2>&1; then
  if "$REPO/tools/kernels/kernels.sh" env "$KVER" >/dev/null 2>&1; then
    dust_module=$("$REPO/tools/vm/build-dust.sh" "$KVER")
  else
    note "kernel $KVER has no dm-dust and no headers to build it: the dm-dust tests will fail"
  fi
fi

# ---------------------------------------------------------------------------------------------
# Base initramfs: big (fio drags in ~80 MB of libraries) and slow to pack, so it is cached and
# rebuilt only when the kernel, the builder functions or any copied host file changes.

# Prints module files for the given names, following depends and softdeps (libcrc32c, for one,
# only softdeps on the crc32c implementations it asks for at run time).
resolve_modules() {
  local -A seen=()
  local queue=("$@") name files file dep
  while [ ${#queue[@]} -gt 0 ]; do
    name=${queue[0]}
    queue=("${queue[@]:1}")
    # An alias such as "crc32c" names several files; a built-in module names none.
    if ! files=$(kmodinfo -n "$name" 2>/dev/null); then
      echo "$PROG: kernel $KVER has no module '$name'" >&2
      return 1
    fi
    while IFS= read -r file; do
      case $file in /*) ;; *) continue ;; esac
      [ -z "${seen[$file]:-}" ] || continue
      seen[$file]=1
      printf '%s\n' "$file"
      for dep in $(kmodinfo -F depends "$file" | tr ',' ' ') \
                 $(kmodinfo -F softdep "$file" | tr ' ' '\n' | grep -v ':$' || true); do
        queue+=("$dep")
      done
    done <<<"$files"
  done
}

# Prints every host file the base image copies (binaries, their libraries and interpreter, modules).
base_inputs() {
  local bin
  # e2fsprogs for the ext4 test: mkfs.ext4 and fsck.ext4 are symlinks that cp -L copies whole.
  # util-linux's blkdiscard and fallocate for the discard test (busybox's have no -z).
  for bin in /bin/busybox "$(command -v dmsetup)" "$(command -v fio)" \
             "$(command -v mkfs.ext4)" "$(command -v fsck.ext4)" "$(command -v dumpe2fs)" \
             "$(command -v blkdiscard)" "$(command -v fallocate)"; do
    printf '%s\n' "$bin"
    # ldd lines are "name => /path (addr)" or "/path (addr)"; keep the absolute paths only.
    # The static busybox makes ldd fail; that just means "no libraries".
    { ldd "$bin" 2>/dev/null || true; } | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'
  done
  resolve_modules "${BASE_MODULES[@]}" "${optional_modules[@]}" "${module_deps[@]}"
  local f
  for f in modules.order modules.builtin modules.builtin.modinfo; do
    printf '%s\n' "$MODDIR/$f"
  done
  printf '%s\n' /etc/mke2fs.conf
}

build_base() {
  local out=$1 stage f dest applet inputs
  inputs=$(base_inputs | sort -u)   # an assignment, so a failure stops the build
  stage=$(mktemp -d "$BASE_DIR/stage.XXXXXX")
  # Mirror the host's merged /usr so ldd's paths and the ELF interpreter path resolve unchanged.
  mkdir -p "$stage"/usr/{bin,sbin,lib,lib64} "$stage"/{dev,proc,sys,tmp,run,etc,root,mnt}
  ln -s usr/bin "$stage/bin"
  ln -s usr/sbin "$stage/sbin"
  ln -s usr/lib "$stage/lib"
  ln -s usr/lib64 "$stage/lib64"
  while IFS= read -r f; do
    # The module tree may be a staging directory: its files go where the guest's modprobe looks.
    case $f in
      "$MODDIR"/*) dest=$stage/usr/lib/modules/$KVER/${f#"$MODDIR"/} ;;
      *) dest=$stage$(readlink -f "$(dirname "$f")")/$(basename "$f") ;;
    esac
    mkdir -p "$(dirname "$dest")"
    cp -L "$f" "$dest"
  done <<<"$inputs"
  # Applet paths go through the bin/sbin symlinks; never shadow a real binary such as dmsetup.
  for applet in $(/bin/busybox --list-full); do
    dest=$stage/$applet
    [ -e "$dest" ] || [ -L "$dest" ] || ln -s /usr/bin/busybox "$dest"
  done
  depmod -b "$stage" "$KVER"
  (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc -R 0:0 --quiet) >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$stage"
}

base_stamp() {
  local inputs
  inputs=$(base_inputs | sort -u)
  {
    echo "kver $KVER $MODDIR"
    echo "modules ${BASE_MODULES[*]} ${optional_modules[*]} ${module_deps[*]}"
    declare -f resolve_modules base_inputs build_base
    xargs -r stat -L -c '%n %s %Y' <<<"$inputs"
  } | sha256sum | cut -d' ' -f1
}

ensure_base() {
  local stamp t0
  exec {lock_fd}>"$BASE_DIR/lock"
  flock "$lock_fd"   # a concurrent run may be building the same base
  stamp=$(base_stamp)
  if [ -f "$BASE_DIR/base.cpio" ] && [ "$(cat "$BASE_DIR/stamp" 2>/dev/null)" = "$stamp" ]; then
    note "base initramfs: cached $BASE_DIR/base.cpio"
  else
    t0=$(date +%s.%N)
    rm -f "$BASE_DIR/stamp"
    rm -rf "$BASE_DIR"/stage.*
    build_base "$BASE_DIR/base.cpio"
    echo "$stamp" >"$BASE_DIR/stamp"
    note "base initramfs: built $BASE_DIR/base.cpio ($(du -m "$BASE_DIR/base.cpio" | cut -f1) MB)" \
         "in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  fi
  exec {lock_fd}>&-
}

# ---------------------------------------------------------------------------------------------
# Per-run cpio: /init, the guest library, the tests and the module. Later cpio members override
# earlier ones, so it is simply appended to the base.

write_init() {
  cat >"$1" <<'INIT'
#!/bin/sh
# PID 1 of the dm-remap test VM, generated by tools/vm/run-tests.sh into the per-run cpio.
# Everything for the host goes to ttyS1 (the results UART); the console on ttyS0 is only a log.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:/vmtest/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/shm /tmp /run
mount -t tmpfs tmpfs /dev/shm
# No udev in the guest: dmsetup must create its /dev/mapper nodes itself.
DM_DISABLE_UDEV=1
HOME=/root
export DM_DISABLE_UDEV HOME
. /vmtest/config
VMT_LIB=/vmtest/lib.sh
export VMT_TIMEOUT VMT_LIB DM_REMAP_KO DM_REMAP_DEPS
if [ -n "${DM_DUST_KO:-}" ]; then export DM_DUST_KO; fi
# Boots of a multi-boot test: which boot this is, and its disk image as /dev/vda.
if [ -n "${VMT_BOOT:-}" ]; then export VMT_BOOT VMT_BOOTS; fi
if [ -n "${VMT_DISK:-}" ]; then
  modprobe virtio_pci && modprobe virtio_blk || echo "vmtest: cannot load the virtio modules"
  n=50
  while [ ! -b "$VMT_DISK" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  [ -b "$VMT_DISK" ] || echo "vmtest: no $VMT_DISK"
  export VMT_DISK
fi

if ! exec 9>/dev/ttyS1; then
  echo "vmtest: cannot open /dev/ttyS1"
  poweroff -f
fi
# raw: no \n -> \r\n translation, so the host sees the bytes the tests wrote.
stty -F /dev/ttyS1 115200 raw -echo
# A debug kernel (tools/debug-kernel) has kmemleak: it scans after each test and sends what it
# found to the host. kmemleak reports an object only when a scan finds it unreferenced with the
# same content (checksum) as at the scan before, so each check is two scans (~5-13 s each under
# TCG). Objects younger than 5 s are not reported yet: a leak made at the very end of a test
# shows up at the next check (the final one at the latest).
KMEMLEAK=/sys/kernel/debug/kmemleak
if [ -w "$KMEMLEAK" ]; then debug=1; else debug=0; fi
VMT_DEBUG=$debug   # tests may scale down on a debug kernel (KASAN + lockdep under TCG is slow)
export VMT_DEBUG
if [ "$debug" = 1 ]; then
  # Leak backtraces are symbolised when they are read, after the test unloaded its module: log
  # where dm_remap's code sections are whenever that changes, so the host can name those frames.
  # (A watcher, because busybox sh runs its own insmod applet whatever PATH says.)
  # The section files answer only a read from offset 0 (so no shell "read"), and a cat per poll
  # would cost a process: they are read once each time the module (re)appears.
  (
    logged=0
    while :; do
      if [ ! -e /sys/module/dm_remap/sections ]; then
        logged=0
      elif [ "$logged" = 0 ]; then
        for sect in .text .text.unlikely .init.text; do
          f=/sys/module/dm_remap/sections/$sect
          [ ! -e "$f" ] || echo "vmtest: module dm_remap $sect $(cat "$f")" >/dev/kmsg
        done
        logged=1
      fi
      sleep 0.2
    done
  ) </dev/null >/dev/null 2>&1 &
fi
kmemleak_scan() {  # label: report new leak suspects, then forget them
  [ "$debug" = 1 ] || return 0
  echo scan >"$KMEMLEAK" && echo scan >"$KMEMLEAK" || echo "vmtest: kmemleak scan failed"
  cat "$KMEMLEAK" >/tmp/kmemleak.out 2>&1
  if [ -s /tmp/kmemleak.out ]; then
    echo "@@KMEMLEAK-BEGIN $1" >&9
    cat /tmp/kmemleak.out >&9
    echo "@@KMEMLEAK-END $1" >&9
  fi
  echo clear >"$KMEMLEAK"
}
echo "@@BOOT $(uname -r) boot=${VMT_BOOT:-1} debug=$debug uptime=$(cut -d' ' -f1 /proc/uptime)" >&9
# What the kernel leaked while booting is not the tests' doing.
if [ "$debug" = 1 ]; then kmemleak_scan boot; fi

for t in $VMT_TESTS; do
  name=${t%.sh}
  echo "vmtest: running $name"
  echo "vmtest: begin $name" >/dev/kmsg
  echo "@@BEGIN $name" >&9
  t0=$(date +%s)
  # Own session, so a timeout can take down everything the test started, not just its shell;
  # -k: a test that ignores SIGTERM still gets SIGKILL.
  VMT_TEST=$name timeout -s TERM -k 10 "$VMT_TIMEOUT" setsid sh "/vmtest/tests/$t" </dev/null >&9 2>&1 9>&- &
  pid=$!
  wait "$pid"
  rc=$?
  kill -KILL -- "-$pid" 2>/dev/null
  secs=$(( $(date +%s) - t0 ))
  status=ok
  [ "$rc" -eq 0 ] || status=fail
  if [ "$rc" -ge 128 ] && [ "$secs" -ge "$VMT_TIMEOUT" ]; then status=timeout; fi
  echo "vmtest: end $name rc=$rc" >/dev/kmsg
  # A test killed by its timeout (or one that failed early) may leave devices and modules
  # behind: clear them so the next test starts from a clean kernel, not from its leftovers.
  if [ -n "$(dmsetup ls 2>/dev/null | grep -v '^No devices found')" ] || [ -d /sys/module/dm_remap ]; then
    echo "vmtest: $name left devices or modules behind: removing them"
    dmsetup remove_all --force >/dev/null 2>&1
    for m in dm_remap dm_dust brd scsi_debug null_blk; do
      [ ! -d "/sys/module/$m" ] || rmmod "$m" 2>/dev/null || true
    done
  fi
  echo "@@DONE $name $rc $status $secs" >&9
  echo "vmtest: $name: $status (rc=$rc, ${secs}s)"
  kmemleak_scan "$name"
done
# The KUnit module runs its suites while it loads; the results stay in debugfs until it unloads.
if [ -n "${VMT_KUNIT:-}" ]; then
  echo "vmtest: running the KUnit suites"
  echo "vmtest: begin kunit" >/dev/kmsg
  echo "@@KUNIT-BEGIN" >&9
  t0=$(date +%s)
  # The glue suite runs the target's callbacks on two fresh 16 MiB ramdisks; the module
  # uses dm-mod's exports, and insmod does not load dependencies.
  rmmod brd 2>/dev/null
  modprobe dm-mod && modprobe brd rd_nr=2 rd_size=16384 ||
    echo "vmtest: cannot load dm-mod and brd for the KUnit glue suite"
  insmod "$VMT_KUNIT" >/tmp/kunit-insmod.out 2>&1
  rc=$?
  for d in /sys/kernel/debug/kunit/*/; do
    [ -f "$d/results" ] || continue
    s=$(basename "$d")
    echo "@@KTAP-BEGIN $s" >&9
    cat "$d/results" >&9
    echo "@@KTAP-END $s" >&9
  done
  [ "$rc" -ne 0 ] || rmmod "$VMT_KUNIT" || rc=$?
  rmmod brd 2>/dev/null
  echo "vmtest: end kunit rc=$rc" >/dev/kmsg
  echo "@@KUNIT-END $rc $(( $(date +%s) - t0 )) $(tr '\n' ' ' </tmp/kunit-insmod.out)" >&9
  kmemleak_scan kunit
fi
if [ "$debug" = 1 ]; then
  # Leaks younger than the minimum age at the last test's scan.
  sleep 5
  kmemleak_scan after-all
fi

echo "@@DMESG-BEGIN" >&9
dmesg -s 8388608 >&9   # all of it: busybox reads only the last 16 KiB by default
echo "@@DMESG-END" >&9
# The last close of the tty waits until the UART has sent everything; poweroff would not.
exec 9>&-
echo "@@ALL-DONE" >/dev/ttyS1
# Whatever a test left in the page cache reaches the disk image before the power goes.
sync
sleep 0.2
poweroff -f
INIT
  chmod 755 "$1"
}

# add_tool STAGE: the project's binaries (dmremap, lwreplay) and the libraries they need beyond
# the base image's (libisal), at the host's paths like the base image's binaries. Without a
# binary, the tests that need it fail.
add_tool() {
  local pair bin name lib dest
  for pair in "dmremap:$tool" "lwreplay:$lwreplay_tool"; do
    name=${pair%%:*} bin=${pair#*:}
    if [ ! -x "$bin" ]; then
      note "no $name binary at $bin (make $name): tests that use it will fail"
      continue
    fi
    install -D -s -m 0755 "$bin" "$1/usr/sbin/$name"
    for lib in $({ ldd "$bin" 2>/dev/null || true; } |
                 awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
      dest=$1$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
      [ -e "$dest" ] || install -D -m 0755 "$(readlink -f "$lib")" "$dest"
    done
  done
}

# build_extra OUT CONFIG-LINES TEST-INDEX...: the per-boot cpio with the given tests.
build_extra() {
  local out=$1 conf=$2 stage i names=()
  shift 2
  stage=$(mktemp -d "$run_dir/extra.XXXXXX")
  mkdir -p "$stage/vmtest/tests"
  write_init "$stage/init"
  cp "$REPO/tests/vm/lib.sh" "$stage/vmtest/lib.sh"
  cp "$module" "$stage/vmtest/dm-remap.ko"
  [ -z "$dust_module" ] || cp "$dust_module" "$stage/vmtest/dm-dust.ko"
  [ "$with_kunit" = 0 ] || cp "$kunit_module" "$stage/vmtest/dm-remap-kunit.ko"
  for i in "$@"; do
    cp "${test_files[$i]}" "$stage/vmtest/tests/${test_names[$i]}.sh"
    names+=("${test_names[$i]}.sh")
  done
  {
    echo "VMT_TESTS='${names[*]}'"
    echo "VMT_TIMEOUT=$per_test_timeout"
    echo "DM_REMAP_KO=/vmtest/dm-remap.ko"
    echo "DM_REMAP_DEPS='${module_deps[*]}'"
    [ -z "$dust_module" ] || echo "DM_DUST_KO=/vmtest/dm-dust.ko"
    [ "$with_kunit" = 0 ] || echo "VMT_KUNIT=/vmtest/dm-remap-kunit.ko"
    [ -z "$conf" ] || printf '%s\n' "$conf"
    for e in "${guest_env[@]}"; do echo "$e; export ${e%%=*}"; done
  } >"$stage/vmtest/config"
  add_tool "$stage"
  cp -r "$helper_dir" "$stage/vmtest/bin"
  (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc -R 0:0 --quiet) >"$out"
  rm -rf "$stage"
}

# ---------------------------------------------------------------------------------------------
# Results: each boot's results UART turns into TAP lines; the numbering runs across boots.

tap_n=0
passed=0
failed=0
skipped=0
tap() {  # tap ok|skip|fail "description"
  local desc=${2//#/\\#}   # a bare # would start a TAP directive
  tap_n=$((tap_n + 1))
  if [ "$1" = skip ]; then
    skipped=$((skipped + 1))
    echo "ok $tap_n - $desc # SKIP"
  elif [ "$1" = ok ]; then
    passed=$((passed + 1))
    echo "ok $tap_n - $desc"
  else
    failed=$((failed + 1))
    echo "not ok $tap_n - $desc"
  fi
}
show_file_tail() {  # as TAP comments, so the output stays valid TAP
  sed -e 's/^/#   /' "$1" | tail -n "${2:-60}"
}

# Per boot: b_tag names its files (console$b_tag.log, ...), b_sfx its test logs
# (test-NAME$b_sfx.log), b_prefix goes before each check's description, b_guest names the
# guest-level checks.
b_tag="" b_sfx="" b_prefix="" b_guest=guest
declare -A began=() test_failed=() durations=()
# Test-level verdict right after the test's own checks, with its output when anything failed.
finish_test() {  # name rc status secs ("" rc when the guest never reported the end)
  local name=$1 rc=$2 status=$3 secs=$4 log=$run_dir/test-$1$b_sfx.log
  if [ -z "$rc" ]; then
    tap fail "$name: ${b_prefix}did not finish (the guest stopped while it ran)"
    test_failed[$name$b_sfx]=1
  elif [ "$status" = timeout ]; then
    tap fail "$name: ${b_prefix}timed out after $secs s (limit $per_test_timeout s)"
    test_failed[$name$b_sfx]=1
  elif [ "$rc" != 0 ]; then
    tap fail "$name: ${b_prefix}script exited with status $rc"
    test_failed[$name$b_sfx]=1
  fi
  [ -z "$secs" ] || durations[$name$b_sfx]=$secs
  if [ -n "${test_failed[$name$b_sfx]:-}" ]; then
    note "output of $name$b_sfx (last 60 lines; all of it in $log):"
    show_file_tail "$log" 60
  fi
}

# parse_boot TEST-NAME...: the TAP for one boot's results, end marker and kernel log.
parse_boot() {
  local cur="" in_dmesg=0 end_marker=0 checks=0 line rest result tname desc rc status secs name
  local results=$run_dir/results$b_tag.log dmesg_log=$run_dir/dmesg$b_tag.log
  local console=$run_dir/console$b_tag.log reason dmesg_src bad_re
  local guest_debug=0 leak_label="" ktap_suite="" kunit_end=""
  began=()
  rm -f "$run_dir"/kunit-*"$b_sfx".ktap
  : >"$dmesg_log"
  rm -f "$run_dir"/kmemleak-*"$b_sfx".log
  while IFS= read -r line; do
    line=${line%$'\r'}
    if [ -n "$ktap_suite" ]; then
      if [ "$line" = "@@KTAP-END $ktap_suite" ]; then ktap_suite=""
      else printf '%s\n' "$line" >>"$run_dir/kunit-$ktap_suite$b_sfx.ktap"; fi
      continue
    fi
    if [ -n "$leak_label" ]; then
      if [ "$line" = "@@KMEMLEAK-END $leak_label" ]; then leak_label=""
      else printf '%s\n' "$line" >>"$run_dir/kmemleak-$leak_label$b_sfx.log"; fi
      continue
    fi
    if [ "$in_dmesg" = 1 ]; then
      if [ "$line" = "@@DMESG-END" ]; then in_dmesg=0; else printf '%s\n' "$line" >>"$dmesg_log"; fi
      continue
    fi
    case $line in
      "@@BEGIN "*)
        cur=${line#@@BEGIN }
        began[$cur]=1
        : >"$run_dir/test-$cur$b_sfx.log"
        ;;
      "@@CHECK "*)
        rest=${line#@@CHECK }
        result=${rest%% *}; rest=${rest#"$result"}; rest=${rest# }
        tname=${rest%% *}; desc=${rest#"$tname"}; desc=${desc# }
        checks=$((checks + 1))
        if [ "$result" = ok ]; then
          tap ok "$tname: $b_prefix$desc"
        elif [ "$result" = skip ]; then
          tap skip "$tname: $b_prefix$desc"
        else
          tap fail "$tname: $b_prefix$desc"
          test_failed[$tname$b_sfx]=1
        fi
        [ -z "$cur" ] || printf '%s\n' "$line" >>"$run_dir/test-$cur$b_sfx.log"
        ;;
      "@@DONE "*)
        read -r tname rc status secs <<<"${line#@@DONE }"
        finish_test "$tname" "$rc" "$status" "$secs"
        cur=""
        ;;
      "@@DMESG-BEGIN") in_dmesg=1 ;;
      "@@ALL-DONE") end_marker=1 ;;
      "@@BOOT "*)
        case $line in *" debug=1 "*) guest_debug=1 ;; esac
        note "$b_guest: /init started at ${line##*uptime=} s guest time" ;;
      "@@KUNIT-BEGIN") cur=kunit; began[kunit]=1; : >"$run_dir/test-kunit$b_sfx.log" ;;
      "@@KTAP-BEGIN "*)
        ktap_suite=${line#@@KTAP-BEGIN }
        [[ $ktap_suite =~ ^[A-Za-z0-9._-]+$ ]] || ktap_suite=bad-suite-name
        : >"$run_dir/kunit-$ktap_suite$b_sfx.ktap"
        ;;
      "@@KUNIT-END "*) kunit_end=${line#@@KUNIT-END }; cur="" ;;
      "@@KMEMLEAK-BEGIN "*)
        leak_label=${line#@@KMEMLEAK-BEGIN }
        : >"$run_dir/kmemleak-$leak_label$b_sfx.log"
        ;;
      *)
        if [ -n "$cur" ]; then printf '%s\n' "$line" >>"$run_dir/test-$cur$b_sfx.log"; fi
        case $line in "# run"*) ;; *) if [ "$demo" = 1 ]; then printf '%s\n' "$line"; fi ;; esac
        ;;
    esac
  done < <(cat "$results" 2>/dev/null || true)

  [ "$cur" = kunit ] || [ -z "$cur" ] || finish_test "$cur" "" "" ""
  [ "$with_kunit" = 0 ] || kunit_checks "$kunit_end"
  for name in "$@"; do
    [ -n "${began[$name]:-}" ] || tap fail "$name: ${b_prefix}never started"
  done

  if [ "$end_marker" != 1 ]; then
    if [ "$qemu_rc" = 124 ]; then
      reason="overall timeout of $boot_timeout s hit"
    elif grep -q 'Kernel panic' "$console" 2>/dev/null; then
      reason="kernel panic: $(grep -m1 'Kernel panic' "$console" | tr -d '\r')"
    elif [ "$qemu_rc" != 0 ]; then
      reason="qemu failed with status $qemu_rc: $(tail -n 3 "$run_dir/qemu$b_tag.out" | tr '\n' ' ')"
    else
      reason="guest powered off without reporting"
    fi
    tap fail "$b_guest: end marker missing ($reason)"
    note "console (last 40 lines; all of it in $console):"
    show_file_tail "$console" 40
  fi

  # Kernel trouble is a failure even when every check passed. Without a dmesg dump the console
  # (which shows warnings and worse despite "quiet") is the best evidence left.
  dmesg_src=$dmesg_log
  [ -s "$dmesg_src" ] || dmesg_src=$console
  bad_re='BUG:|WARNING:|UBSAN:|Oops|Call Trace|general protection'
  if [ -f "$dmesg_src" ] && grep -qE "$bad_re" "$dmesg_src"; then
    tap fail "$b_guest: kernel log free of BUG/WARNING/Oops/Call Trace/general protection"
    note "offending kernel log lines (from $dmesg_src):"
    grep -nE "$bad_re" "$dmesg_src" | tr -d '\r' | head -n 40 | sed 's/^/#   /'
    note "context of the first one:"
    grep -m1 -A 25 -E "$bad_re" "$dmesg_src" | tr -d '\r' | sed 's/^/#   /'
  elif [ -f "$dmesg_src" ]; then
    tap ok "$b_guest: kernel log free of BUG/WARNING/Oops/Call Trace/general protection"
  fi

  if [ "$checks" -eq 0 ]; then
    tap fail "$b_guest: no checks ran"
  fi
  if [ "$guest_debug" = 1 ]; then
    if [ "$with_kunit" = 1 ]; then debug_checks "$@" kunit; else debug_checks "$@"; fi
  fi
}

# KUnit: each test case of each suite's KTAP (debugfs results) becomes a check; a suite that
# declared more cases than it reported, a module that did not load and a guest that died while
# the suites ran all fail. Parameterised cases count once, with their parameters listed on failure.
kunit_checks() {  # "rc secs insmod-output" from @@KUNIT-END, or "" when it never came
  local end=$1 f suite rc secs plan got cases=0 kpass=0 kfail=0 kskip=0 status name rest
  if [ -z "$end" ]; then
    tap fail "kunit: ${b_prefix}the KUnit module finished (the guest stopped while it ran)"
    test_failed[kunit$b_sfx]=1
    return
  fi
  read -r rc secs rest <<<"$end"
  durations[kunit$b_sfx]=$secs
  if [ "$rc" != 0 ]; then
    tap fail "kunit: ${b_prefix}the KUnit module loads and unloads (status $rc: $rest)"
    test_failed[kunit$b_sfx]=1
  fi
  for f in "$run_dir"/kunit-*"$b_sfx".ktap; do
    [ -e "$f" ] || continue
    suite=$(basename "$f" .ktap); suite=${suite#kunit-}; suite=${suite%"$b_sfx"}
    # Case lines are indented by exactly four spaces; deeper ones are parameters.
    plan=$(sed -n 's/^    1\.\.\([0-9]*\)$/\1/p' "$f" | head -n 1)
    got=0
    while IFS=$'\t' read -r status name; do
      got=$((got + 1))
      cases=$((cases + 1))
      case $status in
        skip) kskip=$((kskip + 1)); tap ok "kunit: $b_prefix$suite: $name # skipped" ;;
        ok) kpass=$((kpass + 1)); tap ok "kunit: $b_prefix$suite: $name" ;;
        *)
          kfail=$((kfail + 1))
          tap fail "kunit: $b_prefix$suite: $name"
          test_failed[kunit$b_sfx]=1
          note "KTAP of $suite around $name (all of it in $f):"
          awk -v n="$name" '
            /^        (not ok|ok) / || /^        # / { buf = buf $0 "\n"; next }
            /^    (not ok|ok) [0-9]+ / {
              line = $0; sub(/^    (not ok|ok) [0-9]+ (- )?/, "", line); sub(/ # .*/, "", line)
              if (line == n) { printf "%s%s\n", buf, $0 }
              buf = ""; next
            }
            { buf = buf $0 "\n" }' "$f" | grep -v '^ *$' | tail -n 40 | sed 's/^/#   /'
          ;;
      esac
    done < <(awk '
      /^    (not ok|ok) [0-9]+ / {
        st = ($0 ~ /^    not ok/) ? "fail" : "ok"
        if ($0 ~ / # SKIP/) st = "skip"
        line = $0; sub(/^    (not ok|ok) [0-9]+ (- )?/, "", line); sub(/ # .*/, "", line)
        printf "%s\t%s\n", st, line
      }' "$f")
    if [ -z "$plan" ] || [ "$got" != "$plan" ]; then
      tap fail "kunit: $b_prefix$suite: all ${plan:-?} planned cases reported (got $got: a case crashed?)"
      test_failed[kunit$b_sfx]=1
    fi
  done
  if [ "$cases" = 0 ]; then
    tap fail "kunit: ${b_prefix}the KUnit module ran test cases"
    test_failed[kunit$b_sfx]=1
  fi
  kunit_summary="$cases KUnit cases: $kpass passed, $kfail failed, $kskip skipped"
  note "kunit: $kunit_summary (${secs} s)"
}

# The debug kernel's reports, attributed to the test during (or after) which they appeared: the
# kernel log from "vmtest: begin NAME" up to the next test's begin, and the kmemleak scan that
# followed the test. Reports stay in the log files; the first ones are shown here.
# KASAN and "sleeping function called from invalid context" say "BUG:", lockdep says "WARNING:"
# (circular/recursive locking, inconsistent lock state, suspicious RCU usage) or "INFO:"
# (non-static key), DEBUG_OBJECTS says "ODEBUG:", DEBUG_LIST "list_add/list_del corruption".
# annotate_leaks FILE: kmemleak's output, with each frame that is a bare address inside the
# dm-remap module as it was loaded (the guest logged where) named as dm_remap .text+offset and,
# when addr2line can tell from the module's debug information, its function and source line.
annotate_leaks() {
  local bases   # "section=address" pairs
  bases=$(sed -n 's/.*vmtest: module dm_remap \(\.[a-z.]*\) \(0x[0-9a-f]*\).*/\1=\2/p' \
            "$run_dir/dmesg$b_tag.log" 2>/dev/null | sort -u | tr '\n' ' ')
  if [ -z "$bases" ]; then cat "$1"; return; fi
  local -A size=()   # section sizes from the module file, so a frame is only put where it fits
  local name hex
  while read -r name hex; do size[$name]=$((16#$hex)); done < <(
    readelf -SW "$module" 2>/dev/null |
      awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\.(text|init\.text)/) { print $i, $(i + 4); break } }')
  local line addr pair off where best sect
  while IFS= read -r line; do
    printf '%s' "$line"
    addr=$(printf '%s\n' "$line" | sed -n 's/.*\] \(0xffffffff[0-9a-f]*\)$/\1/p')
    if [ -n "$addr" ]; then
      best="" sect=""   # the nearest section start below the frame
      for pair in $bases; do
        off=$(( addr - ${pair#*=} ))
        if [ "$off" -ge 0 ] && [ "$off" -lt "${size[${pair%%=*}]:-0}" ] &&
           { [ -z "$best" ] || [ "$off" -lt "$best" ]; }; then best=$off sect=${pair%%=*}; fi
      done
      if [ -n "$best" ]; then
        where=$(addr2line -f -i -p -e "$module" -j "$sect" "$(printf '0x%x' "$best")" 2>/dev/null |
                tr '\n' ' ' || true)
        printf '  <- dm_remap %s+0x%x %s' "$sect" "$best" "$where"
      fi
    fi
    printf '\n'
  done <"$1"
}

report_re='BUG:|WARNING:|UBSAN:|Oops|general protection|ODEBUG:|list_(add|del) corruption|INFO: (trying to register|possible|task .* blocked)|kmemleak: (Kernel memory leak detector disabled|.*[Pp]ool empty)'
debug_checks() {  # test names of this boot
  local name slice leaks dmesg_log=$run_dir/dmesg$b_tag.log
  for name in "$@"; do
    [ -n "${began[$name]:-}" ] || continue
    slice=$run_dir/dmesg-$name$b_sfx.log
    awk -v b="vmtest: begin $name" '
      index($0, "vmtest: begin ") { on = (substr($0, index($0, "vmtest: begin ")) == b) }
      on' "$dmesg_log" >"$slice"
    if grep -qE "$report_re" "$slice"; then
      tap fail "$name: ${b_prefix}no KASAN/lockdep/UBSAN/atomic-sleep/BUG/WARNING report while it ran"
      test_failed[$name$b_sfx]=1
      note "kernel reports during $name$b_sfx (all of them in $slice):"
      grep -nE "$report_re" "$slice" | head -n 20 | sed 's/^/#   /'
      note "the first report:"
      grep -m1 -A 60 -E "$report_re" "$slice" | sed 's/^/#   /'
    else
      tap ok "$name: ${b_prefix}no KASAN/lockdep/UBSAN/atomic-sleep/BUG/WARNING report while it ran"
    fi
    leaks=$run_dir/kmemleak-$name$b_sfx.log
    if [ -s "$leaks" ]; then
      tap fail "$name: ${b_prefix}kmemleak found no new leak after it"
      test_failed[$name$b_sfx]=1
      note "kmemleak after $name$b_sfx: $(grep -c '^unreferenced object' "$leaks") suspects (all in $leaks):"
      annotate_leaks "$leaks" | head -n 80 | sed 's/^/#   /'
    else
      tap ok "$name: ${b_prefix}kmemleak found no new leak after it"
    fi
  done
  leaks=$run_dir/kmemleak-after-all$b_sfx.log
  if [ -s "$leaks" ]; then
    tap fail "$b_guest: kmemleak found no new leak at the end (after the last test)"
    annotate_leaks "$leaks" | head -n 80 | sed 's/^/#   /'
  else
    tap ok "$b_guest: kmemleak found no new leak at the end (after the last test)"
  fi
  leaks=$run_dir/kmemleak-boot$b_sfx.log
  if [ -s "$leaks" ]; then
    note "kmemleak suspects left by the kernel's own boot (not counted; in $leaks):"
    grep '^unreferenced object\|^  comm' "$leaks" | head -n 10 | sed 's/^/#   /'
  fi
}

# ---------------------------------------------------------------------------------------------
# Boots.

boot_walls=()
# run_boot DISK-IMAGE TEST-INDEX...: one QEMU boot running the given tests; b_* describe it,
# and VMT_BOOT/VMT_BOOTS/VMT_DISK come from conf.
run_boot() {
  local disk=$1 conf="" i names=() t0 boot_secs qemu
  shift
  for i in "$@"; do names+=("${test_names[$i]}"); done
  [ -z "$b_boot" ] || conf="VMT_BOOT=$b_boot"$'\n'"VMT_BOOTS=$b_boots"
  [ -z "$disk" ] || conf="$conf"$'\n'"VMT_DISK=/dev/vda"
  build_extra "$run_dir/extra$b_tag.cpio" "$conf" "$@"
  cat "$BASE_DIR/base.cpio" "$run_dir/extra$b_tag.cpio" >"$run_dir/initramfs.cpio"

  boot_timeout=$(( 90 + (per_test_timeout + 15) * $# ))
  # A debug kernel boots slower and scans for leaks after every test (~13 s each).
  [ "$custom_kernel" = 0 ] || boot_timeout=$(( boot_timeout + 60 + 30 * ($# + 2) ))
  # log_buf_len: a shared boot logs a lot (a debug kernel even more), and every line must
  # survive until the dump at the end and for the tests' dmesg_since.
  # pci=noacpi: the debug kernel's ACPI interpreter (KASAN + lockdep under TCG) runs into its
  # 30 s loop timeout evaluating _PRT for the virtio disk's interrupt and the boot stalls
  # ("AE_AML_LOOP_TIMEOUT"); the BIOS's PIRQ table routes it instead.
  # no_timer_check: on a loaded host the kernel's early check that the timer interrupt arrives
  # through the IO-APIC can miss it under TCG and panic ("IO-APIC + timer doesn't work!").
  local append="console=ttyS0 panic=-1 quiet log_buf_len=8M no_timer_check"
  [ "$custom_kernel" = 0 ] || append="$append pci=noacpi"
  qemu=(qemu-system-x86_64 -accel tcg -m "$QEMU_MEM" -smp "$QEMU_SMP" -nodefaults -nic none -display none
        -no-reboot -serial "file:$run_dir/console$b_tag.log" -serial "file:$run_dir/results$b_tag.log"
        -kernel "$KERNEL" -initrd "$run_dir/initramfs.cpio"
        -append "$append")
  # cache=writeback: guest writes land in the host's page cache, so they outlive this QEMU
  # process and the next boot reads them; a guest flush becomes fdatasync on the image.
  [ -z "$disk" ] || qemu+=(-drive "file=$disk,if=virtio,format=raw,cache=writeback")
  # Extra QEMU options for experiments (e.g. "-cpu max"); word-split on purpose.
  # shellcheck disable=SC2206
  qemu+=(${DMREMAP_QEMU_ARGS:-})
  {
    echo "# to repeat this boot (extra$b_tag.cpio is kept; initramfs.cpio is not):"
    printf 'cat %q %q >%q\n' "$BASE_DIR/base.cpio" "$run_dir/extra$b_tag.cpio" "$run_dir/initramfs.cpio"
    printf '%q ' timeout "$boot_timeout" "${qemu[@]}"
    echo
  } >"$run_dir/qemu$b_tag.cmd"
  note "${b_boot:+${names[0]} boot $b_boot of $b_boots: }kernel $KVER, module $module, tests: ${names[*]}"
  t0=$(date +%s.%N)
  qemu_rc=0
  timeout "$boot_timeout" "${qemu[@]}" </dev/null >"$run_dir/qemu$b_tag.out" 2>&1 || qemu_rc=$?
  boot_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  rm -f "$run_dir/initramfs.cpio"   # ~90 MB each; qemu$b_tag.cmd says how to recreate it
  note "$b_guest: boot to poweroff ${boot_secs} s (qemu exit status $qemu_rc)"
  if [ -n "$b_boot" ]; then boot_walls+=("${names[0]} boot$b_boot $boot_secs s")
  else boot_walls+=("shared boot $boot_secs s"); fi
  parse_boot "${names[@]}"
}

run_dir=$CACHE/runs/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$run_dir"
# Old run directories are only useful for a while; keep the newest 20, and never one whose
# run (its name ends in the runner's pid) is still going: a long debug-kernel run outlives
# many short ones.
# shellcheck disable=SC2012 # names are ours and contain no odd characters
ls -1d "$CACHE"/runs/*/ 2>/dev/null | sort | head -n -20 | while IFS= read -r old; do
  old_pid=${old%/}
  old_pid=${old_pid##*-}
  if [[ $old_pid =~ ^[0-9]+$ ]] && grep -qs run-tests "/proc/$old_pid/cmdline"; then continue; fi
  rm -rf "$old"
done

# Test helpers (tests/vm/helpers/*.c): small static programs for what a shell cannot do, such
# as making ioctls from the very task that armed a fault; on the guest's PATH as /vmtest/bin.
helper_dir=$run_dir/helpers
mkdir -p "$helper_dir"
for src in "$REPO"/tests/vm/helpers/*.c; do
  [ -e "$src" ] || continue
  gcc -static -O2 -Wall -Wextra -Werror -o "$helper_dir/$(basename "$src" .c)" "$src" ||
    die "cannot build the test helper $src"
done

ensure_base

# The ordinary tests share one boot; each multi-boot test then gets its own boots, all with
# one image that is fresh at its first boot.
shared=()
for i in "${!test_names[@]}"; do
  [ "${test_boots[$i]}" != 0 ] || shared+=("$i")
done
with_kunit=0
kunit_summary=""
if [ ${#shared[@]} -gt 0 ]; then
  b_tag="" b_sfx="" b_prefix="" b_guest=guest b_boot="" b_boots=""
  [ -z "$kunit_module" ] || with_kunit=1
  run_boot "" "${shared[@]}"
  with_kunit=0
elif [ -n "$kunit_module" ]; then
  note "--kunit ignored: no test shares the ordinary boot"
fi
for i in "${!test_names[@]}"; do
  [ "${test_boots[$i]}" != 0 ] || continue
  name=${test_names[$i]}
  disk=""
  if [ "${test_disk[$i]}" != 0 ]; then
    disk=$run_dir/disk-$name.img
    rm -f "$disk"
    truncate -s "${test_disk[$i]}M" "$disk"
  fi
  saved_timeout=$per_test_timeout
  [ "${test_timeout[$i]}" -le "$per_test_timeout" ] || per_test_timeout=${test_timeout[$i]}
  for ((k = 1; k <= test_boots[i]; k++)); do
    b_tag=-$name-boot$k b_sfx=-boot$k b_prefix="boot$k: " b_guest="guest ($name boot $k)"
    b_boot=$k b_boots=${test_boots[$i]}
    run_boot "$disk" "$i"
  done
  per_test_timeout=$saved_timeout
  # The image is evidence when something failed; otherwise it only takes space.
  failed_here=""
  for ((k = 1; k <= test_boots[i]; k++)); do
    [ -z "${test_failed[$name-boot$k]:-}" ] || failed_here=1
  done
  if [ -n "$disk" ] && [ -z "$failed_here" ]; then rm -f "$disk"; fi
done

summary=""
for i in "${!test_names[@]}"; do
  name=${test_names[$i]}
  if [ "${test_boots[$i]}" = 0 ]; then
    summary="$summary, $name ${durations[$name]:-?} s"
  else
    for ((k = 1; k <= test_boots[i]; k++)); do
      summary="$summary, $name boot$k ${durations[$name-boot$k]:-?} s"
    done
  fi
done
[ -z "${durations[kunit]:-}" ] || summary="$summary, kunit ${durations[kunit]} s"
note "test durations (guest): ${summary#, }"
[ -z "$kunit_summary" ] || note "$kunit_summary"
walls=$(printf '%s, ' "${boot_walls[@]}")
note "boots (wall, boot to poweroff): ${walls%, }"

echo "1..$tap_n"
if [ "$failed" -gt 0 ]; then
  note "FAILED; logs (console*.log, results*.log, dmesg*.log, test-*.log) in $run_dir"
else
  note "logs in $run_dir"
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
