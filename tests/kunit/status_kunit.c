// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite remap_status: the table and IMA status lines of dm-remap's core obey the DMEMIT
 * truncation rules (rkt_check_truncation of kunit_util.c) at every buffer size.
 */
#include <kunit/test.h>
#include <linux/kernel.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

static const char *const status_lines[] = {
	"/dev/a 0 /dev/b 0 2048",
	"/dev/a 8 /dev/a 16384 4096 7 block_size 4096 no_auto_remap read_retries 0 spare_low_water 5",
};

static void rkt_emit_table(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_status_table(ctx, "253:0", "253:1", buf, maxlen, used);
}

static void rkt_emit_ima(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_status_ima(ctx, "253:0", "253:1", buf, maxlen, used);
}

static void status_table_and_ima_truncate_cleanly(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(status_lines); i++) {
		struct rc_table table;
		const char *error = NULL;
		unsigned int argc;
		char **argv = rkt_argv(test, status_lines[i], &argc);

		KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
		rkt_check_truncation(test, rkt_emit_table, &table);
		rkt_check_truncation(test, rkt_emit_ima, &table);
	}
}

static void status_zero_length_buffer_is_untouched(struct kunit *test)
{
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc, used = 5;
	char **argv = rkt_argv(test, status_lines[0], &argc);
	char buf[8] = "abcdefg";

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
	/* A full buffer (used == maxlen) stays as it is. */
	rc_status_table(&table, "a", "b", buf, 5, &used);
	KUNIT_EXPECT_EQ(test, used, 5u);
	KUNIT_EXPECT_STREQ(test, buf, "abcdefg");
}

static struct kunit_case status_cases[] = {
	KUNIT_CASE(status_table_and_ima_truncate_cleanly),
	KUNIT_CASE(status_zero_length_buffer_is_untouched),
	{}
};

struct kunit_suite remap_status_suite = {
	.name = "remap_status",
	.test_cases = status_cases,
};
