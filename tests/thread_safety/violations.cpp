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
		// expected-warning@+1 {{writing variable 'value_' requires holding mutex 'mutex_'}}
		value_ = 2;
	}

	u64 read_unlocked() const
	{
		// expected-warning@+1 {{reading variable 'value_' requires holding mutex 'mutex_'}}
		return value_;
	}

	void call_unlocked()
	{
		// expected-warning@+1 {{calling function 'bump_locked' requires holding mutex}}
		bump_locked();
	}

	void write_after_scope()
	{
		{
			MutexGuard guard(mutex_);
			value_ = 3;
		}
		// expected-warning@+1 {{writing variable 'value_' requires holding mutex 'mutex_'}}
		value_ = 4;
	}

	void take_twice()
	{
		MutexGuard guard(mutex_);
		// expected-warning@+1 {{cannot call function 'take_then_write' while mutex}}
		take_then_write();
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
		// expected-warning@+1 {{writing the value pointed to by 'buf_' requires holding}}
		buf_[0] = 1;
	}

	void count_spin()
	{
		{
			SpinGuard guard(spin_);
			events_++;
		}
		// expected-warning@+1 {{writing variable 'events_' requires holding spinlock}}
		events_++;
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
	// expected-warning@+1 {{calling function 'remove' requires holding mutex 'global_lock'}}
	registry::remove(c);
	// expected-warning@+1 {{writing variable 'live' requires holding mutex 'global_lock'}}
	c->live = true;
}

void registry_with_global_lock(AreaClaim *c)
{
	GlobalGuard global;
	registry::remove(c);
	c->live = false;
}

} // namespace
} // namespace remap
