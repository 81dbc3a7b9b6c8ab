// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for dm-remap's glue (src/kernel/dm-remap.c): the target's constructor,
 * destructor, preresume, message and status callbacks run on real brd block devices.
 *
 * A module cannot build a dm table of its own (dm_table_create() and dm_create() are not
 * exported), so this file compiles the glue with its uses of the table redirected:
 * dm_get_device()/dm_put_device() open and close the block device directly (exclusively, as
 * dm does; remap_bdev_open() of src/kernel/compat.h), dm_table_get_mode() says read-write,
 * dm_table_event() is counted, dm_table_get_md() names one stand-in mapped device. Everything
 * else is the glue as dm-remap.ko has it. The suite needs /dev/ram0 and /dev/ram1 of at least
 * 16 MiB (the VM runner loads brd before the KUnit module) and skips without them.
 */
#include <kunit/test.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/device-mapper.h>
#include <linux/kthread.h>

int rkt_glue_get_device(struct dm_target *ti, const char *path, fmode_t mode,
			struct dm_dev **result);
void rkt_glue_put_device(struct dm_target *ti, struct dm_dev *d);
fmode_t rkt_glue_table_get_mode(struct dm_table *t);
void rkt_glue_table_event(struct dm_table *t);
struct mapped_device *rkt_glue_table_get_md(struct dm_table *t);
void *rkt_glue_per_bio_data(struct bio *bio, size_t data_size);

#define dm_get_device rkt_glue_get_device
#define dm_put_device rkt_glue_put_device
#define dm_table_get_mode rkt_glue_table_get_mode
#define dm_table_event rkt_glue_table_event
#define dm_table_get_md rkt_glue_table_get_md
/* The I/O path on clones of this suite's making (struct rkt_glue_clone), with routes it picks. */
#define dm_per_bio_data rkt_glue_per_bio_data
#define rc_target_map rkt_glue_target_map
#define REMAP_GLUE_KUNIT
#include "dm-remap.c"

#include "kunit_util.h"

static char rkt_glue_holder;
static atomic_t rkt_glue_events = ATOMIC_INIT(0);

/* A dm_dev of this suite's making, with the open block device behind it. */
struct rkt_glue_dev {
	struct dm_dev dev;
	struct remap_bdev b;
};

int rkt_glue_get_device(struct dm_target *ti, const char *path, fmode_t mode,
			struct dm_dev **result)
{
	struct rkt_glue_dev *gd;
	struct block_device *bdev;
	int r;

	gd = kzalloc(sizeof(*gd), GFP_KERNEL);
	if (!gd)
		return -ENOMEM;
	r = remap_bdev_open(&gd->b, path, mode & FMODE_WRITE, &rkt_glue_holder);
	if (r) {
		kfree(gd);
		return r;
	}
	bdev = gd->b.bdev;
	gd->dev.bdev = bdev;
	gd->dev.mode = mode;
	snprintf(gd->dev.name, sizeof(gd->dev.name), "%u:%u", MAJOR(bdev->bd_dev),
		 MINOR(bdev->bd_dev));
	*result = &gd->dev;
	return 0;
}

void rkt_glue_put_device(struct dm_target *ti, struct dm_dev *d)
{
	struct rkt_glue_dev *gd = container_of(d, struct rkt_glue_dev, dev);

	remap_bdev_close(&gd->b);
	kfree(gd);
}

fmode_t rkt_glue_table_get_mode(struct dm_table *t)
{
	return FMODE_READ | FMODE_WRITE;
}

void rkt_glue_table_event(struct dm_table *t)
{
	atomic_inc(&rkt_glue_events);
}

/* The tables of this suite have no mapped device: they all name the same stand-in. */
static char rkt_glue_md;

struct mapped_device *rkt_glue_table_get_md(struct dm_table *t)
{
	return (struct mapped_device *)&rkt_glue_md;
}

/* A bio as dm hands it to the target, with the per-bio data in front of it. */
struct rkt_glue_clone {
	struct remap_io io;
	struct bio bio;
	struct bio_vec bvec;
};

