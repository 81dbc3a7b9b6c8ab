#!/bin/sh
# Kernel-side I/O benchmark of dm-remap (issue 7), run in the guest by tools/bench-vm.sh through
# tools/vm/run-tests.sh; not part of "make test". With QEMU's "-icount shift=0,sleep=off" and
# one CPU, guest time is an instruction count, so fio's IOPS (from guest time) are repeatable.
#
# Devices (brd): ram0 data, ram1..4 spare areas. Two dm-remap targets may not share data
# sectors, so the data device is cut into slots of DATA_MIB, one per dm-remap target (raw and
# dm-linear use slot 0 with rem0); every target sees its slot at the same offsets. fio works on
# REGION_MIB of a slot starting at OFF_MIB (room for NREMAPS blocks before it), prefilled in
# every slot in use; the remaps that the I/O must not hit lie after it or before it. Only the
# configurations in CONFIGS are set up. Configurations, all on ram0:
#   raw         /dev/ram0
#   linear      dm-linear over ram0
#   remap0      dm-remap, 0 remaps                                    (spare ram1)
#   remapmiss   dm-remap, NREMAPS remaps after the region              (spare ram2)
#               (every bio ends below the first remapped block: map() routes it in place)
#   remaparound dm-remap, NREMAPS remaps, half right before the region, half right after it
#               (spare ram4): every bio lies between entries, so every lookup searches the
#               table (its chunk index, then a chunk) and finds nothing
#   remaphit    dm-remap, NREMAPS remaps, 1% of the region's blocks among them (runs of HIT_RUN
#               blocks every 100*HIT_RUN blocks), the rest after the region (spare ram3)
#   remap1      dm-remap, 1 remap, before the region (spare ram2, after remmiss's area): every
#               bio passes the view's first check and takes the core's lookup, which answers
#               from the table's key range without a search; remaparound minus remap1 is the
#               search of a 100k-entry table
# Every round runs every workload on every configuration (configurations interleaved).
# Remap latency (LATENCY=1): a remap target over dm-flakey that fails every write (error_writes,
# always down); fio writes fresh 4 KiB blocks at QD1 (one error at a time) and QD32 (concurrent
# errors, which share commits), each write failing, retried in place, failing again and moving
# to a spare block with its data in a commit. The stats' redo_*_ns time each write from the
# error to its completion; seq counts the commits.
# Output lines for the host: "RESULT k=v ...", "MEM k=v ...", "LAT k=v ...", "INFO ...".
# Knobs (the host may prepend assignments): BENCH_MODE icount|tcg, ROUNDS, REGION_MIB, NREMAPS,
# HIT_RUN, WORKLOADS, IOS_<workload> (I/Os per run), MEM_1M (1: also measure 1M remaps),
# LATENCY (1: measure the remap latency), LAT_IOS_QD1 and LAT_IOS_QD32 (failing writes per run),
# DATA_DEV brd|nullb (nullb: the data device is null_blk with memory_backed=0 and no completion
# interrupt, /dev/nullb0; the spare areas stay on brd, whose metadata must read back).
# shellcheck shell=dash source=tests/vm/lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

BENCH_MODE=${BENCH_MODE:-icount}
ROUNDS=${ROUNDS:-3}
REGION_MIB=${REGION_MIB:-128}
NREMAPS=${NREMAPS:-100000}
HIT_RUN=${HIT_RUN:-1}
WORKLOADS=${WORKLOADS:-randread randwrite seqread seqwrite}
IOS_randread=${IOS_randread:-120000}
IOS_randwrite=${IOS_randwrite:-120000}
IOS_seqread=${IOS_seqread:-4000}
IOS_seqwrite=${IOS_seqwrite:-4000}
MEM_1M=${MEM_1M:-0}
LATENCY=${LATENCY:-1}
LAT_IOS_QD1=${LAT_IOS_QD1:-200}
LAT_IOS_QD32=${LAT_IOS_QD32:-2000}
DATA_DEV=${DATA_DEV:-brd}
CONFIGS=${CONFIGS:-raw linear remap0 remap1 remapmiss remaparound remaphit}

