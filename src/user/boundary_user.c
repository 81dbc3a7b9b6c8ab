// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace side of include/remap_boundary.h, for unit tests, fuzzers, benchmarks and the
 * dmremap tool: malloc, pthread locks, ISA-L's CRC32C, and allocation fault injection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <isa-l/crc.h>

#include "remap_boundary.h"
#include "boundary_user.h"

_Static_assert(sizeof(pthread_spinlock_t) <= sizeof(struct rb_spinlock), "spinlock fits");
_Static_assert(sizeof(pthread_mutex_t) <= sizeof(struct rb_mutex), "mutex fits");
/* The core hard-codes Linux errno values; they must agree with this libc. */
_Static_assert(EINVAL == 22 && EIO == 5 && ENOMEM == 12 && ENOSPC == 28 && ENODATA == 61,
	       "Linux errno values");

static atomic_long fail_countdown = -1;
static atomic_int fail_all;
static atomic_long live_allocs;

void rb_user_fail_alloc_nth(long nth)
{
	atomic_store(&fail_countdown, nth);
}

void rb_user_fail_all_allocs(int on)
{
	atomic_store(&fail_all, on);
}

long rb_user_live_allocs(void)
{
	return atomic_load(&live_allocs);
}

static int should_fail_alloc(void)
{
	long n;

	if (atomic_load(&fail_all))
		return 1;
	n = atomic_load(&fail_countdown);
	while (n >= 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
			return n == 0;
	}
	return 0;
}

void *rb_alloc(rb_size_t size, enum rb_gfp gfp)
{
	void *p;

	(void)gfp;
	if (should_fail_alloc())
		return NULL;
	p = malloc(size ? size : 1);
	if (p)
		atomic_fetch_add(&live_allocs, 1);
	return p;
}

void rb_free(void *ptr)
{
	if (!ptr)
		return;
	atomic_fetch_sub(&live_allocs, 1);
	free(ptr);
}

/*
 * kmalloc's objects are aligned to the largest power of two that divides their size class
 * (a kmalloc-8k object to 8 KiB, a kmalloc-96 one to 32 bytes), page blocks to a page: the
 * same here, so that data laid out in cache lines (the lookup table's chunks) straddles the
 * lines it does in the kernel, not more.
 */
static rb_size_t kmalloc_alignment(rb_size_t size)
{
	rb_size_t c = rb_alloc_large_bytes(size ? size : 1);
	rb_size_t a = c & -c;

	a = a < 4096 ? a : 4096;
	return a < sizeof(void *) ? sizeof(void *) : a;
}

void *rb_alloc_large(rb_size_t size, enum rb_gfp gfp)
{
	void *p;

	(void)gfp;
	if (should_fail_alloc())
		return NULL;
	if (posix_memalign(&p, kmalloc_alignment(size), size ? size : 1))
		return NULL;
	memset(p, 0, size);
	atomic_fetch_add(&live_allocs, 1);
	return p;
}

void rb_free_large(void *ptr)
{
	rb_free(ptr);
}

/*
 * What the kernel's kmalloc_size_roundup() answers on x86_64 with SLUB and 4 KiB pages (as
 * Debian's 6.1 kernel): power-of-two caches from 8 bytes to 8 KiB plus kmalloc-96 and
 * kmalloc-192, whole power-of-two page blocks above. Userspace memory figures then match the
 * module's.
 */
rb_size_t rb_alloc_large_bytes(rb_size_t size)
{
	rb_size_t c = 8;

	if (size == 0)
		return 0;
	if (size > 64 && size <= 96)
		return 96;
	if (size > 128 && size <= 192)
		return 192;
	while (c < size)
		c <<= 1;
	return c < 4096 ? c : (c + 4095) / 4096 * 4096;
}

void rb_spin_init(struct rb_spinlock *lock)
{
	pthread_spin_init((pthread_spinlock_t *)lock->opaque, PTHREAD_PROCESS_PRIVATE);
}

void rb_spin_lock(struct rb_spinlock *lock, unsigned long *flags)
{
	*flags = 0;
	pthread_spin_lock((pthread_spinlock_t *)lock->opaque);
}

void rb_spin_unlock(struct rb_spinlock *lock, unsigned long flags)
{
	(void)flags;
	pthread_spin_unlock((pthread_spinlock_t *)lock->opaque);
}

void rb_mutex_init(struct rb_mutex *lock)
{
	pthread_mutex_init((pthread_mutex_t *)lock->opaque, NULL);
}

void rb_mutex_destroy(struct rb_mutex *lock)
{
	pthread_mutex_destroy((pthread_mutex_t *)lock->opaque);
}

void rb_mutex_lock(struct rb_mutex *lock)
{
	pthread_mutex_lock((pthread_mutex_t *)lock->opaque);
}

void rb_mutex_unlock(struct rb_mutex *lock)
{
	pthread_mutex_unlock((pthread_mutex_t *)lock->opaque);
}

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

void rb_global_lock(void)
{
	pthread_mutex_lock(&global_lock);
}

void rb_global_unlock(void)
{
	pthread_mutex_unlock(&global_lock);
}

/*
 * RCU with the same guarantees and a simpler mechanism: readers share a reader-preferring
 * rwlock (so nested read sections cannot deadlock), and synchronize waits until every
 * reader that started before it has left.
 */
static pthread_rwlock_t rcu_lock = PTHREAD_RWLOCK_INITIALIZER;

void rb_rcu_read_lock(void)
{
	pthread_rwlock_rdlock(&rcu_lock);
}

void rb_rcu_read_unlock(void)
{
	pthread_rwlock_unlock(&rcu_lock);
}

void rb_synchronize_rcu(void)
{
	pthread_rwlock_wrlock(&rcu_lock);
	pthread_rwlock_unlock(&rcu_lock);
}

#define BITS_PER_LONG (8 * sizeof(unsigned long))

unsigned long rb_find_next_zero_bit(const unsigned long *bitmap, unsigned long size,
				    unsigned long offset)
{
	unsigned long word, bits;

	if (offset >= size)
		return size;
	word = offset / BITS_PER_LONG;
	/* Treat the bits below offset as set so they are skipped. */
	bits = bitmap[word] | ((1UL << (offset % BITS_PER_LONG)) - 1);
	for (;;) {
		if (~bits) {
			unsigned long found = word * BITS_PER_LONG + (unsigned long)__builtin_ctzl(~bits);

			return found < size ? found : size;
		}
		if (++word * BITS_PER_LONG >= size)
			return size;
		bits = bitmap[word];
	}
}

/* ISA-L's crc32_iscsi inverts nothing itself, matching the kernel's crc32c(). */
rb_u32 rb_crc32c(rb_u32 seed, const void *data, rb_size_t len)
{
	return crc32_iscsi((unsigned char *)data, (int)len, seed);
}

void rb_random_bytes(void *buf, rb_size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* no entropy source: nothing sensible to return */
		}
		p += n;
		len -= (rb_size_t)n;
	}
}

static char last_log[512];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *rb_user_last_log(void)
{
	return last_log;
}

void rb_user_clear_log(void)
{
	pthread_mutex_lock(&log_lock);
	last_log[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

void rb_log(enum rb_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);

	if (level <= RB_LOG_WARN) {
		pthread_mutex_lock(&log_lock);
		memcpy(last_log, line, sizeof(line));
		pthread_mutex_unlock(&log_lock);
	}
	if (getenv("DMREMAP_LOG"))
		fprintf(stderr, "remap %s: %s\n", names[level], line);
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
