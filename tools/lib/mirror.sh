# shellcheck shell=bash
# Sourced by tools/kunit-ootree/build.sh and tools/debug-kernel/test-debug.sh, which build
# kernel modules from a mirror of the sources (Kbuild must never write into src/). Files are
# copied only when their content changed, so make's incremental build holds; mirrored files
# whose source is gone are removed. Needs REPO (the repository root).

src_list() {  # dir paths...: the source files below those paths, relative to dir
  local dir=$1
  shift
  (cd "$dir" && find "$@" -type f \
     \( -name Kbuild -o -name '*.[chS]' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.sh' \) \
     2>/dev/null | LC_ALL=C sort)
}

sync_file() {  # from to
  cmp -s "$1" "$2" || { mkdir -p "$(dirname "$2")"; cp -p "$1" "$2"; }
}

mirror() {  # dest paths...: REPO's sources below paths, mirrored into dest
  local dest=$1 f
  shift
  while IFS= read -r f; do sync_file "$REPO/$f" "$dest/$f"; done < <(src_list "$REPO" "$@")
  comm -13 <(src_list "$REPO" "$@") <(src_list "$dest" "$@") |
    while IFS= read -r f; do rm -f "$dest/$f"; done
}