BS=4096
SPB=$((BS / 512))                               # sectors per block
REGION_SECT=$((REGION_MIB * 2048))
REGION_BLOCKS=$((REGION_SECT / SPB))
# The data device: room for NREMAPS blocks, the region, room for NREMAPS blocks again.
OFF_MIB=$(( (NREMAPS * BS / 1048576 + 63) / 64 * 64 ))
OFF_BLOCKS=$((OFF_MIB * 1048576 / BS))
DATA_MIB=$(( (OFF_MIB + REGION_MIB + NREMAPS * BS / 1048576 + 64 + 63) / 64 * 64 ))
DATA_SECT=$((DATA_MIB * 2048))
# Spare areas: the remapped blocks plus metadata (2 x 16 bytes per spare block) and slack.
SPARE_MIB=$(( (NREMAPS * BS / 1048576 + 64 + 63) / 64 * 64 ))
SPARE_SECT=$((SPARE_MIB * 2048))
# Slots of the data device: rem0 (with raw and linear), remmiss, remhit, remaround, rem1.
SLOTS=5
RAM_MIB=$((SLOTS * DATA_MIB))
[ "$SPARE_MIB" -le "$RAM_MIB" ] || RAM_MIB=$SPARE_MIB
# wants CONFIG: whether CONFIGS names it.
wants() { case " $CONFIGS " in *" $1 "*) return 0 ;; esac; return 1; }

msg() { dev=$1; shift; dmsetup message "$dev" 0 -- "$@"; }
stat_of() { msg "$1" stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }
info() { echo "INFO $*"; }
# Guest clock in ns (busybox date has no %N; /proc/uptime has 10 ms steps). Under -icount this is
# the instruction count.
now_ns() { awk '/^now at/ { print $3; exit }' /proc/timer_list; }
# Guest time the CPUs were not idle, in ns: now minus every CPU's idle and iowait sleep time
# (tick-sched, kept in ns). fio's parent waits in timer-tick steps while its job starts and
# ends, so the elapsed time of a fio run varies by ticks; its busy time does not. Newer
# kernels (7.2) no longer show the sleep times in /proc/timer_list: there, the time tasks ran
# on every CPU (/proc/schedstat's rq_cpu_time, ns, counted when a task leaves the CPU).
busy_ns() {
  if grep -q '^ *\.idle_sleeptime *:' /proc/timer_list; then
    awk '/^now at/ { now = $3 } /^ *\.(idle|iowait)_sleeptime *:/ { idle += $(NF - 1) }
         END { printf "%.0f\n", now - idle }' /proc/timer_list
  else
    awk '/^cpu[0-9]/ { t += $8 } END { printf "%.0f\n", t }' /proc/schedstat
  fi
}
# Unreclaimable slab (kmalloc, large kmalloc included) + vmalloc (kvmalloc's large tables), kB.
kmem_kb() { awk '/^SUnreclaim:/ { s = $2 } /^VmallocUsed:/ { v = $2 } END { print s + v }' /proc/meminfo; }
# Bytes held per slab cache (active objects x object size), "name bytes" per line.
slab_bytes() { awk 'NR > 2 { print $1, $2 * $4 }' /proc/slabinfo 2>/dev/null | sort; }
# slab_growth BEFORE AFTER: the caches that grew by more than 64 KiB, largest first.
slab_growth() {
  awk 'NR == FNR { a[$1] = $2; next } $2 - a[$1] > 65536 { printf "%s=%d\n", $1, ($2 - a[$1]) / 1024 }' \
    "$1" "$2" |
    sort -t= -k2 -nr | tr '\n' ' '
}
meminfo_line() { awk '/^(MemFree|SUnreclaim|VmallocUsed|Percpu):/ { printf "%s=%s ", $1, $2 }' /proc/meminfo; }
settle() { sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null; sleep 1; }  # RCU frees of old tables

# Cleanups run newest first.
cleanup_push "brd_teardown"
cleanup_push "unload_module null_blk"
cleanup_push "unload_module dm_remap"
cleanup_push "dm_remove lin rem0 rem1 remmiss remaround remhit memtest remlat flk"

