// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite remap_parsers: the table line, its checks against the devices, and the message
 * parser of dm-remap's core as compiled for the kernel, through core_hooks.cpp.
 */
#include <kunit/test.h>
#include <linux/kernel.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

struct rkt_line {
	const char *line;
	const char *error; /* NULL: accepted; else a substring of the expected error */
};

static const struct rkt_line table_lines[] = {
	{ "/dev/a 0 /dev/b 0 2048", NULL },
	{ "/dev/a 8 /dev/a 16384 4096", NULL },
	{ "/dev/a 0 /dev/b 0 2048 1 no_auto_remap", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 65536", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 read_retries 100", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water 0", NULL },
	{ "/dev/a 0 /dev/b 0 2048 7 block_size 4096 no_auto_remap read_retries 0 spare_low_water 5", NULL },
	{ "/dev/a 0 /dev/b 0 2048 0", NULL },
	{ "", "Not enough arguments" },
	{ "/dev/a 0 /dev/b 0", "Not enough arguments" },
	{ "/dev/a x /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a -1 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a +1 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a 18446744073709551616 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a 0 /dev/b 0x10 2048", "Invalid spare device offset" },
	{ "/dev/a 0 /dev/b 0 2048k", "Invalid spare length" },
	{ "/dev/a 0 /dev/b 0 2048 1", "Number of feature arguments does not match" },
	{ "/dev/a 0 /dev/b 0 2048 x no_auto_remap", "Invalid number of feature arguments" },
	{ "/dev/a 0 /dev/b 0 2048 1 frobnicate", "Unknown feature" },
	{ "/dev/a 0 /dev/b 0 2048 2 no_auto_remap no_auto_remap", "Feature given more than once" },
	{ "/dev/a 0 /dev/b 0 2048 1 block_size", "Feature is missing its value" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 1000", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 131072", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 256", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 read_retries 101", "Invalid read_retries" },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water -1", "Invalid spare_low_water" },
};

static void table_line_desc(const struct rkt_line *l, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s'", l->line);
}
KUNIT_ARRAY_PARAM(table_line, table_lines, table_line_desc);

static void parser_table_line(struct kunit *test)
{
	const struct rkt_line *l = test->param_value;
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, l->line, &argc);
	int r;

	memset(&table, 0xa5, sizeof(table));
	r = rc_table_parse(argc, argv, &table, &error);
	if (!l->error) {
		KUNIT_EXPECT_EQ_MSG(test, r, 0, "refused: %s", r ? error : "");
		return;
	}
	KUNIT_EXPECT_EQ(test, r, -EINVAL);
	KUNIT_ASSERT_TRUE(test, error != NULL);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(error, l->error) != NULL, "error '%s', expected '%s'",
			      error, l->error);
}

/* A parsed line prints back (rc_status_table) as a line that parses to the same table. */
static void parser_table_round_trip(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(table_lines); i++) {
		struct rc_table a, b;
		const char *error = NULL;
		unsigned int argc, used = 0;
		char **argv;
		char *text = kunit_kzalloc(test, 256, GFP_KERNEL);

		if (table_lines[i].error)
			continue;
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, text);
		argv = rkt_argv(test, table_lines[i].line, &argc);
		KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &a, &error), 0);
		rc_status_table(&a, argv[0], argv[2], text, 256, &used);
		KUNIT_EXPECT_LT(test, used, 256u);
		argv = rkt_argv(test, text, &argc);
		KUNIT_ASSERT_EQ_MSG(test, rc_table_parse(argc, argv, &b, &error), 0, "'%s'", text);
		KUNIT_EXPECT_EQ_MSG(test, a.data_offset, b.data_offset, "'%s'", text);
		KUNIT_EXPECT_EQ(test, a.spare_offset, b.spare_offset);
		KUNIT_EXPECT_EQ(test, a.spare_len, b.spare_len);
		KUNIT_EXPECT_EQ(test, a.block_size, b.block_size);
		KUNIT_EXPECT_EQ(test, a.read_retries, b.read_retries);
		KUNIT_EXPECT_EQ(test, a.auto_remap, b.auto_remap);
		KUNIT_EXPECT_EQ(test, a.explicit_features, b.explicit_features);
		if (a.explicit_features & RC_FEAT_SPARE_LOW_WATER)
			KUNIT_EXPECT_EQ(test, a.spare_low_water, b.spare_low_water);
	}
}

struct rkt_check {
	const char *line;
	u64 target_len, data_sectors, spare_sectors;
	u32 data_lbs, spare_lbs;
	int same;
	const char *error;
};

