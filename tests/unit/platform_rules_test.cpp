// The userspace platform (src/user/boundary_user.c) enforces the kernel's rules: each one is
// shown to fire here (death tests), and the engine is shown to keep them where the glue calls
// it. Also the leak check every unit test runs under (LeakCheck, registered below).
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "boundary_user.h"
#include "engine_rig.h"
#include "remap_boundary.h"

using namespace engine_rig;

namespace {

// ---------------------------------------------------------------------------------------------
// The leak check: a test that ends with more boundary allocations live than it began with
// fails, unless it called rb_user_allow_leaks() with its reason.

// What the check says of a test, or "" when it passes.
std::string leak_verdict(long before, long after, const char *allowed)
{
	if (after <= before || allowed)
		return "";
	return std::to_string(after - before) + " allocation(s) made through rb_alloc*() leaked";
}

class LeakCheck : public testing::EmptyTestEventListener {
	void OnTestStart(const testing::TestInfo &) override
	{
		rb_user_allow_leaks(nullptr);
		before_ = rb_user_live_allocs();
	}
	void OnTestEnd(const testing::TestInfo &info) override
	{
		const long after = rb_user_live_allocs();
		const char *allowed = rb_user_leaks_allowed();
		const std::string v = leak_verdict(before_, after, allowed);
		if (!v.empty())
			ADD_FAILURE() << info.test_suite_name() << "." << info.name() << ": " << v;
		else if (after > before_)
			printf("[ leaks    ] %ld allocation(s) left by %s.%s, allowed: %s\n",
			       after - before_, info.test_suite_name(), info.name(), allowed);
	}
	long before_ = 0;
};

// Before main(): gtest_main only initializes and runs. The listener list owns it.
const bool leak_check_installed = [] {
	testing::UnitTest::GetInstance()->listeners().Append(new LeakCheck);
	return true;
}();

class PlatformRules : public testing::Test {
protected:
	void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
	rb_spinlock spin_{};
	rb_spinlock spin2_{};
	rb_mutex mutex_{};
	rb_mutex mutex2_{};
};

TEST(PlatformLeaks, CheckIsInstalled) { EXPECT_TRUE(leak_check_installed); }

TEST(PlatformLeaks, ATestThatLeavesAnAllocationFailsUnlessItSaysWhy)
{
	EXPECT_EQ(leak_verdict(3, 3, nullptr), "");
	EXPECT_EQ(leak_verdict(3, 2, nullptr), ""); // freed what an earlier test allowed itself
	EXPECT_EQ(leak_verdict(3, 4, nullptr), "1 allocation(s) made through rb_alloc*() leaked");
	EXPECT_EQ(leak_verdict(3, 5, "kept on purpose"), "");
}

TEST(PlatformLeaks, AllocationsAreCountedUntilFreed)
{
	const long before = rb_user_live_allocs();
	void *small = rb_alloc(24, RB_GFP_KERNEL);
	void *large = rb_alloc_large(100000, RB_GFP_NOIO);
	EXPECT_EQ(rb_user_live_allocs(), before + 2);
	rb_free(small);
	rb_free_large(large);
	EXPECT_EQ(rb_user_live_allocs(), before);
}

void *kept_at_exit; // reachable, so LeakSanitizer leaves it to the platform's report

TEST_F(PlatformRules, LeaksAreReportedAtExit)
{
	EXPECT_EXIT(
		{
			kept_at_exit = rb_alloc(16, RB_GFP_KERNEL);
			exit(0);
		},
		testing::ExitedWithCode(0),
		"allocation.* made through rb_alloc\\*\\(\\) never freed");
}

// ---------------------------------------------------------------------------------------------
// Allocation contexts.

TEST_F(PlatformRules, SleepingAllocationUnderASpinlockAborts)
{
	unsigned long flags;
	rb_spin_init(&spin_);
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			rb_alloc(64, RB_GFP_KERNEL);
		},
		"rb_alloc\\(RB_GFP_KERNEL\\) may sleep, and a spinlock is held");
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			rb_alloc_large(64, RB_GFP_NOIO);
		},
		"rb_alloc_large\\(RB_GFP_NOIO\\) may sleep, and a spinlock is held");
	// GFP_ATOMIC is what may be allocated there.
	rb_spin_lock(&spin_, &flags);
	void *p = rb_alloc(64, RB_GFP_ATOMIC);
	void *q = rb_alloc_large(64, RB_GFP_ATOMIC);
	rb_spin_unlock(&spin_, flags);
	EXPECT_NE(p, nullptr);
	EXPECT_NE(q, nullptr);
	rb_free(p);
	rb_free_large(q);
}

