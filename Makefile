# SPDX-License-Identifier: GPL-2.0
# dm-remap top-level build. `make` builds dm-remap.ko against the installed kernel headers,
# `make test` runs the userspace unit tests and the QEMU VM suite, `make demo` shows the target
# at work in a VM. Every entry point installs what it needs (tools/install-deps.sh).

SHELL := /bin/bash

# The kernel to build for and test against: the newest with an image and headers on this host
# (tools/vm/kver.sh), or any supported one `make kernels` fetched (KVER=<release>; see
# `make kernels` and README.md, "Supported kernels"). KDIR is the build tree as seen where that
# kernel's compiler is (the host, or the sid chroot: tools/kernels/kernels.sh run).
KVER ?= $(shell tools/vm/kver.sh 2>/dev/null)
KDIR ?= /lib/modules/$(KVER)/build
export KVER
KRUN := tools/kernels/kernels.sh run $(KVER)
BUILD ?= build
JOBS ?= $(shell nproc)

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all module deps kernel-deps unit thread-safety vm-test test demo clean fuzz fuzz-long \
	bench-core bench bench-matrix dmremap install dkms-check kunit lwreplay test-logwrites-long \
	kernels matrix soak soak-debug deb deb-next test-system lint

all: module

deps:
	@tools/install-deps.sh

# What building for KVER needs besides deps: the g++ matching the kernel's gcc, pahole.
kernel-deps: deps
	@test -n "$(KVER)" || { echo "no kernel with headers found (set KVER, or run make kernels)"; exit 1; }
	@tools/kernels/kernels.sh deps $(KVER)

# Kbuild only warns about objtool findings and unresolved symbols; here they fail the build.
module: kernel-deps
	@mkdir -p $(BUILD)
	@set -o pipefail; $(KRUN) $(MAKE) -C $(KDIR) M=$(CURDIR) modules 2>&1 | tee $(BUILD)/module.log
	@tools/check-module-log.sh $(BUILD)/module.log

# Fetch (or refresh) every supported kernel: image, modules, headers, linux-source, and for sid's
# kernel a chroot with its compiler (tools/kernels/kernels.sh; cached in ~/.cache/dm-remap).
kernels: deps
	@tools/kernels/kernels.sh fetch

# `make test` on every supported kernel here, then one table: kernel, checks passed/failed/
# skipped, wall time (tools/kernels/matrix.sh; MATRIX_KERNELS=<release>... picks some).
matrix: deps
	@BUILD=$(abspath $(BUILD)) tools/kernels/matrix.sh $(MATRIX_KERNELS)

# Then the concurrency tests (gtest suites named *Concurrency*) once more under ThreadSanitizer,
# from their own small build (REMAP_TSAN in CMakeLists.txt). thread-safety comes first.
unit: deps thread-safety
	@cmake -S . -B $(BUILD)/user -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)/user -j $(JOBS)
	@cd $(BUILD)/user && ctest --output-on-failure -j $(JOBS)
	@cmake -S . -B $(BUILD)/tsan -DCMAKE_BUILD_TYPE=Debug -DREMAP_TSAN=ON >/dev/null
	@cmake --build $(BUILD)/tsan -j $(JOBS) --target unit_tests
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		$(BUILD)/tsan/unit_tests --gtest_filter='*Concurrency*' --gtest_brief=1

# The core built with clang and its thread-safety analysis, -Werror (REMAP_THREAD_SAFETY in
# CMakeLists.txt): a lock rule broken in src/core fails the build, and so does a violation in
# tests/thread_safety/violations.cpp that is not reported. Compiles only, runs nothing.
thread-safety: deps
	@cmake -S . -B $(BUILD)/clang -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
		-DCMAKE_CXX_COMPILER=clang++ -DREMAP_THREAD_SAFETY=ON >/dev/null
	@cmake --build $(BUILD)/clang -j $(JOBS) --target remap_core thread_safety_violations