info "mode=$BENCH_MODE data=$DATA_DEV rounds=$ROUNDS region_mib=$REGION_MIB region_offset_mib=$OFF_MIB nremaps=$NREMAPS hit_run=$HIT_RUN data_mib=$DATA_MIB spare_mib=$SPARE_MIB cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$(uname -r)"
info "fio $(fio --version)"
# fio's buffers (8 MiB at QD8 for 1 MiB I/O) get transparent huge pages while memory is
# unfragmented and 4 KiB pages later, and pinning 256 pages for an O_DIRECT I/O costs more than
# pinning one: the cost per 1 MiB I/O drifted up over a boot by far more than dm-remap's whole
# cost. Without THP every run pins 4 KiB pages.
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -w "$thp" ]; then
  echo never >"$thp"
  info "transparent huge pages: $(cat "$thp")"
fi
check "five ${RAM_MIB} MiB ramdisks" brd_setup 5 $((RAM_MIB * 1024)) || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
# Reads must copy real pages: brd reads unwritten pages as zeroes without touching memory.
if [ "$DATA_DEV" = nullb ]; then
  DATA=/dev/nullb0
  check "null_blk, memory_backed=0, irqmode=0, $DATA_MIB MiB" modprobe null_blk nr_devices=1 \
    gb=$(( (SLOTS * DATA_MIB + 1023) / 1024 )) memory_backed=0 irqmode=0 bs=4096 || exit 1
  wait_for_dev "$DATA" || exit 1
  info "null_blk: $(blockdev --getsz "$DATA") sectors"
else
  DATA=/dev/ram0
fi
# create_remap NAME CONFIG SLOT SPARE: a dm-remap target over slot SLOT of the data device, its
# fio region prefilled (brd), if CONFIGS names CONFIG.
create_remap() {
  wants "$2" || return 0
  if [ "$DATA_DEV" = brd ]; then
    check "prefill the fio region of slot $3" dd if=/dev/zero of=/dev/ram0 bs=1M \
      seek=$(($3 * DATA_MIB + OFF_MIB)) count="$REGION_MIB" oflag=direct || exit 1
  fi
  check "create $1" dmsetup create "$1" --table \
    "0 $DATA_SECT remap $DATA $(($3 * DATA_SECT)) $4" || exit 1
}
if [ "$DATA_DEV" = brd ] && ! wants remap0; then
  check "prefill the fio region of slot 0" dd if=/dev/zero of=/dev/ram0 bs=1M seek="$OFF_MIB" \
    count="$REGION_MIB" oflag=direct || exit 1
fi
check "create lin (dm-linear)" dmsetup create lin --table "0 $DATA_SECT linear $DATA 0" || exit 1
create_remap rem0 remap0 0 "/dev/ram1 0 $SPARE_SECT"
create_remap remmiss remapmiss 1 "/dev/ram2 0 $SPARE_SECT"
create_remap remhit remaphit 2 "/dev/ram3 0 $SPARE_SECT"
create_remap remaround remaparound 3 "/dev/ram4 0 $SPARE_SECT"
create_remap rem1 remap1 4 "/dev/ram2 $SPARE_SECT $((64 * 2048))"
! wants remapmiss || info "remmiss status: $(dmsetup status remmiss)"

# remap_range DEV FIRST_BLOCK COUNT: in messages of at most 65536 blocks.
remap_range() {
  local dev=$1 b=$2 left=$3 n
  while [ "$left" -gt 0 ]; do
    n=$left
    [ "$n" -le 65536 ] || n=65536
    msg "$dev" remap $((b * SPB)) "$n" >/dev/null || return 1
    b=$((b + n)); left=$((left - n))
  done
}

# ---- remmiss: NREMAPS blocks right after the region; memory around it ----
if wants remapmiss; then
settle
kb0=$(kmem_kb); m0=$(meminfo_line); slab_bytes >/tmp/slab0; t0=$(cut -d' ' -f1 /proc/uptime)
check "remmiss: $NREMAPS remaps after the region" \
  remap_range remmiss $((OFF_BLOCKS + REGION_BLOCKS)) "$NREMAPS"
