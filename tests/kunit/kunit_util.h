/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the KUnit files of dm-remap-kunit.ko share: the helpers of kunit_util.c and the suites,
 * one per file, that kunit_main.c runs.
 */
#ifndef REMAP_KUNIT_UTIL_H
#define REMAP_KUNIT_UTIL_H

#include <kunit/test.h>

/* Splits a space-separated line into a test-managed argv (strings stay writable). */
char **rkt_argv(struct kunit *test, const char *line, unsigned int *argc);

/* A deterministic xorshift generator: a failing case fails the same way every time. */
u64 rkt_next(u64 *state);

/* Something that emits status text the DMEMIT way, appending at *used within maxlen. */
typedef void (*rkt_emit_fn)(void *ctx, char *buf, unsigned int maxlen, unsigned int *used);

/* Checks the DMEMIT truncation rules of emit(ctx, ...) at every buffer size. */
void rkt_check_truncation(struct kunit *test, rkt_emit_fn emit, void *ctx);

/* The suites, one per file. */
extern struct kunit_suite remap_spare_allocator_suite; /* spare_allocator_kunit.c */
extern struct kunit_suite remap_metadata_codec_suite;  /* metadata_codec_kunit.c */
extern struct kunit_suite remap_parser_suite;          /* parser_kunit.c */
extern struct kunit_suite remap_status_suite;          /* status_kunit.c */
extern struct kunit_suite remap_engine_suite;          /* engine_kunit.c */
/* glue_kunit.c: the target's callbacks on real brd devices. */
extern struct kunit_suite remap_glue_suite;

#endif
