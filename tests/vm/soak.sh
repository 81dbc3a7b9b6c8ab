#!/bin/sh
# The soak (`make soak [MINUTES=30]`, tools/vm/soak.sh): fio writes the whole device in random
# 4 KiB blocks and verifies it (crc32c), pass after pass, for VMT_SOAK_MINUTES, while a driver
# injects at random: 512-byte bad sectors and whole bad blocks with dm-dust, outages of the data
# device (its table swapped to `error` for a second), slow errors (a range behind dm-delay, with
# bad sectors in it), a dying spare device (its table swapped to `error`, then restored and the
# target reloaded), suspend/resume and reload cycles, and remap/unremap/reprobe messages; a
# status/stats/list loop runs all the time, and each outage, slow error and dead spare also
# meets a few O_DIRECT reads of its own. Then a final whole-device verify (fio --verify_only
# of the last pass) and `dmremap check` of the spare area after the target is removed.
#
# Bookkeeping. Only the medium may lose data: a sector made bad by dust and never written since
# (dust still lists it) may fail its reads; everything else must read back what fio last wrote
# successfully. Outages, slow errors and a dead spare may fail I/O while they last (fio's failed
# writes are not verified; their blocks are left out of the final verify) but may lose nothing.
#   bytes_lost   4 KiB for every block whose data was lost at some point: at the final verify
#                it failed to read or verify although no dust sector in it is bad and its last
#                write succeeded; fio was ever given wrong data from it (a verify mismatch is
#                never legitimate); or `list` showed it lost although dust never made a sector
#                in it bad (false_lost: intact data made unreadable, as an outage must not).
#   lost blocks  expected: blocks holding a still-bad dust sector that are not on a spare block
#                after the final verify (it read every block); found: blocks `list` shows lost.
#   hangs        dmsetup/message calls (every one runs under a timeout) and fio passes that did
#                not finish in time.
#   ctl_fail     suspend/resume/reload calls that failed (a resume must never be refused).
#   kernel_warnings  WARNING/BUG/KASAN/lockdep/hung-task reports in the kernel log.
# Reported, not judged: outage_remaps (blocks remapped while the data device was out: writes
# that fail in an outage should fail, not burn spare blocks), status_calls max_ms (the slowest
# status/stats/list answer), io_errors_seen (what fio saw fail in the passes).
# It prints one line starting with "SOAK " and fails a check for each of those that is not 0
# (and for lost blocks expected != found, and a failed metadata check).
#
# Environment: VMT_SOAK_MINUTES (default 3), VMT_SOAK_MIB (data size, default 32), VMT_SEED,
# VMT_SOAK_SELFTEST=1 (loses two blocks on purpose before the final verify: see below).
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

MINUTES=${VMT_SOAK_MINUTES:-3}
MIB=${VMT_SOAK_MIB:-32}
if [ "${VMT_DEBUG:-0}" = 1 ] && [ -z "${VMT_SOAK_MIB:-}" ]; then MIB=8; fi   # KASAN under TCG
SEED=${VMT_SEED:-$(($(date +%s) % 100000))}
LEN=$((MIB * 2048))         # data sectors
BLOCKS=$((LEN / 8))         # 4 KiB blocks
SPARE_LEN=32768             # 16 MiB spare area (metadata + ~4000 spare blocks)
TABLE="0 $LEN remap /dev/mapper/data 0 /dev/mapper/spare 0 $SPARE_LEN 2 read_retries 1"
DATA_TABLE="0 $LEN linear /dev/mapper/dust 0"
SPARE_TABLE="0 $SPARE_LEN linear /dev/ram1 0"
W=/tmp/soak
rm -rf $W
mkdir -p $W
: >$W/events; : >$W/dust.log; : >$W/windows; : >$W/hangs; : >$W/false_lost.raw
: >$W/corrupt; : >$W/ctl_fail
TAG=main
log "soak: $MINUTES min, $MIB MiB of data, seed $SEED"

