// SPDX-License-Identifier: GPL-2.0
/*
 * dm-remap: a device-mapper target that keeps a disk with bad blocks usable by remapping
 * failed blocks into a spare area. This file holds the dm callbacks and bio handling; the
 * table grammar, metadata, allocation, lookup and messages live in the C++ core (src/core)
 * behind remap_boundary.h.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/device-mapper.h>
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "remap_boundary.h"

#define DM_MSG_PREFIX "remap"

/*
 * Bios in flight per mapping generation (its parity) and region bucket: the core publishes a
 * new mapping, waits out RCU readers, then drain() waits for the old generation's counts of
 * the buckets its range overlaps to reach zero. The target is cut into regions of
 * REMAP_REGION_SECTORS; a bio inside region r counts in bucket r % REMAP_BUCKETS, a bio that
 * crosses a region boundary in bucket REMAP_CROSSING, which every drain waits for. So a drain
 * for a few blocks waits for the I/O of one bucket and the few large bios, not of the whole
 * device. (Bios are not split at regions: dm's max_io_len split misplaced failed writes.)
 * Per-CPU so that the I/O path never bounces a shared cache line.
 */
#define REMAP_REGION_SHIFT 11 /* sectors: 1 MiB, a multiple of the largest block */
#define REMAP_REGION_SECTORS BIT(REMAP_REGION_SHIFT)
#define REMAP_BUCKETS 16U /* a power of two */
#define REMAP_CROSSING REMAP_BUCKETS /* the bucket of bios that cross a region boundary */

struct remap_inflight {
	long count[REMAP_BUCKETS + 1][2]; /* [bucket][parity] */
};

/*
 * Failed I/O is redone through one bounce buffer per target, allocated by the constructor so
 * that the worker never needs memory to make progress. It holds at least four of the largest
 * blocks; failed writes that fit together share one core call (and one metadata commit), a bio
 * larger than the buffer is redone in pieces that end on block boundaries.
 */
#define REMAP_BOUNCE_BYTES (256U << 10)
#define REMAP_BATCH_MAX 64

struct remap_c {
	struct dm_target *ti;
	struct dm_dev *data_dev;
	struct dm_dev *spare_dev;
	struct block_device *data_bdev; /* data_dev->bdev, for map()'s fast path */
	struct rc_table table; /* its device paths are only valid during the constructor */
	struct rc_target *engine;
	/* The engine's summary of its mapping, for map()'s fast path (see struct rc_io_view). */
	const struct rc_io_view *const *io_view;
	struct remap_inflight __percpu *inflight;
	struct bio_set sync_bios; /* for remap_sync_io(), so that it always makes progress */
	bool same_device;

	/* Bios that touched a block while it moved; re-mapped by remap_release_held(). */
	spinlock_t held_lock;
	struct bio_list held;

	/* Failed I/O (and writes of lost blocks), for remap_rewrite_worker(). */
	struct workqueue_struct *wq;
	struct work_struct rewrite_work;
	spinlock_t failed_lock; /* guards failed */
	struct bio_list failed;
	/* Only the worker uses these (a work item never runs twice at once). */
	void *bounce; /* REMAP_BOUNCE_BYTES */
	struct bio *batch[REMAP_BATCH_MAX];
	struct rc_extent extents[REMAP_BATCH_MAX];
};

/*
 * Per-bio state, in the space dm reserves with per_io_data_size. dm does not zero it: map()
 * writes inflight, settled, target_sector and iter in every route before the bio can complete
 * or be parked (remap_io_save()); error and queued_ns are written before it goes to the worker.
 * map() also points the clone's bi_private at it, so that end_io finds it without a call into
 * dm (dm_per_bio_data() is out of line): a clone's bi_private is its target's, as dm-thin's
 * and dm-cache's hooks use it; dm core uses only the original bio's.
 */
struct remap_io {
	long __percpu *inflight; /* the in-flight counter it is accounted to, or NULL */
	bool settled;          /* completed by the glue (rewritten, or lost): end_io leaves it */
	blk_status_t error;    /* the status the write failed with */
	sector_t target_sector; /* where the bio starts, relative to the target */
	struct bvec_iter iter;  /* its payload, as mapped (end_io sees the iterator consumed) */
	u64 queued_ns;          /* when it went to the worker (ktime_get_ns()), for the stats */
};

static void remap_dtr(struct dm_target *ti);

/* The core's messages are string literals; ti->error is a char * only for historical reasons. */
static void remap_set_error(struct dm_target *ti, const char *message)
{
	ti->error = (char *)message;
}

