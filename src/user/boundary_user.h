/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test controls of the userspace boundary implementation: fault injection for allocations and
 * a capture of what the core logged, so tests can assert on error paths.
 */
#ifndef REMAP_BOUNDARY_USER_H
#define REMAP_BOUNDARY_USER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Fail the allocation that is the nth from now (0 = the next one); -1 disables. */
void rb_user_fail_alloc_nth(long nth);
/* Fail every allocation from now on (1) or none (0). */
void rb_user_fail_all_allocs(int on);
/* Allocations made through the boundary and not yet freed. */
long rb_user_live_allocs(void);
/*
 * The unit tests fail a test that ends with more allocations live than it began with
 * (tests/unit/platform_rules_test.cpp). A test that means to leave some (a fault it injects
 * on purpose) says why here; the next test starts strict again. The string is not copied.
 */
void rb_user_allow_leaks(const char *reason);
const char *rb_user_leaks_allowed(void); /* the reason, or NULL */

/*
 * The kernel rules the platform enforces (src/user/boundary_user.c): a test that breaks one
 * aborts with the rule and the stack. Hosts of the core in userspace mark what the kernel
 * knows by itself:
 *
 * rb_user_might_sleep(what): what the caller is about to do may sleep (I/O, a wait); aborts
 * under a spinlock, in an RCU read-side section or in a scope marked atomic. The tests'
 * rb_io_ops callbacks call it, as submit_bio_wait() and usleep_range() are might_sleep()
 * points in the kernel.
 *
 * rb_user_atomic_begin()/end(): the calls in between run in atomic context, as end_io does
 * (it may run in interrupt context): for tests of rc_target_failed_io() and the like.
 */
void rb_user_might_sleep(const char *what);
void rb_user_atomic_begin(void);
void rb_user_atomic_end(void);

/* The last message logged at RB_LOG_WARN or worse ("" if none), and clearing it. */
const char *rb_user_last_log(void);
void rb_user_clear_log(void);

#ifdef __cplusplus
}
#endif

#endif
