// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace side of include/remap_boundary.h, for unit tests, fuzzers, benchmarks and the
 * dmremap tool: malloc, pthread locks, ISA-L's CRC32C, and allocation fault injection. Like
 * the kernel's tools/testing harnesses it enforces the kernel's rules instead of ignoring
 * them: every thread's locks, RCU sections, atomic and I/O-path scopes are tracked, and a
 * sleep in atomic context, a lock taken against the order, a GFP class wrong for its context
 * or an unheld lock asserted aborts with the rule and the stack (see "Kernel rules" below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
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

_Static_assert(sizeof(rb_u64) == 8 && sizeof(rb_s64) == 8, "64-bit types");
_Static_assert(sizeof(pthread_spinlock_t) <= sizeof(struct rb_spinlock), "spinlock fits");
_Static_assert(sizeof(pthread_mutex_t) <= sizeof(struct rb_mutex), "mutex fits");
/* The core hard-codes Linux errno values; they must agree with this libc. */
_Static_assert(EINVAL == 22 && EIO == 5 && ENOMEM == 12 && ENOSPC == 28 && ENODATA == 61,
	       "Linux errno values");

/* ------------------------------------------------------------------------------------------
 * Kernel rules
 *
 * Each thread keeps the locks it holds, in the order it took them, with their rank in the
 * lock order of include/remap_boundary.h: a lock may only be taken while every lock held is
 * of a lower rank. A spinlock, an RCU read-side section or a scope a test marks atomic
 * (rb_user_atomic_begin(), as end_io in interrupt context) make the thread atomic; anything
 * that may sleep is then a bug. rb_noio_begin() marks the I/O path.
 * ---------------------------------------------------------------------------------------- */

enum rank {
	RANK_GLOBAL = 0, /* rb_global_lock() */
	RANK_MUTEX = 1,  /* an engine mutex */
	RANK_NESTED = 2, /* an engine mutex by rb_mutex_lock_nested() */
	RANK_SPIN = 3,   /* an rb_spinlock */
};
static const char *const rank_names[] = {"the global lock", "an engine mutex",
					 "a nested engine mutex", "a spinlock"};

#define MAX_HELD 8
struct held_lock {
	const void *lock;
	enum rank rank;
};
struct thread_context {
	struct held_lock held[MAX_HELD];
	int nheld;
	int spins;  /* spinlocks held */
	int rcu;    /* RCU read-side nesting */
	int atomic; /* rb_user_atomic_begin() nesting */
	int noio;   /* rb_noio_begin() nesting */
};
static _Thread_local struct thread_context ctx;

static char global_lock_tag; /* what the held list records for rb_global_lock() */

/* The sanitizers' stack printer when they are linked in, else glibc's. */
void __sanitizer_print_stack_trace(void) __attribute__((weak));

/* The stack, then abort(): the end of every broken rule and "cannot happen". */
static void __attribute__((noreturn)) stack_and_abort(void)
{
	if (__sanitizer_print_stack_trace) {
		__sanitizer_print_stack_trace();
	} else {
		void *frames[64];

		backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
	}
	fflush(stderr);
	abort();
}

static void __attribute__((noreturn, format(printf, 1, 2))) rule_broken(const char *fmt, ...)
{
	va_list args;
	int i;

	fprintf(stderr, "dm-remap platform: kernel rule broken: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n  locks held by this thread, outermost first:%s\n",
		ctx.nheld ? "" : " none");
	for (i = 0; i < ctx.nheld; i++)
		fprintf(stderr, "    %s %p\n", rank_names[ctx.held[i].rank], ctx.held[i].lock);
	fprintf(stderr, "  rcu read-side depth %d, atomic depth %d, noio depth %d\n", ctx.rcu,
		ctx.atomic, ctx.noio);
	stack_and_abort();
}

static int in_atomic(void)
{
	return ctx.spins || ctx.rcu || ctx.atomic;
}

void rb_user_might_sleep(const char *what)
{
	if (ctx.spins)
		rule_broken("%s may sleep, and a spinlock is held", what);
	if (ctx.rcu)
		rule_broken("%s may sleep, inside an RCU read-side section", what);
	if (ctx.atomic)
		rule_broken("%s may sleep, in a context marked atomic", what);
}

void rb_user_atomic_begin(void)
{
	ctx.atomic++;
}

void rb_user_atomic_end(void)
{
	if (ctx.atomic == 0)
		rule_broken("rb_user_atomic_end() without rb_user_atomic_begin()");
	ctx.atomic--;
}

static void took(const void *lock, enum rank rank)
{
	int i;

	for (i = 0; i < ctx.nheld; i++) {
		if (ctx.held[i].lock == lock)
			rule_broken("%s %p taken again by the thread that holds it (deadlock)",
				    rank_names[rank], lock);
	}
	if (ctx.nheld && ctx.held[ctx.nheld - 1].rank >= rank) {
		if (rank == RANK_MUTEX && ctx.held[ctx.nheld - 1].rank == RANK_MUTEX)
			rule_broken("an engine mutex taken while holding another: only the replaced table's, with rb_mutex_lock_nested()");
		rule_broken("lock order: %s taken while holding %s", rank_names[rank],
			    rank_names[ctx.held[ctx.nheld - 1].rank]);
	}
	if (rank == RANK_NESTED && !(ctx.nheld && ctx.held[ctx.nheld - 1].rank == RANK_MUTEX))
		rule_broken("rb_mutex_lock_nested() without an engine mutex held");
	if (ctx.nheld == MAX_HELD)
		rule_broken("more than %d locks held at once", MAX_HELD);
	ctx.held[ctx.nheld].lock = lock;
	ctx.held[ctx.nheld].rank = rank;
	ctx.nheld++;
	if (rank == RANK_SPIN)
		ctx.spins++;
}

static int holds(const void *lock)
{
	int i;

	for (i = 0; i < ctx.nheld; i++) {
		if (ctx.held[i].lock == lock)
			return 1;
	}
	return 0;
}

static void released(const void *lock, const char *what)
{
	int i;

	for (i = ctx.nheld - 1; i >= 0; i--) {
		if (ctx.held[i].lock != lock)
			continue;
		if (ctx.held[i].rank == RANK_SPIN)
			ctx.spins--;
		for (; i + 1 < ctx.nheld; i++)
			ctx.held[i] = ctx.held[i + 1];
		ctx.nheld--;
		return;
	}
	rule_broken("%s %p released by a thread that does not hold it", what, lock);
}

static void check_alloc(enum rb_gfp gfp, const char *fn)
{
	if (gfp != RB_GFP_ATOMIC) {
		if (ctx.spins)
			rule_broken("%s(%s) may sleep, and a spinlock is held: allocate before taking it, or RB_GFP_ATOMIC",
				    fn, gfp == RB_GFP_NOIO ? "RB_GFP_NOIO" : "RB_GFP_KERNEL");
		if (in_atomic())
			rule_broken("%s(%s) may sleep, in atomic context (RCU read side or marked atomic)",
				    fn, gfp == RB_GFP_NOIO ? "RB_GFP_NOIO" : "RB_GFP_KERNEL");
	}
	if (ctx.noio && gfp == RB_GFP_KERNEL)
		rule_broken("%s(RB_GFP_KERNEL) on the I/O path (inside rb_noio_begin()): reclaim could wait on this I/O; use RB_GFP_NOIO",
			    fn);
}

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

static const char *_Atomic leak_reason;

void rb_user_allow_leaks(const char *reason)
{
	atomic_store(&leak_reason, reason);
}

const char *rb_user_leaks_allowed(void)
{
	return atomic_load(&leak_reason);
}

/* What kmemleak would say at the end: the unit tests fail on it, per test (tests/unit). */
static void __attribute__((destructor)) report_leaks(void)
{
	long n = atomic_load(&live_allocs);

	if (n)
		fprintf(stderr, "dm-remap platform: %ld allocation%s made through rb_alloc*() never freed\n",
			n, n == 1 ? "" : "s");
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

	check_alloc(gfp, "rb_alloc");
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

	check_alloc(gfp, "rb_alloc_large");
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
	took(lock, RANK_SPIN);
	*flags = 0;
	pthread_spin_lock((pthread_spinlock_t *)lock->opaque);
}

void rb_spin_unlock(struct rb_spinlock *lock, unsigned long flags)
{
	(void)flags;
	released(lock, "a spinlock");
	pthread_spin_unlock((pthread_spinlock_t *)lock->opaque);
}

void rb_spin_assert_held(const struct rb_spinlock *lock)
{
	if (!holds(lock))
		rule_broken("spinlock %p asserted held, and this thread does not hold it",
			    (const void *)lock);
}

void rb_mutex_init(struct rb_mutex *lock)
{
	pthread_mutex_init((pthread_mutex_t *)lock->opaque, NULL);
}

void rb_mutex_destroy(struct rb_mutex *lock)
{
	if (holds(lock))
		rule_broken("engine mutex %p destroyed while this thread holds it", (void *)lock);
	pthread_mutex_destroy((pthread_mutex_t *)lock->opaque);
}

static void mutex_lock_ranked(struct rb_mutex *lock, enum rank rank)
{
	rb_user_might_sleep(rank == RANK_NESTED ? "rb_mutex_lock_nested()" : "rb_mutex_lock()");
	took(lock, rank);
	pthread_mutex_lock((pthread_mutex_t *)lock->opaque);
}

void rb_mutex_lock(struct rb_mutex *lock)
{
	mutex_lock_ranked(lock, RANK_MUTEX);
}

void rb_mutex_lock_nested(struct rb_mutex *lock)
{
	mutex_lock_ranked(lock, RANK_NESTED);
}

void rb_mutex_unlock(struct rb_mutex *lock)
{
	released(lock, "engine mutex");
	pthread_mutex_unlock((pthread_mutex_t *)lock->opaque);
}

void rb_mutex_assert_held(const struct rb_mutex *lock)
{
	if (!holds(lock))
		rule_broken("engine mutex %p asserted held, and this thread does not hold it",
			    (const void *)lock);
}

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

void rb_global_lock(void)
{
	rb_user_might_sleep("rb_global_lock()");
	took(&global_lock_tag, RANK_GLOBAL);
	pthread_mutex_lock(&global_lock);
}

void rb_global_unlock(void)
{
	released(&global_lock_tag, "the global lock");
	pthread_mutex_unlock(&global_lock);
}

void rb_global_assert_held(void)
{
	if (!holds(&global_lock_tag))
		rule_broken("the global lock asserted held, and this thread does not hold it");
}

unsigned int rb_noio_begin(void)
{
	ctx.noio++;
	return 0;
}

void rb_noio_end(unsigned int cookie)
{
	(void)cookie;
	if (ctx.noio == 0)
		rule_broken("rb_noio_end() without rb_noio_begin()");
	ctx.noio--;
}

/*
 * RCU with the same guarantees and a simpler mechanism: readers share a reader-preferring
 * rwlock (so nested read sections cannot deadlock), and synchronize waits until every
 * reader that started before it has left.
 */
static pthread_rwlock_t rcu_lock = PTHREAD_RWLOCK_INITIALIZER;

void rb_rcu_read_lock(void)
{
	ctx.rcu++;
	pthread_rwlock_rdlock(&rcu_lock);
}

void rb_rcu_read_unlock(void)
{
	if (ctx.rcu == 0)
		rule_broken("rb_rcu_read_unlock() outside a read-side section");
	ctx.rcu--;
	pthread_rwlock_unlock(&rcu_lock);
}

void rb_synchronize_rcu(void)
{
	rb_user_might_sleep("rb_synchronize_rcu()");
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

void rb_warn(const char *file, int line, const char *condition)
{
	fprintf(stderr, "dm-remap: cannot happen at %s:%d: %s\n", file, line, condition);
	stack_and_abort();
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
