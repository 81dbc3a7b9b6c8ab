// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite remap_engine: the whole engine of dm-remap's core (rc_target_*) on two in-memory
 * devices behind its I/O callbacks, as compiled for the kernel.
 */
#include <kunit/test.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

/* Two in-memory "devices" behind the core's I/O callbacks. */
struct rkt_disks {
	u8 *data, *spare;
	u64 data_sectors, spare_sectors;
	unsigned long reads, writes, events;
	bool fail_spare_writes;
	u64 fail_spare_below; /* spare writes below this sector fail (the metadata area, say) */
};

static u8 *rkt_disk(struct rkt_disks *d, enum rb_device dev, u64 sector, u32 bytes)
{
	u64 sectors = dev == RB_DATA_DEV ? d->data_sectors : d->spare_sectors;

	if (bytes % 512 || sector > sectors || (bytes >> 9) > sectors - sector)
		return NULL;
	return (dev == RB_DATA_DEV ? d->data : d->spare) + (sector << 9);
}

static int rkt_read(void *ctx, enum rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
		    unsigned int flags)
{
	struct rkt_disks *d = ctx;
	u8 *p = rkt_disk(d, dev, sector, bytes);

	if (!p)
		return -EIO;
	d->reads++;
	memcpy(buf, p, bytes);
	return 0;
}

static int rkt_write(void *ctx, enum rb_device dev, rb_u64 sector, const void *buf,
		     rb_u32 bytes, unsigned int flags)
{
	struct rkt_disks *d = ctx;
	u8 *p = rkt_disk(d, dev, sector, bytes);

	if (!p || (dev == RB_SPARE_DEV && (d->fail_spare_writes || sector < d->fail_spare_below)))
		return -EIO;
	d->writes++;
	memcpy(p, buf, bytes);
	return 0;
}

static void rkt_drain(void *ctx, rb_u32 old_generation, rb_u64 sector, rb_u64 sectors) { }
static void rkt_release_held(void *ctx) { }
static void rkt_event(void *ctx) { ((struct rkt_disks *)ctx)->events++; }

static const struct rb_io_ops rkt_io_ops = {
	.read = rkt_read,
	.write = rkt_write,
	.drain = rkt_drain,
	.release_held = rkt_release_held,
	.event = rkt_event,
};

#define RKT_DATA_SECTORS 8192u  /* 4 MiB: 1024 blocks of 4 KiB */
#define RKT_SPARE_SECTORS 2048u /* 1 MiB: 256 blocks */

/* The buffers are a KUnit resource, so they go even when an assertion ends the case early. */
static int rkt_disks_init(struct kunit_resource *res, void *context)
{
	res->data = context;
	return 0;
}

static void rkt_disks_release(struct kunit_resource *res)
{
	struct rkt_disks *d = res->data;

	vfree(d->data);
	vfree(d->spare);
}

static struct rkt_disks *rkt_disks_create(struct kunit *test)
{
	struct rkt_disks *d = kunit_kzalloc(test, sizeof(*d), GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d);
	d->data_sectors = RKT_DATA_SECTORS;
	d->spare_sectors = RKT_SPARE_SECTORS;
	d->data = vzalloc(RKT_DATA_SECTORS * 512);
	d->spare = vzalloc(RKT_SPARE_SECTORS * 512);
	KUNIT_ASSERT_TRUE(test, kunit_alloc_resource(test, rkt_disks_init, rkt_disks_release,
						     GFP_KERNEL, d) != NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d->data);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d->spare);
	return d;
}

/* Parses and checks the table line of the in-memory pair, as the constructor does. */
static void rkt_table(struct kunit *test, const char *line, struct rc_table *table)
{
	struct rc_devices devs = {
		.target_len = RKT_DATA_SECTORS,
		.data_dev_sectors = RKT_DATA_SECTORS,
		.spare_dev_sectors = RKT_SPARE_SECTORS,
		.data_logical_block = 512,
		.spare_logical_block = 512,
	};
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, table, &error), 0);
	KUNIT_ASSERT_EQ_MSG(test, rc_table_check(table, &devs, &error), 0, "%s", error);
}

