# shellcheck shell=dash
# Guest-side helpers for the dm-remap VM tests (busybox ash), sourced by every tests/vm/NN-*.sh.
# Checks report "@@CHECK ok|fail <test> <description>" lines that tools/vm/run-tests.sh turns into
# TAP; anything else a test prints lands in that test's log on the host.
#
# Tests should not use `set -e`: a failed check must not hide the checks after it. check* return
# the outcome, so `check ... || exit 1` stops a test where going on makes no sense.

VMT_TEST=${VMT_TEST:-$(basename "$0" .sh)}
VMT_FAILURES=0
# fd 8 stays the report channel even while a checked command's stdout is redirected elsewhere.
exec 8>&1

_vmt_report() {  # ok|fail description
  local desc
  desc=$(printf '%s' "$2" | tr '\n\r' '  ')   # one protocol line per check
  [ "$1" != fail ] || VMT_FAILURES=$((VMT_FAILURES + 1))
  printf '@@CHECK %s %s %s\n' "$1" "$VMT_TEST" "$desc" >&8
}

log() { printf '# %s\n' "$*"; }

pass() { _vmt_report ok "$1"; }
# skip_test "reason": this kernel cannot run the test (reported as a TAP SKIP); ends the test.
skip_test() { _vmt_report skip "$1"; exit 0; }
fail() { _vmt_report fail "$1"; return 1; }

# check "description" command [args...]: ok when the command exits 0.
check() {
  local desc=$1 rc
  shift
  log "run: $*"
  "$@"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    _vmt_report ok "$desc"
  else
    log "FAILED (exit status $rc): $desc"
    _vmt_report fail "$desc"
  fi
  return "$rc"
}

# check_fails "description" command [args...]: ok when the command exits non-zero. 126/127
# (cannot run) and deaths by signal do not count as the refusal we are looking for.
check_fails() {
  local desc=$1 rc
  shift
  log "run (must fail): $*"
  "$@"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 126 ]; then
    _vmt_report ok "$desc"
    return 0
  fi
  if [ "$rc" -eq 0 ]; then log "FAILED (unexpectedly succeeded): $desc"
  else log "FAILED (could not run or died, status $rc): $desc"; fi
  _vmt_report fail "$desc"
  return 1
}

# check_eq "description" expected actual
check_eq() {
  if [ "$2" = "$3" ]; then
    _vmt_report ok "$1"
    return 0
  fi
  log "FAILED: $1"
  log "  expected: '$2'"
  log "  actual:   '$3'"
  _vmt_report fail "$1"
  return 1
}

# check_contains "description" haystack needle
check_contains() {
  case $2 in
    *"$3"*) _vmt_report ok "$1"; return 0 ;;
  esac
  log "FAILED: $1"
  log "  '$3' not found in: '$2'"
  _vmt_report fail "$1"
  return 1
}

# ---- modules --------------------------------------------------------------------------------
# The initramfs has depmod'd modules (busybox modprobe resolves dependencies); dm-remap.ko is not
# among them and is loaded by path from $DM_REMAP_KO after its dependencies ($DM_REMAP_DEPS).

load_module() { modprobe "$@"; }

is_loaded() { [ -d "/sys/module/$(echo "$1" | tr - _)" ]; }

unload_module() {  # quietly, for cleanup
  is_loaded "$1" || return 0
  rmmod "$1" 2>/dev/null || { sleep 1; rmmod "$1"; }
}

load_dm_remap_deps() {
  local m
  for m in ${DM_REMAP_DEPS:-}; do modprobe "$m" || return 1; done
}

load_dm_remap() { load_dm_remap_deps && insmod "$DM_REMAP_KO"; }

# dm-dust: the kernel's own module when it has one, else the one tools/vm/build-dust.sh built
# from linux-source ($DM_DUST_KO, shipped by the runner).
load_dm_dust() {
  is_loaded dm_dust && return 0
  modprobe dm-dust 2>/dev/null && return 0
  [ -n "${DM_DUST_KO:-}" ] || { log "no dm-dust module in this kernel and no DM_DUST_KO"; return 1; }
  modprobe dm-mod && insmod "$DM_DUST_KO"
}

