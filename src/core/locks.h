// SPDX-License-Identifier: GPL-2.0
// Lock wrappers over the boundary's opaque locks. Guards release on scope exit, so an early
// return can never leave a lock held.
#pragma once

#include "base.h"

namespace remap {

class SpinLock {
public:
	SpinLock() { rb_spin_init(&raw_); }
	SpinLock(const SpinLock &) = delete;
	SpinLock &operator=(const SpinLock &) = delete;

private:
	friend class SpinGuard;
	rb_spinlock raw_;
};

// Interrupts are off while held: callers never sleep or allocate (except Gfp::Atomic) under it.
class SpinGuard {
public:
	explicit SpinGuard(SpinLock &lock) : lock_(lock) { rb_spin_lock(&lock_.raw_, &flags_); }
	~SpinGuard() { rb_spin_unlock(&lock_.raw_, flags_); }
	SpinGuard(const SpinGuard &) = delete;
	SpinGuard &operator=(const SpinGuard &) = delete;

private:
	SpinLock &lock_;
	unsigned long flags_ = 0;
};

class Mutex {
public:
	Mutex() { rb_mutex_init(&raw_); }
	~Mutex() { rb_mutex_destroy(&raw_); }
	Mutex(const Mutex &) = delete;
	Mutex &operator=(const Mutex &) = delete;

private:
	friend class MutexGuard;
	rb_mutex raw_;
};

class MutexGuard {
public:
	explicit MutexGuard(Mutex &lock) : lock_(lock) { rb_mutex_lock(&lock_.raw_); }
	~MutexGuard() { rb_mutex_unlock(&lock_.raw_); }
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

// Publishing and reading an RCU-protected pointer: release on store, dependency-ordered load
// (what rcu_assign_pointer and rcu_dereference compile to).
template <typename T> void rcu_publish(T **slot, T *value)
{
	__atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

template <typename T> T *rcu_read(T *const *slot) { return __atomic_load_n(slot, __ATOMIC_CONSUME); }

} // namespace remap