static const char rkt_engine_line[] = "data 0 spare 0 2048";

/* The devices the engine tests run on, as the glue would report them. */
static const struct rc_devices rkt_devs = {
	.target_len = RKT_DATA_SECTORS,
	.data_dev_sectors = RKT_DATA_SECTORS,
	.spare_dev_sectors = RKT_SPARE_SECTORS,
	.data_logical_block = 512,
	.spare_logical_block = 512,
};

static struct rc_target *rkt_engine(struct kunit *test, struct rkt_disks *d)
{
	struct rc_table table;
	const char *error = NULL;
	struct rc_target *t = NULL;
	int err = 0;

	rkt_table(test, rkt_engine_line, &table);
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_ASSERT_TRUE_MSG(test, t != NULL, "create: %d %s", err, error);
	KUNIT_EXPECT_EQ(test, rc_target_resume(t), 0);
	return t;
}

static int rkt_message(struct kunit *test, struct rc_target *t, const char *line, char *result,
		       unsigned int maxlen)
{
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	return rc_target_message(t, argc, argv, result, maxlen);
}

static struct rc_mapping rkt_map(struct rc_target *t, u64 sector, u32 sectors)
{
	struct rc_mapping m;

	rb_rcu_read_lock();
	rc_target_map(t, sector, sectors, &m);
	rb_rcu_read_unlock();
	return m;
}

static void engine_remap_moves_data_and_routes_to_spare(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;
	struct rc_mapping m;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	/* Block 2 (sectors 16..23) holds a pattern before it is remapped. */
	memset(d->data + 16 * 512, 0x5a, 4096);
	t = rkt_engine(test, d);
	/* Formatted at the first resume: a superblock in one of the two slots. */
	KUNIT_EXPECT_TRUE(test, memchr_inv(d->spare, 0, 2 * 4096) != NULL);

	m = rkt_map(t, 16, 8);
	KUNIT_EXPECT_EQ(test, m.route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, m.sector, 16ull);
	KUNIT_EXPECT_EQ(test, m.sectors, 8u);

	KUNIT_EXPECT_GE(test, rkt_message(test, t, "remap 17", result, 256), 0);
	m = rkt_map(t, 16, 8);
	KUNIT_ASSERT_EQ(test, m.route, RC_ROUTE_SPARE);
	KUNIT_EXPECT_EQ(test, m.sectors, 8u);
	KUNIT_ASSERT_LE(test, m.sector + 8, (u64)RKT_SPARE_SECTORS);
	KUNIT_EXPECT_TRUE(test, memchr_inv(d->spare + m.sector * 512, 0x5a, 4096) == NULL);
	/* Its neighbours still go to the data device; an I/O crossing into block 2 is cut. */
	KUNIT_EXPECT_EQ(test, rkt_map(t, 24, 8).route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 8, 8).route, RC_ROUTE_DATA);
	m = rkt_map(t, 12, 8);
	KUNIT_EXPECT_EQ(test, m.route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, m.sectors, 4u);

	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "list", result, 256), 1);
	KUNIT_EXPECT_TRUE_MSG(test, strncmp(result, "2 ", 2) == 0 && strstr(result, "remapped"),
			      "list: '%s'", result);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "unremap 16", result, 256), 0);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 16, 8).route, RC_ROUTE_DATA);
	rc_target_destroy(t);
}

static void engine_refuses_bad_messages(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 64, GFP_KERNEL);
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 8192", result, 64), -EINVAL);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "frobnicate", result, 64), -EINVAL);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap", result, 64), -EINVAL);
	/* A reply that does not fit is cut, never overrun (result is exactly 64 bytes). */
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "help", result, 64), 1);
	KUNIT_EXPECT_LT(test, strlen(result), (size_t)64);
	rc_target_destroy(t);
}

