# shellcheck shell=bash
# The results of the VM tests, sourced by tools/vm/run-tests.sh (and by tests/vm/report/run.sh,
# which feeds it recorded results): each boot's results UART (the @@ markers tools/vm/guest-init.sh
# writes) turns into TAP lines, KUnit's KTAP into one check per case, and a missing end marker, a
# kernel BUG/WARNING or a boot with no checks into failures. Uses run-tests.sh's run_dir, demo,
# with_kunit, per_test_timeout, qemu_rc and boot_timeout, its note() and debug_checks of
# tools/vm/debug-report.sh.
# shellcheck disable=SC2154 # those globals are set by run-tests.sh, which sources this file
# shellcheck disable=SC2034 # durations is read by run-tests.sh's summary

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