static const struct rkt_check table_checks[] = {
	{ "/dev/a 0 /dev/b 0 2048", 8192, 8192, 2048, 512, 512, 0, NULL },
	{ "/dev/a 0 /dev/a 8192 2048", 8192, 10240, 10240, 512, 512, 1, NULL },
	{ "/dev/a 0 /dev/a 4096 2048", 8192, 10240, 10240, 512, 512, 1, "overlaps the data range" },
	{ "/dev/a 0 /dev/b 0 2048", 8192, 8191, 2048, 512, 512, 0, "exceeds the data device" },
	{ "/dev/a 0 /dev/b 8 2048", 8192, 8192, 2048, 512, 512, 0, "exceeds the spare device" },
	{ "/dev/a 0 /dev/b 4 2048", 8192, 8192, 4096, 512, 512, 0, "Spare offset is not aligned" },
	{ "/dev/a 4 /dev/b 0 2048", 8192, 8200, 2048, 512, 512, 0, "Data offset is not aligned" },
	{ "/dev/a 0 /dev/b 0 2052", 8192, 8192, 4096, 512, 512, 0, "Spare length is not" },
	{ "/dev/a 0 /dev/b 0 2048", 8196, 8200, 2048, 512, 512, 0, "Target length" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", 8192, 8192, 2048, 4096, 512, 0,
	  "smaller than the data device's logical block size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", 8192, 8192, 2048, 512, 4096, 0,
	  "Spare device's logical block size exceeds the data device's" },
	{ "/dev/a 0 /dev/b 0 2048 3 block_size 512 allow_larger_spare_sectors", 8192, 8192, 2048,
	  512, 4096, 0, "smaller than the spare device's logical block size" },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water 100000", 8192, 8192, 2048, 512, 512, 0,
	  "spare_low_water exceeds" },
};

static void table_check_desc(const struct rkt_check *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s' len %llu on %llu/%llu", c->line,
		 c->target_len, c->data_sectors, c->spare_sectors);
}
KUNIT_ARRAY_PARAM(table_check, table_checks, table_check_desc);

static void parser_table_check(struct kunit *test)
{
	const struct rkt_check *c = test->param_value;
	struct rc_devices devs = {
		.target_len = c->target_len,
		.data_dev_sectors = c->data_sectors,
		.spare_dev_sectors = c->spare_sectors,
		.data_logical_block = c->data_lbs,
		.spare_logical_block = c->spare_lbs,
		.same_device = c->same,
	};
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, c->line, &argc);
	int r;

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
	r = rc_table_check(&table, &devs, &error);
	if (!c->error) {
		KUNIT_EXPECT_EQ_MSG(test, r, 0, "refused: %s", r ? error : "");
		return;
	}
	KUNIT_EXPECT_EQ(test, r, -EINVAL);
	KUNIT_ASSERT_TRUE(test, error != NULL);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(error, c->error) != NULL, "error '%s', expected '%s'",
			      error, c->error);
}

struct rkt_msg {
	const char *line;
	int verb; /* -1: refused */
	u32 nargs;
	u64 a0, a1;
};

static const struct rkt_msg messages[] = {
	{ "remap 8", 0, 1, 8, 0 },
	{ "REMAP 8 16", 0, 2, 8, 16 },
	{ "unremap 18446744073709551615", 1, 1, 18446744073709551615ull, 0 },
	{ "list", 2, 0, 0, 0 },
	{ "list 5 10", 2, 2, 5, 10 },
	{ "stats", 3, 0, 0, 0 },
	{ "Clear_Stats", 4, 0, 0, 0 },
	{ "help", 5, 0, 0, 0 },
	{ "", -1, 0, 0, 0 },
	{ "frobnicate", -1, 0, 0, 0 },
	{ "remap", -1, 0, 0, 0 },
	{ "remap 1 2 3", -1, 0, 0, 0 },
	{ "remap -1", -1, 0, 0, 0 },
	{ "remap 18446744073709551616", -1, 0, 0, 0 },
	{ "remap 0x10", -1, 0, 0, 0 },
	{ "remap 1k", -1, 0, 0, 0 },
	{ "unremap", -1, 0, 0, 0 },
	{ "stats 1", -1, 0, 0, 0 },
	{ "list 1 2 3", -1, 0, 0, 0 },
};

static void message_desc(const struct rkt_msg *m, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s'", m->line);
}
KUNIT_ARRAY_PARAM(message, messages, message_desc);

static void parser_message(struct kunit *test)
{
	const struct rkt_msg *m = test->param_value;
	struct rkt_message out;
	unsigned int argc;
	char **argv = rkt_argv(test, m->line, &argc);
	const char *err = rkt_parse_message(argc, argv, &out);

	if (m->verb < 0) {
		KUNIT_EXPECT_TRUE(test, err != NULL);
		return;
	}
	KUNIT_ASSERT_TRUE_MSG(test, err == NULL, "refused: %s", err);
	KUNIT_EXPECT_EQ(test, out.verb, (u32)m->verb);
	KUNIT_EXPECT_EQ(test, out.nargs, m->nargs);
	if (m->nargs > 0)
		KUNIT_EXPECT_EQ(test, out.args[0], m->a0);
	if (m->nargs > 1)
		KUNIT_EXPECT_EQ(test, out.args[1], m->a1);
}

static struct kunit_case parser_cases[] = {
	KUNIT_CASE_PARAM(parser_table_line, table_line_gen_params),
	KUNIT_CASE(parser_table_round_trip),
	KUNIT_CASE_PARAM(parser_table_check, table_check_gen_params),
	KUNIT_CASE_PARAM(parser_message, message_gen_params),
	{}
};

struct kunit_suite remap_parser_suite = {
	.name = "remap_parsers",
	.test_cases = parser_cases,
};