void *rkt_glue_per_bio_data(struct bio *bio, size_t data_size)
{
	return &container_of(bio, struct rkt_glue_clone, bio)->io;
}

/* The route rkt_glue_target_map() reports instead of the core's, or -1 for the core's. */
static int rkt_glue_forced_route = -1;

#undef rc_target_map
void rc_target_map(const struct rc_target *t, rb_u64 sector, rb_u32 sectors,
		   struct rc_mapping *out);

void rkt_glue_target_map(const struct rc_target *t, rb_u64 sector, rb_u32 sectors,
			 struct rc_mapping *out)
{
	rc_target_map(t, sector, sectors, out);
	if (rkt_glue_forced_route >= 0)
		out->route = rkt_glue_forced_route;
}

/* Sectors of the data range the tables below map (8 MiB). */
#define RKT_GLUE_LEN 16384

static void rkt_glue_need_ramdisks(struct kunit *test)
{
	struct remap_bdev b;
	sector_t sectors;
	int i;

	for (i = 0; i < 2; i++) {
		const char *path = i ? "/dev/ram1" : "/dev/ram0";

		if (remap_bdev_open(&b, path, false, NULL))
			kunit_skip(test, "no %s (load brd with rd_size >= 16384)", path);
		sectors = bdev_nr_sectors(b.bdev);
		remap_bdev_close(&b);
		if (sectors < 2 * RKT_GLUE_LEN)
			kunit_skip(test, "%s is smaller than 16 MiB", path);
	}
}

/* A target as dm hands it to the constructor: zeroed, with its length and type. */
static struct dm_target *rkt_glue_target(struct kunit *test, sector_t len)
{
	struct dm_target *ti = kunit_kzalloc(test, sizeof(*ti), GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ti);
	ti->len = len;
	ti->type = &remap_target;
	return ti;
}

static int rkt_glue_ctr(struct kunit *test, struct dm_target *ti, const char *line)
{
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	return remap_target.ctr(ti, argc, argv);
}

/* Sends a message; the reply (NUL-terminated) is in buf. */
static int rkt_glue_message(struct kunit *test, struct dm_target *ti, const char *line,
			    char *buf, unsigned int maxlen)
{
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	buf[0] = '\0';
	return remap_target.message(ti, argc, argv, buf, maxlen);
}

/* What dm does around a table's life: ctr, preresume, ..., postsuspend, dtr. */
static struct dm_target *rkt_glue_start(struct kunit *test, const char *line)
{
	struct dm_target *ti = rkt_glue_target(test, RKT_GLUE_LEN);

	KUNIT_ASSERT_EQ_MSG(test, rkt_glue_ctr(test, ti, line), 0, "\"%s\": %s", line,
			    ti->error ? ti->error : "(no error)");
	KUNIT_ASSERT_NOT_NULL(test, ti->private);
	KUNIT_ASSERT_EQ(test, remap_target.preresume(ti), 0);
	return ti;
}

static void rkt_glue_stop(struct dm_target *ti)
{
	remap_target.postsuspend(ti);
	remap_target.dtr(ti);
}

/* Discard and write-zeroes are offered exactly when the data device takes them. */
static void rkt_glue_expect_offers(struct kunit *test, struct dm_target *ti)
{
	struct block_device *data = ((struct remap_c *)ti->private)->data_dev->bdev;
	const unsigned int discard = bdev_max_discard_sectors(data) ? 1 : 0;

	KUNIT_EXPECT_EQ(test, ti->num_discard_bios, discard);
	KUNIT_EXPECT_EQ(test, ti->discards_supported ? 1u : 0u, discard);
	KUNIT_EXPECT_EQ(test, ti->num_write_zeroes_bios,
			bdev_write_zeroes_sectors(data) ? 1u : 0u);
}