# ---- block devices --------------------------------------------------------------------------

wait_for_dev() {  # path [seconds]: devtmpfs creates nodes asynchronously
  local n=$((${2:-5} * 10))
  while [ ! -b "$1" ]; do
    [ "$n" -gt 0 ] || { log "no block device $1"; return 1; }
    n=$((n - 1))
    sleep 0.1
  done
}

dev_sectors() { blockdev --getsz "$1"; }

# brd_setup COUNT SIZE_KIB: fresh /dev/ram0..COUNT-1 (brd's rd_size is in KiB). brd allocates
# pages on first write, so reads of never-written areas return zeroes for free.
brd_setup() {
  unload_module brd || return 1
  modprobe brd rd_nr="$1" rd_size="$2" || return 1
  wait_for_dev "/dev/ram$(($1 - 1))"
}

brd_teardown() { unload_module brd; }

# ---- device-mapper --------------------------------------------------------------------------

dm_exists() { dmsetup info "$1" >/dev/null 2>&1; }

dm_absent() {  # neither the dm device nor a stale /dev/mapper node
  ! dm_exists "$1" && [ ! -e "/dev/mapper/$1" ]
}

dm_remove() {  # quietly, for cleanup
  local d
  for d in "$@"; do
    dm_exists "$d" || continue
    dmsetup resume "$d" 2>/dev/null   # a suspended device cannot be removed cleanly
    dmsetup remove "$d" 2>/dev/null || { sleep 1; dmsetup remove "$d"; }
  done
}

# ---- fio reports ----------------------------------------------------------------------------
# fio exits 0 even when some verify paths only print a complaint; every test that verifies data
# with fio asks fio_complaint of the report as well as fio's exit status.

fio_complaint() {  # report-file: whether fio complained of a verify failure in it
  grep -Eqi 'verify.*(fail|bad|mismatch)|bad magic|expected crc' "$1"
}
fio_summary() {  # report-file: the err= and verify lines, into the test log
  grep -E 'err=|verify' "$1" | sed 's/^/# /'
}

# ---- kernel log -----------------------------------------------------------------------------
# dmesg_mark, then dmesg_since prints only what the kernel logged after the mark. The mark is
# a line of its own in the kernel log (counting lines breaks once busybox dmesg's default read
# size no longer holds the whole log).

dmesg_all() { dmesg -s 8388608; }
dmesg_mark() {
  VMT_DMESG_MARK="vmtest-mark $VMT_TEST $$ $(cut -d' ' -f1 /proc/uptime)"
  echo "$VMT_DMESG_MARK" >/dev/kmsg
}
dmesg_since() {
  if [ -z "${VMT_DMESG_MARK:-}" ]; then dmesg_all; return; fi
  dmesg_all | awk -v m="$VMT_DMESG_MARK" 'seen { print } index($0, m) { seen = 1 }'
}
dmesg_since_has() {  # extended regex
  if dmesg_since | grep -Eq "$1"; then return 0; fi
  log "no kernel log line matching '$1' since the mark; new lines were:"
  dmesg_since | sed 's/^/#   /'
  return 1
}

# ---- cleanup --------------------------------------------------------------------------------
# cleanup_push "command": run in reverse order when the test exits (also after a failed check
# that ended it early), so the next test in the same boot starts from a clean kernel state.

VMT_CLEANUPS=""
cleanup_push() {
  VMT_CLEANUPS="$1
$VMT_CLEANUPS"
}
cleanup() {
  local cmds=$VMT_CLEANUPS
  VMT_CLEANUPS=""
  printf '%s\n' "$cmds" | while IFS= read -r c; do
    [ -n "$c" ] || continue
    eval "$c" || log "cleanup step failed: $c"
  done
}
trap cleanup EXIT
# A timeout sends SIGTERM: exit through the EXIT trap so the cleanups still run.
trap 'exit 143' TERM INT
