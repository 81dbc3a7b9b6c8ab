#!/usr/bin/env bash
# Prints the kernel release dm-remap is built for and tested against (shared by the Makefile and the
# VM runner so both always agree). The host's own `uname -r` is useless here: it cannot load modules.
# Picks the newest K with both /boot/vmlinuz-K (to boot) and /lib/modules/K/build/Makefile (to build).
set -euo pipefail

if [ -n "${KVER:-}" ]; then
  printf '%s\n' "$KVER"
  exit 0
fi

candidates=()
for img in /boot/vmlinuz-*; do
  [ -e "$img" ] || continue
  k=${img#/boot/vmlinuz-}
  [ -f "/lib/modules/$k/build/Makefile" ] && candidates+=("$k")
done

if [ ${#candidates[@]} -eq 0 ]; then
  echo "kver.sh: no kernel with both /boot/vmlinuz-K and /lib/modules/K/build/Makefile;" \
       "run tools/install-deps.sh (linux-image-amd64 linux-headers-amd64)" >&2
  exit 1
fi

printf '%s\n' "${candidates[@]}" | sort -V | tail -n 1