# ---- small tools ------------------------------------------------------------------------------
R=$SEED
rand() {  # N: r = a pseudo-random number in 0..N-1 (no fork, reproducible from the seed)
  R=$(((R * 1103515245 + 12345) % 2147483648))
  r=$(((R / 65536) % $1))
}
now() {  # centiseconds of uptime into $t
  read -r t _ </proc/uptime
  t=${t%.*}${t#*.}
}
ev() { echo "$*" >>$W/events; }   # kind outcome: counted at the end

# tmo SECS cmd...: runs cmd with its output in $W/$TAG.out and returns its status. A command still
# running after SECS is a hang: it is logged and killed, and the caller gets 124 without waiting
# for it (a task stuck in the kernel cannot be waited for).
tmo() {
  local secs=$1 pid n
  shift
  "$@" >"$W/$TAG.out" 2>&1 &
  pid=$!
  n=$((secs * 20))
  while kill -0 $pid 2>/dev/null; do
    if [ $n -le 0 ]; then
      kill -KILL $pid 2>/dev/null
      now
      echo "$t $TAG $*" >>$W/hangs
      log "HANG: '$*' did not finish within $secs s"
      return 124
    fi
    sleep 0.05
    n=$((n - 1))
  done
  wait $pid
}
msg() { dmsetup message r 0 -- "$@"; }
swap() {  # device table-lines: load, suspend, resume
  printf '%s\n' "$2" >"$W/$TAG.table"
  tmo 30 dmsetup load "$1" "$W/$TAG.table" && tmo 30 dmsetup suspend "$1" && tmo 30 dmsetup resume "$1"
}
restore() {  # device table: swap back, a few tries (the soak cannot go on without it)
  local i
  for i in 1 2 3; do
    swap "$1" "$2" && return 0
    log "restoring $1 failed (try $i): $(cat $W/$TAG.out)"
    sleep 1
  done
  return 1
}
ctl() {  # what cmd...: a suspend/resume/reload step of r; a failure is counted
  local what=$1
  shift
  "$@" && return 0
  now
  echo "$t $what $(tr '\n' ' ' <$W/$TAG.out)" >>$W/ctl_fail
  log "$what failed: $(cat $W/$TAG.out)"
  return 1
}
# shellcheck disable=SC2317 # called through ctl
reload_r() {
  tmo 60 dmsetup load r --table "$TABLE" && tmo 60 dmsetup suspend r && tmo 60 dmsetup resume r
}
ensure_live() {  # r resumed, whatever happened before (a refused resume leaves it suspended)
  tmo 20 dmsetup info r || return 1
  grep -q SUSPENDED $W/$TAG.out || return 0
  ev stuck_suspended recovered
  log "r was left suspended: resuming it"
  tmo 60 dmsetup resume r && return 0
  tmo 60 dmsetup load r --table "$TABLE" && tmo 60 dmsetup resume r
}
window() {  # kind t0 t1: a time when I/O may fail honestly
  echo "$1 $2 $3" >>$W/windows
}
bad_sector() {  # sector [wr_fail_cnt]: logged before it goes bad
  now
  echo "$t $1" >>$W/dust.log
  tmo 10 dmsetup message dust 0 addbadblock "$@"
}

# ---- the faults -------------------------------------------------------------------------------
inject_dust() {
  local s n i wf=""
  rand 10
  if [ $r -lt 3 ]; then   # a whole 4 KiB block
    rand $BLOCKS; s=$((r * 8)); n=8
    ev dust_block ok
  else                    # one to three 512-byte sectors
    rand $LEN; s=$r
    rand 3; n=$((r + 1))
    [ $((s + n)) -le $LEN ] || s=$((LEN - n))
    ev dust_sectors $n
  fi
  rand 4
  [ $r -ne 0 ] || wf=3   # some also fail writes (three times), as a weak medium does
  i=0
  while [ $i -lt $n ]; do
    # shellcheck disable=SC2086 # wf is empty or a number
    bad_sector $((s + i)) $wf
    i=$((i + 1))
  done
}
# Reads while a fault lasts, so every outage, slow error and dead spare meets readers (fio's
# verify phase may not be running then): O_DIRECT 4 KiB reads that may fail but must not make
# the target mark intact blocks lost.
# shellcheck disable=SC2317 # called through tmo
probe_reads() {  # count first-block span: random blocks in [first, first + span)
  local i=0
  while [ "$i" -lt "$1" ]; do
    rand "$3"
    dio read /dev/mapper/r $((($2 + r) * 4096)) 4096 >/dev/null 2>&1
    i=$((i + 1))
  done
}
# shellcheck disable=SC2317 # called through tmo
probe_remapped() {  # count: blocks that are on spare blocks now
  local b
  for b in $(dmsetup message r 0 list 0 "$1" | awk '$3 == "remapped" { print $1 }'); do
    dio read /dev/mapper/r $((b * 4096)) 4096 >/dev/null 2>&1
  done
}
remapped_now() { tmo 10 dmsetup status r && cut -d' ' -f5 $W/$TAG.out; }
outage() {  # the data device fails every I/O for a second; remaps made meanwhile are counted
  local t0 before after
  before=$(remapped_now)
  now; t0=$t
  if swap data "0 $LEN error"; then
    tmo 30 probe_reads 16 0 $BLOCKS
    sleep 1
    restore data "$DATA_TABLE" || ev restore_data failed
    ev outage ok
    after=$(remapped_now)
    [ -z "$before" ] || [ -z "$after" ] || ev outage_remaps $((after - before))
  else
    ev outage not_injected
    restore data "$DATA_TABLE"
  fi
  now; window outage "$t0" "$t"
}
slow() {  # 16 blocks behind dm-delay (1 s), with one or two bad sectors among them
  local b s t0 n=16
  rand $((BLOCKS - n)); b=$r
  s=$((b * 8))
  now; t0=$t
  rand $((n * 8)); bad_sector $((s + r))
  rand 2; if [ $r = 1 ]; then rand $((n * 8)); bad_sector $((s + r)); fi
  {
    [ $s -eq 0 ] || echo "0 $s linear /dev/mapper/dust 0"
    echo "$s $((n * 8)) delay /dev/mapper/dust $s 1000"
    [ $((s + n * 8)) -ge $LEN ] || echo "$((s + n * 8)) $((LEN - s - n * 8)) linear /dev/mapper/dust $((s + n * 8))"
  } >$W/slow.table
  if swap data "$(cat $W/slow.table)"; then
    tmo 30 probe_reads 2 $b $n
    sleep 1
    restore data "$DATA_TABLE" || ev restore_data failed
    ev slow ok
  else
    ev slow not_injected
    restore data "$DATA_TABLE"
  fi
  now; window slow "$t0" "$t"
}
spare_death() {  # the spare device fails; suspend/resume while it is dead; restored + reload
  local t0
  now; t0=$t
  if ! swap spare "0 $SPARE_LEN error"; then
    ev spare_death not_injected
    restore spare "$SPARE_TABLE"
    return
  fi
  ev spare_death ok
  tmo 30 probe_remapped 8
  sleep 1
  rand 2
  if [ $r = 1 ]; then
    ev suspend_resume_dead_spare run
    ctl "suspend/resume with a dead spare" tmo 60 sh -c 'dmsetup suspend r && dmsetup resume r' ||
      true
  fi
  sleep 1
  restore spare "$SPARE_TABLE" || ev restore_spare failed
  ctl "reload after the spare came back" reload_r
  ensure_live || ev ensure_live failed
  now; window spare "$t0" "$t"
}
remap_msg() {
  rand $BLOCKS
  if tmo 30 msg remap $((r * 8)); then ev remap_msg ok; else ev remap_msg refused; fi
}
unremap_msg() {  # a block that is on a spare block now, if there is one
  local b
  tmo 30 msg list 0 64 || { ev unremap_msg list_failed; return; }
  b=$(awk '$3 == "remapped" { print $1 }' $W/$TAG.out | head -n 1)
  [ -n "$b" ] || { rand $BLOCKS; b=$r; }
  if tmo 30 msg unremap $((b * 8)); then ev unremap_msg ok; else ev unremap_msg refused; fi
}
reprobe_msg() {
  rand 2
  local rc=0
  if [ $r = 0 ]; then tmo 60 msg reprobe || rc=$?
  else rand $((BLOCKS - 8)); tmo 60 msg reprobe $((r * 8)) 64 || rc=$?; fi
  if [ $rc = 0 ]; then ev reprobe_msg ok
  elif [ "$HAVE_REPROBE" = 0 ]; then ev reprobe_msg unsupported
  else ev reprobe_msg refused
  fi
}

KINDS="dust dust dust outage slow spare suspend reload remap unremap reprobe"
shuffle() {  # words...: $order = the words in a random order
  local i j x rest
  order=""
  while [ $# -gt 0 ]; do
    rand $#
    i=$((r + 1)) j=1 rest=""
    for x in "$@"; do
      if [ $j = $i ]; then order="$order $x"; else rest="$rest $x"; fi
      j=$((j + 1))
    done
    # shellcheck disable=SC2086 # words
    set -- $rest
  done
}
# Rounds of every kind of fault in a random order (so even a short soak has each kind), with
# three dust injections a round; a random pause of up to a second between two.
driver() {
  trap - EXIT
  TAG=drv
  R=$((SEED * 7 + 1))
  local k
  while [ ! -e $W/stop ]; do
    # shellcheck disable=SC2086 # words
    shuffle $KINDS
    for k in $order; do
      [ ! -e $W/stop ] || break
      case $k in
        dust) inject_dust ;;
        outage) outage ;;
        slow) slow ;;
        spare) spare_death ;;
        suspend)
          ev suspend_resume run
          ctl suspend/resume tmo 60 sh -c 'dmsetup suspend r && dmsetup resume r' || ensure_live ;;
        reload)
          ev reload run
          ctl reload reload_r || ensure_live ;;
        remap) remap_msg ;;
        unremap) unremap_msg ;;
        reprobe) reprobe_msg ;;
      esac
      rand 10
      sleep "0.$r"
    done
  done
  log "driver stopped"
}

