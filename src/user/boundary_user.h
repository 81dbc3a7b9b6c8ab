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

/* The last message logged at RB_LOG_WARN or worse ("" if none), and clearing it. */
const char *rb_user_last_log(void);
void rb_user_clear_log(void);

#ifdef __cplusplus
}
#endif

#endif
