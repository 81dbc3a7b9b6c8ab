// SPDX-License-Identifier: GPL-2.0
/*
 * dm-remap-kunit.ko: KUnit suites for dm-remap's core as compiled for the kernel (the same C++
 * objects, flags and platform services, src/kernel/boundary.c, as dm-remap.ko), exercised through
 * the C boundary (rc_*) and the test hooks of core_hooks.cpp, and for its glue (glue_kunit.c).
 * One suite per file; this file lists them. Built by tests/kunit/Kbuild; the suites run when the
 * module is loaded on a kernel with CONFIG_KUNIT, and their KTAP results appear in
 * /sys/kernel/debug/kunit/<suite>/results. For Debian's kernel, without CONFIG_KUNIT,
 * tools/kunit-ootree builds it with KUnit linked in (REMAP_KUNIT_OOTREE).
 */
#include <kunit/test.h>
#include <linux/module.h>

#include "kunit_util.h"

#define REMAP_KUNIT_SUITES &remap_spare_allocator_suite, &remap_metadata_codec_suite, \
			   &remap_parser_suite, &remap_status_suite, &remap_engine_suite, \
			   &remap_glue_suite

#ifdef REMAP_KUNIT_OOTREE
/*
 * A kernel without CONFIG_KUNIT (Debian's): KUnit is linked into this module
 * (tools/kunit-ootree) and the loader knows nothing of .kunit_test_suites, so the module's own
 * init runs the suites, as the loader's KUnit notifier does on a CONFIG_KUNIT kernel.
 */
#include "compat.h"
#include "kunit_ootree.h"

static struct kunit_suite *remap_kunit_suites[] = { REMAP_KUNIT_SUITES };

static int __init remap_kunit_init(void)
{
	int rc = kunit_ootree_init();

	if (rc)
		return rc;
	rc = remap_kunit_suites_init(remap_kunit_suites, ARRAY_SIZE(remap_kunit_suites));
	if (rc)
		kunit_ootree_exit();
	return rc;
}
module_init(remap_kunit_init);

static void __exit remap_kunit_exit(void)
{
	__kunit_test_suites_exit(remap_kunit_suites, ARRAY_SIZE(remap_kunit_suites));
	kunit_ootree_exit();
}
module_exit(remap_kunit_exit);
#else
kunit_test_suites(REMAP_KUNIT_SUITES);
#endif

MODULE_DESCRIPTION("KUnit tests of dm-remap's core");
MODULE_LICENSE("GPL");