static void engine_mappings_survive_a_reload(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;
	struct rc_mapping before, after;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 0", result, 256) >= 0, true);
	/* A range remap: ten blocks from sector 800, i.e. sectors 800 .. 879. */
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 800 10", result, 256) >= 0, true);
	before = rkt_map(t, 808, 8);
	KUNIT_EXPECT_EQ(test, before.route, RC_ROUTE_SPARE);
	rc_target_suspend(t);
	rc_target_destroy(t);

	t = rkt_engine(test, d);
	after = rkt_map(t, 808, 8);
	KUNIT_EXPECT_EQ(test, after.route, RC_ROUTE_SPARE);
	KUNIT_EXPECT_EQ(test, after.sector, before.sector);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 880, 8).route, RC_ROUTE_DATA);
	rc_target_destroy(t);
}

/* With one superblock slot destroyed the older commit loads; with both, nothing does. */
static void engine_corrupt_superblocks(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_table table;
	const char *error = NULL;
	struct rc_target *t;
	int err = 0;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 64", result, 256) >= 0, true);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 128", result, 256) >= 0, true);
	rc_target_destroy(t);

	rkt_table(test, rkt_engine_line, &table);
	d->spare[100] ^= 0xff; /* superblock slot 0: block 0 */
	t = NULL;
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_EXPECT_TRUE_MSG(test, t != NULL, "one bad slot: %d %s", err, error);
	if (t)
		rc_target_destroy(t);

	d->spare[4096 + 100] ^= 0xff; /* slot 1: block 1 */
	error = NULL;
	t = NULL;
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_EXPECT_TRUE(test, t == NULL);
	KUNIT_EXPECT_LT(test, err, 0);
	KUNIT_EXPECT_TRUE(test, error != NULL);
	if (t)
		rc_target_destroy(t);
}

/* A spare device that fails every write: the remap is refused, nothing is routed there. */
static void engine_failed_metadata_write_changes_nothing(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	d->fail_spare_writes = true;
	KUNIT_EXPECT_LT(test, rkt_message(test, t, "remap 200", result, 256), 0);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 200, 8).route, RC_ROUTE_DATA);
	d->fail_spare_writes = false;
	rc_target_destroy(t);
}

/* A failed commit: the message fails, status says failed, and a dm event is raised. */
static void engine_failed_commit_raises_an_event(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	unsigned int used = 0;
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	d->fail_spare_writes = false;
	d->fail_spare_below = 32; /* the superblocks and table areas (blocks 0-3), not the spare blocks */
	d->events = 0;
	KUNIT_EXPECT_LT(test, rkt_message(test, t, "remap 200", result, 256), 0);
	KUNIT_EXPECT_EQ(test, d->events, 1ul);
	rc_target_status_info(t, result, 256, &used);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(result, " failed ") != NULL, "status: %s", result);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 200, 8).route, RC_ROUTE_DATA);
	d->fail_spare_below = 0;
	rc_target_destroy(t);
}

/*
 * The split decision the glue applies with dm_accept_partial_bio(): a bio is routed as far as
 * its first piece goes to one place, and never across a remapped block's edge. Blocks 10 and
 * 12 (sectors 80..87, 96..103) are remapped; block 14 is lost.
 */
