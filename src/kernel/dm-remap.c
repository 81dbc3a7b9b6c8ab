// SPDX-License-Identifier: GPL-2.0
/*
 * dm-remap: a device-mapper target that keeps a disk with bad blocks usable by remapping
 * failed blocks into a spare area. This file holds the dm callbacks; the table grammar,
 * geometry rules and status text live in the C++ core (src/core) behind remap_boundary.h.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "remap_boundary.h"

#define DM_MSG_PREFIX "remap"

struct remap_c {
	struct dm_dev *data_dev;
	struct dm_dev *spare_dev;
	struct rc_table table; /* its device paths are only valid during the constructor */
	bool same_device;
};

static void remap_dtr(struct dm_target *ti);

/* The core's messages are string literals; ti->error is a char * only for historical reasons. */
static void remap_set_error(struct dm_target *ti, const char *message)
{
	ti->error = (char *)message;
}

/*
 * Construct a remap mapping:
 *   <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#feature args> <arg>...]
 *
 * data_dev/data_offset: the device being protected and where the mapped range starts (sectors).
 * spare_dev/spare_offset/spare_len: the spare area that replacement blocks come from; it may be
 *   on the data device if it does not overlap the data range.
 * Features: block_size <bytes>, no_auto_remap, read_retries <n>, spare_low_water <blocks>.
 */
static int remap_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct rc_devices devs = {};
	struct remap_c *rc;
	const char *error;
	int r;

	rc = kzalloc(sizeof(*rc), GFP_KERNEL);
	if (!rc) {
		ti->error = "Cannot allocate remap context";
		return -ENOMEM;
	}
	ti->private = rc;

	r = rc_table_parse(argc, argv, &rc->table, &error);
	if (r) {
		remap_set_error(ti, error);
		goto bad;
	}

	r = dm_get_device(ti, rc->table.data_path, dm_table_get_mode(ti->table), &rc->data_dev);
	if (r) {
		ti->error = "Data device lookup failed";
		goto bad;
	}
	r = dm_get_device(ti, rc->table.spare_path, dm_table_get_mode(ti->table), &rc->spare_dev);
	if (r) {
		ti->error = "Spare device lookup failed";
		goto bad;
	}
	rc->table.data_path = NULL;
	rc->table.spare_path = NULL;
	rc->same_device = rc->data_dev->bdev == rc->spare_dev->bdev;

	devs.target_len = ti->len;
	devs.data_dev_sectors = bdev_nr_sectors(rc->data_dev->bdev);
	devs.spare_dev_sectors = bdev_nr_sectors(rc->spare_dev->bdev);
	devs.data_logical_block = bdev_logical_block_size(rc->data_dev->bdev);
	devs.spare_logical_block = bdev_logical_block_size(rc->spare_dev->bdev);
	devs.same_device = rc->same_device;
	r = rc_table_check(&rc->table, &devs, &error);
	if (r) {
		remap_set_error(ti, error);
		goto bad;
	}

	/* A flush must reach every device we write to: one flush bio per distinct device. */
	ti->num_flush_bios = rc->same_device ? 1 : 2;
	/* Discard and write-zeroes are not advertised until they are correct across remaps. */
	ti->num_discard_bios = 0;
	ti->num_write_zeroes_bios = 0;
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
	if (rc->spare_dev)
		dm_put_device(ti, rc->spare_dev);
	if (rc->data_dev)
		dm_put_device(ti, rc->data_dev);
	kfree(rc);
	ti->private = NULL;
}

static int remap_map(struct dm_target *ti, struct bio *bio)
{
	struct remap_c *rc = ti->private;

	if (unlikely(op_is_flush(bio->bi_opf) && !bio_sectors(bio))) {
		/* Empty flush number 1 goes to the spare device (see num_flush_bios). */
		bio_set_dev(bio, dm_bio_get_target_bio_nr(bio) ? rc->spare_dev->bdev
							      : rc->data_dev->bdev);
		return DM_MAPIO_REMAPPED;
	}

	bio_set_dev(bio, rc->data_dev->bdev);
	bio->bi_iter.bi_sector = rc->table.data_offset + dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

static void remap_status(struct dm_target *ti, status_type_t type, unsigned int status_flags,
			 char *result, unsigned int maxlen)
{
	struct remap_c *rc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		rc_status_info(&rc->table, result, maxlen, &sz);
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
	.version = {0, 1, 0},
	.module = THIS_MODULE,
	.ctr = remap_ctr,
	.dtr = remap_dtr,
	.map = remap_map,
	.status = remap_status,
	.iterate_devices = remap_iterate_devices,
};

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
