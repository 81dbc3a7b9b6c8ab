// SPDX-License-Identifier: GPL-2.0
// Lock rules broken on purpose: clang's -verify mode (`make thread-safety`) passes only if each
// line that says which warning it expects draws exactly that diagnostic and nothing else warns.
// It proves that the annotations of src/core/thread_annotations.h, locks.h and registry.h are
// live under clang (a macro that expanded to nothing would leave every expected one missing).
#include "locks.h"
#include "registry.h"

namespace remap {
namespace {

class Engine {
public:
	void take_then_write() EXCLUDES(mutex_)
	{
		MutexGuard guard(mutex_);
		value_ = 1;
		bump_locked();
	}

	void write_unlocked()
	{
		value_ = 2; // expected-warning {{writing variable 'value_' requires holding mutex 'mutex_' exclusively}}
	}

	u64 read_unlocked() const
	{
		return value_; // expected-warning {{reading variable 'value_' requires holding mutex 'mutex_'}}
	}

	void call_unlocked()
	{
		bump_locked(); // expected-warning {{calling function 'bump_locked' requires holding mutex 'mutex_' exclusively}}
	}

	void write_after_scope()
	{
		{
			MutexGuard guard(mutex_);
			value_ = 3;
		}
		value_ = 4; // expected-warning {{writing variable 'value_' requires holding mutex 'mutex_' exclusively}}
	}

	void take_twice()
	{
		MutexGuard guard(mutex_);
		take_then_write(); // expected-warning {{cannot call function 'take_then_write' while mutex 'mutex_' is held}}
	}

	// What the core does where REQUIRES cannot be said (RemapTarget::MappingChange).
	void asserted()
	{
		mutex_.assert_held();
		value_ = 5;
		bump_locked();
	}

	void pointee_unlocked()
	{
		buf_[0] = 1; // expected-warning {{writing the value pointed to by 'buf_' requires holding mutex 'mutex_' exclusively}}
	}

	void count_spin()
	{
		{
			SpinGuard guard(spin_);
			events_++;
		}
		events_++; // expected-warning {{writing variable 'events_' requires holding spinlock 'spin_' exclusively}}
	}

private:
	void bump_locked() REQUIRES(mutex_) { value_++; }

	Mutex mutex_;
	u64 value_ GUARDED_BY(mutex_) = 0;
	u8 *buf_ PT_GUARDED_BY(mutex_) = nullptr;
	SpinLock spin_;
	u64 events_ GUARDED_BY(spin_) = 0;
};

void registry_without_global_lock(AreaClaim *c)
{
	registry::remove(c); // expected-warning {{calling function 'remove' requires holding mutex 'global_lock' exclusively}}
	c->live = true; // expected-warning {{writing variable 'live' requires holding mutex 'global_lock' exclusively}}
}

void registry_with_global_lock(AreaClaim *c)
{
	GlobalGuard global;
	registry::remove(c);
	c->live = false;
}

} // namespace
} // namespace remap
