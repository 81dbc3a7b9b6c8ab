#!/bin/sh
# vmtest: timeout=300
# Crash consistency at every flush and FUA point, the method of xfstests generic/482, with a
# replayer of our own (tools/lwreplay). The stack is
#   null_blk (memory-backed, volatile write cache) -> lwinj (linear, with `error` segments on
#   a few blocks: writes there fail below the log) -> lw (dm-log-writes, log on /dev/ram0)
#   -> rm (dm-remap, data and spare on lw)
# `lwreplay workload` writes stamped blocks to rm, fdatasyncs at random, sends remap and
# unremap messages and writes the failing blocks (automatic remaps), and marks every
# acknowledgement in the log. `lwreplay check` then replays the log onto /dev/ram1 and, at
# every flush and FUA entry and in torn variants of each (the writes since the last flush
# reordered and torn at 512-byte granularity), proves that the metadata loads and passes
# `dmremap check`, that every acknowledged remap (and unremap) is there, that a fresh dm-remap
# target loads it with the same list, and that every sector reads back as the version made
# durable before that point or a later one. Finally the whole log is replayed onto /dev/ram2
# and checked with the real `dmremap check` and against rm's last `list`.
#
# Knobs (the defaults are the short run of `make test`; `make test-logwrites-long` passes
# bigger ones with run-tests.sh --env): VMT_LW_OPS (workload operations), VMT_LW_TORN (torn
# variants per point), VMT_LW_BAD (failing blocks), VMT_SEED.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

OPS=${VMT_LW_OPS:-500}
TORN=${VMT_LW_TORN:-1}
NBAD=${VMT_LW_BAD:-6}
if [ "${VMT_DEBUG:-0}" = 1 ] && [ -z "${VMT_LW_OPS:-}" ]; then OPS=150; fi
SEED=${VMT_SEED:-$(date +%s)}
DATA=4096           # 2 MiB of data: 512 blocks
SPARE=2048          # 1 MiB of spare right after it: 256 blocks, 252 for remaps
BLOCKS=$((DATA / 8))
TOTAL=$((DATA + SPARE))
CFS=/sys/kernel/config/nullb

rnd() {  # n: R becomes a number in 0..n-1 from the seed
  SEED_R=$(( (SEED_R * 1103515245 + 12345) % 2147483648 ))
  R=$(( SEED_R / 65536 % $1 ))
}
# shellcheck disable=SC2317 # called through check
nullb_disk() {  # a 3 MiB memory-backed null_blk with a volatile write cache (so flush and FUA
  # reach dm-log-writes: on a device without one, the block layer drops them before any target)
  modprobe null_blk nr_devices=0 || return 1
  [ -d "$CFS" ] || mount -t configfs configfs /sys/kernel/config
  mkdir "$CFS/lwdisk" && echo 3 >"$CFS/lwdisk/size" && echo 512 >"$CFS/lwdisk/blocksize" &&
    echo 1 >"$CFS/lwdisk/memory_backed" && echo 1 >"$CFS/lwdisk/cache_size" &&
    echo 1 >"$CFS/lwdisk/power" || return 1
  DISK=/dev/lwdisk
  [ -e /sys/block/lwdisk ] || DISK=/dev/nullb$(cat "$CFS/lwdisk/index")
  wait_for_dev "$DISK"
}
# shellcheck disable=SC2317 # called through check
inj_table() {  # linear over the disk, an `error` segment on each bad block
  local at=0 b
  for b in $(echo "$BAD" | tr ',' '\n' | sort -n); do
    [ $((b * 8)) -le "$at" ] || echo "$at $((b * 8 - at)) linear $DISK $at"
    echo "$((b * 8)) 8 error"
    at=$((b * 8 + 8))
  done
  echo "$at $((TOTAL - at)) linear $DISK $at"
}
# shellcheck disable=SC2317 # called through check
stat_of() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# shellcheck disable=SC2317 # called through check
summary_of() { sed -n 's/^lwreplay check: //p' /tmp/lw/check.out | tr ' ' '\n' | sed -n "s/^$1=//p"; }