static void engine_map_splits_bios_at_remapped_block_edges(struct kunit *test)
{
	static const struct {
		u64 sector;
		u32 sectors;
		enum rc_route route;
		u32 accepted;
	} cases[] = {
		{0, 8, RC_ROUTE_DATA, 8},     /* far from any remap */
		{0, 80, RC_ROUTE_DATA, 80},   /* up to block 10, not into it */
		{0, 256, RC_ROUTE_DATA, 80},  /* split before block 10 */
		{79, 2, RC_ROUTE_DATA, 1},    /* one sector on each side of the edge */
		{80, 8, RC_ROUTE_SPARE, 8},   /* exactly block 10 */
		{80, 24, RC_ROUTE_SPARE, 8},  /* block 10, then the rest is resubmitted */
		{84, 2, RC_ROUTE_SPARE, 2},   /* inside block 10 */
		{86, 4, RC_ROUTE_SPARE, 2},   /* to block 10's end */
		{88, 16, RC_ROUTE_DATA, 8},   /* block 11, split before block 12 */
		{96, 8, RC_ROUTE_SPARE, 8},   /* block 12 */
		{112, 8, RC_ROUTE_LOST, 8},   /* block 14: lost, failed without I/O */
		{104, 16, RC_ROUTE_DATA, 8},  /* block 13, split before the lost block */
		{120, 4096, RC_ROUTE_DATA, 4096},
	};
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	u32 spare10 = 0, spare12 = 0;
	struct rc_target *t;
	unsigned int i;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 80", result, 256), 1);
	KUNIT_ASSERT_EQ(test, sscanf(result, "10 %u", &spare10), 1);
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 96", result, 256), 1);
	KUNIT_ASSERT_EQ(test, sscanf(result, "12 %u", &spare12), 1);
	/* Block 14 does not read while it is remapped: lost. */
	d->data_sectors = 112;
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 112", result, 256), 1);
	KUNIT_EXPECT_STREQ(test, result, "14 lost");
	d->data_sectors = RKT_DATA_SECTORS;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct rc_mapping m = rkt_map(t, cases[i].sector, cases[i].sectors);
		u64 off = cases[i].sector & 7;

		KUNIT_EXPECT_EQ_MSG(test, m.route, cases[i].route, "bio at %llu+%u",
				    cases[i].sector, cases[i].sectors);
		KUNIT_EXPECT_EQ_MSG(test, m.sectors, cases[i].accepted, "bio at %llu+%u",
				    cases[i].sector, cases[i].sectors);
		if (m.route == RC_ROUTE_DATA)
			KUNIT_EXPECT_EQ(test, m.sector, cases[i].sector);
		else if (m.route == RC_ROUTE_SPARE)
			KUNIT_EXPECT_EQ(test, m.sector,
					(u64)(cases[i].sector < 96 ? spare10 : spare12) * 8 + off);
	}
	rc_target_destroy(t);
}

static void rkt_emit_info(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_target_status_info(ctx, buf, maxlen, used);
}

static void engine_status_info_truncates_cleanly(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);

	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_GE(test, rkt_message(test, t, "remap 4000", result, 256), 0);
	rkt_check_truncation(test, rkt_emit_info, t);
	rc_target_destroy(t);
}

/* list replies end at a whole line whatever the buffer size. */
static void engine_list_cuts_at_whole_lines(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *full = kunit_kzalloc(test, 4096, GFP_KERNEL);
	struct rc_target *t;
	unsigned int maxlen;
	u64 s;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, full);
	t = rkt_engine(test, d);
	for (s = 0; s < 30; s++) {
		char line[32];

		snprintf(line, sizeof(line), "remap %llu", s * 8 * 3);
		KUNIT_ASSERT_GE(test, rkt_message(test, t, line, full, 4096), 0);
	}
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "list", full, 4096), 1);
	for (maxlen = 1; maxlen < strlen(full) + 2; maxlen++) {
		char *buf = kmalloc(maxlen, GFP_KERNEL);
		size_t n;

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
		KUNIT_EXPECT_EQ(test, rkt_message(test, t, "list", buf, maxlen), 1);
		n = strnlen(buf, maxlen);
		KUNIT_EXPECT_LT_MSG(test, n, (size_t)maxlen, "maxlen %u", maxlen);
		KUNIT_EXPECT_TRUE_MSG(test, n == 0 || buf[n - 1] == '\n', "maxlen %u ends mid-line", maxlen);
		KUNIT_EXPECT_EQ(test, strncmp(buf, full, n), 0);
		kfree(buf);
	}
	rc_target_destroy(t);
}

static struct kunit_case engine_cases[] = {
	KUNIT_CASE(engine_remap_moves_data_and_routes_to_spare),
	KUNIT_CASE(engine_refuses_bad_messages),
	KUNIT_CASE(engine_mappings_survive_a_reload),
	KUNIT_CASE(engine_corrupt_superblocks),
	KUNIT_CASE(engine_failed_metadata_write_changes_nothing),
	KUNIT_CASE(engine_failed_commit_raises_an_event),
	KUNIT_CASE(engine_map_splits_bios_at_remapped_block_edges),
	KUNIT_CASE(engine_status_info_truncates_cleanly),
	KUNIT_CASE(engine_list_cuts_at_whole_lines),
	{}
};

struct kunit_suite remap_engine_suite = {
	.name = "remap_engine",
	.test_cases = engine_cases,
};
