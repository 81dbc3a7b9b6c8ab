/* SPDX-License-Identifier: GPL-2.0 */
/* What the KUnit files of dm-remap-kunit.ko share (remap_kunit.c, glue_kunit.c). */
#ifndef REMAP_KUNIT_UTIL_H
#define REMAP_KUNIT_UTIL_H

#include <kunit/test.h>

/* Splits a space-separated line into a test-managed argv (strings stay writable). */
char **rkt_argv(struct kunit *test, const char *line, unsigned int *argc);

/* glue_kunit.c: the target's callbacks on real brd devices. */
extern struct kunit_suite remap_glue_suite;

#endif