# A status/stats/list loop all the time; lost blocks in `list` that dust never touched are
# false losses.
status_loop() {
  trap - EXIT
  TAG=st
  local n=0 fails=0 max=0 t0 k
  while [ ! -e $W/stop ]; do
    for k in status stats list; do
      now; t0=$t
      case $k in
        status) tmo 30 dmsetup status r ;;
        stats) tmo 30 msg stats ;;
        list) tmo 30 msg list ;;
      esac || {
        # a message to a suspended target is refused (-EBUSY): not a failure of the loop
        grep -qi busy $W/st.out || fails=$((fails + 1))
      }
      now
      [ $((t - t0)) -le $max ] || max=$((t - t0))
      n=$((n + 1))
      if [ $k = list ]; then
        awk -v d=$W/dust.log -v t="$t" '
          BEGIN { while ((getline l < d) > 0) { split(l, a, " "); bad[int(a[2] / 8)] = 1 } }
          /lost/ && !($1 in bad) { print t, $1 }' $W/st.out >>$W/false_lost.raw
      fi
    done
    sleep 0.2
  done
  echo "$n $fails $max" >$W/status.sum
}

# ---- fio --------------------------------------------------------------------------------------
# One pass: every 4 KiB block written once in random order, then all of them read and verified.
# Errors do not stop it; each one is dumped with its offset. Its summary goes to $W/$1.sum:
# "reads read_errors verify_failures write_errors".
fio_pass() {  # name seed [--verify_only] : status 124 when it hung
  local name=$1 seed=$2 pid n
  shift 2
  fio --name=soak --filename=/dev/mapper/r --direct=1 --ioengine=libaio --iodepth=16 \
    --rw=randwrite --bs=4k --size=$((LEN * 512)) --verify=crc32c --randseed="$seed" \
    --continue_on_error=all --error_dump=1 --verify_fatal=0 --eta=never "$@" \
    >"$W/$name.out" 2>&1 &
  pid=$!
  n=$((PASS_LIMIT * 10))
  while kill -0 $pid 2>/dev/null; do
    if [ $n -le 0 ]; then
      kill -KILL $pid 2>/dev/null
      now; echo "$t fio $name" >>$W/hangs
      log "HANG: fio $name did not finish within $PASS_LIMIT s"
      return 124
    fi
    sleep 0.1
    n=$((n - 1))
  done
  wait $pid
  # "fio: io_u error on file F: E: read offset=O, buflen=L" and, for wrong data,
  # "...: verify failed at file F offset O, length L" / "bad magic header ... at file F offset O"
  awk -v w="$W/$name.werr" -v f="$W/$name.fail" '
    /fio: io_u error on file / {
      o = $0; sub(/.* offset=/, "", o); sub(/,.*/, "", o)
      l = $0; sub(/.* buflen=/, "", l); sub(/[^0-9].*/, "", l)
      if ($0 ~ / write offset=/) { print o, l > w; we++ } else { print "R", o, l > f; re++ }
      next
    }
    / at file .* offset [0-9]+/ {
      o = $0; sub(/.* at file [^ ]* offset /, "", o); sub(/[^0-9].*/, "", o)
      if (!(o in seen)) { seen[o] = 1; print "V", o, 4096 > f; ve++ }
      next
    }
    /issued rwts: total=/ { t = $0; sub(/.*total=/, "", t); split(t, a, ","); reads = a[2] }
    END { printf "%d %d %d %d\n", reads, re, ve, we }' "$W/$name.out" >"$W/$name.sum"
  touch "$W/$name.werr" "$W/$name.fail"
  return 0
}

