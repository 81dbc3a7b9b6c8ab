#!/bin/sh
# dm-remap at scale: more than 100k blocks remapped by messages (count form, up to its 65536
# limit, overlapping ranges, singles), listed back completely by paging, counted and checked
# block by block against what was asked; stats and status agree; remove + create brings the
# identical list back; data written before the remaps still verifies on a sample spread over
# the whole device.
# Sizes: block_size 512 keeps the spare area small enough for RAM (105546 remapped blocks are
# 52 MiB of spare data); brd allocates only the pages written, so the 256 MiB data range
# costs only the sample.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

DATA=/dev/ram0
SPARE=/dev/ram1
LEN=524288            # 256 MiB of data: 524288 blocks of 512 bytes
SPARE_LEN=131072      # 64 MiB of spare: 131072 blocks
# Metadata at 512 bytes: E = 28 entries per table block, T = ceil(131070 / 30) = 4369 blocks
# per table area, so the first usable spare block is 2 + 2T = 8740.
FIRST_SPARE=8740
SPARE_TOTAL=$((SPARE_LEN - FIRST_SPARE))
# The remaps: A blocks from 0 (the largest count a message takes), B blocks from 100000, and C
# blocks from C_LO overlapping B's end by half. On a debug kernel (KASAN + lockdep under TCG,
# ~15x slower) a quarter of that still crosses many table blocks and list pages.
if [ "${VMT_DEBUG:-0}" = 1 ]; then A=16384 B=6000 C=4000; else A=65536 B=30000 C=20000; fi
C_LO=$((100000 + B - C / 2))
LAST=$((C_LO + C - 1))   # blocks 100000..LAST are remapped
TABLE="0 $LEN remap $DATA 0 $SPARE 0 $SPARE_LEN 2 block_size 512"
# The sample: one 4 KiB write every 64 KiB over the whole data range (4096 writes, 16 MiB).
FIO="--filename=/dev/mapper/r --bs=4k --rw=write:60k --size=$((LEN * 512)) --direct=1
  --ioengine=libaio --iodepth=16 --verify=crc32c --randseed=7 --eta=never --io_size=16M"

msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)
phase() { log "[$(since "$T_START") s] $*"; }
# shellcheck disable=SC2317 # called through check
fio_ok() {  # name args...: exit status 0 and no verify complaint
  local name=$1
  shift
  # shellcheck disable=SC2086
  fio --name="$name" $FIO "$@" --output="/tmp/$name.out" || { cat "/tmp/$name.out"; return 1; }
  ! fio_complaint "/tmp/$name.out"
}
# list_range LO HI FILE: the list entries for blocks LO <= b < HI, page by page. A page holds
# whole lines only; the next one starts after its last block. (Appending each page and reading
# the last line back costs the fewest processes: dmsetup is slow to start under TCG.)
list_range() {
  local first=$1 next last
  : >"$3.pages"
  while :; do
    msg list "$first" >>"$3.pages" || { log "list $first failed"; return 1; }
    echo >>"$3.count"
    last=$(tail -n 1 "$3.pages")
    [ -n "$last" ] || break          # nothing listed at all
    next=$((${last%% *} + 1))
    # An empty page leaves the previous last line: next does not move.
    if [ "$next" -le "$first" ] || [ "$next" -ge "$2" ]; then break; fi
    first=$next
  done
  awk -v hi="$2" '$1 < hi' "$3.pages" >"$3"
}
# list_all FILE: the whole list, paged by two pagers in parallel (one per vCPU: each dmsetup
# call costs ~0.1 s under TCG) that split the block numbers at SPLIT. Prints the page count.
list_all() {
  local rc=0
  rm -f "$1".lo* "$1".hi*
  list_range 0 $SPLIT "$1.lo" &
  list_range $SPLIT $LEN "$1.hi" || rc=1
  wait $! || rc=1
  cat "$1.lo" "$1.hi" >"$1"
  cat "$1.lo.count" "$1.hi.count" 2>/dev/null | wc -l
  return $rc
}

cleanup_push "unload_module dm_remap"
cleanup_push "brd_teardown"
cleanup_push "dm_remove r"

check "two 256 MiB ramdisks" brd_setup 2 262144 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "create r: $TABLE" dmsetup create r --table "$TABLE" || exit 1
check_contains "status: 512-byte blocks, $SPARE_TOTAL spare blocks to hand out" \
  "$(dmsetup status r)" "remap 512 0 0 0/$SPARE_TOTAL ok 1"

t0=$(now)
check "fio writes the sample (4096 x 4 KiB over 256 MiB) and verifies it" fio_ok sample
log "sample written in $(since "$t0") s"

# ---- remaps ----
phase "remaps"
t0=$(now)
check_eq "remap 0 $A" "remapped=$A lost=0 already=0" "$(msg remap 0 $A)"
log "$A blocks remapped in $(since "$t0") s"
check_eq "remap 100000 $B" "remapped=$B lost=0 already=0" "$(msg remap 100000 $B)"
check_eq "remap $C_LO $C (half of it already remapped)" \
  "remapped=$((C / 2)) lost=0 already=$((C / 2))" "$(msg remap $C_LO $C)"
singles=""
i=0
while [ $i -lt 10 ]; do
  b=$((200000 + i * 30011))
  reply=$(msg remap $b)
  case $reply in
    "$b "[0-9]*) singles="$singles $b" ;;
    *) fail "remap $b replied '$reply'" ;;
  esac
  i=$((i + 1))