cleanup_push "brd_teardown"
cleanup_push "unload_module null_blk"
cleanup_push "rmdir $CFS/lwdisk 2>/dev/null; true"
cleanup_push "[ ! -e $CFS/lwdisk/power ] || echo 0 >$CFS/lwdisk/power"
cleanup_push "dm_remove lwreplay-check rm lw lwinj"
cleanup_push "unload_module dm_remap"
mkdir -p /tmp/lw

modprobe dm-log-writes 2>/dev/null || skip_test "this kernel has no dm-log-writes"
command -v lwreplay >/dev/null || { fail "lwreplay is installed in the guest (make lwreplay)"; exit 1; }
log "seed $SEED (VMT_SEED=$SEED repeats the workload and the torn states), ops $OPS, torn $TORN"

# Bad blocks: distinct, spread over the data range.
SEED_R=$SEED BAD=""
while [ "$(echo "$BAD" | tr ',' '\n' | grep -c .)" -lt "$NBAD" ]; do
  rnd "$BLOCKS"
  case ",$BAD," in *",$R,"*) continue ;; esac
  BAD=${BAD:+$BAD,}$R
done
log "blocks whose writes fail below the log: $BAD"

check "log (ram0), scratch (ram1) and end-state (ram2) ramdisks" brd_setup 3 65536 || exit 1
check "null_blk disk with a volatile write cache" nullb_disk || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
inj_table >/tmp/lw/inj.table
check "lwinj: linear with error segments on the bad blocks" dmsetup create lwinj /tmp/lw/inj.table || exit 1
check "lw: dm-log-writes over lwinj, logging to ram0" \
  dmsetup create lw --table "0 $TOTAL log-writes /dev/mapper/lwinj /dev/ram0" || exit 1
check_eq "lw has a write cache (flush and FUA reach the log)" "write back" \
  "$(cat /sys/block/dm-"$(dmsetup info -c --noheadings -o minor lw)"/queue/write_cache)"
check "rm: dm-remap over lw (spare range on the same device)" \
  dmsetup create rm --table "0 $DATA remap /dev/mapper/lw 0 /dev/mapper/lw $DATA $SPARE" || exit 1

t0=$(date +%s)
check "workload ($OPS operations)" sh -c "lwreplay workload --device /dev/mapper/rm --remap-name rm \
  --log-name lw --blocks $BLOCKS --ops $OPS --max-remaps 60 --bad $BAD --seed $SEED >/tmp/lw/workload.out 2>&1"
cat /tmp/lw/workload.out
t1=$(date +%s)
stats=$(dmsetup message rm 0 stats)
log "rm stats: $stats"
check "automatic remaps happened ($(stat_of "$stats" auto_remaps))" [ "$(stat_of "$stats" auto_remaps)" -gt 0 ]
check "manual remaps happened ($(stat_of "$stats" manual_remaps))" [ "$(stat_of "$stats" manual_remaps)" -gt 0 ]
dmsetup message rm 0 list >/tmp/lw/list.before
lwstatus=$(dmsetup status lw)
log "lw status: $lwstatus"
check "dm-log-writes logged everything (no logging_disabled)" sh -c "! echo '$lwstatus' | grep -q logging_disabled"
check "remove rm" dmsetup remove rm
check "remove lw (writes its end mark)" dmsetup remove lw

t2=$(date +%s)
check "every flush/FUA point and $TORN torn variant(s) of each pass" sh -c "lwreplay check --log /dev/ram0 \
  --scratch /dev/ram1 --data-sectors $DATA --spare-sectors $SPARE --bad $BAD --torn $TORN --seed $SEED \
  >/tmp/lw/check.out 2>&1"
t3=$(date +%s)
sed 's/^/# /' /tmp/lw/check.out | tail -n 60
points=$(summary_of points)
log "replay points checked: ${points:-none} (flush $(summary_of flush), FUA $(summary_of fua)), torn states" \
  "$(summary_of torn), all states $(summary_of states); workload $((t1 - t0)) s, check $((t3 - t2)) s"
