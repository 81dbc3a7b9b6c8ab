// The userspace boundary must behave like the kernel primitives it stands in for.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "boundary_user.h"
#include "memory.h"
#include "remap_boundary.h"
#include "result.h"

TEST(Boundary, Crc32cMatchesStandardVectors)
{
	// The kernel's crc32c() applies no inversion; the published check value does.
	const char *check = "123456789";
	EXPECT_EQ(~rb_crc32c(~0u, check, 9), 0xE3069283u);
	std::vector<unsigned char> zeros(32, 0);
	EXPECT_EQ(~rb_crc32c(~0u, zeros.data(), zeros.size()), 0x8A9136AAu); // RFC 3720 B.4
	std::vector<unsigned char> ones(32, 0xff);
	EXPECT_EQ(~rb_crc32c(~0u, ones.data(), ones.size()), 0x62A8AB43u);
	// Chaining gives the same result as one pass.
	EXPECT_EQ(rb_crc32c(rb_crc32c(~0u, check, 4), check + 4, 5), rb_crc32c(~0u, check, 9));
}

TEST(Boundary, FindNextZeroBit)
{
	unsigned long map[3] = {~0ul, ~0ul ^ (1ul << 5), 0};
	EXPECT_EQ(rb_find_next_zero_bit(map, 192, 0), 64u + 5);
	EXPECT_EQ(rb_find_next_zero_bit(map, 192, 70), 128u);
	EXPECT_EQ(rb_find_next_zero_bit(map, 100, 70), 100u); // nothing zero below size
	EXPECT_EQ(rb_find_next_zero_bit(map, 69, 0), 64u + 5);
	EXPECT_EQ(rb_find_next_zero_bit(map, 69, 69), 69u);
	EXPECT_EQ(rb_find_next_zero_bit(map, 192, 500), 192u);
	map[1] = ~0ul;
	EXPECT_EQ(rb_find_next_zero_bit(map, 128, 3), 128u);
}

namespace {
struct Counted {
	static int live;
	int v;
	explicit Counted(int x) : v(x) { live++; }
	~Counted() { live--; }
};
int Counted::live = 0;

remap::Result<int> half(int x)
{
	if (x % 2)
		return remap::Error::invalid("odd");
	return x / 2;
}

remap::Result<int> quarter(int x)
{
	int h = TRY(half(x));
	return TRY(half(h));
}
} // namespace

TEST(Boundary, FallibleAllocation)
{
	long before = rb_user_live_allocs();
	{
		remap::Own<Counted> c(remap::make<Counted>(remap::Gfp::Kernel, 7));
		ASSERT_TRUE(c);
		EXPECT_EQ(c->v, 7);
		EXPECT_EQ(Counted::live, 1);
		EXPECT_EQ(rb_user_live_allocs(), before + 1);
	}
	EXPECT_EQ(Counted::live, 0);
	EXPECT_EQ(rb_user_live_allocs(), before);

	rb_user_fail_alloc_nth(0);
	Counted *c = remap::make<Counted>(remap::Gfp::Noio, 1);
	EXPECT_EQ(c, nullptr);
	EXPECT_EQ(Counted::live, 0) << "constructor must not run on failed allocation";
	c = remap::make<Counted>(remap::Gfp::Noio, 2);
	ASSERT_NE(c, nullptr);
	remap::destroy(c);
}

TEST(Boundary, ResultAndTry)
{
	auto r = quarter(12);
	ASSERT_FALSE(r.is_error());
	EXPECT_EQ(r.value(), 3);
	auto e = quarter(6); // 6 -> 3 -> odd
	ASSERT_TRUE(e.is_error());
	EXPECT_EQ(e.error().code(), -remap::kEINVAL);
	EXPECT_STREQ(e.error().message(), "odd") << "TRY passes the text on with the errno";
}

// The C boundary's one conversion: 0 and *error untouched, or -errno and the text.
TEST(Boundary, ErrorConvertsOnceToErrnoAndText)
{
	const char *error = "untouched";
	EXPECT_EQ(remap::to_boundary(remap::Status(), &error), 0);
	EXPECT_STREQ(error, "untouched");
	EXPECT_EQ(remap::to_boundary(
			  remap::Status(remap::Error::from_errno(-remap::kENOSPC, "full")), &error),
		  -remap::kENOSPC);
	EXPECT_STREQ(error, "full");
	EXPECT_EQ(remap::Error::no_memory("m").code(), -remap::kENOMEM);
	EXPECT_EQ(remap::Error::busy("b").code(), -remap::kEBUSY);
	EXPECT_EQ(remap::Error::io("i").code(), -remap::kEIO);
	EXPECT_EQ(remap::error_text(remap::Status()), nullptr);
}