# ---- setup ------------------------------------------------------------------------------------
cleanup_push "brd_teardown"
cleanup_push "unload_module dm_dust"
cleanup_push "dm_remove r data spare dust"
cleanup_push "unload_module dm_remap"

size=$MIB
[ "$size" -ge 16 ] || size=16
check "ramdisks: $MIB MiB of data, 16 MiB of spare" brd_setup 2 $((size * 1024)) || exit 1
check "dm-dust loads" load_dm_dust || exit 1
check "dm-delay loads" modprobe dm-delay || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "dust over ram0 with 512-byte blocks" dmsetup create dust --table "0 $LEN dust /dev/ram0 0 512" || exit 1
dmsetup message dust 0 quiet >/dev/null 2>&1
check "dust enabled" dmsetup message dust 0 enable || exit 1
check "data: linear over dust" dmsetup create data --table "$DATA_TABLE" || exit 1
check "spare: linear over ram1" dmsetup create spare --table "$SPARE_TABLE" || exit 1
check "remap target" dmsetup create r --table "$TABLE" || exit 1
HAVE_REPROBE=0
if msg help 2>/dev/null | grep -qi reprobe; then HAVE_REPROBE=1; fi
log "reprobe message: $([ $HAVE_REPROBE = 1 ] && echo supported || echo 'not supported (help does not list it)')"
dmesg_mark

