# shellcheck shell=bash
# The debug kernel's checks (tools/debug-kernel), sourced by tools/vm/run-tests.sh: per test, no
# KASAN/lockdep/UBSAN/BUG/WARNING report in its slice of the kernel log and no new kmemleak
# suspect after it, with leak backtraces annotated against dm-remap.ko. Called by parse_boot of
# tools/vm/report.sh; uses its tap, note and per-boot b_* variables, and run_dir and module.
# shellcheck disable=SC2154 # those globals are set by run-tests.sh and report.sh
# shellcheck disable=SC2034 # test_failed is report.sh's, read by run-tests.sh

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