static void glue_ctr_accepts_good_tables(struct kunit *test)
{
	static const struct {
		const char *line;
		unsigned int flush_bios;
	} good[] = {
		{"/dev/ram0 0 /dev/ram1 0 8192", 2},
		{"/dev/ram0 8192 /dev/ram1 16384 8192 2 block_size 8192", 2},
		{"/dev/ram0 0 /dev/ram0 16384 8192 1 no_auto_remap", 1},
		{"/dev/ram0 0 /dev/ram1 0 8192 4 read_retries 0 spare_low_water 5", 2},
	};
	char *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	unsigned int i;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	rkt_glue_need_ramdisks(test);
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		struct dm_target *ti = rkt_glue_start(test, good[i].line);

		KUNIT_EXPECT_EQ_MSG(test, ti->num_flush_bios, good[i].flush_bios, "%s",
				    good[i].line);
		KUNIT_EXPECT_EQ(test, ti->per_io_data_size, (unsigned int)sizeof(struct remap_io));
		rkt_glue_expect_offers(test, ti);
		KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "stats", buf, 512), 1);
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, "metadata=ok"), "%s: %s",
					  good[i].line, buf);
		remap_target.status(ti, STATUSTYPE_TABLE, 0, buf, 512);
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, "1:0"), "%s: %s", good[i].line, buf);
		remap_target.status(ti, STATUSTYPE_INFO, 0, buf, 512);
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, " ok "), "%s: %s", good[i].line, buf);
		rkt_glue_stop(ti);
	}
}

static void glue_ctr_refuses_bad_tables(struct kunit *test)
{
	static const struct {
		const char *line;
		const char *error;
	} bad[] = {
		{"/dev/ram0 0 /dev/ram1", "Not enough arguments"},
		{"/dev/ram0 x /dev/ram1 0 8192", "Invalid data device offset"},
		{"/dev/nonexistent 0 /dev/ram1 0 8192", "Data device lookup failed"},
		{"/dev/ram0 0 /dev/nonexistent 0 8192", "Spare device lookup failed"},
		{"/dev/ram0 4 /dev/ram1 0 8192", "Data offset is not aligned to block_size"},
		{"/dev/ram0 32768 /dev/ram1 0 8192", "Data range exceeds the data device"},
		{"/dev/ram0 0 /dev/ram1 32768 8192", "Spare range exceeds the spare device"},
		{"/dev/ram0 0 /dev/ram0 8192 8192", "Spare range overlaps the data range"},
		{"/dev/ram0 0 /dev/ram1 0 8192 2 block_size 3000", "Invalid block_size"},
		{"/dev/ram0 0 /dev/ram1 0 8192 1 frobnicate", "Unknown feature"},
		{"/dev/ram0 0 /dev/ram1 0 8192 3 no_auto_remap", "Number of feature arguments"},
	};
	unsigned int i;

	rkt_glue_need_ramdisks(test);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct dm_target *ti = rkt_glue_target(test, RKT_GLUE_LEN);
		int r = rkt_glue_ctr(test, ti, bad[i].line);

		KUNIT_EXPECT_LT_MSG(test, r, 0, "%s", bad[i].line);
		KUNIT_EXPECT_NULL_MSG(test, ti->private, "%s: context left behind", bad[i].line);
		KUNIT_ASSERT_NOT_NULL_MSG(test, ti->error, "%s: no error message", bad[i].line);
		KUNIT_EXPECT_EQ_MSG(test, strncmp(ti->error, bad[i].error, strlen(bad[i].error)),
				    0, "%s: \"%s\"", bad[i].line, ti->error);
	}
	/* A refused line leaves the devices free: a good one opens them exclusively again. */
	rkt_glue_stop(rkt_glue_start(test, "/dev/ram0 0 /dev/ram1 0 8192"));
}

