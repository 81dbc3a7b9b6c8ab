# shellcheck shell=bash
# The guest's initramfs, sourced by tools/vm/run-tests.sh: the base image (busybox, dmsetup, fio,
# e2fsprogs, kernel modules) built once per kernel and cached, and the small per-boot cpio appended
# to it. Uses run-tests.sh's globals (KVER, MODDIR, BASE_DIR, the module lists, the test list,
# run_dir, ...) and its note().
# shellcheck disable=SC2154 # those globals are set by run-tests.sh, which sources this file

# ---------------------------------------------------------------------------------------------
# Base initramfs: big (fio drags in ~80 MB of libraries) and slow to pack, so it is cached and
# rebuilt only when the kernel, the builder functions or any copied host file changes.

# Prints module files for the given names, following depends and softdeps (libcrc32c, for one,
# only softdeps on the crc32c implementations it asks for at run time).
resolve_modules() {
  local -A seen=()
  local queue=("$@") name files file dep
  while [ ${#queue[@]} -gt 0 ]; do
    name=${queue[0]}
    queue=("${queue[@]:1}")
    # An alias such as "crc32c" names several files; a built-in module names none.
    if ! files=$(kmodinfo -n "$name" 2>/dev/null); then
      echo "$PROG: kernel $KVER has no module '$name'" >&2
      return 1
    fi
    while IFS= read -r file; do
      case $file in /*) ;; *) continue ;; esac
      [ -z "${seen[$file]:-}" ] || continue
      seen[$file]=1
      printf '%s\n' "$file"
      for dep in $(kmodinfo -F depends "$file" | tr ',' ' ') \
                 $(kmodinfo -F softdep "$file" | tr ' ' '\n' | grep -v ':$' || true); do
        queue+=("$dep")
      done
    done <<<"$files"
  done
}

# Prints every host file the base image copies (binaries, their libraries and interpreter, modules).
base_inputs() {
  local bin
  # e2fsprogs for the ext4 test: mkfs.ext4 and fsck.ext4 are symlinks that cp -L copies whole.
  # util-linux's blkdiscard and fallocate for the discard test (busybox's have no -z).
  for bin in /bin/busybox "$(command -v dmsetup)" "$(command -v fio)" \
             "$(command -v mkfs.ext4)" "$(command -v fsck.ext4)" "$(command -v dumpe2fs)" \
             "$(command -v blkdiscard)" "$(command -v fallocate)"; do
    printf '%s\n' "$bin"
    # ldd lines are "name => /path (addr)" or "/path (addr)"; keep the absolute paths only.
    # The static busybox makes ldd fail; that just means "no libraries".
    { ldd "$bin" 2>/dev/null || true; } | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'
  done
  resolve_modules "${BASE_MODULES[@]}" "${optional_modules[@]}" "${module_deps[@]}"
  local f
  for f in modules.order modules.builtin modules.builtin.modinfo; do
    printf '%s\n' "$MODDIR/$f"
  done
  printf '%s\n' /etc/mke2fs.conf
}

build_base() {
  local out=$1 stage f dest applet inputs
  inputs=$(base_inputs | sort -u)   # an assignment, so a failure stops the build
  stage=$(mktemp -d "$BASE_DIR/stage.XXXXXX")
  # Mirror the host's merged /usr so ldd's paths and the ELF interpreter path resolve unchanged.
  mkdir -p "$stage"/usr/{bin,sbin,lib,lib64} "$stage"/{dev,proc,sys,tmp,run,etc,root,mnt}
  ln -s usr/bin "$stage/bin"
  ln -s usr/sbin "$stage/sbin"
  ln -s usr/lib "$stage/lib"
  ln -s usr/lib64 "$stage/lib64"
  while IFS= read -r f; do
    # The module tree may be a staging directory: its files go where the guest's modprobe looks.
    case $f in
      "$MODDIR"/*) dest=$stage/usr/lib/modules/$KVER/${f#"$MODDIR"/} ;;
      *) dest=$stage$(readlink -f "$(dirname "$f")")/$(basename "$f") ;;
    esac
    mkdir -p "$(dirname "$dest")"
    cp -L "$f" "$dest"
  done <<<"$inputs"
  # Applet paths go through the bin/sbin symlinks; never shadow a real binary such as dmsetup.
  for applet in $(/bin/busybox --list-full); do
    dest=$stage/$applet
    [ -e "$dest" ] || [ -L "$dest" ] || ln -s /usr/bin/busybox "$dest"
  done
  depmod -b "$stage" "$KVER"
  (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc -R 0:0 --quiet) >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$stage"
}

base_stamp() {
  local inputs
  inputs=$(base_inputs | sort -u)
  {
    echo "kver $KVER $MODDIR"
    echo "modules ${BASE_MODULES[*]} ${optional_modules[*]} ${module_deps[*]}"
    declare -f resolve_modules base_inputs build_base
    xargs -r stat -L -c '%n %s %Y' <<<"$inputs"
  } | sha256sum | cut -d' ' -f1
}

ensure_base() {
  local stamp t0
  exec {lock_fd}>"$BASE_DIR/lock"
  flock "$lock_fd"   # a concurrent run may be building the same base
  stamp=$(base_stamp)
  if [ -f "$BASE_DIR/base.cpio" ] && [ "$(cat "$BASE_DIR/stamp" 2>/dev/null)" = "$stamp" ]; then
    note "base initramfs: cached $BASE_DIR/base.cpio"
  else
    t0=$(date +%s.%N)
    rm -f "$BASE_DIR/stamp"
    rm -rf "$BASE_DIR"/stage.*
    build_base "$BASE_DIR/base.cpio"
    echo "$stamp" >"$BASE_DIR/stamp"
    note "base initramfs: built $BASE_DIR/base.cpio ($(du -m "$BASE_DIR/base.cpio" | cut -f1) MB)" \
         "in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  fi
  exec {lock_fd}>&-
}

# ---------------------------------------------------------------------------------------------
# Per-run cpio: /init, the guest library, the tests and the module. Later cpio members override
# earlier ones, so it is simply appended to the base.

# add_tool STAGE: the project's binaries (dmremap, lwreplay) and the libraries they need beyond
# the base image's (libisal), at the host's paths like the base image's binaries. Without a
# binary, the tests that need it fail.
add_tool() {
  local pair bin name lib dest
  for pair in "dmremap:$tool" "lwreplay:$lwreplay_tool"; do
    name=${pair%%:*} bin=${pair#*:}
    if [ ! -x "$bin" ]; then
      note "no $name binary at $bin (make $name): tests that use it will fail"
      continue
    fi
    install -D -s -m 0755 "$bin" "$1/usr/sbin/$name"
    for lib in $({ ldd "$bin" 2>/dev/null || true; } |
                 awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
      dest=$1$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
      [ -e "$dest" ] || install -D -m 0755 "$(readlink -f "$lib")" "$dest"
    done
  done
}

# build_extra OUT CONFIG-LINES TEST-INDEX...: the per-boot cpio with the given tests.
build_extra() {
  local out=$1 conf=$2 stage i names=()
  shift 2
  stage=$(mktemp -d "$run_dir/extra.XXXXXX")
  mkdir -p "$stage/vmtest/tests"
  install -m 0755 "$REPO/tools/vm/guest-init.sh" "$stage/init"
  cp "$REPO/tests/vm/lib.sh" "$stage/vmtest/lib.sh"
  cp "$module" "$stage/vmtest/dm-remap.ko"
  [ -z "$dust_module" ] || cp "$dust_module" "$stage/vmtest/dm-dust.ko"
  [ "$with_kunit" = 0 ] || cp "$kunit_module" "$stage/vmtest/dm-remap-kunit.ko"
  for i in "$@"; do
    cp "${test_files[$i]}" "$stage/vmtest/tests/${test_names[$i]}.sh"
    names+=("${test_names[$i]}.sh")
  done
  {
    echo "VMT_TESTS='${names[*]}'"
    echo "VMT_TIMEOUT=$per_test_timeout"
    echo "DM_REMAP_KO=/vmtest/dm-remap.ko"
    echo "DM_REMAP_DEPS='${module_deps[*]}'"
    [ -z "$dust_module" ] || echo "DM_DUST_KO=/vmtest/dm-dust.ko"
    [ "$with_kunit" = 0 ] || echo "VMT_KUNIT=/vmtest/dm-remap-kunit.ko"
    [ "$with_kunit" = 0 ] || echo "VMT_KUNIT_DEPS='${kunit_deps[*]}'"
    [ -z "$conf" ] || printf '%s\n' "$conf"
    for e in "${guest_env[@]}"; do echo "$e; export ${e%%=*}"; done
  } >"$stage/vmtest/config"
  add_tool "$stage"
  cp -r "$helper_dir" "$stage/vmtest/bin"
  (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc -R 0:0 --quiet) >"$out"
  rm -rf "$stage"
}