static struct block_device *remap_bdev(struct remap_c *rc, enum rb_device dev)
{
	return dev == RB_DATA_DEV ? rc->data_dev->bdev : rc->spare_dev->bdev;
}

static struct page *remap_buf_page(void *buf)
{
	return is_vmalloc_addr(buf) ? vmalloc_to_page(buf) : virt_to_page(buf);
}

/*
 * Synchronous I/O for the core (metadata, copies between the devices): bios of our own over
 * the buffer's pages (kvmalloc'd: contiguous or vmalloc'd), waited for one by one, so that the
 * block layer's status reaches the core as its errno (-ENODATA for a medium error). A buffer
 * of more than BIO_MAX_VECS pages goes in several bios; only the first carries a preflush.
 */
static int remap_sync_io(struct remap_c *rc, enum rb_device dev, rb_u64 sector, void *buf,
			 rb_u32 bytes, blk_opf_t opf)
{
	/* A vmalloc alias may be cached apart from the pages the device sees (not on x86). */
	const bool vmap = is_vmalloc_addr(buf);
	void *const start = buf;
	const rb_u32 total = bytes;
	int r;

	if (vmap && op_is_write(opf))
		flush_kernel_vmap_range(start, total);
	do { /* once at least: an empty preflush is a flush */
		unsigned int pages = DIV_ROUND_UP(offset_in_page(buf) + bytes, PAGE_SIZE);
		struct bio *bio;

		bio = bio_alloc_bioset(remap_bdev(rc, dev), clamp(pages, 1U, BIO_MAX_VECS), opf,
				       GFP_NOIO, &rc->sync_bios);
		bio->bi_iter.bi_sector = sector;
		while (bytes) {
			unsigned int off = offset_in_page(buf);
			unsigned int len = min_t(unsigned int, bytes, PAGE_SIZE - off);

			if (bio_add_page(bio, remap_buf_page(buf), len, off) != len)
				break; /* the bio is full: the rest goes in the next one */
			buf += len;
			bytes -= len;
		}
		sector += bio_sectors(bio);
		r = submit_bio_wait(bio);
		bio_put(bio);
		opf &= ~REQ_PREFLUSH;
	} while (!r && bytes);
	if (vmap && !op_is_write(opf))
		invalidate_kernel_vmap_range(start, total);
	return r;
}

static int remap_io_read(void *ctx, enum rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
			 unsigned int flags)
{
	blk_opf_t opf = REQ_OP_READ | REQ_SYNC;

	if (flags & RB_IO_FAILFAST)
		opf |= REQ_FAILFAST_DEV;
	return remap_sync_io(ctx, dev, sector, buf, bytes, opf);
}

static int remap_io_write(void *ctx, enum rb_device dev, rb_u64 sector, const void *buf,
			  rb_u32 bytes, unsigned int flags)
{
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC;

	if (flags & RB_IO_FUA)
		opf |= REQ_FUA;
	if (flags & RB_IO_PREFLUSH)
		opf |= REQ_PREFLUSH;
	if (flags & RB_IO_FAILFAST)
		opf |= REQ_FAILFAST_DEV;
	return remap_sync_io(ctx, dev, sector, (void *)buf, bytes, opf);
}

/* The buckets (a bit each) of the regions [sector, sector + sectors) overlaps. */
static unsigned long remap_buckets_of(rb_u64 sector, rb_u64 sectors)
{
	rb_u64 first = sector >> REMAP_REGION_SHIFT, last;
	unsigned long mask = 0;

	if (!sectors)
		return 0;
	if (sectors == RC_ALL_SECTORS || sector + sectors < sector)
		return GENMASK(REMAP_BUCKETS - 1, 0);
	last = (sector + sectors - 1) >> REMAP_REGION_SHIFT;
	if (last - first >= REMAP_BUCKETS - 1)
		return GENMASK(REMAP_BUCKETS - 1, 0);
	for (; first <= last; first++)
		mask |= BIT(first & (REMAP_BUCKETS - 1));
	return mask;
}

static long remap_inflight_sum(struct remap_c *rc, unsigned int parity, unsigned long buckets)
{
	long sum = 0;
	unsigned int b;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct remap_inflight *in = per_cpu_ptr(rc->inflight, cpu);

		for_each_set_bit(b, &buckets, REMAP_BUCKETS + 1)
			sum += READ_ONCE(in->count[b][parity]);
	}
	return sum;
}

/*
 * The core has waited for an RCU grace period, so no map() is still counting into the old
 * generation: its count only falls from here on, and a sum of zero is final. Polled, since a
 * wakeup from end_io would cost every bio; in short hrtimer sleeps, since what is in flight
 * completes in microseconds to milliseconds and msleep(1) sleeps two jiffies at least (8 ms
 * at HZ=250), while I/O to the blocks in transition waits.
 */