# dmremap, the admin tool (tools/dmremap), from the same CMake tree as the unit tests; `unit`
# builds it too, and runs its tests (tests/cli) with the core's.
dmremap: deps
	@cmake -S . -B $(BUILD)/user -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)/user -j $(JOBS) --target dmremap
	@cp $(BUILD)/user/dmremap $(BUILD)/dmremap

# lwreplay (tools/lwreplay): dm-log-writes replay and the crash-consistency check that
# tests/vm/88-logwrites.sh runs in the guest.
lwreplay: deps
	@cmake -S . -B $(BUILD)/user -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)/user -j $(JOBS) --target lwreplay
	@cp $(BUILD)/user/lwreplay $(BUILD)/lwreplay

# dm-remap-kunit.ko for KVER's Debian kernel, which has no CONFIG_KUNIT: KUnit itself (lib/kunit of
# that kernel's linux-source-<series>, patched by tools/kunit-ootree/patches/<series>, cached in
# ~/.cache/dm-remap/kunit-ootree) linked with the suites of tests/kunit and the core, built in
# $(BUILD)/kunit-ootree (tools/kunit-ootree/README.md). A series with no patches there is
# skipped with a note (status 3 of build.sh).
KUNIT_KO := $(abspath $(BUILD))/kunit-ootree/dm-remap-kunit.ko
kunit: kernel-deps
	@rm -f $(KUNIT_KO); BUILD=$(abspath $(BUILD)) KVER=$(KVER) KDIR=$(KDIR) tools/kunit-ootree/build.sh || \
		[ $$? = 3 ] || \
		{ echo "make kunit: could not build the KUnit suites for $(KVER) (see above)" >&2; exit 1; }

# The VM suite on KVER, then the KUnit suites where they were built (each case a check).
# VM_TESTS="71-outage 72-readahead ..." runs only those VM tests (and the KUnit suites).
vm-test: module dmremap lwreplay kunit
	@tools/vm/run-tests.sh --module $(CURDIR)/dm-remap.ko --tool $(abspath $(BUILD))/dmremap \
		--lwreplay $(abspath $(BUILD))/lwreplay \
		$$(test ! -f $(KUNIT_KO) || echo --kunit $(KUNIT_KO)) $(VM_TESTS)

# The long log-writes replay (tests/vm/88-logwrites.sh): a longer workload, more failing blocks
# and 4 torn variants per flush/FUA point. LW_OPS, LW_TORN, LW_BAD and LW_SEED override.
LW_OPS ?= 3000
LW_TORN ?= 4
LW_BAD ?= 20
test-logwrites-long: module dmremap lwreplay
	@tools/vm/run-tests.sh --module $(CURDIR)/dm-remap.ko --tool $(abspath $(BUILD))/dmremap \
		--lwreplay $(abspath $(BUILD))/lwreplay --timeout 3000 --env VMT_LW_OPS=$(LW_OPS) \
		--env VMT_LW_TORN=$(LW_TORN) --env VMT_LW_BAD=$(LW_BAD) \
		$(if $(LW_SEED),--env VMT_SEED=$(LW_SEED)) 88-logwrites

# The soak (tests/vm/soak.sh): fio with crc32c verify over dm-remap for MINUTES while faults are
# injected at random (dm-dust bad sectors and blocks, data-device outages, slow errors through
# dm-delay, a dying spare, suspend/resume/reload, remap/unremap/reprobe, a status loop), then a
# whole-device verify and `dmremap check`; prints one line of figures (SOAK ...). SOAK_MIB sets
# the data size (default 32), SOAK_SEED the seed, SOAK_SELFTEST=1 loses two blocks on purpose
# (the run must fail with bytes_lost >= 8192). soak-debug runs it on the debug kernel.
MINUTES ?= 30
soak: module dmremap
	@tools/vm/soak.sh --minutes $(MINUTES) --module $(CURDIR)/dm-remap.ko \
		--tool $(abspath $(BUILD))/dmremap $(if $(SOAK_MIB),--mib $(SOAK_MIB)) \
		$(if $(SOAK_SEED),--seed $(SOAK_SEED)) $(if $(SOAK_SELFTEST),--selftest)