/* A remap made through one table is found by the next table's constructor. */
static void glue_remap_survives_dtr_and_ctr(struct kunit *test)
{
	const char *line = "/dev/ram0 0 /dev/ram1 0 8192";
	char *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dm_target *ti;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	rkt_glue_need_ramdisks(test);
	ti = rkt_glue_start(test, line);
	KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "remap 1600", buf, 512), 1);
	KUNIT_EXPECT_EQ_MSG(test, strncmp(buf, "200 ", 4), 0, "reply \"%s\"", buf);
	KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "remap", buf, 512), -EINVAL);
	rkt_glue_stop(ti);

	ti = rkt_glue_start(test, line);
	KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "list 200 1", buf, 512), 1);
	KUNIT_EXPECT_EQ_MSG(test, strncmp(buf, "200 ", 4), 0, "list \"%s\"", buf);
	KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, "remapped"), "list \"%s\"", buf);
	KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "unremap 1600", buf, 512), 0);
	rkt_glue_stop(ti);
}

/*
 * The core's synchronous I/O goes through the glue's own bios: a pattern written from a buffer
 * reads back through another, for buffers in the linear map (kmalloc), vmalloc'd ones (kvmalloc
 * falls back to vmalloc), one that does not start on a page boundary, and one of more pages
 * than a bio holds (several bios, the preflush on the first). An I/O past the end of the device
 * fails with the block layer's errno.
 */
static void *rkt_glue_buffer(size_t size, bool vmalloced)
{
	if (vmalloced)
		return vmalloc(size);
	return kmalloc(size, GFP_KERNEL);
}

static void glue_sync_io_round_trip(struct kunit *test)
{
	static const struct {
		unsigned int bytes;
		unsigned int offset; /* into the allocation */
		bool vmalloced;
		unsigned int flags;
	} cases[] = {
		{4096, 0, false, 0},
		{65536, 0, false, RB_IO_FUA},
		{512, 1536, false, RB_IO_PREFLUSH},
		{65536, 0, true, RB_IO_FUA | RB_IO_PREFLUSH},
		{8192, 2560, true, 0},
		{(BIO_MAX_VECS + 3) * PAGE_SIZE, 0, true, RB_IO_PREFLUSH},
	};
	struct dm_target *ti;
	struct remap_c *rc;
	unsigned int i;

	rkt_glue_need_ramdisks(test);
	ti = rkt_glue_start(test, "/dev/ram0 0 /dev/ram1 0 8192");
	rc = ti->private;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t size = cases[i].offset + cases[i].bytes;
		u8 *out = rkt_glue_buffer(size, cases[i].vmalloced);
		u8 *in = rkt_glue_buffer(size, cases[i].vmalloced);
		const unsigned int read_flags = (i & 1) ? RB_IO_FAILFAST : 0;
		const rb_u64 sector = 64 + i * 2048;
		unsigned int j;

		KUNIT_ASSERT_NOT_NULL(test, out);
		KUNIT_ASSERT_NOT_NULL(test, in);
		KUNIT_EXPECT_EQ(test, is_vmalloc_addr(out), cases[i].vmalloced);
		for (j = 0; j < cases[i].bytes; j++)
			out[cases[i].offset + j] = (u8)(j * 7 + i + (j >> 9));
		memset(in, 0xa5, size);
		KUNIT_EXPECT_EQ_MSG(test, remap_io_write(rc, RB_DATA_DEV, sector, out + cases[i].offset,
							 cases[i].bytes, cases[i].flags), 0,
				    "case %u: write", i);
		KUNIT_EXPECT_EQ_MSG(test, remap_io_read(rc, RB_DATA_DEV, sector, in + cases[i].offset,
							cases[i].bytes, read_flags),
				    0, "case %u: read", i);
		KUNIT_EXPECT_EQ_MSG(test, memcmp(in + cases[i].offset, out + cases[i].offset,
						 cases[i].bytes), 0, "case %u: data", i);
		kvfree(out);
		kvfree(in);
	}
	{
		u8 *buf = kmalloc(4096, GFP_KERNEL);

		KUNIT_ASSERT_NOT_NULL(test, buf);
		KUNIT_EXPECT_EQ(test, remap_io_read(rc, RB_DATA_DEV,
						    bdev_nr_sectors(rc->data_dev->bdev), buf, 4096,
						    0), -EIO);
		kfree(buf);
	}
	rkt_glue_stop(ti);
}