static void remap_io_drain(void *ctx, rb_u32 old_generation, rb_u64 sector, rb_u64 sectors)
{
	struct remap_c *rc = ctx;
	unsigned long buckets = remap_buckets_of(sector, sectors);

	if (buckets)
		buckets |= BIT(REMAP_CROSSING);
	while (buckets && remap_inflight_sum(rc, old_generation & 1, buckets))
		usleep_range(20, 100);
}

/*
 * Called in an RCU read-side section that began before the mapping of this generation was
 * read: the core's grace period after publishing a new mapping then guarantees that every bio
 * mapped with the old one is counted before drain() sums the counts. [sector, sector +
 * sectors) is the bio, relative to the target.
 */
static __always_inline void remap_account(struct remap_c *rc, struct remap_io *io,
					  unsigned int generation, sector_t sector,
					  unsigned int sectors)
{
	unsigned int bucket = (sector >> REMAP_REGION_SHIFT) & (REMAP_BUCKETS - 1);

	/* First and last sector in different regions (map() has computed the last one). */
	if (unlikely((sector ^ (sector + sectors - 1)) >> REMAP_REGION_SHIFT))
		bucket = REMAP_CROSSING;
	/* Pointer arithmetic: the bucket is in range, and an index would be bounds-checked. */
	io->inflight = &rc->inflight->count[0][0] + 2 * bucket + (generation & 1);
	this_cpu_inc(*io->inflight);
}

/*
 * Called in the RCU read-side section in which the mapping m was read: either accounts the
 * bio to the mapping's generation or parks it on the held list; the core's grace period then
 * guarantees a parked bio is on the list before it releases the list.
 *
 * The I/O path's read-side sections disable preemption (rcu_read_lock_sched()), which the
 * core's synchronize_rcu_expedited() waits for as it waits for rcu_read_lock(), and which
 * costs two per-CPU instructions where preemptible RCU's lock and unlock are two calls.
 */
static __always_inline void remap_account_or_hold(struct remap_c *rc, struct bio *bio,
						  struct remap_io *io,
						  const struct rc_mapping *m)
{
	unsigned long flags;

	switch (m->route) {
	case RC_ROUTE_DATA:
	case RC_ROUTE_SPARE:
		remap_account(rc, io, m->generation, io->target_sector, bio_sectors(bio));
		break;
	case RC_ROUTE_HOLD:
		spin_lock_irqsave(&rc->held_lock, flags);
		bio_list_add(&rc->held, bio);
		spin_unlock_irqrestore(&rc->held_lock, flags);
		break;
	case RC_ROUTE_LOST:
		break;
	}
}

/*
 * After any dm_accept_partial_bio() and before the bio can be parked or completed: everything
 * end_io and the worker read of the per-bio data but error and queued_ns (dm does not zero it).
 * target_sector and iter say what this clone carries; inflight is set if it is accounted.
 */
static __always_inline void remap_io_save(struct bio *bio, struct remap_io *io, sector_t sector)
{
	bio->bi_private = io;
	io->inflight = NULL;
	io->settled = false;
	io->target_sector = sector;
	io->iter = bio->bi_iter;
}

static void remap_route(struct remap_c *rc, struct bio *bio, const struct rc_mapping *m)
{
	bio_set_dev(bio, m->route == RC_ROUTE_SPARE ? rc->spare_dev->bdev : rc->data_dev->bdev);
	bio->bi_iter.bi_sector = m->sector;
}

/* Hands a failed or lost-block write to the worker; it completes the bio. */
static void remap_queue_rewrite(struct remap_c *rc, struct bio *bio, blk_status_t error)
{
	struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));
	unsigned long flags;

	io->error = error;
	io->queued_ns = ktime_get_ns();
	spin_lock_irqsave(&rc->failed_lock, flags);
	bio_list_add(&rc->failed, bio);
	spin_unlock_irqrestore(&rc->failed_lock, flags);
	queue_work(rc->wq, &rc->rewrite_work);
}

/* A write of zeroes is redone, like a write, as a write of the zeroes it asked for. */
static bool remap_writes_data(struct bio *bio)
{
	return bio_op(bio) == REQ_OP_WRITE || bio_op(bio) == REQ_OP_WRITE_ZEROES;
}

/* Failed reads are retried and failed writes remapped, unless no_auto_remap. */
static bool remap_wants_rewrite(struct remap_c *rc, struct bio *bio)
{
	return (remap_writes_data(bio) || bio_op(bio) == REQ_OP_READ) &&
	       rc_target_auto_remap(rc->engine);
}

