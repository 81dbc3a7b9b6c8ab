#!/usr/bin/env bash
# make lint: the checks that keep the code in one shape.
#   format     clang-format (the repository's .clang-format, Debian 12's clang-format 14) finds
#              nothing to change in the C++ sources (FORMAT_FIX=1 rewrites them instead)
#   checkpatch the kernel's checkpatch.pl (from linux-source-6.1) is clean on the C glue
#   shell-     every shell script of the repository passes shellcheck at style level
#   check      (.shellcheckrc)
#   tidy       clang-tidy on the core, with the checks of src/core/.clang-tidy
# Usage: tools/lint.sh [format|checkpatch|shellcheck|tidy]...   (default: all four)
# Exits 1 if any check finds something, after running all of them.
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
CACHE=${DMREMAP_CACHE:-$HOME/.cache/dm-remap}
BUILD=${BUILD:-$REPO/build}
SRC_TAR=/usr/src/linux-source-6.1.tar.xz

tools/install-deps.sh clang-format clang-tidy shellcheck linux-source-6.1 >&2

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(format checkpatch shellcheck tidy)

# The C++ of the repository: the core and its boundary, the userspace platform and tools, tests.
cxx_files() {
  git ls-files 'include/*.h' 'src/core/*.h' 'src/core/*.cpp' 'src/user/*.h' 'src/user/*.cpp' \
    'tests/unit/*.h' 'tests/unit/*.cpp' 'tests/fuzz/*.cpp' 'tests/cli/*.cpp' 'bench/*.cpp' \
    'bench/*.h' 'tools/dmremap/*.cpp' 'tools/dmremap/*.h' 'tools/lwreplay/*.cpp' \
    'tools/lwreplay/*.h' 'tests/kunit/*.cpp' 'tests/kunit/*.h'
}
shell_files() {
  git ls-files | while read -r f; do
    case $f in
      *.sh) echo "$f" ;;
      *.*|debian/*) ;;
      *) [ -f "$f" ] && head -c 64 "$f" | grep -Eq '^#!.*(ba|da)?sh( |$)' && echo "$f" ;;
    esac
  done
  return 0
}

check_format() {
  local f bad=0
  if [ "${FORMAT_FIX:-0}" = 1 ]; then
    cxx_files | xargs clang-format -i
    echo "lint: format: rewrote $(cxx_files | wc -l) files"
    return 0
  fi
  while read -r f; do
    if ! clang-format "$f" | cmp -s - "$f"; then
      clang-format "$f" | diff -u "$f" - | head -n 20 || true
      bad=$((bad + 1))
    fi
  done < <(cxx_files)
  [ "$bad" = 0 ] || { echo "lint: format: $bad files differ from clang-format (FORMAT_FIX=1 make lint)"; return 1; }
  echo "lint: format: $(cxx_files | wc -l) files ok"
}

# checkpatch.pl with the two data files it reads, taken once from linux-source-6.1.
checkpatch() {
  local dir=$CACHE/checkpatch
  if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
    mkdir -p "$dir"
    tar -xJf "$SRC_TAR" -C "$dir" --strip-components=1 --wildcards \
      '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
  fi
  echo "$dir/scripts/checkpatch.pl"
}
check_checkpatch() {
  local cp out glue
  cp=$(checkpatch)
  mapfile -t glue < <(git ls-files 'src/kernel/*.c' 'src/kernel/*.h')
  if out=$("$cp" --no-tree --strict --terse --show-types --ignore FILE_PATH_CHANGES \
    -f "${glue[@]}" 2>&1); then
    echo "lint: checkpatch: src/kernel clean"
  else
    echo "$out"
    echo "lint: checkpatch: findings in src/kernel"
    return 1
  fi
}

check_shellcheck() {
  local files
  mapfile -t files < <(shell_files)
  if shellcheck -S style -f gcc "${files[@]}"; then
    echo "lint: shellcheck: ${#files[@]} scripts clean"
  else
    echo "lint: shellcheck: findings (above)"
    return 1
  fi
}

check_tidy() {
  local db=$BUILD/lint out
  cmake -S . -B "$db" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
  if out=$(git ls-files 'src/core/*.cpp' | xargs -P "$(nproc)" -n 4 clang-tidy -p "$db" --quiet \
    --warnings-as-errors='*' 2>&1); then
    echo "lint: tidy: src/core clean"
  else
    echo "$out" | grep -v '^[0-9]* warnings\? generated' || true
    echo "lint: tidy: findings in src/core"
    return 1
  fi
}

rc=0
for c in "${checks[@]}"; do
  case $c in
    format|checkpatch|shellcheck|tidy) "check_$c" || rc=1 ;;
    *) echo "lint: unknown check $c (format, checkpatch, shellcheck, tidy)" >&2; exit 2 ;;
  esac
done
exit "$rc"