/* The region buckets a drain waits for: only those its range overlaps. */
static void glue_drain_buckets(struct kunit *test)
{
	const rb_u64 region = REMAP_REGION_SECTORS, all = GENMASK(REMAP_BUCKETS - 1, 0);

	KUNIT_EXPECT_EQ(test, remap_buckets_of(0, 0), 0ul);
	KUNIT_EXPECT_EQ(test, remap_buckets_of(0, RC_ALL_SECTORS), all);
	KUNIT_EXPECT_EQ(test, remap_buckets_of(3 * region + 8, 8), BIT(3));
	KUNIT_EXPECT_EQ(test, remap_buckets_of(19 * region, region), BIT(3));
	KUNIT_EXPECT_EQ(test, remap_buckets_of(4 * region - 8, 16), BIT(3) | BIT(4));
	KUNIT_EXPECT_EQ(test, remap_buckets_of(16 * region - 8, 16), BIT(15) | BIT(0));
	KUNIT_EXPECT_EQ(test, remap_buckets_of(5 * region, 15 * region), all ^ BIT(4));
	KUNIT_EXPECT_EQ(test, remap_buckets_of(5 * region, 16 * region), all);
	KUNIT_EXPECT_EQ(test, remap_buckets_of(~0ull - 8, 64), all);
}

struct rkt_glue_drain {
	struct remap_c *rc;
	rb_u64 sector;
	struct completion done;
};

static int rkt_glue_drain_thread(void *arg)
{
	struct rkt_glue_drain *d = arg;

	remap_io_drain(d->rc, 0, d->sector, 8);
	complete(&d->done);
	return 0;
}

/* Starts a drain of the 8 sectors at sector (generation 0) in a thread of its own. */
static void rkt_glue_drain_start(struct kunit *test, struct rkt_glue_drain *d, rb_u64 sector)
{
	d->sector = sector;
	reinit_completion(&d->done);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(rkt_glue_drain_thread, d, "rkt-drain")));
}

/*
 * A drain returns while I/O of the old generation is in flight elsewhere (another bucket, or
 * the new generation's parity), and waits while some overlaps its range. Each drain runs in a
 * thread, so that one which waits for the wrong I/O fails the test instead of hanging it.
 */
static void glue_drain_waits_only_for_its_range(struct kunit *test)
{
	const rb_u64 region = REMAP_REGION_SECTORS;
	struct rkt_glue_drain d;
	struct dm_target *ti;
	long __percpu *busy, *other;
	bool done;

	rkt_glue_need_ramdisks(test);
	ti = rkt_glue_start(test, "/dev/ram0 0 /dev/ram1 0 8192");
	d.rc = ti->private;
	init_completion(&d.done);
	busy = &d.rc->inflight->count[3][0];  /* old generation, bucket 3 */
	other = &d.rc->inflight->count[5][1]; /* new generation, bucket 5 */
	this_cpu_inc(*busy);
	this_cpu_inc(*other);

	rkt_glue_drain_start(test, &d, 5 * region + 64);
	done = wait_for_completion_timeout(&d.done, 5 * HZ);
	KUNIT_EXPECT_TRUE_MSG(test, done, "a drain of bucket 5 waits for I/O of bucket 3");
	if (!done) {
		this_cpu_dec(*busy);
		this_cpu_dec(*other);
		wait_for_completion(&d.done);
		this_cpu_inc(*busy);
		this_cpu_inc(*other);
	}

	rkt_glue_drain_start(test, &d, 19 * region + 64); /* region 19 counts in bucket 3 */
	KUNIT_EXPECT_FALSE_MSG(test, wait_for_completion_timeout(&d.done, HZ / 5),
			       "a drain of bucket 3 returned with I/O of bucket 3 in flight");
	this_cpu_dec(*busy);
	done = wait_for_completion_timeout(&d.done, 5 * HZ);
	KUNIT_EXPECT_TRUE_MSG(test, done, "a drain of bucket 3 still waits after its I/O ended");
	this_cpu_dec(*other);
	if (!done)
		wait_for_completion(&d.done);
	rkt_glue_stop(ti);
}

