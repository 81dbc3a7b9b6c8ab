// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel side of include/remap_boundary.h: the platform services the C++ core uses,
 * mapped one to one onto kernel primitives.
 */
#include <linux/build_bug.h>
#include <linux/crc32c.h>
#include <linux/device-mapper.h>
#include <linux/find.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "remap_boundary.h"

#define DM_MSG_PREFIX "remap"

static gfp_t rb_to_gfp(enum rb_gfp gfp)
{
	switch (gfp) {
	case RB_GFP_NOIO:
		return GFP_NOIO;
	case RB_GFP_ATOMIC:
		return GFP_ATOMIC;
	case RB_GFP_KERNEL:
	default:
		return GFP_KERNEL;
	}
}

void *rb_alloc(rb_size_t size, enum rb_gfp gfp)
{
	return kmalloc(size, rb_to_gfp(gfp));
}

void rb_free(void *ptr)
{
	kfree(ptr);
}

void *rb_alloc_large(rb_size_t size, enum rb_gfp gfp)
{
	/* kvmalloc cannot fall back to vmalloc in atomic context: keep it a kmalloc there. */
	if (gfp == RB_GFP_ATOMIC)
		return kzalloc(size, GFP_ATOMIC);
	return kvzalloc(size, rb_to_gfp(gfp));
}

void rb_free_large(void *ptr)
{
	kvfree(ptr);
}

rb_size_t rb_alloc_large_bytes(rb_size_t size)
{
	/* kvmalloc's vmalloc fallback (under fragmentation) is page-granular as well. */
	return kmalloc_size_roundup(size);
}

static_assert(__same_type(rb_u64, u64) && __same_type(rb_s64, s64), "rb_u64 is not u64");
static_assert(sizeof(spinlock_t) <= sizeof(struct rb_spinlock), "spinlock_t does not fit");
static_assert(sizeof(struct mutex) <= sizeof(struct rb_mutex), "struct mutex does not fit");

static spinlock_t *to_spinlock(struct rb_spinlock *lock)
{
	return (spinlock_t *)lock->opaque;
}

static struct mutex *to_mutex(struct rb_mutex *lock)
{
	return (struct mutex *)lock->opaque;
}

void rb_spin_init(struct rb_spinlock *lock)
{
	spin_lock_init(to_spinlock(lock));
}

void rb_spin_lock(struct rb_spinlock *lock, unsigned long *flags)
{
	spin_lock_irqsave(to_spinlock(lock), *flags);
}

void rb_spin_unlock(struct rb_spinlock *lock, unsigned long flags)
{
	spin_unlock_irqrestore(to_spinlock(lock), flags);
}

void rb_mutex_init(struct rb_mutex *lock)
{
	mutex_init(to_mutex(lock));
}

void rb_mutex_destroy(struct rb_mutex *lock)
{
	mutex_destroy(to_mutex(lock));
}

void rb_mutex_lock(struct rb_mutex *lock)
{
	mutex_lock(to_mutex(lock));
}

void rb_mutex_lock_nested(struct rb_mutex *lock)
{
	mutex_lock_nested(to_mutex(lock), SINGLE_DEPTH_NESTING);
}

void rb_mutex_unlock(struct rb_mutex *lock)
{
	mutex_unlock(to_mutex(lock));
}

static DEFINE_MUTEX(rb_global_mutex);

void rb_global_lock(void)
{
	mutex_lock(&rb_global_mutex);
}

void rb_global_unlock(void)
{
	mutex_unlock(&rb_global_mutex);
}

/* The core's assertions only read the locks; lockdep's interface takes them non-const. */
void rb_spin_assert_held(const struct rb_spinlock *lock)
{
	lockdep_assert_held(to_spinlock((struct rb_spinlock *)lock));
}

void rb_mutex_assert_held(const struct rb_mutex *lock)
{
	lockdep_assert_held(to_mutex((struct rb_mutex *)lock));
}

void rb_global_assert_held(void)
{
	lockdep_assert_held(&rb_global_mutex);
}

unsigned int rb_noio_begin(void)
{
	return memalloc_noio_save();
}

void rb_noio_end(unsigned int cookie)
{
	memalloc_noio_restore(cookie);
}

void rb_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rb_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

/*
 * Every publication of a new mapping waits for a grace period, and the I/O held on blocks in
 * transition (a failed write being remapped among it) waits with it: an expedited grace
 * period takes microseconds where a normal one takes jiffies, and a remap publishes twice.
 * Mapping changes are rare, so the IPIs it sends are cheap; rcupdate.rcu_normal=1 makes
 * them normal grace periods again.
 */
void rb_synchronize_rcu(void)
{
	synchronize_rcu_expedited();
}

unsigned long rb_find_next_zero_bit(const unsigned long *bitmap, unsigned long size,
				    unsigned long offset)
{
	return find_next_zero_bit(bitmap, size, offset);
}

rb_u32 rb_crc32c(rb_u32 seed, const void *data, rb_size_t len)
{
	return crc32c(seed, data, len);
}

void rb_random_bytes(void *buf, rb_size_t len)
{
	get_random_bytes(buf, len);
}

void rb_warn(const char *file, int line, const char *condition)
{
	WARN(1, "dm-remap: cannot happen at %s:%d: %s\n", file, line, condition);
}

void rb_log(enum rb_log_level level, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	switch (level) {
	case RB_LOG_ERR:
		DMERR("%pV", &vaf);
		break;
	case RB_LOG_WARN:
		DMWARN("%pV", &vaf);
		break;
	case RB_LOG_INFO:
		DMINFO("%pV", &vaf);
		break;
	case RB_LOG_DEBUG:
	default:
		DMDEBUG("%pV", &vaf);
		break;
	}
	va_end(args);
}

int rb_snprintf(char *buf, rb_size_t size, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return n;
}

int rb_vsnprintf(char *buf, rb_size_t size, const char *fmt, va_list args)
{
	return vsnprintf(buf, size, fmt, args);
}