/* Copies len bytes at offset off of the bio's payload (as mapped) to or from buf. */
static void remap_copy_payload(struct bio *bio, unsigned int off, void *buf, unsigned int len,
			       bool to_buf)
{
	struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));
	struct bvec_iter range = io->iter, it;
	struct bio_vec bv;

	bio_advance_iter(bio, &range, off);
	range.bi_size = len;
	__bio_for_each_segment(bv, bio, it, range) {
		if (to_buf)
			memcpy_from_bvec(buf, &bv);
		else
			memcpy_to_bvec(&bv, buf);
		buf += bv.bv_len;
	}
}

static unsigned int remap_payload_bytes(struct bio *bio)
{
	return ((struct remap_io *)dm_per_bio_data(bio, sizeof(struct remap_io)))->iter.bi_size;
}

/* A retried write keeps its FUA (an empty preflush was already sent on its own by dm). */
static unsigned int remap_extent_flags(struct bio *bio)
{
	return (bio->bi_opf & REQ_FUA) ? RB_IO_FUA : 0;
}

static void remap_complete(struct remap_c *rc, struct bio *bio, int r)
{
	struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));

	/* From its error to here: a retry in place, or a remap and its commit. */
	if (!r && remap_writes_data(bio))
		rc_target_count_redone_write(rc->engine, ktime_get_ns() - io->queued_ns);
	io->settled = true;
	bio->bi_status = r ? io->error : BLK_STS_OK;
	bio_endio(bio);
}

/*
 * Redoes one bio through the bounce buffer, in pieces that end on block boundaries. A read
 * goes on after a piece fails, so every unreadable block of the bio is recorded; a write
 * stops (it fails either way). A write of zeroes writes a bounce buffer of zeroes.
 */
static int remap_redo_alone(struct remap_c *rc, struct bio *bio)
{
	struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));
	const sector_t block_sectors = rc->table.block_size >> SECTOR_SHIFT;
	const sector_t end = io->target_sector + (io->iter.bi_size >> SECTOR_SHIFT);
	sector_t pos = io->target_sector;
	int result = 0;

	if (bio_op(bio) == REQ_OP_WRITE_ZEROES)
		memset(rc->bounce, 0, REMAP_BOUNCE_BYTES);
	while (pos < end) {
		sector_t stop = round_down(pos + (REMAP_BOUNCE_BYTES >> SECTOR_SHIFT),
					   block_sectors);
		unsigned int off = (pos - io->target_sector) << SECTOR_SHIFT;
		unsigned int len;
		int r;

		stop = min(stop, end);
		len = (stop - pos) << SECTOR_SHIFT;
		if (remap_writes_data(bio)) {
			struct rc_extent e = {
				.sector = pos,
				.sectors = stop - pos,
				.flags = remap_extent_flags(bio),
				.data = rc->bounce,
			};

			if (bio_op(bio) == REQ_OP_WRITE)
				remap_copy_payload(bio, off, rc->bounce, len, true);
			r = rc_target_rewrite(rc->engine, &e, 1);
			if (r)
				return r;
		} else {
			r = rc_target_reread(rc->engine, pos, stop - pos, rc->bounce,
					     blk_status_to_errno(io->error));
			if (!r)
				remap_copy_payload(bio, off, rc->bounce, len, false);
			else
				result = r;
		}
		pos = stop;
	}
	return result;
}

/*
 * Failed writes that fit in the bounce buffer together are redone by one core call: the
 * blocks that still fail move in one metadata commit. If that fails, each is redone alone so
 * one bad write (part of a lost block, say) cannot fail the others. A write is never
 * acknowledged unless its data is on disk, and a read never returns data that was not read.
 */
static void remap_rewrite_worker(struct work_struct *work)
{
	struct remap_c *rc = container_of(work, struct remap_c, rewrite_work);
	struct bio_list list;
	struct bio *bio;

	spin_lock_irq(&rc->failed_lock);
	list = rc->failed;
	bio_list_init(&rc->failed);
	spin_unlock_irq(&rc->failed_lock);

	while ((bio = bio_list_peek(&list))) {
		unsigned int n = 0, used = 0, i;
		int r;

		if (bio_op(bio) != REQ_OP_WRITE || remap_payload_bytes(bio) > REMAP_BOUNCE_BYTES) {
			bio_list_pop(&list);
			remap_complete(rc, bio, remap_redo_alone(rc, bio));
			continue;
		}
		while ((bio = bio_list_peek(&list)) && n < REMAP_BATCH_MAX &&
		       bio_op(bio) == REQ_OP_WRITE &&
		       remap_payload_bytes(bio) <= REMAP_BOUNCE_BYTES - used) {
			struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));

			bio_list_pop(&list);
			remap_copy_payload(bio, 0, rc->bounce + used, io->iter.bi_size, true);
			rc->extents[n].sector = io->target_sector;
			rc->extents[n].sectors = io->iter.bi_size >> SECTOR_SHIFT;
			rc->extents[n].flags = remap_extent_flags(bio);
			rc->extents[n].data = rc->bounce + used;
			rc->batch[n++] = bio;
			used += io->iter.bi_size;
		}
		r = rc_target_rewrite(rc->engine, rc->extents, n);
		for (i = 0; i < n; i++) {
			int ri = r;

			if (r && n > 1)
				ri = rc_target_rewrite(rc->engine, &rc->extents[i], 1);
			remap_complete(rc, rc->batch[i], ri);
		}
	}
}