/* dm's clone_endio, as far as the target sees it: end_io with the clone's status. */
static struct dm_target *rkt_glue_endio_ti;
static int rkt_glue_endio_calls;
static int rkt_glue_endio_result;

static void rkt_glue_clone_endio(struct bio *bio)
{
	blk_status_t status = bio->bi_status;

	rkt_glue_endio_calls++;
	rkt_glue_endio_result = remap_target.end_io(rkt_glue_endio_ti, bio, &status);
}

/*
 * Review finding 1: a read held while its block moved, released when the move left the block
 * lost, fails without going to the worker. The per-bio data holds what a previous bio left
 * there (dm does not zero it): a 4 KiB payload of a healthy block. A glue that fails the
 * released read without saving what end_io reads sends it to the worker, which rereads the
 * stale range and completes the read of a lost block with success.
 */
static void glue_lost_read_released_is_not_redone(struct kunit *test)
{
	struct rkt_glue_clone *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	struct page *page = alloc_page(GFP_KERNEL);
	char *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dm_target *ti;
	struct remap_c *rc;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, c);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	KUNIT_ASSERT_NOT_NULL(test, page);
	rkt_glue_need_ramdisks(test);
	ti = rkt_glue_start(test, "/dev/ram0 0 /dev/ram1 0 8192");
	rc = ti->private;

	c->io.iter.bi_size = 4096; /* stale */
	c->io.target_sector = 1600;
	bio_init(&c->bio, rc->data_dev->bdev, &c->bvec, 1, REQ_OP_READ);
	__bio_add_page(&c->bio, page, 4096, 0);
	c->bio.bi_iter.bi_sector = ti->begin + 1600;
	c->bio.bi_end_io = rkt_glue_clone_endio;
	rkt_glue_endio_ti = ti;
	rkt_glue_endio_calls = 0;

	spin_lock_irq(&rc->held_lock);
	bio_list_add(&rc->held, &c->bio);
	spin_unlock_irq(&rc->held_lock);
	rkt_glue_forced_route = RC_ROUTE_LOST;
	remap_io_release_held(rc);
	rkt_glue_forced_route = -1;
	flush_workqueue(rc->wq);

	KUNIT_EXPECT_EQ(test, rkt_glue_endio_calls, 1);
	KUNIT_EXPECT_EQ(test, rkt_glue_endio_result, DM_ENDIO_DONE);
	KUNIT_EXPECT_EQ(test, c->bio.bi_status, BLK_STS_IOERR);
	KUNIT_EXPECT_EQ(test, c->io.iter.bi_size, 4096u);
	KUNIT_EXPECT_TRUE(test, c->io.settled);
	KUNIT_EXPECT_TRUE(test, !c->io.inflight); /* __percpu: no comparison with NULL on 7.2 */
	KUNIT_EXPECT_EQ(test, rkt_glue_message(test, ti, "stats", buf, 512), 1);
	KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, " read_errors=0 "), "%s", buf);
	KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(buf, " redone_writes=0 "), "%s", buf);
	rkt_glue_stop(ti);
	__free_page(page);
}

static struct kunit_case glue_cases[] = {
	KUNIT_CASE(glue_ctr_accepts_good_tables),
	KUNIT_CASE(glue_ctr_refuses_bad_tables),
	KUNIT_CASE(glue_remap_survives_dtr_and_ctr),
	KUNIT_CASE(glue_sync_io_round_trip),
	KUNIT_CASE(glue_drain_buckets),
	KUNIT_CASE(glue_drain_waits_only_for_its_range),
	KUNIT_CASE(glue_lost_read_released_is_not_redone),
	{}
};

struct kunit_suite remap_glue_suite = {
	.name = "remap_glue",
	.test_cases = glue_cases,
};
