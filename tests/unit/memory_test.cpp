// Array<T>: the one owner of an rb_alloc_large() array. It frees what it holds (the platform
// counts live allocations), moves without copying, and reports a failed allocation.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "boundary_user.h"
#include "memory.h"

using remap::Array;
using remap::Gfp;
using remap::u32;
using remap::u64;

TEST(Array, OwnsWhatItAllocatesAndFreesIt)
{
	const long before = rb_user_live_allocs();
	{
		Array<u64> a;
		EXPECT_FALSE(a);
		EXPECT_EQ(a.size(), 0u);
		ASSERT_TRUE(a.alloc_zeroed(1000, Gfp::Kernel));
		EXPECT_TRUE(a);
		EXPECT_EQ(a.size(), 1000u);
		EXPECT_EQ(rb_user_live_allocs(), before + 1);
		for (u64 v : a)
			EXPECT_EQ(v, 0u);
		for (u64 i = 0; i < a.size(); i++)
			a[i] = i * 3;
		EXPECT_EQ(a.data()[999], 2997u);
		// A second alloc() replaces the first: still one allocation.
		ASSERT_TRUE(a.alloc(10, Gfp::Noio));
		EXPECT_EQ(a.size(), 10u);
		EXPECT_EQ(rb_user_live_allocs(), before + 1);
	}
	EXPECT_EQ(rb_user_live_allocs(), before);
}

TEST(Array, MovesOwnership)
{
	const long before = rb_user_live_allocs();
	Array<u32> a;
	ASSERT_TRUE(a.alloc(4, Gfp::Kernel));
	a[3] = 7;
	u32 *const p = a.data();
	Array<u32> b(std::move(a));
	EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): the moved-from state is the point
	EXPECT_EQ(a.size(), 0u);
	EXPECT_EQ(b.data(), p);
	EXPECT_EQ(b[3], 7u);
	Array<u32> c;
	ASSERT_TRUE(c.alloc(2, Gfp::Kernel));
	c = std::move(b); // frees c's own array
	EXPECT_EQ(c.data(), p);
	EXPECT_EQ(c.size(), 4u);
	EXPECT_EQ(rb_user_live_allocs(), before + 1);
	c.reset();
	EXPECT_EQ(rb_user_live_allocs(), before);
}

TEST(Array, ReportsFailureAndHoldsNothing)
{
	const long before = rb_user_live_allocs();
	Array<u64> a;
	ASSERT_TRUE(a.alloc(8, Gfp::Kernel));
	rb_user_fail_alloc_nth(0);
	EXPECT_FALSE(a.alloc(16, Gfp::Kernel));
	rb_user_fail_alloc_nth(-1);
	EXPECT_FALSE(a);
	EXPECT_EQ(a.size(), 0u);
	EXPECT_EQ(rb_user_live_allocs(), before);
	// n * sizeof(T) past a usize fails without asking the platform.
	EXPECT_FALSE(a.alloc(SIZE_MAX / 4, Gfp::Kernel));
	EXPECT_FALSE(a.alloc_zeroed(SIZE_MAX / 4, Gfp::Kernel));
	EXPECT_FALSE(a);
	// No elements is no allocation, and not a failure.
	EXPECT_TRUE(a.alloc(0, Gfp::Kernel));
	EXPECT_EQ(a.size(), 0u);
	EXPECT_EQ(rb_user_live_allocs(), before);
}
