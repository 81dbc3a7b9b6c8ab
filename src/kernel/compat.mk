# SPDX-License-Identifier: GPL-2.0
# src/kernel/compat_probed.h: the answers of src/kernel/compat-probe.sh for the kernel being
# built against, made with the glue's own compiler and C flags before anything that includes
# src/kernel/compat.h is compiled. Included by the top-level Kbuild and tests/kunit/Kbuild (the
# glue is compiled into both modules); REMAP_COMPAT_USERS names the objects that need it.

quiet_cmd_remap_compat = PROBE   $@
      cmd_remap_compat = $(CONFIG_SHELL) $(src)/src/kernel/compat-probe.sh $(CC) \
			 $(filter-out -Wp$(comma)%,$(c_flags)) >$@.tmp && mv $@.tmp $@

$(obj)/src/kernel/compat_probed.h: $(src)/src/kernel/compat-probe.sh FORCE
	$(call if_changed,remap_compat)

targets += src/kernel/compat_probed.h
$(addprefix $(obj)/,$(REMAP_COMPAT_USERS)): $(obj)/src/kernel/compat_probed.h
