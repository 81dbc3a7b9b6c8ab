/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one interface between dm-remap's C++ core (src/core) and its hosts: the kernel glue
 * (src/kernel) and the userspace build (src/user). Both directions live here: the platform
 * services the core needs (rb_*), and the core entry points the C glue calls (rc_*).
 *
 * It must stay valid C and C++ and include nothing: no kernel header may reach C++ code,
 * and no libc header may reach the kernel.
 */
#ifndef REMAP_BOUNDARY_H
#define REMAP_BOUNDARY_H

typedef __UINT8_TYPE__ rb_u8;
typedef __UINT16_TYPE__ rb_u16;
typedef __UINT32_TYPE__ rb_u32;
/*
 * The kernel's u64/s64 are (unsigned) long long on every architecture (int-ll64.h), while
 * __UINT64_TYPE__ is unsigned long on LP64: the 64-bit types are spelled as the kernel spells
 * them, so "%llu" takes an rb_u64 and rb_u64 * converts to u64 * without a cast.
 */
typedef unsigned long long rb_u64;
typedef __INT32_TYPE__ rb_s32;
typedef long long rb_s64;
typedef __SIZE_TYPE__ rb_size_t;

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Platform services, implemented by src/kernel/boundary.c and src/user/boundary_user.c.
 * ---------------------------------------------------------------------------------------- */

/*
 * Every allocation names its context, as the kernel's GFP flags do. RB_GFP_NOIO is for
 * anything reachable from the I/O path (reclaim must not recurse into our own device).
 */
enum rb_gfp {
	RB_GFP_KERNEL = 0,
	RB_GFP_NOIO = 1,
	RB_GFP_ATOMIC = 2,
};

/*
 * kmalloc-like: small objects. Returns NULL on failure; never sleeps for RB_GFP_ATOMIC, may
 * sleep for the others (so only RB_GFP_ATOMIC under a spinlock or in an RCU read-side
 * section, and only RB_GFP_NOIO or RB_GFP_ATOMIC between rb_noio_begin() and rb_noio_end()).
 */
void *rb_alloc(rb_size_t size, enum rb_gfp gfp);
void rb_free(void *ptr);
/*
 * kvmalloc-like: large arrays and bitmaps. Zero-filled. May sleep, except for RB_GFP_ATOMIC
 * (then a kmalloc that never falls back to vmalloc). The same context rules as rb_alloc().
 */
void *rb_alloc_large(rb_size_t size, enum rb_gfp gfp);
void rb_free_large(void *ptr);
/*
 * The memory an rb_alloc_large(size) occupies: the kmalloc size class it lands in, or whole
 * pages above the largest class (what kmalloc_size_roundup() says). For memory accounting.
 */
rb_size_t rb_alloc_large_bytes(rb_size_t size);

/*
 * Locks are embedded, opaque storage sized for the largest debug configuration; the glue
 * checks at build time that the real lock fits. With lockdep (DEBUG_LOCK_ALLOC, DEBUG_MUTEXES)
 * on 6.1 x86_64 a struct mutex is 144 bytes and a spinlock_t 64, hence 192.
 */
#define RB_LOCK_STORAGE 192
struct rb_spinlock {
	__attribute__((aligned(8))) unsigned char opaque[RB_LOCK_STORAGE];
};
struct rb_mutex {
	__attribute__((aligned(8))) unsigned char opaque[RB_LOCK_STORAGE];
};

/*
 * The lock order, outermost first (the userspace platform aborts a test that breaks it):
 *
 *   rb_global_lock()                     the module's registry (src/core/registry.h)
 *   an engine's rb_mutex                 RemapTarget::mutex_: mapping changes, commits
 *   rb_mutex_lock_nested()               the engine mutex of the table being replaced,
 *                                        under the replacing table's (first resume only)
 *   an rb_spinlock                       SpareAllocator::lock_; never two at once
 *
 * An RCU read-side section may be entered anywhere and nothing that sleeps may be done in
 * one. A spinlock makes the context atomic as well (interrupts are off): no mutex, no
 * sleeping allocation, no I/O, no rb_io_ops callback and no rb_synchronize_rcu() under it.
 */
