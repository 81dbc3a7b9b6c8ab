/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API differences between the kernels dm-remap supports (README.md, "Supported
 * kernels"), in one place. Each answer comes from compat_probed.h, which src/kernel/compat.mk
 * generates at build time by compiling a test against the headers being built against; no
 * kernel version numbers are compared here.
 */
#ifndef DM_REMAP_COMPAT_H
#define DM_REMAP_COMPAT_H

#include <linux/dm-io.h>
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

#endif /* DM_REMAP_COMPAT_H */