static int remap_dispatch(struct remap_c *rc, struct bio *bio, struct remap_io *io,
			  sector_t sector, bool in_map);

/* Maps the held bios again, as map() would: each goes where remap_dispatch() says. */
static void remap_io_release_held(void *ctx)
{
	struct remap_c *rc = ctx;
	struct bio_list list;
	struct bio *bio;

	spin_lock_irq(&rc->held_lock);
	list = rc->held;
	bio_list_init(&rc->held);
	spin_unlock_irq(&rc->held_lock);

	while ((bio = bio_list_pop(&list))) {
		struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));
		sector_t sector = dm_target_offset(rc->ti, bio->bi_iter.bi_sector);

		rcu_read_lock_sched();
		switch (remap_dispatch(rc, bio, io, sector, false)) {
		case DM_MAPIO_REMAPPED:
			dm_submit_bio_remap(bio, NULL);
			break;
		case DM_MAPIO_KILL:
			bio_io_error(bio);
			break;
		default:
			break; /* parked again, or the worker's */
		}
	}
}

/* Wakes `dmsetup wait`: spare blocks ran low or out. */
static void remap_io_event(void *ctx)
{
	struct remap_c *rc = ctx;

	dm_table_event(rc->ti->table);
}

static const struct rb_io_ops remap_io_ops = {
	.read = remap_io_read,
	.write = remap_io_write,
	.drain = remap_io_drain,
	.release_held = remap_io_release_held,
	.event = remap_io_event,
};

/*
 * Construct a remap mapping:
 *   <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#feature args> <arg>...]
 *
 * data_dev/data_offset: the device being protected and where the mapped range starts (sectors).
 * spare_dev/spare_offset/spare_len: the spare area that replacement blocks come from, with the
 *   metadata at its start; it may be on the data device if it does not overlap the data range.
 * Features: block_size <bytes>, no_auto_remap, read_retries <n>, spare_low_water <blocks>.
 *
 * The constructor only reads: a reload's constructor runs while the old table is live. A
 * fresh spare area is formatted at the first resume.
 */