# ---- the soak ---------------------------------------------------------------------------------
now; start=$t
end=$((start + MINUTES * 6000))
PASS_LIMIT=600   # a pass takes well under a minute: one that takes 10 has hung
driver &
drv_pid=$!
status_loop &
st_pid=$!
pass=0 last_ok="" ios=0 hung=0
while :; do
  pass=$((pass + 1))
  log "pass $pass"
  if ! fio_pass pass$pass $((SEED + pass)); then hung=1; break; fi
  read -r reads re ve we <$W/pass$pass.sum
  log "pass $pass: $reads reads, $re read errors, $ve verify failures, $we write errors"
  ios=$((ios + reads - re - ve))
  [ "$ve" = 0 ] || sed -n "s/^V \([0-9]*\) .*/pass$pass \1/p" $W/pass$pass.fail >>$W/corrupt
  last_ok=$pass
  now
  [ "$t" -lt $end ] || break
done
touch $W/stop
log "stopping the driver"
wait $drv_pid
wait $st_pid
now; elapsed=$((t - start))

# ---- quiet again: every fault taken away except the bad dust sectors ----------------------------
check "data device back to linear" restore data "$DATA_TABLE"
check "spare device back to linear" restore spare "$SPARE_TABLE"
check "the target is live" ensure_live
check "a last reload" ctl "final reload" reload_r
if [ $HAVE_REPROBE = 1 ]; then
  check "reprobe of every lost block" tmo 120 msg reprobe
  log "reprobe: $(cat $W/main.out)"