TEST_F(PlatformRules, SleepingAllocationInAtomicContextAborts)
{
	EXPECT_DEATH(
		{
			rb_user_atomic_begin();
			rb_alloc_large(4096, RB_GFP_KERNEL);
		},
		"rb_alloc_large\\(RB_GFP_KERNEL\\) may sleep, in atomic context");
	EXPECT_DEATH(
		{
			rb_rcu_read_lock();
			rb_alloc(8, RB_GFP_NOIO);
		},
		"rb_alloc\\(RB_GFP_NOIO\\) may sleep, in atomic context");
	rb_user_atomic_begin();
	void *p = rb_alloc(8, RB_GFP_ATOMIC);
	rb_user_atomic_end();
	rb_free(p);
}

TEST_F(PlatformRules, KernelAllocationOnTheIoPathAborts)
{
	EXPECT_DEATH(
		{
			rb_noio_begin();
			rb_alloc(64, RB_GFP_KERNEL);
		},
		"rb_alloc\\(RB_GFP_KERNEL\\) on the I/O path");
	EXPECT_DEATH(
		{
			rb_noio_begin();
			rb_alloc_large(64, RB_GFP_KERNEL);
		},
		"rb_alloc_large\\(RB_GFP_KERNEL\\) on the I/O path");
	// NOIO and ATOMIC are fine there, and the scope ends (nesting included).
	const unsigned outer = rb_noio_begin();
	const unsigned inner = rb_noio_begin();
	rb_free(rb_alloc(64, RB_GFP_NOIO));
	rb_noio_end(inner);
	rb_free_large(rb_alloc_large(64, RB_GFP_ATOMIC));
	EXPECT_DEATH(rb_alloc(64, RB_GFP_KERNEL), "on the I/O path");
	rb_noio_end(outer);
	rb_free(rb_alloc(64, RB_GFP_KERNEL));
	EXPECT_DEATH(rb_noio_end(0), "rb_noio_end\\(\\) without rb_noio_begin\\(\\)");
}

// ---------------------------------------------------------------------------------------------
// Sleeping in atomic context.

TEST_F(PlatformRules, MutexUnderASpinlockOrInAnRcuSectionAborts)
{
	unsigned long flags;
	rb_spin_init(&spin_);
	rb_mutex_init(&mutex_);
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			rb_mutex_lock(&mutex_);
		},
		"rb_mutex_lock\\(\\) may sleep, and a spinlock is held");
	EXPECT_DEATH(
		{
			rb_rcu_read_lock();
			rb_mutex_lock(&mutex_);
		},
		"rb_mutex_lock\\(\\) may sleep, inside an RCU read-side section");
	EXPECT_DEATH(
		{
			rb_user_atomic_begin();
			rb_global_lock();
		},
		"rb_global_lock\\(\\) may sleep, in a context marked atomic");
	rb_mutex_destroy(&mutex_);
}

TEST_F(PlatformRules, SynchronizeRcuInAtomicContextAborts)
{
	unsigned long flags;
	rb_spin_init(&spin_);
	EXPECT_DEATH(
		{
			rb_rcu_read_lock();
			rb_synchronize_rcu();
		},
		"rb_synchronize_rcu\\(\\) may sleep, inside an RCU read-side section");
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			rb_synchronize_rcu();
		},
		"rb_synchronize_rcu\\(\\) may sleep, and a spinlock is held");
}

TEST_F(PlatformRules, IoUnderASpinlockAborts)
{
	// The tests' rb_io_ops (MemDisk) are might-sleep points, as submit_bio_wait() is.
	unsigned long flags;
	rb_spin_init(&spin_);
	MemDisk disk(64, 64);
	unsigned char buf[512];
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			disk.ops()->read(disk.ctx(), RB_DATA_DEV, 0, buf, sizeof(buf), 0);
		},
		"an rb_io_ops read may sleep, and a spinlock is held");
	EXPECT_DEATH(
		{
			rb_rcu_read_lock();
			disk.ops()->write(disk.ctx(), RB_SPARE_DEV, 0, buf, sizeof(buf), 0);
		},
		"an rb_io_ops write may sleep, inside an RCU read-side section");
	EXPECT_DEATH(
		{
			rb_user_atomic_begin();
			disk.ops()->event(disk.ctx());
		},
		"rb_io_ops.event may sleep, in a context marked atomic");
	EXPECT_DEATH(rb_user_atomic_end(), "without rb_user_atomic_begin");
	EXPECT_EQ(disk.ops()->read(disk.ctx(), RB_DATA_DEV, 0, buf, sizeof(buf), 0), 0);
}