static int remap_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct rc_devices devs = {};
	struct remap_c *rc;
	const char *error;
	int r;

	rc = kzalloc(sizeof(*rc), GFP_KERNEL);
	if (!rc) {
		remap_set_error(ti, "Cannot allocate remap context");
		return -ENOMEM;
	}
	ti->private = rc;
	rc->ti = ti;
	spin_lock_init(&rc->held_lock);
	bio_list_init(&rc->held);
	spin_lock_init(&rc->failed_lock);
	bio_list_init(&rc->failed);
	INIT_WORK(&rc->rewrite_work, remap_rewrite_worker);

	r = rc_table_parse(argc, argv, &rc->table, &error);
	if (r) {
		remap_set_error(ti, error);
		goto bad;
	}

	r = dm_get_device(ti, rc->table.data_path, dm_table_get_mode(ti->table), &rc->data_dev);
	if (r) {
		remap_set_error(ti, "Data device lookup failed");
		goto bad;
	}
	r = dm_get_device(ti, rc->table.spare_path, dm_table_get_mode(ti->table), &rc->spare_dev);
	if (r) {
		remap_set_error(ti, "Spare device lookup failed");
		goto bad;
	}
	rc->data_bdev = rc->data_dev->bdev;
	rc->table.data_path = NULL;
	rc->table.spare_path = NULL;
	rc->same_device = rc->data_dev->bdev == rc->spare_dev->bdev;

	devs.target_len = ti->len;
	devs.data_dev_sectors = bdev_nr_sectors(rc->data_dev->bdev);
	devs.spare_dev_sectors = bdev_nr_sectors(rc->spare_dev->bdev);
	devs.data_logical_block = bdev_logical_block_size(rc->data_dev->bdev);
	devs.spare_logical_block = bdev_logical_block_size(rc->spare_dev->bdev);
	devs.same_device = rc->same_device;
	devs.zoned = bdev_is_zoned(rc->data_dev->bdev) || bdev_is_zoned(rc->spare_dev->bdev);
	devs.data_dev_id = rc->data_dev->bdev->bd_dev;
	devs.spare_dev_id = rc->spare_dev->bdev->bd_dev;
	devs.owner_id = (unsigned long)dm_table_get_md(ti->table);
	rc->table.read_only = !(dm_table_get_mode(ti->table) & FMODE_WRITE);
	r = rc_table_check(&rc->table, &devs, &error);
	if (r) {
		remap_set_error(ti, error);
		goto bad;
	}

	rc->inflight = alloc_percpu(struct remap_inflight);
	if (!rc->inflight) {
		remap_set_error(ti, "Cannot allocate in-flight counters");
		r = -ENOMEM;
		goto bad;
	}
	/* One sync bio at a time per caller, each waited for: a small pool always progresses. */
	r = bioset_init(&rc->sync_bios, 4, 0, BIOSET_NEED_BVECS);
	if (r) {
		remap_set_error(ti, "Cannot allocate bio set");
		goto bad;
	}

	/* Failed I/O is redone here while memory may be short: it must make progress. */
	rc->bounce = kvmalloc(REMAP_BOUNCE_BYTES, GFP_KERNEL);
	if (!rc->bounce) {
		remap_set_error(ti, "Cannot allocate bounce buffer");
		r = -ENOMEM;
		goto bad;
	}
	rc->wq = alloc_workqueue("dm-remap", WQ_MEM_RECLAIM | REMAP_WQ_PERCPU, 0);
	if (!rc->wq) {
		remap_set_error(ti, "Cannot allocate workqueue");
		r = -ENOMEM;
		goto bad;
	}

	r = rc_target_create(&rc->table, &devs, &remap_io_ops, rc, &rc->engine, &error);
	if (r) {
		remap_set_error(ti, error);
		goto bad;
	}
	rc->io_view = rc_target_io_view(rc->engine);

	/* A flush must reach every device we write to: one flush bio per distinct device. */
	ti->num_flush_bios = rc->same_device ? 1 : 2;
	/*
	 * Discard and write-zeroes when the data device takes them; remap_dispatch() says where
	 * the parts that touch remapped and lost blocks go. Discards are offered even if the spare
	 * device takes none (a discard is a hint; dm stacks the data device's limits). dm offers
	 * write-zeroes only if both devices take it; otherwise the block layer writes zeroes.
	 */
	if (bdev_max_discard_sectors(rc->data_dev->bdev)) {
		ti->num_discard_bios = 1;
		ti->discards_supported = true;
	}
	if (bdev_write_zeroes_sectors(rc->data_dev->bdev))
		ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct remap_io);
	ti->accounts_remapped_io = true;
	return 0;

bad:
	remap_dtr(ti);
	return r;
}

/* Also unwinds a half-built context on the constructor's error path. */
static void remap_dtr(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;

	if (!rc)
		return;
	if (rc->wq)
		destroy_workqueue(rc->wq); /* flushes: no rewrite is running past here */
	if (rc->engine)
		rc_target_destroy(rc->engine);
	bioset_exit(&rc->sync_bios);
	kvfree(rc->bounce);
	free_percpu(rc->inflight);
	if (rc->spare_dev)
		dm_put_device(ti, rc->spare_dev);
	if (rc->data_dev)
		dm_put_device(ti, rc->data_dev);
	kfree(rc);
	ti->private = NULL;
}

/*
 * An empty flush: number 1 goes to the spare device (see num_flush_bios). Out of line, so that
 * map() keeps nothing on the stack across its call into dm.
 */
static noinline int remap_map_flush(struct remap_c *rc, struct bio *bio, struct remap_io *io,
				    sector_t sector)
{
	remap_io_save(bio, io, sector); /* no payload: end_io leaves its errors alone */
	bio_set_dev(bio, dm_bio_get_target_bio_nr(bio) ? rc->spare_dev->bdev : rc->data_dev->bdev);
	return DM_MAPIO_REMAPPED;
}

/*
 * A discard with nothing to do: a lost block (its data is gone, and it stays lost: a discard never
 * changes the mapping) or a remapped one on a spare device that takes no discards. It succeeds.
 */
static noinline int remap_discard_nothing(struct remap_io *io, struct bio *bio)
{
	io->settled = true;
	bio_endio(bio);
	return DM_MAPIO_SUBMITTED;
}

