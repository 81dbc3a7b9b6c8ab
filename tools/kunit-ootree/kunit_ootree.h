/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit linked into dm-remap-kunit.ko for a kernel without CONFIG_KUNIT (tools/kunit-ootree).
 * build.sh turns lib/kunit/test.c's kunit_init()/kunit_exit() (a late_initcall and a module_exit
 * in the kernel's own kunit.ko) into these two functions, and the test module's own init and exit
 * call them around __kunit_test_suites_init()/__kunit_test_suites_exit().
 */
#ifndef KUNIT_OOTREE_H
#define KUNIT_OOTREE_H

/* Creates /sys/kernel/debug/kunit (the suites' results files go below it). */
int kunit_ootree_init(void);
/* Removes it again; call after __kunit_test_suites_exit() (not __exit: the init calls it when
 * running the suites fails). */
void kunit_ootree_exit(void);

#endif