void rb_spin_init(struct rb_spinlock *lock);
/* Spinlocks are taken with interrupts disabled: the end_io path may run in irq context. */
void rb_spin_lock(struct rb_spinlock *lock, unsigned long *flags);
void rb_spin_unlock(struct rb_spinlock *lock, unsigned long flags);

/* Engine mutexes: sleep; never taken in atomic context or from map()/end_io. */
void rb_mutex_init(struct rb_mutex *lock);
void rb_mutex_destroy(struct rb_mutex *lock);
void rb_mutex_lock(struct rb_mutex *lock);
/*
 * A second engine mutex while the caller holds one (mutex_lock_nested() with
 * SINGLE_DEPTH_NESTING): every engine mutex is of one lock class, so lockdep needs to be
 * told the nesting is intended. Only the replacing table takes the replaced one's this way.
 */
void rb_mutex_lock_nested(struct rb_mutex *lock);
void rb_mutex_unlock(struct rb_mutex *lock);

/*
 * One lock for the whole module (a static mutex): serializes the registry through which the
 * tables of one mapped device find each other (src/core/registry.h). May sleep; never taken
 * from the I/O path, and taken before any engine's mutex.
 */
void rb_global_lock(void);
void rb_global_unlock(void);

/*
 * Assertions that the calling context holds a lock: lockdep_assert_held() in the kernel (a
 * WARN with lockdep on, nothing without); in userspace, where every thread's locks are
 * tracked, an abort naming the lock when the calling thread does not hold it. For the
 * core's functions whose contract is "called with the lock held".
 */
void rb_spin_assert_held(const struct rb_spinlock *lock);
void rb_mutex_assert_held(const struct rb_mutex *lock);
void rb_global_assert_held(void);

/*
 * The I/O path: between rb_noio_begin() and the rb_noio_end() it returned the cookie for,
 * the calling thread works for I/O the block layer waits on (the worker redoing failed
 * bios), and memory reclaim must not issue I/O that could queue behind it. The kernel makes
 * it memalloc_noio_save()/memalloc_noio_restore(); the userspace platform aborts an
 * allocation in the scope that is not RB_GFP_NOIO or RB_GFP_ATOMIC. Scopes nest.
 */
unsigned int rb_noio_begin(void);
void rb_noio_end(unsigned int cookie);

/*
 * RCU: readers never block; writers publish a new object, then wait out the readers. A
 * read-side section is atomic context (the glue's are rcu_read_lock_sched(): preemption
 * off). rb_synchronize_rcu() sleeps.
 */
void rb_rcu_read_lock(void);
void rb_rcu_read_unlock(void);
void rb_synchronize_rcu(void);

/* Bitmaps are arrays of unsigned long, bit i in word i / BITS_PER_LONG (the kernel layout). */
unsigned long rb_find_next_zero_bit(const unsigned long *bitmap, unsigned long size,
				    unsigned long offset);

/* CRC32C (Castagnoli) without pre/post inversion, like the kernel's crc32c(). */
rb_u32 rb_crc32c(rb_u32 seed, const void *data, rb_size_t len);

/* Random bytes for uuids. */
void rb_random_bytes(void *buf, rb_size_t len);