soak-debug: deps dmremap
	@BUILD=$(abspath $(BUILD)) tools/vm/soak.sh --debug --minutes $(MINUTES) \
		--tool $(abspath $(BUILD))/dmremap $(if $(SOAK_MIB),--mib $(SOAK_MIB)) \
		$(if $(SOAK_SEED),--seed $(SOAK_SEED)) $(if $(SOAK_SELFTEST),--selftest)

# `dkms build` of the module against KVER's headers (dkms.conf), in the sid chroot for sid's kernel.
dkms-check: kernel-deps
	@tools/dkms-check.sh $(KVER)

# Debian packages dm-remap-dkms and dmremap (debian/), built with dpkg-buildpackage from a copy
# of the tracked and new files in $(BUILD)/deb, then checked with lintian (debian/ says why
# each remaining tag is accepted). The .debs land in $(BUILD)/deb.
DEB_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
deb:
	@tools/install-deps.sh debhelper dh-dkms lintian dpkg-dev libisal-dev libgtest-dev
	@rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/dm-remap
	@git ls-files -co --exclude-standard -z | grep -zv '^build/' | \
		tar --null -T - -cf - | tar -xf - -C $(BUILD)/deb/dm-remap
	@cd $(BUILD)/deb/dm-remap && dpkg-buildpackage -us -uc -b -j$(JOBS) >../build.log 2>&1 || \
		{ tail -n 40 ../build.log; echo "make deb: dpkg-buildpackage failed (see $(BUILD)/deb/build.log)"; exit 1; }
	@lintian --fail-on error,warning --suppress-tags-from-file debian/lintian-accepted \
		$(BUILD)/deb/dm-remap_$(DEB_VERSION)_*.changes
	@ls -1 $(BUILD)/deb/*.deb

# The same packages one version up (<version>+1 in the changelog and dkms.conf of a copy), in
# $(BUILD)/deb-next: what test-system's DKMS part upgrades to.
DEB_NEXT = $(shell echo '$(DEB_VERSION)' | sed 's/-\([^-]*\)$$/+1-\1/')
deb-next:
	@tools/install-deps.sh debhelper dh-dkms dpkg-dev libisal-dev libgtest-dev
	@rm -rf $(BUILD)/deb-next && mkdir -p $(BUILD)/deb-next/dm-remap
	@git ls-files -co --exclude-standard -z | grep -zv '^build/' | \
		tar --null -T - -cf - | tar -xf - -C $(BUILD)/deb-next/dm-remap
	@cd $(BUILD)/deb-next/dm-remap && v='$(DEB_NEXT)' && \
		sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$${v%-*}\"/" dkms.conf && \
		{ printf 'dm-remap (%s) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n\n' "$$v" \
			'The tree one version up, for the upgrade test (make deb-next).' \
			"$$(dpkg-parsechangelog -S Maintainer)" "$$(date -R)"; cat debian/changelog; } >changelog.new && \
		mv changelog.new debian/changelog && \
		dpkg-buildpackage -us -uc -b -j$(JOBS) >../build.log 2>&1 || \
		{ tail -n 40 ../build.log; echo "make deb-next: dpkg-buildpackage failed (see $(BUILD)/deb-next/build.log)"; exit 1; }
	@ls -1 $(BUILD)/deb-next/*.deb

# The booted-system test (tools/system-test): a Debian 12 image from mmdebstrap (cached in
# ~/.cache/dm-remap/system-image) boots under QEMU TCG with three virtio disks, installs the
# dmremap package and the module, and checks dmremaptab, the generator, the udev claim, the
# monitor and the package's reinstall and purge across a reboot, and root on dm-remap.
# SYSTEM_TEST_DKMS=1 adds the packages' lifecycle with the real dm-remap-dkms (install, upgrade
# to deb-next across a reboot, a second kernel, remove and purge): two more, slower boots.
test-system: module deb $(if $(SYSTEM_TEST_DKMS),deb-next)
	@tools/system-test/run.sh --deb $(wildcard $(BUILD)/deb/dmremap_*_amd64.deb) \
		--module $(CURDIR)/dm-remap.ko --out $(BUILD)/system-test \
		$(if $(SYSTEM_TEST_DKMS),--dkms $(BUILD)/deb --dkms-next $(BUILD)/deb-next)

# The checks that keep the code in one shape (tools/lint.sh): clang-format on the C++,
# checkpatch on the C glue, shellcheck on every script, clang-tidy on the core.
lint: deps
	@BUILD=$(abspath $(BUILD)) tools/lint.sh

test: lint unit fuzz dkms-check vm-test

# The module into /lib/modules/<kver>/updates (under DESTDIR if set), dmremap and its man page
# under PREFIX.
install: module dmremap
	$(KRUN) $(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=updates \
		modules_install
	install -D -m 0755 $(BUILD)/dmremap $(DESTDIR)$(PREFIX)/sbin/dmremap
	install -D -m 0644 docs/dmremap.8 $(DESTDIR)$(PREFIX)/share/man/man8/dmremap.8

# The VM suite (and the KUnit suites of tests/kunit) on a debug build of Linux 6.1 with KASAN,
# lockdep, kmemleak and UBSAN (tools/debug-kernel). The kernel is built once into
# ~/.cache/dm-remap/debug-kernel (a cold build took 18 minutes on 2 busy cores) and reused; the
# modules are built in $(BUILD)/debug-module and $(BUILD)/debug-kunit.
.PHONY: test-debug
# DEBUG_TESTS picks tests (default: all of tests/vm); CI runs the fault-path ones.
test-debug: deps dmremap lwreplay
	@BUILD=$(abspath $(BUILD)) tools/debug-kernel/test-debug.sh --tool $(abspath $(BUILD))/dmremap \
		$(DEBUG_TESTS)

# libFuzzer targets (tests/fuzz) under ASan+UBSan: `fuzz` is the short run (20 s a target),
# `fuzz-long` the soak (10 min a target). Corpora persist in $(BUILD)/fuzz between runs.
fuzz: deps
	@FUZZ_BUILD=$(abspath $(BUILD))/fuzz tools/run-fuzzers.sh 20

fuzz-long: deps
	@FUZZ_BUILD=$(abspath $(BUILD))/fuzz tools/run-fuzzers.sh 600

demo: module dmremap
	@tools/vm/run-tests.sh --module $(CURDIR)/dm-remap.ko --tool $(abspath $(BUILD))/dmremap --demo

# Userspace micro-benchmarks of the core (median, p99.9, callgrind instructions per op).
bench-core: deps
	@tools/bench-core.sh

# bench-core, then the kernel-side benchmark in QEMU (-icount: fio on brd, raw vs dm-linear vs
# dm-remap; memory per remap; the same on null_blk; plain-TCG ratios): bench/results/REPORT.md and vm-F.png.
# Takes about half an hour (27 minutes here: bench-core 3, icount boot 12, plain TCG 7, null_blk 7).
bench: module bench-core
	@tools/bench-vm.sh

# F on every supported kernel (or BENCH_KERNELS="<release>..."): the module for each, an icount
# boot of the 4k random workloads (raw, dm-linear, dm-remap with 0 remaps and 100k around the
# region), one table; bench/results/matrix-<date>.txt (tools/bench-matrix.sh; ~10 min a kernel).
bench-matrix: deps
	@tools/bench-matrix.sh $(BENCH_KERNELS)

clean:
	@if [ -n "$(KVER)" ] && tools/kernels/kernels.sh env $(KVER) >/dev/null 2>&1; then \
		$(KRUN) $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -rf $(BUILD)