t1=$(cut -d' ' -f1 /proc/uptime)
settle
kb1=$(kmem_kb); m1=$(meminfo_line); slab_bytes >/tmp/slab1
check_eq "remmiss: stats remapped=$NREMAPS" "$NREMAPS" "$(stat_of remmiss remapped)"
echo "MEM dev=remmiss remaps=$NREMAPS block_size=$BS spare_blocks=$(stat_of remmiss spare_total) kmem_kb_before=$kb0 kmem_kb_after=$kb1 bytes_per_remap=$(( (kb1 - kb0) * 1024 / NREMAPS ))"
info "meminfo before: $m0"
info "meminfo after:  $m1"
info "slab caches that grew (KiB; the rest of SUnreclaim's growth is page-sized kmalloc): $(slab_growth /tmp/slab0 /tmp/slab1)"
info "remmiss: $NREMAPS remaps took $t0 -> $t1 s guest time"
fi

# ---- remhit: every 100*HIT_RUN blocks of the region, HIT_RUN blocks; the rest after it ----
if wants remaphit; then
stride=$((HIT_RUN * 100))
inside=0
b=0
ok=1
while [ $((b + HIT_RUN)) -le "$REGION_BLOCKS" ]; do
  b1=$((b + stride / 2))                      # away from block 0 and the region's edges
  [ $((b1 + HIT_RUN)) -le "$REGION_BLOCKS" ] || break
  remap_range remhit $((OFF_BLOCKS + b1)) "$HIT_RUN" || { ok=0; break; }
  inside=$((inside + HIT_RUN))
  b=$((b + stride))
done
check_eq "remhit: remaps inside the region made" 1 "$ok"
check "remhit: the other $((NREMAPS - inside)) remaps after the region" \
  remap_range remhit $((OFF_BLOCKS + REGION_BLOCKS)) $((NREMAPS - inside))
check_eq "remhit: stats remapped=$NREMAPS" "$NREMAPS" "$(stat_of remhit remapped)"
info "remhit: $inside of the region's $REGION_BLOCKS blocks remapped (runs of $HIT_RUN)"
fi
if wants remaparound; then
check "remaround: $((NREMAPS / 2)) remaps right before the region" \
  remap_range remaround $((OFF_BLOCKS - NREMAPS / 2)) $((NREMAPS / 2))
check "remaround: $((NREMAPS - NREMAPS / 2)) remaps right after the region" \
  remap_range remaround $((OFF_BLOCKS + REGION_BLOCKS)) $((NREMAPS - NREMAPS / 2))
check_eq "remaround: stats remapped=$NREMAPS" "$NREMAPS" "$(stat_of remaround remapped)"
fi
! wants remap1 || check "rem1: one remap before the region" remap_range rem1 0 1
settle

dev_of() {
  case $1 in
    raw) echo "$DATA" ;;
    linear) echo /dev/mapper/lin ;;
    remap0) echo /dev/mapper/rem0 ;;
    remap1) echo /dev/mapper/rem1 ;;
    remapmiss) echo /dev/mapper/remmiss ;;
    remaparound) echo /dev/mapper/remaround ;;
    remaphit) echo /dev/mapper/remhit ;;
  esac
}

