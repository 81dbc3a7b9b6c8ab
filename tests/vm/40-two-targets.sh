#!/bin/sh
# Two remap targets side by side: "a" with its spare area on a separate device, "b" with its
# spare range at the start of its own data device (data after it) and 8 KiB blocks. Remaps,
# stats and lists stay separate; fio writes and verifies both at once while remaps land on
# both; removing one leaves the other and its data intact, and the removed one comes back.
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

A_LEN=131072    # a: all of ram0 (64 MiB) ...
A_TABLE="0 $A_LEN remap /dev/ram0 0 /dev/ram1 8192 32768"   # ... spare: 16 MiB of ram1 at 4 MiB
B_LEN=98304     # b: ram2 from 16 MiB on (48 MiB), spare: ram2's first 16 MiB
B_TABLE="0 $B_LEN remap /dev/ram2 32768 /dev/ram2 0 32768 2 block_size 8192"

msg() { dev=$1; shift; dmsetup message "$dev" 0 -- "$@"; }
stat_of() { msg "$1" stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }
blocks_of() { msg "$1" list | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//'; }
sum_of() { msg "$1" list | md5sum | cut -d' ' -f1; }
fio_args() {  # dev len: a whole-device random write with crc32c verify
  echo "--name=$1 --filename=/dev/mapper/$1 --size=$(($2 * 512)) --bs=4k --rw=randwrite
    --direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c --randseed=$2 --eta=never"
}
fio_start() {  # dev len tag [args...]: in the background; fio_wait collects it
  local dev=$1 len=$2 tag=$3
  shift 3
  # shellcheck disable=SC2046 # fio_args is a list of options
  fio $(fio_args "$dev" "$len") "$@" --output="/tmp/$dev-$tag.out" &
  eval "fio_pid_$dev=\$!"
}
# shellcheck disable=SC2317 # called through check
fio_wait() {  # dev tag: the job's exit status and no verify complaint
  local pid rc=0
  eval "pid=\$fio_pid_$1"
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ] || fio_complaint "/tmp/$1-$2.out"; then
    cat "/tmp/$1-$2.out"
    return 1
  fi
  grep -q 'err= *0:' "/tmp/$1-$2.out"
}

cleanup_push "unload_module dm_remap"
cleanup_push "brd_teardown"
cleanup_push "dm_remove a b"

check "three 64 MiB ramdisks" brd_setup 3 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "create a: $A_TABLE" dmsetup create a --table "$A_TABLE" || exit 1
check "create b: $B_TABLE" dmsetup create b --table "$B_TABLE" || exit 1
# a: 4096 spare blocks of 4 KiB, T = ceil(4094 / 254) = 17, so 4096 - 2 - 34 = 4060 to hand out;
# b: 2048 blocks of 8 KiB, E = 508, T = ceil(2046 / 510) = 5, so 2048 - 12 = 2036.
check_contains "status a: 4 KiB blocks, 4060 spare blocks" "$(dmsetup status a)" "remap 4096 0 0 0/4060 ok 1"
check_contains "status b: 8 KiB blocks, 2036 spare blocks" "$(dmsetup status b)" "remap 8192 0 0 0/2036 ok 1"

# ---- independent remaps, stats and lists ----
check_eq "a: remap 800 40" "remapped=40 lost=0 already=0" "$(msg a remap 800 40)"
check_eq "b: remap 800 40 (other blocks: 8 KiB each)" "remapped=40 lost=0 already=0" "$(msg b remap 800 40)"
check_eq "a: remap sector 80000 (block 10000)" "10000 " "$(msg a remap 80000 | cut -d' ' -f1) "
check_eq "b: remap sector 80000 (block 5000)" "5000 " "$(msg b remap 80000 | cut -d' ' -f1) "
check_eq "a: 41 remapped" 41 "$(stat_of a remapped)"
check_eq "b: 41 remapped" 41 "$(stat_of b remapped)"
check_eq "a lists its own blocks (100..139, 10000)" "$(seq 100 139 | tr '\n' ' ')10000" "$(blocks_of a)"
check_eq "b lists its own blocks (50..89, 5000)" "$(seq 50 89 | tr '\n' ' ')5000" "$(blocks_of b)"
check "unremap on a" msg a unremap 80000
check_eq "a: 40 remapped" 40 "$(stat_of a remapped)"
check_eq "b still has 41" 41 "$(stat_of b remapped)"
check_eq "b still lists block 5000" "5000" "$(msg b list 5000 1 | cut -d' ' -f1)"
check "clear_stats on a" msg a clear_stats
check_eq "a: manual_remaps cleared" 0 "$(stat_of a manual_remaps)"
check_eq "b: manual_remaps untouched" 41 "$(stat_of b manual_remaps)"

# ---- fio on both at once, with remaps landing on both while it runs ----
t0=$(cut -d' ' -f1 /proc/uptime)
fio_start a $A_LEN write
fio_start b $B_LEN write
i=0
while [ $i -lt 12 ]; do
  msg a remap $((20000 + i * 8000)) 16 >/dev/null || fail "a: remap during fio ($i)"
  msg b remap $((24000 + i * 5000)) 8 >/dev/null || fail "b: remap during fio ($i)"
  i=$((i + 1))
done
check "a: fio randwrite + verify while remapping" fio_wait a write
check "b: fio randwrite + verify while remapping" fio_wait b write
log "both fio jobs done in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"
check_eq "a: 40 + 12 x 16 remapped" $((40 + 12 * 16)) "$(stat_of a remapped)"
check_eq "b: 41 + 12 x 8 remapped" $((41 + 12 * 8)) "$(stat_of b remapped)"
fio_start a $A_LEN write --verify_only
fio_start b $B_LEN write --verify_only
check "a: data verifies afterwards (run beside b's)" fio_wait a write
check "b: data verifies afterwards (run beside a's)" fio_wait b write

# ---- removing one leaves the other intact ----
a_sum=$(sum_of a)
a_seq=$(stat_of a seq)
b_sum=$(sum_of b)
b_table=$(dmsetup table b)
b_status=$(dmsetup status b)
check "remove a" dmsetup remove a
check "a is gone" dm_absent a
check_eq "b: table unchanged" "$b_table" "$(dmsetup table b)"
check_eq "b: status unchanged" "$b_status" "$(dmsetup status b)"
check_eq "b: list unchanged" "$b_sum" "$(sum_of b)"
verify_b_only() {
  # shellcheck disable=SC2046 # fio_args prints one option per line
  fio $(fio_args b "$B_LEN") --verify_only --output=/tmp/b-only.out && ! fio_complaint /tmp/b-only.out
}
check "b: data still verifies" verify_b_only
check "create a again" dmsetup create a --table "$A_TABLE"
check_eq "a: list came back" "$a_sum" "$(sum_of a)"
check_eq "a: seq came back" "$a_seq" "$(stat_of a seq)"
fio_start a $A_LEN write --verify_only
check "a: data verifies after re-create" fio_wait a write
check "remove b" dmsetup remove b
check_eq "a: list unchanged after b went" "$a_sum" "$(sum_of a)"
check "remove a" dmsetup remove a
check "rmmod dm_remap" rmmod dm_remap
exit 0
