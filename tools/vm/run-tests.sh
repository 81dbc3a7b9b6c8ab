#!/usr/bin/env bash
# Runs the dm-remap VM tests: boots the Debian target kernel under QEMU TCG (the host cannot load
# modules and its /dev/kvm cannot run ordinary guests) with a cached base initramfs plus a small per-run
# cpio, then turns the guest's report lines into TAP and a final "N passed, N failed" line.
# This file holds the options, the boots and the main loop; the guest's /init is guest-init.sh,
# and it sources initramfs.sh (the images), report.sh (TAP and KTAP) and debug-report.sh.
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
kunit_deps=()
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
  read -r -a kunit_deps <<<"$(modinfo -F depends "$kunit_module" | tr ',' ' ')"
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

# The initramfs builders: the base image (cached) and the per-boot cpio with tools/vm/guest-init.sh.
# shellcheck source=tools/vm/initramfs.sh
. "$REPO/tools/vm/initramfs.sh"
# The results: TAP from the guest's report lines, KUnit's KTAP, the debug kernel's checks.
# shellcheck source=tools/vm/report.sh
. "$REPO/tools/vm/report.sh"
# shellcheck source=tools/vm/debug-report.sh
. "$REPO/tools/vm/debug-report.sh"

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
