/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API differences between the kernels dm-remap supports (README.md, "Supported
 * kernels"), in one place. Each answer comes from compat_probed.h, which src/kernel/compat.mk
 * generates at build time by compiling a test against the headers being built against; no
 * kernel version numbers are compared here.
 */
#ifndef DM_REMAP_COMPAT_H
#define DM_REMAP_COMPAT_H

#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/ioprio.h>
#include <linux/workqueue.h>

#include "compat_probed.h"

/* dm_io() for a synchronous request; *error_bits as dm_io() sets it. */
static inline int remap_dm_io(struct dm_io_request *req, unsigned int num_regions,
			      struct dm_io_region *where, unsigned long *error_bits)
{
#if defined(REMAP_DM_IO_HAS_UNSUP_BITS)
	return dm_io(req, num_regions, where, error_bits, NULL, IOPRIO_DEFAULT);
#elif defined(REMAP_DM_IO_HAS_IOPRIO)
	return dm_io(req, num_regions, where, error_bits, IOPRIO_DEFAULT);
#else
	return dm_io(req, num_regions, where, error_bits);
#endif
}

/*
 * A per-CPU workqueue, as alloc_workqueue() made one by default before WQ_PERCPU existed
 * (kernels that have it warn when neither WQ_PERCPU nor WQ_UNBOUND is given).
 */
#ifdef REMAP_HAVE_WQ_PERCPU
#define REMAP_WQ_PERCPU WQ_PERCPU
#else
#define REMAP_WQ_PERCPU 0
#endif

/*
 * A block device opened by path, for the tests that open one without dm (tests/kunit): a struct
 * file from bdev_file_open_by_path() where the kernel has it, else the block device of
 * blkdev_get_by_path() and the mode to put it with.
 */
struct remap_bdev {
	struct block_device *bdev;
#ifdef REMAP_HAVE_BDEV_FILE_OPEN
	struct file *file;
#else
	fmode_t mode;
#endif
};

/*
 * Opens @path for reading, and for writing when @write; exclusively for @holder unless it is
 * NULL. Returns 0 with @b->bdev set, or a negative errno.
 */
static inline int remap_bdev_open(struct remap_bdev *b, const char *path, bool write,
				  void *holder)
{
#ifdef REMAP_HAVE_BDEV_FILE_OPEN
	blk_mode_t mode = BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0) |
			  (holder ? BLK_OPEN_EXCL : 0);
	struct file *file = bdev_file_open_by_path(path, mode, holder, NULL);

	if (IS_ERR(file))
		return PTR_ERR(file);
	b->file = file;
	b->bdev = file_bdev(file);
#else
	fmode_t mode = FMODE_READ | (write ? FMODE_WRITE : 0) | (holder ? FMODE_EXCL : 0);
	struct block_device *bdev = blkdev_get_by_path(path, mode, holder);

	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	b->mode = mode;
	b->bdev = bdev;
#endif
	return 0;
}

static inline void remap_bdev_close(struct remap_bdev *b)
{
#ifdef REMAP_HAVE_BDEV_FILE_OPEN
	fput(b->file);
#else
	blkdev_put(b->bdev, b->mode);
#endif
	b->bdev = NULL;
}

/* __kunit_test_suites_init() for suites that are to run now (7.2 added run_tests). */
#ifdef REMAP_KUNIT_SUITES_INIT_HAS_RUN_TESTS
#define remap_kunit_suites_init(suites, n) __kunit_test_suites_init(suites, n, true)
#else
#define remap_kunit_suites_init(suites, n) __kunit_test_suites_init(suites, n)
#endif

#endif /* DM_REMAP_COMPAT_H */