# run_fio WORKLOAD DEV IOS: prints "ios runtime_ms iops" of the one direction the workload uses.
# disk_util=0: fio would otherwise walk sysfs for the device (and a dm device's slaves) and
# sample its stats every 250 ms of guest time.
run_fio() {
  local w=$1 dev=$2 ios=$3 rw bs qd dir
  case $w in
    randread) rw=randread bs=4k qd=32 dir=read ;;
    randwrite) rw=randwrite bs=4k qd=32 dir=write ;;
    seqread) rw=read bs=1M qd=8 dir=read ;;
    seqwrite) rw=write bs=1M qd=8 dir=write ;;
  esac
  case $bs in 4k) bytes=$((ios * 4096)) ;; 1M) bytes=$((ios * 1048576)) ;; esac
  fio --name="$w" --filename="$dev" --ioengine=libaio --direct=1 --iodepth="$qd" --bs="$bs" \
    --rw="$rw" --offset=$((OFF_MIB * 1048576)) --size=$((REGION_MIB * 1048576)) --io_size="$bytes" --norandommap \
    --randrepeat=1 --randseed=7 --disk_util=0 --eta=never --output-format=json --output=/tmp/fio.json \
    >/tmp/fio.err 2>&1 || { cat /tmp/fio.err /tmp/fio.json; return 1; }
  awk -v d="\"$dir\"" '
    $1 == d && $2 == ":" { on = 1 }
    on && $1 == "\"total_ios\"" { gsub(",", "", $3); ios = $3; on = 0 }
    on && $1 == "\"runtime\"" { gsub(",", "", $3); rt = $3 }
    on && $1 == "\"iops\"" { gsub(",", "", $3); iops = $3 }
    END { print ios, rt, iops }' /tmp/fio.json
}

# Odd rounds run the configurations in the listed order, even rounds in reverse: the guest's
# cost per I/O drifts up slowly over a boot (+0.7% per round for 1 MiB reads on brd), which in
# one fixed order would charge each configuration for those before it.
reverse() { r_out=""; for x in "$@"; do r_out="$x $r_out"; done; echo "$r_out"; }
fail_runs=0
# A warm-up run of each workload, not recorded: the boot's first run cost ~0.2% more per I/O
# than the same job later (1 MiB reads on brd), as much as dm-linear's whole cost.
for w in $WORKLOADS; do
  eval "n=\$IOS_$w"
  run_fio "$w" "$(dev_of raw)" $((n / 10)) >/dev/null || log "warm-up fio $w failed"
done
r=1
while [ "$r" -le "$ROUNDS" ]; do
  order=$CONFIGS
  # shellcheck disable=SC2086 # CONFIGS is a list of words
  [ $((r % 2)) -eq 1 ] || order=$(reverse $CONFIGS)
  for w in $WORKLOADS; do
    for c in $order; do
      dev=$(dev_of "$c")
      eval "n=\$IOS_$w"
      n0=$((n / 10))
      # A short run first, the same job with a tenth of the I/Os: the difference of the two
      # runs' busy time is the I/O alone, without fio's start-up and exit.
      s0=$(busy_ns)
      if short=$(run_fio "$w" "$dev" "$n0") && s1=$(busy_ns) && t0=$(now_ns) && b0=$(busy_ns) &&
         out=$(run_fio "$w" "$dev" "$n"); then
        b1=$(busy_ns); t1=$(now_ns)
        # shellcheck disable=SC2086
        set -- $short
        short_ios=$1
        # shellcheck disable=SC2086
        set -- $out
        # runtime_ms and iops: fio's own, from guest time (1 ms steps); elapsed_ns: guest time
        # around the whole fio process; busy_ns: the non-idle part of it (ns resolution);
        # short_*: the short run.
        echo "RESULT mode=$BENCH_MODE round=$r workload=$w config=$c ios=$1 runtime_ms=$2 iops=$3 elapsed_ns=$((t1 - t0)) busy_ns=$((b1 - b0)) short_ios=$short_ios short_busy_ns=$((s1 - s0))"
      else
        log "fio $w on $c failed: $short $out"
        fail_runs=$((fail_runs + 1))
      fi
    done
  done
  r=$((r + 1))
done
check_eq "every fio run succeeded" 0 "$fail_runs"
for d in rem0 rem1 remmiss remaround remhit; do
  ! dm_exists "$d" || info "$d stats: $(msg $d stats)"
done
! wants remaphit ||
  check_eq "remaphit: the mapping is unchanged by the runs" "$NREMAPS" "$(stat_of remhit remapped)"