check "the log has replay points (${points:-0})" [ "${points:-0}" -gt 50 ]
check "torn states were checked ($(summary_of torn))" [ "$(summary_of torn)" -gt 0 ]
check "acknowledged remaps were required ($(summary_of required_remaps))" [ "$(summary_of required_remaps)" -gt 0 ]

# The end state, replayed whole: the real `dmremap check`, and the list rm showed last.
check "lwreplay replay: the whole log onto ram2" lwreplay replay /dev/ram0 /dev/ram2
check "dmremap check passes on the end state" dmremap check /dev/ram2 --offset $DATA
check "rm again over the end state" \
  dmsetup create rm --table "0 $DATA remap /dev/ram2 0 /dev/ram2 $DATA $SPARE" || exit 1
dmsetup message rm 0 list >/tmp/lw/list.after
check "its list equals the one before the removal ($(wc -l </tmp/lw/list.before) lines)" \
  cmp /tmp/lw/list.before /tmp/lw/list.after
check "remove rm" dmsetup remove rm

# ---- the check is not vacuous: a log that contradicts the claims fails it, early ----
lwreplay dump /dev/ram0 >/tmp/lw/dump
# A durably written block that is not bad and never remapped by message, claimed bad: its
# automatic remap is then required and missing.
X=""
for x in $(sed -n 's/^[0-9]* MARK lwr-durable://p' /tmp/lw/dump | tr ',' '\n' | cut -d. -f1); do
  case ",$BAD," in *",$x,"*) continue ;; esac
  grep -q "MARK lwr-remap:$x\$" /tmp/lw/dump && continue
  X=$x
  break
done
check_fails "claiming block $X bad (its remap required) fails the check" \
  lwreplay check --log /dev/ram0 --scratch /dev/ram1 --data-sectors $DATA --spare-sectors $SPARE \
  --bad "$BAD,$X" --torn 0 --max-problems 1 >/tmp/lw/neg1.out 2>&1
check "  ... naming the missing remap" grep -q "block $X was acknowledged as remapped but is not remapped" /tmp/lw/neg1.out
# A garbled sector in the log: the data range sector whose last write is the earliest one,
# in a block not remapped at the end, garbled in that write's data.
pick=$(awk -v data=$DATA -v remapped="$(cut -d' ' -f1 /tmp/lw/list.before | tr '\n' ' ')" '
  BEGIN { n = split(remapped, r, " "); for (i = 1; i <= n; i++) rm[r[i]] = 1 }
  $2 !~ /MARK/ && $4 ~ /^data@/ {
    split($3, sc, "+"); off = substr($4, 6)
    for (k = 0; k < sc[2]; k++) if (sc[1] + k < data) { last[sc[1] + k] = $1; at[sc[1] + k] = off + 512 * k }
  }
  END { for (s in last) if (!(int(s / 8) in rm) && (best == "" || last[s] < last[best])) best = s
        if (best != "") print best, at[best] }' /tmp/lw/dump)
log "garbling the log's copy of sector ${pick% *} (log byte ${pick#* })"
printf 'garbage' | dd of=/dev/ram0 bs=1 seek=$((${pick#* } + 100)) conv=notrunc,fsync 2>/dev/null
check_fails "a garbled sector in the log fails the check" \
  lwreplay check --log /dev/ram0 --scratch /dev/ram1 --data-sectors $DATA --spare-sectors $SPARE \
  --bad "$BAD" --torn 0 --max-problems 1 >/tmp/lw/neg2.out 2>&1
check "  ... naming the sector" grep -q "block $((${pick% *} / 8)) sector $((${pick% *} % 8)): neither zero nor a valid stamp" /tmp/lw/neg2.out
sed 's/^/# /' /tmp/lw/neg1.out /tmp/lw/neg2.out | grep -v '^# log '
check "remove lwinj" dmsetup remove lwinj
exit 0