// ---------------------------------------------------------------------------------------------
// The lock order: global lock, engine mutex, nested engine mutex, spinlock.

TEST_F(PlatformRules, LocksTakenAgainstTheOrderAbort)
{
	unsigned long flags, flags2;
	rb_spin_init(&spin_);
	rb_spin_init(&spin2_);
	rb_mutex_init(&mutex_);
	EXPECT_DEATH(
		{
			rb_mutex_lock(&mutex_);
			rb_global_lock();
		},
		"lock order: the global lock taken while holding an engine mutex");
	EXPECT_DEATH(
		{
			rb_spin_lock(&spin_, &flags);
			rb_spin_lock(&spin2_, &flags2);
		},
		"lock order: a spinlock taken while holding a spinlock");
	// The order itself is fine, and released locks leave nothing behind.
	rb_global_lock();
	rb_mutex_lock(&mutex_);
	rb_spin_lock(&spin_, &flags);
	rb_rcu_read_lock();
	rb_rcu_read_unlock();
	rb_spin_unlock(&spin_, flags);
	rb_mutex_unlock(&mutex_);
	rb_global_unlock();
	rb_spin_lock(&spin2_, &flags2);
	rb_spin_unlock(&spin2_, flags2);
	rb_mutex_destroy(&mutex_);
}

TEST_F(PlatformRules, TwoEngineMutexesOnlyNested)
{
	rb_mutex_init(&mutex_);
	rb_mutex_init(&mutex2_);
	EXPECT_DEATH(
		{
			rb_mutex_lock(&mutex_);
			rb_mutex_lock(&mutex2_);
		},
		"an engine mutex taken while holding another: only the replaced table's, with "
		"rb_mutex_lock_nested\\(\\)");
	EXPECT_DEATH(rb_mutex_lock_nested(&mutex2_),
		     "rb_mutex_lock_nested\\(\\) without an engine mutex held");
	rb_mutex_lock(&mutex_);
	rb_mutex_lock_nested(&mutex2_);
	rb_mutex_assert_held(&mutex2_);
	rb_mutex_unlock(&mutex2_);
	rb_mutex_unlock(&mutex_);
	rb_mutex_destroy(&mutex_);
	rb_mutex_destroy(&mutex2_);
}

TEST_F(PlatformRules, RecursionAndForeignUnlocksAbort)
{
	unsigned long flags;
	rb_spin_init(&spin_);
	rb_mutex_init(&mutex_);
	EXPECT_DEATH(
		{
			rb_mutex_lock(&mutex_);
			rb_mutex_lock(&mutex_);
		},
		"taken again by the thread that holds it");
	EXPECT_DEATH(
		{
			rb_global_lock();
			rb_global_lock();
		},
		"taken again by the thread that holds it");
	EXPECT_DEATH(rb_mutex_unlock(&mutex_),
		     "engine mutex .* released by a thread that does not hold it");
	EXPECT_DEATH(rb_spin_unlock(&spin_, 0),
		     "a spinlock .* released by a thread that does not hold it");
	EXPECT_DEATH(rb_rcu_read_unlock(), "outside a read-side section");
	EXPECT_DEATH(
		{
			rb_mutex_lock(&mutex_);
			rb_mutex_destroy(&mutex_);
		},
		"destroyed while this thread holds it");
	rb_spin_lock(&spin_, &flags);
	rb_spin_unlock(&spin_, flags);
	rb_mutex_destroy(&mutex_);
}

TEST_F(PlatformRules, AssertHeldAbortsWhenTheLockIsNotHeld)
{
	unsigned long flags;
	rb_spin_init(&spin_);
	rb_mutex_init(&mutex_);
	EXPECT_DEATH(rb_mutex_assert_held(&mutex_),
		     "engine mutex .* asserted held, and this thread does not hold it");
	EXPECT_DEATH(rb_spin_assert_held(&spin_), "spinlock .* asserted held");
	EXPECT_DEATH(rb_global_assert_held(), "the global lock asserted held");
	rb_global_lock();
	rb_global_assert_held();
	rb_mutex_lock(&mutex_);
	rb_mutex_assert_held(&mutex_);
	rb_spin_lock(&spin_, &flags);
	rb_spin_assert_held(&spin_);
	rb_spin_unlock(&spin_, flags);
	rb_mutex_unlock(&mutex_);
	rb_global_unlock();
	rb_mutex_destroy(&mutex_);
}