# ---- remap latency: every write to the data device fails ----
if [ "$LATENCY" = 1 ]; then
  # The last 64 MiB of the data device behind dm-flakey (nothing reaches it: every write
  # fails); a 64 MiB spare area on ram1 after rem0's.
  LAT_SECT=$((64 * 2048))
  check "flk: dm-flakey failing every write" dmsetup create flk --table \
    "0 $LAT_SECT flakey $DATA $((DATA_SECT - LAT_SECT)) 0 1 1 error_writes" || exit 1
  check "remlat: dm-remap over flk" dmsetup create remlat --table \
    "0 $LAT_SECT remap /dev/mapper/flk 0 /dev/ram1 $SPARE_SECT $LAT_SECT" || exit 1
  # lat_run QD IOS FIRST_BLOCK: IOS sequential 4 KiB writes from FIRST_BLOCK at queue depth QD.
  lat_run() {
    local qd=$1 ios=$2 first=$3 before after rt
    msg remlat clear_stats
    before=$(msg remlat stats)
    fio --name=lat --filename=/dev/mapper/remlat --ioengine=libaio --direct=1 --iodepth="$qd" \
      --bs=4k --rw=write --offset=$((first * BS)) --size=$((ios * BS)) --disk_util=0 \
      --eta=never --output-format=json --output=/tmp/lat.json >/tmp/lat.err 2>&1 ||
      { cat /tmp/lat.err /tmp/lat.json; return 1; }
    after=$(msg remlat stats)
    rt=$(awk '$1 == "\"write\"" && $2 == ":" { on = 1 }
              on && $1 == "\"runtime\"" { gsub(",", "", $3); print $3; exit }' /tmp/lat.json)
    kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    echo "LAT mode=$BENCH_MODE qd=$qd ios=$ios runtime_ms=$rt" \
      "remaps=$(( $(kv "$after" auto_remaps) - $(kv "$before" auto_remaps) ))" \
      "commits=$(( $(kv "$after" seq) - $(kv "$before" seq) ))" \
      "write_errors=$(kv "$after" write_errors) redone=$(kv "$after" redone_writes)" \
      "redo_avg_ns=$(kv "$after" redo_avg_ns) redo_max_ns=$(kv "$after" redo_max_ns)"
  }
  check "remap latency, one failing write at a time" lat_run 1 "$LAT_IOS_QD1" 0
  check "remap latency, 32 failing writes at a time" lat_run 32 "$LAT_IOS_QD32" "$LAT_IOS_QD1"
  check_eq "remlat: every failing write was remapped" $((LAT_IOS_QD1 + LAT_IOS_QD32)) \
    "$(stat_of remlat remapped)"
  info "remlat stats: $(msg remlat stats)"
fi

# ---- memory at 1M remaps (block_size 512, so that the copies fit in the guest's memory) ----
if [ "$MEM_1M" = 1 ]; then
  dm_remove lin rem0 rem1 remmiss remaround remhit remlat flk
  brd_teardown
  check "two 640 MiB ramdisks" brd_setup 2 $((640 * 1024)) || exit 1
  n=1048576
  check "create memtest (block_size 512)" dmsetup create memtest --table \
    "0 $((600 * 2048)) remap /dev/ram0 0 /dev/ram1 0 $((640 * 2048)) 2 block_size 512" || exit 1
  settle
  kb0=$(kmem_kb); slab_bytes >/tmp/slab0
  b=0 left=$n ok=1
  while [ "$left" -gt 0 ]; do
    k=$left; [ "$k" -le 65536 ] || k=65536
    msg memtest remap "$b" "$k" >/dev/null || { ok=0; break; }
    b=$((b + k)); left=$((left - k))
  done
  settle
  kb1=$(kmem_kb); slab_bytes >/tmp/slab1
  info "memtest: slab caches that grew (KiB): $(slab_growth /tmp/slab0 /tmp/slab1)"
  check_eq "memtest: stats remapped=$n" "$n" "$(stat_of memtest remapped)"
  echo "MEM dev=memtest remaps=$(stat_of memtest remapped) block_size=512 spare_blocks=$(stat_of memtest spare_total) kmem_kb_before=$kb0 kmem_kb_after=$kb1 bytes_per_remap=$(( (kb1 - kb0) * 1024 / n ))"
fi
exit 0