fi
dmsetup message dust 0 listbadblocks 2>/dev/null | grep -E '^[0-9]+$' | sort -n >$W/dust.bad
log "dust lists $(wc -l <$W/dust.bad) bad sectors"

list_all() {  # file: every line of `list`, page after page
  local first=0
  : >"$1"
  while tmo 30 msg list $first && [ -s $W/$TAG.out ]; do
    cat $W/$TAG.out >>"$1"
    first=$(($(tail -n 1 $W/$TAG.out | cut -d' ' -f1) + 1))
  done
}

# VMT_SOAK_SELFTEST=1 proves the bookkeeping catches loss: before the final verify, one block
# that is on the data device with no bad sector gets other data behind the target's back, and
# another one an `error` segment in the data table (unreadable, but not by the medium). Both
# must come out as lost bytes (8192 more) and fail the run.
if [ "${VMT_SOAK_SELFTEST:-0}" = 1 ]; then
  list_all $W/list.before
  # shellcheck disable=SC2046 # two block numbers
  set -- $(awk -v list=$W/list.before -v n=$BLOCKS '
    BEGIN { while ((getline l < list) > 0) { split(l, a, " "); used[a[1]] = 1 } }
    { used[int($1 / 8)] = 1 }
    END { for (b = int(n / 3); b < n && k < 2; b++) if (!(b in used)) { print b; k++ } }' $W/dust.bad)
  log "self-test: block $1 gets other data, block $2 an error segment"
  check "self-test: block $1 overwritten on ram0" \
    dd if=/dev/urandom of=/dev/ram0 bs=4096 seek="$1" count=1 oflag=direct
  check "self-test: block $2 behind an error segment" swap data "0 $(($2 * 8)) linear /dev/mapper/dust 0
$(($2 * 8)) 8 error
$(($2 * 8 + 8)) $((LEN - $2 * 8 - 8)) linear /dev/mapper/dust $(($2 * 8 + 8))"
fi

# ---- the final whole-device verify of the last complete pass ----------------------------------
final_bytes=0 final_legit=0 final_unwritten=0
if [ "$hung" = 0 ] && [ -n "$last_ok" ]; then
  if fio_pass final $((SEED + last_ok)) --verify_only; then
    read -r reads re ve we <$W/final.sum
    log "final verify: $reads reads, $re read errors, $ve verify failures"
    ios=$((ios + reads - re - ve))
    # A failure counts as loss unless its last write failed (never acknowledged) or a sector in
    # it is still bad in dust (the medium lost it). Wrong data counts whatever the medium did.
    # shellcheck disable=SC2046 # three numbers
    set -- $(awk -v lastw=$W/pass$last_ok.werr -v bad=$W/dust.bad '
      BEGIN {
        while ((getline l < lastw) > 0) { split(l, a, " "); unw[a[1]] = 1 }
        while ((getline l < bad) > 0) badsec[l + 0] = 1
      }
      {
        o = $2 + 0; len = $3 + 0
        if (o in unw) { un += len; next }
        m = 0
        for (s = o / 512; s < (o + len) / 512; s++) if (s in badsec) m = 1
        if (m && $1 == "R") legit += len
        else { lost += len; print "LOST", $0 > "/dev/stderr" }
      }
      END { printf "%d %d %d\n", lost, legit, un }' $W/final.fail 2>>$W/final.lost)
    final_bytes=$1 final_legit=$2 final_unwritten=$3
  else
    hung=1
  fi
fi
# ---- what the target says ---------------------------------------------------------------------
TAG=main
list_all $W/list.all
# lost blocks with no bad dust sector at the end are false losses too ("end": still lost then)
awk -v d=$W/dust.log -v t=end '
  BEGIN { while ((getline l < d) > 0) { split(l, a, " "); bad[int(a[2] / 8)] = 1 } }
  /lost/ && !($1 in bad) { print t, $1 }' $W/list.all >>$W/false_lost.raw
found_lost=$(grep -c lost $W/list.all)
expected_lost=$(awk -v list=$W/list.all '
  BEGIN { while ((getline l < list) > 0) if (l ~ /remapped/ && l !~ /lost/) { split(l, a, " "); clean[a[1]] = 1 } }
  { b = int($1 / 8); if (!(b in clean) && !(b in seen)) { seen[b] = 1; n++ } }
  END { print n + 0 }' $W/dust.bad)
corrupt_blocks=$(cut -d' ' -f2 $W/corrupt | sort -u | wc -l)
# Every 4 KiB block whose data was lost once counts once: still unreadable or wrong at the end,
# wrong in a pass, or marked lost at any time without a bad sector in it.
{
  awk '{ print int($2 / 4096) }' $W/corrupt
  awk '{ print int($3 / 4096) }' $W/final.lost 2>/dev/null
  cut -d' ' -f2 $W/false_lost.raw
} | sort -un >$W/lost.blocks
bytes_lost=$(($(wc -l <$W/lost.blocks) * 4096))
[ ! -s $W/final.lost ] || { log "final verify failures counted as lost:"; head -n 20 $W/final.lost | sed 's/^/#   /'; }
[ ! -s $W/corrupt ] || { log "verify mismatches during the passes:"; head -n 20 $W/corrupt | sed 's/^/#   /'; }

tmo 30 dmsetup status r; status_line=$(cat $W/main.out)
tmo 30 msg stats; stats_line=$(cat $W/main.out)
log "status: $status_line"
log "stats: $stats_line"
remapped=$(echo "$status_line" | cut -d' ' -f5)
false_lost=$(cut -d' ' -f2 $W/false_lost.raw | sort -u | wc -l)
# Each false loss is put down to the fault whose window it was first seen in (or up to 3 s after:
# the loop lists about once a second), "none" when no fault was going on (the loop sees only the
# first page of `list`), "still_lost_at_end" when only the final list showed it.
false_by=$(awk -v wins=$W/windows '
  BEGIN { while ((getline l < wins) > 0) { split(l, a, " "); k[n] = a[1]; s[n] = a[2]; e[n] = a[3]; n++ } }
  !($2 in seen) {
    seen[$2] = 1; kind = "none"
    if ($1 == "end") kind = "still_lost_at_end"
    else for (i = 0; i < n; i++) if ($1 >= s[i] && $1 <= e[i] + 300) kind = k[i]
    c[kind]++
  }
  END { for (x in c) { printf "%s%s=%d", sep, x, c[x]; sep = "," } }' $W/false_lost.raw)
[ ! -s $W/false_lost.raw ] || log "false lost blocks: $(cut -d' ' -f2 $W/false_lost.raw | sort -un | head -n 20 | tr '\n' ' ')"

check "remove r" tmo 60 dmsetup remove r
meta=ok
tmo 120 dmremap check /dev/ram1 || meta=bad
log "dmremap check: $(cat $W/main.out)"

# ---- kernel log and hangs ---------------------------------------------------------------------
dmesg_since >$W/dmesg
warnings=$(grep -cE 'WARNING:|BUG:|KASAN|lockdep|possible (circular|recursive)|INFO: task .* blocked|UBSAN:|Oops' $W/dmesg)
[ "$warnings" = 0 ] || { log "kernel reports:"; grep -E 'WARNING:|BUG:|KASAN|lockdep|INFO: task|UBSAN:|Oops' $W/dmesg | head -n 20 | sed 's/^/#   /'; }
hangs=$(wc -l <$W/hangs)
[ "$hangs" = 0 ] || { log "hangs:"; sed 's/^/#   /' $W/hangs; }
ctl_fail=$(wc -l <$W/ctl_fail)
[ "$ctl_fail" = 0 ] || { log "failed suspend/resume/reload steps:"; sed 's/^/#   /' $W/ctl_fail; }
read -r st_n st_fail st_max <$W/status.sum 2>/dev/null || { st_n=0 st_fail=0 st_max=0; }

count() { awk -v k="$1" -v o="${2:-}" '$1 == k && (o == "" || $2 == o) { n++ } END { print n + 0 }' $W/events; }
dust_sect=$(awk '$1 == "dust_sectors" { n += $2 } END { print n + 0 }' $W/events)
werr_total=$(cat $W/pass*.werr 2>/dev/null | wc -l)
rerr_total=$(cat $W/pass*.fail 2>/dev/null | grep -c '^R')
mins=$((elapsed / 6000)).$(((elapsed % 6000) / 600))
line="SOAK minutes=$mins passes=$last_ok ios_verified=$ios"
line="$line faults: dust_sectors=$dust_sect dust_blocks=$(count dust_block) outages=$(count outage ok)"
line="$line slow=$(count slow ok) spare_deaths=$(count spare_death ok)"
line="$line suspend_resume=$(count suspend_resume)+$(count suspend_resume_dead_spare)dead_spare"
line="$line reloads=$(count reload) remap_msgs=$(count remap_msg ok)/$(count remap_msg)"
line="$line unremap_msgs=$(count unremap_msg ok)/$(count unremap_msg)"
line="$line reprobe_msgs=$(count reprobe_msg ok)/$(count reprobe_msg)"
[ $HAVE_REPROBE = 1 ] || line="$line(unsupported=$(count reprobe_msg unsupported))"
line="$line status_calls=$st_n(fail=$st_fail,max_ms=$((st_max * 10)))"
line="$line | io_errors_seen: read=$rerr_total write=$werr_total"
line="$line remapped=$remapped outage_remaps=$(awk '$1 == "outage_remaps" { n += $2 } END { print n + 0 }' $W/events)"
line="$line lost_blocks_expected=$expected_lost found=$found_lost"
line="$line bytes_lost=$bytes_lost(final=$final_bytes,corrupt_blocks=$corrupt_blocks,false_lost_blocks=$false_lost)"
line="$line legit_lost_bytes=$final_legit unwritten_bytes=$final_unwritten"
line="$line false_lost=$false_lost${false_by:+($false_by)} stuck_suspended=$(count stuck_suspended) ctl_fail=$ctl_fail"
line="$line hangs=$hangs kernel_warnings=$warnings metadata_check=$meta seed=$SEED"
echo "$line"

check_eq "bytes lost outside truly unreadable blocks" 0 "$bytes_lost"
check_eq "no block falsely marked lost (outages, slow errors, dead spare lose nothing)" 0 "$false_lost"
check_eq "lost blocks found = expected (blocks with bad sectors not on a spare)" "$expected_lost" "$found_lost"
check_eq "no hangs (every dmsetup/message call and fio pass finished in time)" 0 "$hangs"
check_eq "no suspend/resume/reload step failed" 0 "$ctl_fail"
check_eq "no kernel warnings" 0 "$warnings"
check_eq "dmremap check of the spare area" ok "$meta"
check "fio passes completed" [ -n "$last_ok" ]
exit 0
