// SPDX-License-Identifier: GPL-2.0
// Lock rules the compiler checks. Under clang these are its thread-safety attributes, which
// the clang userspace build (REMAP_THREAD_SAFETY, `make unit`) checks with -Wthread-safety
// -Werror; under gcc (the kernel build, the other userspace builds) they are nothing.
//
// Use it like this:
//
//	class Counter {
//	public:
//		void add(u64 n) EXCLUDES(lock_)
//		{
//			MutexGuard guard(lock_);
//			add_locked(n);
//		}
//
//	private:
//		void add_locked(u64 n) REQUIRES(lock_) { total_ += n; }
//
//		Mutex lock_;
//		u64 total_ GUARDED_BY(lock_) = 0;
//	};
//
// A field read without its lock on purpose (a relaxed atomic, an RCU-published pointer) is
// not GUARDED_BY; its comment says how it is read instead. NO_THREAD_SAFETY_ANALYSIS turns the
// check off for one function, and every use says why next to it.
#pragma once

#if defined(__clang__)
#define REMAP_TA(x) __attribute__((x))
#else
#define REMAP_TA(x)
#endif

// A type that is a lock (Mutex, SpinLock); the name is what the diagnostics call it.
#define CAPABILITY(name)          REMAP_TA(capability(name))
// An RAII type that holds a lock from its constructor to its destructor (MutexGuard).
#define SCOPED_CAPABILITY         REMAP_TA(scoped_lockable)
// The field may only be read or written with the lock held.
#define GUARDED_BY(lock)          REMAP_TA(guarded_by(lock))
// What the pointer field points to may only be read or written with the lock held.
#define PT_GUARDED_BY(lock)       REMAP_TA(pt_guarded_by(lock))
// The function is called with the lock(s) held, and returns with them still held.
#define REQUIRES(...)             REMAP_TA(requires_capability(__VA_ARGS__))
// The function is called without the lock(s): it takes them itself.
#define EXCLUDES(...)             REMAP_TA(locks_excluded(__VA_ARGS__))
// The function takes the lock(s) (a guard's constructor) or drops them (its destructor).
#define ACQUIRE(...)              REMAP_TA(acquire_capability(__VA_ARGS__))
#define RELEASE(...)              REMAP_TA(release_capability(__VA_ARGS__))
// The function checks at run time that the lock is held (lockdep_assert_held() in the
// kernel, the tracking platform in userspace); after it, the analysis knows it is.
#define ASSERT_CAPABILITY(lock)   REMAP_TA(assert_capability(lock))
// The function returns that lock (for annotations that name a lock through an accessor).
#define RETURN_CAPABILITY(lock)   REMAP_TA(lock_returned(lock))
// Not checked; give the reason at every use.
#define NO_THREAD_SAFETY_ANALYSIS REMAP_TA(no_thread_safety_analysis)