enum rb_log_level {
	RB_LOG_ERR = 0,
	RB_LOG_WARN = 1,
	RB_LOG_INFO = 2,
	RB_LOG_DEBUG = 3,
};
/* printk-style; the glue adds the "device-mapper: remap: " prefix and newline. */
void rb_log(enum rb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A "cannot happen" condition of the core was true (REMAP_WARN_ON, src/core/warn.h): file and
 * line of the check and its text. The kernel WARNs and returns (the core then fails the
 * operation with an error); the userspace build aborts, so a test that reaches it fails.
 */
void rb_warn(const char *file, int line, const char *condition);

/* C99 snprintf semantics: returns the length the output would have had. */
int rb_snprintf(char *buf, rb_size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rb_vsnprintf(char *buf, rb_size_t size, const char *fmt, __builtin_va_list args)
	__attribute__((format(printf, 3, 0)));

/*
 * Synchronous block I/O the core asks for (metadata, copies between the devices). Sectors are
 * absolute on the named device; buffers come from rb_alloc_large(). May sleep; never called
 * with a spinlock held or from map().
 */
enum rb_device {
	RB_DATA_DEV = 0,
	RB_SPARE_DEV = 1,
};
enum rb_io_flags {
	RB_IO_FUA = 1u << 0,      /* durable when complete */
	RB_IO_PREFLUSH = 1u << 1, /* everything completed before is durable first */
	RB_IO_FAILFAST = 1u << 2, /* a retry (read or write): the device should not retry
				     it itself (REQ_FAILFAST_DEV) */
};
/*
 * read and write return 0 or a negative errno that keeps the block layer's verdict, as
 * blk_status_to_errno() gives it: -ENODATA for a medium error (BLK_STS_MEDIUM), -EIO for an
 * unspecified I/O error, -ENOLINK, -ETIMEDOUT, -ENODEV, -EAGAIN for a path that failed, -ENOSPC
 * for a device out of space, -ENOMEM when no memory could be had for the I/O itself.
 *
 * The callbacks' context. The core calls every one of them in process context, never under a
 * spinlock nor in an RCU read-side section, and each may sleep. Which core lock is held:
 *
 *   read, write     the engine mutex or not: a commit, a move and a resume hold it, the
 *                   worker's retries and probes (rc_target_rewrite, rc_target_reread) and the
 *                   loads of rc_target_create do not. From the worker and a resume they run
 *                   on the I/O path (rb_noio_begin()): what they allocate must be NOIO.
 *   drain           the engine mutex, always (RemapTarget::publish_locked(), after the grace
 *                   period).
 *   release_held    the engine mutex, always (the end or the roll-back of a mapping change).
 *   event           the engine mutex, always (a commit that failed, spare blocks low or out,
 *                   a spare device that failed, a resume with failed metadata).
 *
 * So no callback may call back into an entry point that takes the engine mutex (resume,
 * suspend, rewrite, reread, message): it would deadlock. release_held may call rc_target_map
 * (which takes no lock) to map the held I/O again; a held write that now needs the worker is
 * queued to it, not redone in place.
 */
struct rb_io_ops {
	/* flags: RB_IO_FAILFAST only. */
	int (*read)(void *ctx, enum rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
		    unsigned int flags);
	/* flags: RB_IO_FUA, RB_IO_PREFLUSH, RB_IO_FAILFAST (a failed write's retry in place). */
	int (*write)(void *ctx, enum rb_device dev, rb_u64 sector, const void *buf, rb_u32 bytes,
		     unsigned int flags);
	/*
	 * Called after the core published a new mapping: returns once no I/O that was mapped
	 * with generation old_generation (see struct rc_mapping) and overlaps target sectors
	 * [sector, sector + sectors) is still in flight. It may wait for more than that (I/O of
	 * that generation near the range); sectors RC_ALL_SECTORS means the whole target.
	 * Engine mutex held.
	 */
	void (*drain)(void *ctx, rb_u32 old_generation, rb_u64 sector, rb_u64 sectors);
	/* I/O held back on a block in transition may be mapped again now. Engine mutex held. */
	void (*release_held)(void *ctx);
	/*
	 * Something an admin waits for happened (spare blocks low, or none left, metadata or the
	 * spare device failed): a dm event. Engine mutex held.
	 */
	void (*event)(void *ctx);
};

/* ------------------------------------------------------------------------------------------
 * Core entry points, implemented in src/core, called by the glue.
 *
 * Their contexts, as the glue (src/kernel/dm-remap.c) calls them:
 *
 *   any context, no lock, no allocation, never sleep:
 *     rc_table_parse, rc_table_check, rc_status_table, rc_status_ima (pure functions),
 *     rc_target_map, rc_target_io_view, rc_io_view_clean, rc_io_view_touches (map(), in its
 *     RCU read-side section), rc_target_failed_io, rc_target_count_error (end_io, possibly in
 *     interrupt context), rc_target_auto_remap, rc_target_count_redone_write,
 *     rc_target_status_info (reads relaxed counters, never the mutex).
 *   process context, may sleep, take core locks; never called with a spinlock held, in an RCU
 *   read-side section, or from an rb_io_ops callback:
 *     rc_target_create    dm's ctr: the global lock, I/O (reads), GFP_KERNEL allocations.
 *     rc_target_destroy   dm's dtr: the global lock.
 *     rc_target_resume    preresume: the global lock, then the engine mutex, then (first
 *                         resume of a reload) the replaced table's engine mutex, nested; I/O.
 *                         In an rb_noio_begin() scope: the mapped device is suspended, and
 *                         reclaim's writeback to it would wait for this resume.
 *     rc_target_suspend   postsuspend: the engine mutex (waits out a change in progress).
 *     rc_target_message   dm's message: the engine mutex for changes; I/O.
 *     rc_target_rewrite, rc_target_reread
 *                         the worker (WQ_MEM_RECLAIM): the I/O path, in an rb_noio_begin()
 *                         scope of their own; the engine mutex for each mapping change.
 * ---------------------------------------------------------------------------------------- */

#define RC_SECTOR_SHIFT         9
#define RC_ALL_SECTORS          __UINT64_MAX__
#define RC_DEFAULT_BLOCK_SIZE   4096u
#define RC_MIN_BLOCK_SIZE       512u
#define RC_MAX_BLOCK_SIZE       65536u
#define RC_DEFAULT_READ_RETRIES 2u
#define RC_MAX_READ_RETRIES     100u

/* Which optional features the table line named explicitly (for the normalized line). */
enum rc_feature_bits {
	RC_FEAT_BLOCK_SIZE = 1u << 0,
	RC_FEAT_NO_AUTO_REMAP = 1u << 1,
	RC_FEAT_READ_RETRIES = 1u << 2,
	RC_FEAT_SPARE_LOW_WATER = 1u << 3,
	/* a spare with a larger logical block size than the data device's is accepted */
	RC_FEAT_ALLOW_LARGER_SPARE_SECTORS = 1u << 4,
};

/*
 * A parsed table line:
 *   <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#features> <feature>...]
 * Offsets and lengths are in 512-byte sectors. The device paths point into the argv the
 * line was parsed from.
 */
struct rc_table {
	const char *data_path;
	rb_u64 data_offset;
	const char *spare_path;
	rb_u64 spare_offset;
	rb_u64 spare_len;
	rb_u32 block_size; /* bytes */
	rb_u32 read_retries;
	rb_u64 spare_low_water;   /* blocks; resolved to its default by rc_table_check() */
	rb_u32 explicit_features; /* enum rc_feature_bits */
	int auto_remap;
	/*
	 * Set by the glue, not the line: the table was loaded read-only (dm_table_get_mode()
	 * without write). The engine then writes nothing: no format, no automatic remap, no lost
	 * marks; messages that would change the mapping fail with -EROFS.
	 */
	int read_only;
};

/* What the glue learnt from the opened devices. */
struct rc_devices {
	rb_u64 target_len; /* ti->len, sectors */
	rb_u64 data_dev_sectors;
	rb_u64 spare_dev_sectors;
	rb_u32 data_logical_block; /* bytes */
	rb_u32 spare_logical_block;
	int same_device; /* spare_dev is the data device */
	int zoned;       /* either device is zoned (refused) */
	/* Device numbers (dev_t), so that tables of one mapped device can find each other. */
	rb_u64 data_dev_id;
	rb_u64 spare_dev_id;
	/*
	 * Identifies the mapped device the table belongs to (its struct mapped_device). With
	 * the device ids, it registers the table's area (see rc_target_create); any of them 0
	 * means unknown, and the table is not registered.
	 */
	rb_u64 owner_id;
};

/*
 * Errors: every entry point that can fail returns 0 or a negative errno; those that take
 * `const char **error` also point it at a string literal naming the problem (suitable for
 * ti->error) on failure, and leave it alone on success.
 *
 * Parse a table line. On failure returns -EINVAL.
 */
int rc_table_parse(unsigned int argc, char **argv, struct rc_table *table, const char **error);

/* Check the parsed line against the devices; fills in defaults that depend on geometry. */
int rc_table_check(struct rc_table *table, const struct rc_devices *devs, const char **error);

/*
 * Status output with DMEMIT semantics: append to buf[*used .. maxlen), always leave it
 * NUL-terminated, never overrun; output that does not fit is cut.
 */
void rc_status_table(const struct rc_table *table, const char *data_name, const char *spare_name,
		     char *buf, unsigned int maxlen, unsigned int *used);
/* The key=value pairs after dm-ima's "target_name=...,target_version=..." prefix. */
void rc_status_ima(const struct rc_table *table, const char *data_name, const char *spare_name,
		   char *buf, unsigned int maxlen, unsigned int *used);

/* The remap engine of one target. */
struct rc_target;

/*
 * Loads and validates the metadata (reads only: a reload's constructor runs while the old
 * table is live; it loads again if that table commits meanwhile). devs is what
 * rc_table_check() was given (devs->target_len is ti->len). Registers the table's data range
 * and spare area under devs->owner_id until rc_target_destroy: a table of another mapped
 * device overlapping them is refused (-EBUSY), as is a table of the same device overlapping
 * them with another geometry (-EINVAL). A read-only table over an unformatted area is
 * refused (-EROFS). Returns 0 with *out the engine, or a negative errno with *error a
 * literal (and *out untouched).
 */
int rc_target_create(const struct rc_table *table, const struct rc_devices *devs,
		     const struct rb_io_ops *io, void *io_ctx, struct rc_target **out,
		     const char **error);
void rc_target_destroy(struct rc_target *t);
/*
 * preresume. The first resume of a table takes the mapping over from the table of the same
 * mapped device it replaces (in memory: no I/O), and formats a fresh area; later resumes do
 * no I/O. Metadata that failed (now or before) is reported, not returned: the table resumes
 * with metadata=failed and raises an event. Fails only for want of memory, or where the
 * mapping could be stale (an unregistered table whose superblocks do not read).
 */
int rc_target_resume(struct rc_target *t);
/* postsuspend: waits for mapping changes in progress; refuses new ones until resume. */
void rc_target_suspend(struct rc_target *t);

enum rc_route {
	RC_ROUTE_DATA = 0,  /* to the data device */
	RC_ROUTE_SPARE = 1, /* to the spare device */
	RC_ROUTE_LOST = 2,  /* the block is lost: fail the I/O without touching the disks */
	RC_ROUTE_HOLD = 3,  /* the block is being moved: hold the I/O until release_held */
};
struct rc_mapping {
	enum rc_route route;
	rb_u32 generation; /* of the mapping used; pass to drain accounting */
	rb_u64 sector;     /* on the routed device */
	rb_u32 sectors;    /* how much of the I/O, from its start, this mapping covers */
};
/*
 * The I/O path's lookup: never sleeps, allocates nothing, takes no lock. The caller stays in
 * an RCU read-side section until it has accounted the I/O to out->generation: rb_rcu_read_lock(),
 * or in the kernel any section synchronize_rcu() waits for (preemption disabled, say).
 */
void rc_target_map(const struct rc_target *t, rb_u64 sector, rb_u32 sectors,
		   struct rc_mapping *out);
/*
 * The I/O path's shortcut past rc_target_map: a summary of the published mapping that the glue
 * reads in place, without calling into the core, to route I/O that touches no remapped, lost or
 * moving block. The core publishes a new one with every new mapping. Read it through the slot
 * rc_target_io_view() returns, with the same RCU protection rc_target_map needs, and account
 * the I/O to its generation before leaving the read-side section.
 */
#define RC_NO_BLOCK __UINT64_MAX__
struct rc_io_view {
	rb_u64 first_block;  /* the lowest data block with an entry; RC_NO_BLOCK if there is none */
	rb_u64 first_sector; /* its first sector, relative to the target; RC_NO_BLOCK if none */
	rb_u32 block_shift;  /* log2 of the block size in sectors */
	rb_u32 generation;   /* of the mapping it summarizes (see struct rc_mapping) */
	const void *mapping; /* the core's: that mapping, for rc_io_view_touches() */
};
/* The RCU-published pointer to the current view; the slot stays put while the target lives. */
const struct rc_io_view *const *rc_target_io_view(const struct rc_target *t);
/*
 * Whether [sector, sector + sectors) lies wholly below the view's first entry. If so,
 * rc_target_map with the same mapping routes it to the data device whole, at data_offset +
 * sector, with the view's generation; if not, ask rc_target_map.
 */
static inline int rc_io_view_clean(const struct rc_io_view *v, rb_u64 sector, rb_u32 sectors)
{
	return sector + sectors - 1 < v->first_sector;
}
/*
 * The second check, for a request rc_io_view_clean() does not pass: whether it touches a block
 * the view's mapping has an entry for (remapped, lost or moving), by searching that mapping.
 * If not (0), it goes to the data device exactly as rc_io_view_clean() describes; if so, or
 * if sectors is 0, ask rc_target_map. It reads the mapping the view was published with, so
 * the same read-side section and generation rules apply. Cheaper than rc_target_map for the
 * request that lies between entries, the common case on a disk with many remaps.
 */
int rc_io_view_touches(const struct rc_io_view *v, rb_u64 sector, rb_u32 sectors);

/*
 * Part of a failed write: [sector, sector + sectors) of the target, data its payload, flags
 * RB_IO_FUA if the write had REQ_FUA (a retry in place is then written with FUA too; a block
 * that moves is made durable by the commit's flush). A retry in place is written with
 * RB_IO_FAILFAST: the device reports a failure at once rather than retry it itself.
 */
struct rc_extent {
	rb_u64 sector;
	rb_u32 sectors;
	unsigned int flags;
	const void *data;
};
/*
 * Automatic remap: writes failed where they were routed, or write lost blocks. Retries each
 * extent block by block and moves the blocks that still fail to new spare blocks holding the
 * written data (extents later in the array win where they overlap), all in one commit made
 * before it returns. 0: every extent is done and durable as a plain write would be; else a
 * negative errno and nothing was acknowledged or changed (the caller may retry the extents
 * one by one for a verdict each). Sleeps; call from a WQ_MEM_RECLAIM worker.
 */
int rc_target_rewrite(struct rc_target *t, const struct rc_extent *extents, rb_u32 count);
/*
 * A read of [sector, sector + sectors) failed where it was routed, with error (a negative
 * errno, as rb_io_ops.read returns them). Retries each block read_retries times; blocks that
 * read on a retry move to new spare blocks, blocks that never read are marked lost (both
 * committed) when the error says the medium is at fault. 0: data holds the whole read; else a
 * negative errno and the read should fail with its original status. Sleeps; call from the
 * worker.
 */
int rc_target_reread(struct rc_target *t, rb_u64 sector, rb_u32 sectors, void *data, int error);
/* Whether failed I/O should go to rc_target_rewrite/reread (auto remap on, metadata ok). */
int rc_target_auto_remap(const struct rc_target *t);

/* A bio that failed where map() routed it, as end_io saw it. */
enum rc_failed_flags {
	RC_FAILED_WRITE = 1u << 0,     /* a write (else a read) */
	RC_FAILED_READAHEAD = 1u << 1, /* REQ_RAHEAD: speculative, failfast in the block layer */
};
struct rc_failed_io {
	rb_u64 sector; /* of the target */
	rb_u32 sectors;
	int error;          /* blk_status_to_errno() of the bio's status */
	unsigned int flags; /* enum rc_failed_flags */
};
enum rc_verdict {
	RC_VERDICT_PASS = 0, /* complete the bio with its own status: nothing to repair */
	RC_VERDICT_REDO = 1, /* hand it to the worker: rc_target_rewrite() / rc_target_reread() */
};
/*
 * The one place that decides what a failed bio means (the error taxonomy): counts it for the
 * stats and returns the verdict. Never sleeps, allocates nothing, takes no lock: end_io calls
 * it, possibly in interrupt context.
 */
enum rc_verdict rc_target_failed_io(struct rc_target *t, const struct rc_failed_io *f);
/* I/O errors seen by the glue, for the stats (rc_target_failed_io() counts them itself). */
void rc_target_count_error(struct rc_target *t, int is_write);
/*
 * A failed write (or a write to a lost block) that rc_target_rewrite made good has completed,
 * ns nanoseconds after the glue handed it over: the stats' redone_writes and redo_*_ns.
 */
void rc_target_count_redone_write(struct rc_target *t, rb_u64 ns);

/* dmsetup message: 0, a negative errno, or 1 when text was written to result. Sleeps. */
int rc_target_message(struct rc_target *t, unsigned int argc, char **argv, char *result,
		      unsigned int maxlen);
void rc_target_status_info(struct rc_target *t, char *buf, unsigned int maxlen, unsigned int *used);

#ifdef __cplusplus
}
#endif

#endif /* REMAP_BOUNDARY_H */