// A lock held by another thread is not held by this one.
TEST_F(PlatformRules, LocksAreTrackedPerThread)
{
	rb_mutex_init(&mutex_);
	rb_mutex_lock(&mutex_);
	std::thread other([this] {
		EXPECT_DEATH(rb_mutex_assert_held(&mutex_), "asserted held");
		rb_rcu_read_lock(); // this thread is not atomic because the other holds a mutex
		rb_rcu_read_unlock();
	});
	other.join();
	rb_mutex_unlock(&mutex_);
	rb_mutex_destroy(&mutex_);
}

// ---------------------------------------------------------------------------------------------
// The engine keeps the rules where the glue calls it.

// The worker's entry points are the I/O path: an allocation made for the I/O they issue must be
// NOIO (in the kernel, memalloc_noio_save() makes it so).
TEST_F(PlatformRules, TheWorkersEntryPointsAreTheIoPath)
{
	Rig rig;
	Target t = rig.started();
	std::vector<unsigned char> data(rig.layout.block_size, 0x5a);
	rig.disk.write_hook = [](const MemDisk::Write &) {
		rb_free(rb_alloc(64, RB_GFP_NOIO));
		return 0;
	};
	EXPECT_EQ(rewrite_one(t.get(), 0, rig.layout.bs(), data.data()), 0);
	rig.disk.write_hook = [](const MemDisk::Write &) {
		rb_free(rb_alloc(64, RB_GFP_KERNEL));
		return 0;
	};
	EXPECT_DEATH(rewrite_one(t.get(), 0, rig.layout.bs(), data.data()),
		     "rb_alloc\\(RB_GFP_KERNEL\\) on the I/O path");
	rig.disk.write_hook = nullptr;
	rig.disk.read_hook = [](int, rb_u64, unsigned) {
		rb_free(rb_alloc(64, RB_GFP_KERNEL));
		return 0;
	};
	EXPECT_DEATH(rc_target_reread(t.get(), 0, rig.layout.bs(), data.data(), -61),
		     "rb_alloc\\(RB_GFP_KERNEL\\) on the I/O path");
	// Outside them (a message, say) the scope is closed again.
	rb_free(rb_alloc(64, RB_GFP_KERNEL));
	rig.disk.read_hook = nullptr;
}

// preresume runs while the mapped device is suspended: I/O to it, reclaim's writeback included,
// waits for the resume, so the resume is an I/O-path scope too (a reload that loads again).
TEST_F(PlatformRules, AResumeIsTheIoPath)
{
	Rig rig;
	Target t = rig.create();
	ASSERT_NE(t, nullptr);
	rig.disk.read_hook = [](int, rb_u64, unsigned) {
		rb_free(rb_alloc(64, RB_GFP_KERNEL));
		return 0;
	};
	EXPECT_DEATH(rc_target_resume(t.get()), "rb_alloc\\(RB_GFP_KERNEL\\) on the I/O path");
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(rc_target_resume(t.get()), 0);
}

// end_io's entry points run in atomic context (possibly an interrupt), map() in an RCU
// read-side section: the engine takes no mutex and makes no sleeping allocation there.
TEST_F(PlatformRules, EndIoAndMapEntryPointsKeepToAtomicContext)
{
	Rig rig;
	Target t = rig.started();
	ASSERT_GE(remap_block(t.get(), rig.layout, 5), 0);
	const rc_failed_io fail{5 * rig.layout.bs(), static_cast<u32>(rig.layout.bs()), -61, 0};
	rb_user_atomic_begin();
	const rc_verdict v = rc_target_failed_io(t.get(), &fail);
	rc_target_count_error(t.get(), 1);
	rb_user_atomic_end();
	EXPECT_EQ(v, RC_VERDICT_REDO);
	rb_rcu_read_lock();
	rc_mapping m;
	rc_target_map(t.get(), 5 * rig.layout.bs(), 8, &m);
	rb_rcu_read_unlock();
	EXPECT_EQ(m.route, RC_ROUTE_SPARE);
}

// A reload's first resume holds the global lock, the new table's mutex and, nested, the old
// one's: the order the platform checks (and lockdep, told by rb_mutex_lock_nested()).
TEST_F(PlatformRules, AReloadTakesTheReplacedTablesMutexNested)
{
	Rig rig;
	Target old_table = rig.started();
	ASSERT_GE(remap_block(old_table.get(), rig.layout, 3), 0);
	rc_target_suspend(old_table.get());
	Target new_table = rig.create();
	ASSERT_NE(new_table, nullptr);
	EXPECT_EQ(rc_target_resume(new_table.get()), 0);
	EXPECT_EQ(list_all(new_table.get()).count(3), 1u);
}

} // namespace
