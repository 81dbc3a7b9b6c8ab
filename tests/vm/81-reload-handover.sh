#!/bin/sh
# Resume and reload without the disk (findings 2, 3 and 12 of the maintainer review). A
# reloaded table takes over, at its first resume and without reading the spare device (dead by
# then), what the live table committed after the reload's constructor. A suspend/resume of
# the same table with a dead spare resumes in failed mode with a dm event. Another device over
# the same area is refused. A status/stats loop races reload cycles with commits in between.
# A read-only table writes nothing (finding 10).
# shellcheck shell=dash source-path=SCRIPTDIR source=lib.sh disable=SC1091
. "${VMT_LIB:-/vmtest/lib.sh}"

LEN=131072          # 64 MiB of data on ram0
SPARE_LEN=32768     # 16 MiB spare area on ram1
CYCLES=20
msg() { dmsetup message r 0 -- "$@"; }
stat_of() { msg stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
events() { dmsetup info -c --noheadings -o events r | tr -d ' '; }
swap() {  # dev: loads the table on stdin in place of the live one
  dmsetup load "$1" && dmsetup suspend "$1" && dmsetup resume "$1"
}
spare_plain() { echo "0 $SPARE_LEN linear /dev/ram1 0" | swap sp; }
spare_dead() { echo "0 $SPARE_LEN error" | swap sp; }
reads() {  # block: one direct 4 KiB read through r
  dd if=/dev/mapper/r of=/dev/null bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null
}

cleanup_push "brd_teardown"
cleanup_push "dm_remove r2 r sp data"
cleanup_push "unload_module dm_remap"

check "ramdisks" brd_setup 2 65536 || exit 1
load_dm_remap_deps && check "insmod dm-remap.ko" insmod "$DM_REMAP_KO" || exit 1
check "data device" dmsetup create data --table "0 $LEN linear /dev/ram0 0" || exit 1
check "spare device" dmsetup create sp --table "0 $SPARE_LEN linear /dev/ram1 0" || exit 1
TABLE="0 $LEN remap /dev/mapper/data 0 /dev/mapper/sp 0 $SPARE_LEN"
check "remap target" dmsetup create r --table "$TABLE" || exit 1

# ---- a reload takes over the commits made after its constructor, without the spare ----
check "load a new table of r" dmsetup load r --table "$TABLE"
check_eq "the live table commits after that load (remap 800 4)" "remapped=4 lost=0 already=0" \
  "$(msg remap 800 4)"
want_list=$(msg list)
want_seq=$(stat_of seq)
check "suspend r" dmsetup suspend r
check "the spare device fails" spare_dead
dmesg_mark
check "resume r: the new table's first resume needs no disk" dmsetup resume r
check "the kernel log says it took the mapping over" dmesg_since_has 'remap: took over metadata seq'
check_eq "the new table serves the mapping committed after its load" "$want_list" "$(msg list)"
check_eq "... at the same seq" "$want_seq" "$(stat_of seq)"
check_eq "metadata ok" ok "$(stat_of metadata)"

# ---- a suspend/resume of the same table with a dead spare ----
check_fails "a remap needs the dead spare: it fails" msg remap 8000
# No spare block takes the copy: a spare-device failure (stats spare=failed); a spare whose data
# blocks work but whose metadata does not fails the commit instead (metadata=failed).
check "the failure shows: spare=failed or metadata=failed" \
  sh -c "[ '$(stat_of spare)' = failed ] || [ '$(stat_of metadata)' = failed ]"
ev0=$(events)
check "suspend r" dmsetup suspend r
check "resume r with the spare dead: it resumes" dmsetup resume r
check "a dm event was raised" [ "$(events)" -gt "$ev0" ]
check_contains "status: seq unchanged, rw" "$(dmsetup status r)" " $want_seq rw"
check "a block that is not remapped reads" reads 5000
check_fails "a remapped block does not (its data is on the dead spare)" reads 100

# ---- the spare is back: a reload starts from its own load, metadata ok ----
check "the spare device works again" spare_plain
check "reload r" sh -c "dmsetup load r --table '$TABLE' && dmsetup suspend r && dmsetup resume r"
check_eq "metadata ok after the reload" ok "$(stat_of metadata)"
check_eq "the mapping is the last commit's" "$want_list" "$(msg list)"
check "the remapped block reads again" reads 100

# ---- another device over the same area ----
dmesg_mark
check_fails "another device over r's area is refused" dmsetup create r2 --table "$TABLE"
check "the kernel log says why" dmesg_since_has 'remap: Spare area is in use by another device'
dm_remove r2

# ---- status and stats race reload cycles with commits in between ----
rm -f /tmp/stop-status
(
  n=0
  while [ ! -e /tmp/stop-status ]; do
    dmsetup status r >/dev/null && msg stats >/dev/null || echo "status failed" >>/tmp/status-errors
    n=$((n + 1))
  done
  echo "$n" >/tmp/status-loops
) &
loop_pid=$!
dmesg_mark
ok=0
i=0
while [ $i -lt $CYCLES ]; do
  dmsetup load r --table "$TABLE" &&
    msg remap $((16000 + i * 8)) >/dev/null &&
    dmsetup suspend r && dmsetup resume r && ok=$((ok + 1))
  i=$((i + 1))
done
touch /tmp/stop-status
wait "$loop_pid"
log "status loop: $(cat /tmp/status-loops 2>/dev/null) rounds"
check_eq "every reload cycle succeeded" "$CYCLES" "$ok"
check_eq "no status or stats failed" "" "$(cat /tmp/status-errors 2>/dev/null)"
check_eq "each reload took the commit after its load over" "$CYCLES" \
  "$(dmesg_since | grep -c 'remap: took over metadata seq')"
check_eq "remapped: 4 + one per cycle" $((4 + CYCLES)) "$(stat_of remapped)"
check "re-create: everything persisted" sh -c "dmsetup remove r && dmsetup create r --table '$TABLE'"
check_eq "remapped after re-create" $((4 + CYCLES)) "$(stat_of remapped)"
check "remove r" dmsetup remove r

# ---- a read-only table writes nothing ----
spare_md5=$(md5sum </dev/ram1)
check "create r read-only over the area" dmsetup create --readonly r --table "$TABLE"
check_eq "status ends in ro" ro "$(dmsetup status r | awk '{ print $NF }')"
check_eq "stats: mode=ro" ro "$(stat_of mode)"
check_fails "remap is refused" msg remap 24000
check_fails "unremap is refused" msg unremap 800
check "a remapped block reads" reads 100
check "suspend and resume r" sh -c "dmsetup suspend r && dmsetup resume r"
check "remove r" dmsetup remove r
check_eq "the spare device is byte-identical" "$spare_md5" "$(md5sum </dev/ram1)"
dmesg_mark
check_fails "a read-only table over a fresh area is refused" \
  dmsetup create --readonly r --table "0 $LEN remap /dev/mapper/data 0 /dev/ram1 65536 $SPARE_LEN"
check "the kernel log says why" dmesg_since_has 'remap: Spare area is not formatted and the table is read-only'
check_eq "... and nothing was written there" "$spare_md5" "$(md5sum </dev/ram1)"