/*
 * A bio that may touch a remapped, lost or moving block: the core's lookup decides, for map()
 * (in_map) and for a held bio released (remap_io_release_held()). Called in a read-side
 * section, which it ends. Returns what map() returns: DM_MAPIO_REMAPPED (routed: submit it),
 * DM_MAPIO_SUBMITTED (parked, or handed to the worker) or DM_MAPIO_KILL (a lost block: fail it;
 * end_io passes that through).
 */
static noinline int remap_dispatch(struct remap_c *rc, struct bio *bio, struct remap_io *io,
				   sector_t sector, bool in_map)
{
	struct rc_mapping m;

	rc_target_map(rc->engine, sector, bio_sectors(bio), &m);
	/*
	 * Each piece of a bio goes to exactly one place; dm resubmits the rest. Cut before the
	 * bio is parked: once on the held list it may be released and submitted at any moment.
	 * A held bio lies inside one block, which any mapping covers whole.
	 */
	if (m.sectors < bio_sectors(bio) && !WARN_ON_ONCE(!in_map))
		dm_accept_partial_bio(bio, m.sectors);
	remap_io_save(bio, io, sector);
	remap_account_or_hold(rc, bio, io, &m);
	rcu_read_unlock_sched();

	switch (m.route) {
	case RC_ROUTE_SPARE:
		if (unlikely(bio_op(bio) == REQ_OP_DISCARD) &&
		    !bdev_max_discard_sectors(rc->spare_dev->bdev))
			return remap_discard_nothing(io, bio);
		fallthrough;
	case RC_ROUTE_DATA:
		remap_route(rc, bio, &m);
		return DM_MAPIO_REMAPPED;
	case RC_ROUTE_HOLD:
		return DM_MAPIO_SUBMITTED; /* parked; remap_io_release_held() maps it again */
	case RC_ROUTE_LOST:
	default:
		if (bio_op(bio) == REQ_OP_DISCARD)
			return remap_discard_nothing(io, bio);
		if (op_is_write(bio_op(bio)) && remap_wants_rewrite(rc, bio)) {
			/*
			 * A write (of zeroes too) gives a lost block a new spare block, for the
			 * sectors it writes; a read just fails.
			 */
			remap_queue_rewrite(rc, bio, BLK_STS_IOERR);
			return DM_MAPIO_SUBMITTED;
		}
		io->settled = true; /* the block's data is gone; the disk is not asked */
		return DM_MAPIO_KILL;
	}
}

/*
 * A bio that touches no block the mapping has an entry for goes to the data device as with
 * dm-linear, counted in flight (to the view's generation) for the engine's drain. Called in
 * map()'s read-side section, which it ends.
 */
static __always_inline int remap_map_data(struct remap_c *rc, struct bio *bio,
					  struct remap_io *io, sector_t sector,
					  unsigned int sectors, unsigned int generation)
{
	remap_account(rc, io, generation, sector, sectors);
	rcu_read_unlock_sched();

	bio->bi_private = io;
	io->settled = false;
	io->target_sector = sector;
	io->iter = bio->bi_iter;
	bio->bi_iter.bi_sector = rc->table.data_offset + sector;
	bio_set_dev(bio, rc->data_bdev);
	return DM_MAPIO_REMAPPED;
}

/*
 * A bio at or above the first entry: one search of the view's mapping tells whether it touches
 * an entry (remap_dispatch()) or lies between entries (the data device). Out of line, so that
 * map()'s own path keeps few registers live.
 */
static noinline int remap_map_search(struct remap_c *rc, struct bio *bio, struct remap_io *io,
				     sector_t sector, const struct rc_io_view *view)
{
	if (rc_io_view_touches(view, sector, bio_sectors(bio)))
		return remap_dispatch(rc, bio, io, sector, true);
	return remap_map_data(rc, bio, io, sector, bio_sectors(bio), view->generation);
}

/*
 * Most bios touch no block the mapping has an entry for. The engine's view tells: one compare
 * for a bio below the first entry (every bio, with none), else a search of the mapping
 * (remap_map_search()).
 */
static int remap_map(struct dm_target *ti, struct bio *bio)
{
	/* The call first: only ti and bio then live across it, in two saved registers. */
	struct remap_io *io = dm_per_bio_data(bio, sizeof(struct remap_io));
	struct remap_c *rc = ti->private;
	const sector_t sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	const unsigned int sectors = bio_sectors(bio);
	const struct rc_io_view *view;

	if (unlikely(op_is_flush(bio->bi_opf) && !sectors))
		return remap_map_flush(rc, bio, io, sector);

	rcu_read_lock_sched(); /* see remap_account_or_hold() */
	view = rcu_dereference_sched(*rc->io_view);
	if (unlikely(!rc_io_view_clean(view, sector, sectors)))
		return remap_map_search(rc, bio, io, sector, view);
	return remap_map_data(rc, bio, io, sector, sectors, view->generation);
}

