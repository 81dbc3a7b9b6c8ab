# SPDX-License-Identifier: GPL-2.0
# The C++ core in a Kbuild module: compiled with flags derived from the kernel's own, so the C++
# objects get the same code model, mitigations and checks. Included by the top-level Kbuild and
# by tests/kunit/Kbuild.

# The g++ that matches the kernel's gcc, word by word: gcc-12 -> g++-12,
# x86_64-linux-gnu-gcc-16 -> x86_64-linux-gnu-g++-16, gcc -> g++.
REMAP_CXX ?= $(patsubst %gcc,%g++,$(patsubst gcc%,g++%,$(subst -gcc-,-g++-,$(CC))))
ifeq ($(filter %/Makefile.clean,$(MAKEFILE_LIST)),)
ifeq ($(shell command -v $(firstword $(REMAP_CXX))),)
$(error dm-remap: $(REMAP_CXX) not found: the C++ core needs the g++ that matches this kernel's $(strip $(CC)) (Debian: install package $(shell echo '$(REMAP_CXX)' | sed 's/.*g++/g++/')))
endif
endif

# Kernel C flags that are meaningless or wrong for C++ (g++ warns about the C-only ones).
remap-c-only-flags := -std=% -Wstrict-prototypes -Werror=strict-prototypes \
	-Werror=implicit-function-declaration -Werror=implicit-int \
	-Werror=incompatible-pointer-types -Werror=designated-init -Wno-pointer-sign \
	-Wdeclaration-after-statement -Werror=declaration-after-statement -Wmissing-prototypes \
	-Wold-style-definition -Wno-old-style-declaration -Wimplicit-fallthrough=% \
	-Wno-override-init -Wno-unterminated-string-initialization

# Debug information: the kernel's -g/-gdwarf-N flags are replaced by -g1 (line tables and
# functions, no types). Full C++ DWARF (reference types, classes) stops pahole, which makes the
# module's BTF on kernels whose headers ship vmlinux (6.12, 7.2), and the .ko is deleted; with -g1
# pahole sees no C++ types. The C glue keeps full DWARF and BTF. An oops in C++ code is named
# from the symbol table (kallsyms), which the debug level does not touch, and -g1's line tables
# still let faddr2line map an address in it to file:line.
remap-debug-flags := $(if $(filter -g%,$(KBUILD_CFLAGS)),-g1)

# The subset the kernel can run: no exceptions, RTTI, static constructors or guard variables,
# no unwind tables, no standard library. The warnings are errors.
# -fno-weak: out-of-line inline functions and template instances become local symbols in each
# object instead of COMDAT groups. With COMDAT, the linker keeps one object's copy and drops the
# others, but objtool's .return_sites/.orc_unwind and __mcount_loc of the dropped copies still
# point into them: the link fails, or the loader patches the wrong bytes (apply_returns WARN).
# (g++ refuses C++17 inline variables under -fno-weak, so class constants in src/core are enums.)
remap-cxxflags := $(filter-out $(remap-c-only-flags) -g%,$(KBUILD_CFLAGS) $(KBUILD_CFLAGS_MODULE)) \
	$(remap-debug-flags) \
	-std=gnu++17 -ffreestanding -nostdinc -nostdinc++ -fno-exceptions -fno-rtti \
	-fno-threadsafe-statics -fno-use-cxa-atexit -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fno-common -fno-pic -fno-weak \
	-Wall -Wextra -Wold-style-cast -Wvla -Wimplicit-fallthrough -Werror \
	-DREMAP_FREESTANDING -I$(src)/include -I$(src)/src/core $(REMAP_CXX_INCLUDES)

# objtool is not run by a custom rule unless appended by hand (kernels that run it once on the
# linked module object instead, 6.12 on, leave $(cmd_objtool) empty here); the section check
# rejects what the module loader would silently skip (.init_array) or never needs (.eh_frame).
quiet_cmd_remap_cxx = CXX [M]  $@
      cmd_remap_cxx = $(REMAP_CXX) -Wp,-MMD,$(depfile) $(remap-cxxflags) -c -o $@ $< \
		      $(cmd_objtool) ; $(CONFIG_SHELL) $(src)/tools/check-cxx-object.sh $@

$(obj)/src/core/%.o: $(src)/src/core/%.cpp FORCE
	$(call if_changed_dep,remap_cxx)