done
check_eq "ten single remaps, 30011 blocks apart" 10 "$(echo "$singles" | wc -w)"
log "all remaps done in $(since "$t0") s"
dmesg_mark
check_fails "remap 0 65537 is refused (more than 65536 blocks)" msg remap 0 65537
check "kernel log says why" dmesg_since_has 'remap: message rejected: remap count must be 1 to 65536'
check_fails "remap $((LEN - 1)) 2 is refused (past the end)" msg remap $((LEN - 1)) 2
check_eq "a count remap over remapped blocks only moves nothing" "remapped=0 lost=0 already=100" \
  "$(msg remap 100 100)"
EXPECT=$((A + B + C / 2 + 10))
SPLIT=52000   # about half of the entries on either side

# ---- the list, paged ----
phase "the list, paged"
t0=$(now)
pages=$(list_all /tmp/list1)
check "paging the whole list worked" [ $? -eq 0 ]
log "listed in $pages pages, $(since "$t0") s"
check "the list took more than one page" [ "${pages:-0}" -gt 1 ]
phase "checking the list"
# One pass over the listing (busybox tools are slow on 100k lines under TCG): every line a
# remapped entry, blocks strictly ascending and exactly the ones asked for, spare blocks unique
# and usable. With as many lines as blocks asked for, that makes the set identical.
summary=$(awk -v lo=$FIRST_SPARE -v hi=$SPARE_LEN -v singles="$singles" -v a=$A -v last=$LAST '
  BEGIN { n = split(singles, s, " "); for (i = 1; i <= n; i++) single[s[i]] = 1 }
  {
    lines++
    if (NF == 3 && $3 == "remapped") remapped++
    b = $1 + 0
    if (lines > 1 && b <= prev) unordered++
    prev = b
    if (!((b < a) || (b >= 100000 && b <= last) || (b in single))) unexpected++
    if ($2 in seen) dup++
    seen[$2] = 1
    if ($2 + 0 < lo || $2 + 0 >= hi) outside++
  }
  END {
    printf "lines=%d remapped=%d unordered=%d unexpected=%d duplicate_spares=%d unusable_spares=%d\n",
      lines, remapped, unordered, unexpected, dup, outside
  }' /tmp/list1)
check_eq "the list: $EXPECT remapped lines, ascending, the blocks asked for, unique usable spares" \
  "lines=$EXPECT remapped=$EXPECT unordered=0 unexpected=0 duplicate_spares=0 unusable_spares=0" "$summary"
check_eq "paging with a line limit: list $((A - 6)) 10 gives 10 lines across the gap" \
  "$(sed -n "$((A - 5)),$((A + 4))p; $((A + 4))q" /tmp/list1)" "$(msg list $((A - 6)) 10)"

# ---- stats and status ----
phase "stats and status"
stats=$(msg stats)
log "stats: $stats"
check_contains "stats: remapped=$EXPECT lost=0" "$stats" "remapped=$EXPECT lost=0 "
check_contains "stats: spare_used=$EXPECT spare_free=$((SPARE_TOTAL - EXPECT)) spare_total=$SPARE_TOTAL" \
  "$stats" "spare_used=$EXPECT spare_free=$((SPARE_TOTAL - EXPECT)) spare_total=$SPARE_TOTAL bad_spare=0 "
check_contains "stats: manual_remaps=$EXPECT" "$stats" "manual_remaps=$EXPECT "
seq1=$(stat_of seq)
check_contains "status agrees with stats" "$(dmsetup status r)" \
  "remap 512 $EXPECT 0 $EXPECT/$SPARE_TOTAL ok $seq1"

# ---- the data ----
phase "the data"
t0=$(now)
check "the sample still verifies after the remaps" fio_ok sample --verify_only
log "sample verified in $(since "$t0") s"
# A remapped block's data lives in its spare block (4 KiB direct reads: busybox dd falls back
# to buffered I/O at 512 bytes).
block_512() {  # device block: one 512-byte block read with a 4 KiB direct read
  dd if="$1" bs=4096 skip=$(($2 / 8)) count=1 iflag=direct 2>/dev/null |
    dd bs=512 skip=$(($2 % 8)) count=1 2>/dev/null | md5sum | cut -d' ' -f1
}
for b in 128 $((A - 128)) 100096 $((LAST - 95)); do   # sample: one 4 KiB write every 128 blocks
  s=$(sed -n "s/^$b \([0-9]*\) remapped$/\1/p" /tmp/list1)
  check_eq "block $b reads from its spare block $s, which holds the sample data" \
    "$(block_512 /dev/mapper/r "$b")" "$(block_512 $SPARE "$s")"
  check "block $b holds fio data, not zeroes" \
    [ "$(block_512 /dev/mapper/r "$b")" != "$(dd if=/dev/zero bs=512 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" ]
done

# ---- persistence ----
phase "persistence"
sum1=$(md5sum </tmp/list1 | cut -d' ' -f1)
check "remove r" dmsetup remove r
t0=$(now)
check "create r again" dmsetup create r --table "$TABLE"
log "loaded $EXPECT entries in $(since "$t0") s"
t0=$(now)
check "paging the whole list again" list_all /tmp/list2 >/dev/null
log "listed again in $(since "$t0") s"
check_eq "the whole list is identical after remove + create (md5 $sum1)" "$sum1" \
  "$(md5sum </tmp/list2 | cut -d' ' -f1)"
check_eq "seq is identical" "$seq1" "$(stat_of seq)"
check_contains "status after re-create" "$(dmsetup status r)" \
  "remap 512 $EXPECT 0 $EXPECT/$SPARE_TOTAL ok $seq1"
phase "verifying the sample"
check "the sample verifies after re-create" fio_ok sample --verify_only

check "remove r" dmsetup remove r
check "rmmod dm_remap" rmmod dm_remap
phase "done"
exit 0