/* A failed bio: counted for the stats, and redone by the worker unless no_auto_remap. */
static noinline int remap_end_io_error(struct remap_c *rc, struct bio *bio, struct remap_io *io,
				       blk_status_t error)
{
	struct rc_failed_io f;

	/* The worker completes it through end_io again, when it must not be uncounted twice. */
	io->inflight = NULL;
	/* The iterator of a completed bio says nothing about its size: use the saved one. */
	if (io->settled || !io->iter.bi_size)
		return DM_ENDIO_DONE;
	/*
	 * A failed discard put no data at risk, and a write of zeroes the device does not take
	 * (dm then stops offering it, and the block layer writes zeroes) is no bad block: the
	 * caller gets the status and nothing is counted.
	 */
	if (bio_op(bio) == REQ_OP_DISCARD ||
	    (bio_op(bio) == REQ_OP_WRITE_ZEROES &&
	     (error == BLK_STS_NOTSUPP || error == BLK_STS_TARGET)))
		return DM_ENDIO_DONE;
	f.sector = io->target_sector;
	f.sectors = io->iter.bi_size >> SECTOR_SHIFT;
	f.error = blk_status_to_errno(error);
	f.flags = (op_is_write(bio_op(bio)) ? RC_FAILED_WRITE : 0) |
		  ((bio->bi_opf & REQ_RAHEAD) ? RC_FAILED_READAHEAD : 0);
	if (rc_target_failed_io(rc->engine, &f) == RC_VERDICT_REDO &&
	    (remap_writes_data(bio) || bio_op(bio) == REQ_OP_READ)) {
		remap_queue_rewrite(rc, bio, error);
		return DM_ENDIO_INCOMPLETE; /* remap_rewrite_worker() completes it */
	}
	return DM_ENDIO_DONE;
}

static int remap_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	const blk_status_t status = *error;
	struct remap_io *io = bio->bi_private; /* map() set it (see struct remap_io) */

	if (likely(io->inflight))
		this_cpu_dec(*io->inflight);
	if (likely(!status))
		return DM_ENDIO_DONE;
	return remap_end_io_error(ti->private, bio, io, status);
}

static void remap_postsuspend(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;

	rc_target_suspend(rc->engine);
}

static int remap_preresume(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;

	return rc_target_resume(rc->engine);
}

static int remap_message(struct dm_target *ti, unsigned int argc, char **argv, char *result,
			 unsigned int maxlen)
{
	struct remap_c *rc = ti->private;

	return rc_target_message(rc->engine, argc, argv, result, maxlen);
}

static void remap_status(struct dm_target *ti, status_type_t type, unsigned int status_flags,
			 char *result, unsigned int maxlen)
{
	struct remap_c *rc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		rc_target_status_info(rc->engine, result, maxlen, &sz);
		break;
	case STATUSTYPE_TABLE:
		rc_status_table(&rc->table, rc->data_dev->name, rc->spare_dev->name, result, maxlen,
				&sz);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		rc_status_ima(&rc->table, rc->data_dev->name, rc->spare_dev->name, result, maxlen,
			      &sz);
		break;
	}
}

static int remap_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn, void *data)
{
	struct remap_c *rc = ti->private;
	int r;

	r = fn(ti, rc->data_dev, rc->table.data_offset, ti->len, data);
	if (r)
		return r;
	return fn(ti, rc->spare_dev, rc->table.spare_offset, rc->table.spare_len, data);
}

static struct target_type remap_target = {
	.name = "remap",
	.version = {0, 2, 0},
	.module = THIS_MODULE,
	.ctr = remap_ctr,
	.dtr = remap_dtr,
	.map = remap_map,
	.end_io = remap_end_io,
	.postsuspend = remap_postsuspend,
	.preresume = remap_preresume,
	.message = remap_message,
	.status = remap_status,
	.iterate_devices = remap_iterate_devices,
};

#ifndef REMAP_GLUE_KUNIT
static int __init dm_remap_init(void)
{
	int r = dm_register_target(&remap_target);

	if (r < 0)
		DMERR("register failed %d", r);
	return r;
}

static void __exit dm_remap_exit(void)
{
	dm_unregister_target(&remap_target);
}

module_init(dm_remap_init);
module_exit(dm_remap_exit);

MODULE_DESCRIPTION(DM_NAME " target that remaps bad blocks to a spare area");
MODULE_LICENSE("GPL");
#endif /* REMAP_GLUE_KUNIT: tests/kunit/glue_kunit.c drives remap_target without dm */
