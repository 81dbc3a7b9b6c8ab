#!/bin/bash
# The guest side of the root-on-dm-remap boot of `make test-system`: the initramfs (with
# dmremap's hook) activated the initramfs line of /etc/dmremaptab and mounted / from it.
R=/dev/ttyS1
check() {
  local name=$1
  shift
  if "$@" >/tmp/check.out 2>&1; then echo "PASS $name" >"$R"
  else echo "FAIL $name: $(tr '\n' ' ' </tmp/check.out | cut -c1-400)" >"$R"; fi
}
check root-on-dm-remap test "$(findmnt -n -o SOURCE /)" = /dev/mapper/root
check root-is-remap sh -c 'dmsetup table root | grep -q " remap "'
check root-unit-active systemctl is-active dmremap@root.service
check root-raw-claimed sh -c 'udevadm info -q property /dev/vda | grep -qx SYSTEMD_READY=0'
check root-remap-works dmsetup message root 0 remap 4096
echo "PHASE-DONE root" >"$R"
systemctl poweroff
