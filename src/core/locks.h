// SPDX-License-Identifier: GPL-2.0
// Lock wrappers over the boundary's opaque locks. Guards release on scope exit, so an early
// return can never leave a lock held. The lock order and the contexts each lock allows are in
// include/remap_boundary.h; a function that needs a lock held asserts it (assert_held(): lockdep
// in the kernel, the tracking platform in userspace).
#pragma once

#include "base.h"
#include "thread_annotations.h"

namespace remap {

class CAPABILITY("spinlock") SpinLock {
public:
	SpinLock() { rb_spin_init(&raw_); }
	SpinLock(const SpinLock &) = delete;
	SpinLock &operator=(const SpinLock &) = delete;
	void assert_held() const ASSERT_CAPABILITY(this) { rb_spin_assert_held(&raw_); }

private:
	friend class SpinGuard;
	rb_spinlock raw_;
};

// Interrupts are off while held: callers never sleep or allocate (except Gfp::Atomic) under it.
class SCOPED_CAPABILITY SpinGuard {
public:
	explicit SpinGuard(SpinLock &lock) ACQUIRE(lock) : lock_(lock)
	{
		rb_spin_lock(&lock_.raw_, &flags_);
	}
	~SpinGuard() RELEASE() { rb_spin_unlock(&lock_.raw_, flags_); }
	SpinGuard(const SpinGuard &) = delete;
	SpinGuard &operator=(const SpinGuard &) = delete;

private:
	SpinLock &lock_;
	unsigned long flags_ = 0;
};

class CAPABILITY("mutex") Mutex {
public:
	Mutex() { rb_mutex_init(&raw_); }
	~Mutex() { rb_mutex_destroy(&raw_); }
	Mutex(const Mutex &) = delete;
	Mutex &operator=(const Mutex &) = delete;
	void assert_held() const ASSERT_CAPABILITY(this) { rb_mutex_assert_held(&raw_); }

private:
	friend class MutexGuard;
	rb_mutex raw_;
};

class SCOPED_CAPABILITY MutexGuard {
public:
	explicit MutexGuard(Mutex &lock) ACQUIRE(lock) : lock_(lock) { rb_mutex_lock(&lock_.raw_); }
	// A second engine mutex under the caller's (rb_mutex_lock_nested()): the replaced table's.
	enum NestedTag {
		kNested
	};
	MutexGuard(Mutex &lock, NestedTag) ACQUIRE(lock) : lock_(lock)
	{
		rb_mutex_lock_nested(&lock_.raw_);
	}
	~MutexGuard() RELEASE() { rb_mutex_unlock(&lock_.raw_); }
	MutexGuard(const MutexGuard &) = delete;
	MutexGuard &operator=(const MutexGuard &) = delete;

private:
	Mutex &lock_;
};

class RcuReadGuard {
public:
	RcuReadGuard() { rb_rcu_read_lock(); }
	~RcuReadGuard() { rb_rcu_read_unlock(); }
	RcuReadGuard(const RcuReadGuard &) = delete;
	RcuReadGuard &operator=(const RcuReadGuard &) = delete;
};

// The I/O path (rb_noio_begin()): the worker's entry points and a resume run in one, where
// every allocation is Gfp::Noio (or Gfp::Atomic), so that reclaim cannot wait on I/O that waits
// for this code (the I/O being redone, or the suspended device's).
class NoioScope {
public:
	NoioScope() : cookie_(rb_noio_begin()) {}
	~NoioScope() { rb_noio_end(cookie_); }
	NoioScope(const NoioScope &) = delete;
	NoioScope &operator=(const NoioScope &) = delete;

private:
	unsigned int cookie_;
};

// Publishing and reading an RCU-protected pointer: release on store, dependency-ordered load
// (what rcu_assign_pointer and rcu_dereference compile to).
template <typename T> void rcu_publish(T **slot, T *value)
{
	__atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

template <typename T> T *rcu_read(T *const *slot)
{
	return __atomic_load_n(slot, __ATOMIC_CONSUME);
}

} // namespace remap
