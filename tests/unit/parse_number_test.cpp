// Strict number parsing: the only accepted form is plain decimal digits that fit.
#include <gtest/gtest.h>

#include "parse_number.h"

using remap::u32;
using remap::u64;

TEST(ParseNumber, AcceptsPlainDecimal)
{
	u64 v = 1;
	ASSERT_TRUE(remap::parse_u64("0", &v));
	EXPECT_EQ(v, 0u);
	ASSERT_TRUE(remap::parse_u64("18446744073709551615", &v));
	EXPECT_EQ(v, 18446744073709551615ull);
	ASSERT_TRUE(remap::parse_u64("007", &v));
	EXPECT_EQ(v, 7u);
}

TEST(ParseNumber, RejectsEverythingElse)
{
	const char *bad[] = {"",
			     "-1",
			     "+1",
			     " 1",
			     "1 ",
			     "0x10",
			     "1e3",
			     "12abc",
			     "1.0",
			     "18446744073709551616",
			     "99999999999999999999999"};
	for (const char *text : bad) {
		u64 v = 42;
		EXPECT_FALSE(remap::parse_u64(text, &v)) << text;
		EXPECT_EQ(v, 42u) << "output touched for " << text;
	}
	u64 v;
	EXPECT_FALSE(remap::parse_u64(nullptr, &v));
}

TEST(ParseNumber, U32Bounds)
{
	u32 v;
	ASSERT_TRUE(remap::parse_u32("4294967295", &v));
	EXPECT_EQ(v, 4294967295u);
	EXPECT_FALSE(remap::parse_u32("4294967296", &v));
}

TEST(ParseNumber, CaseInsensitiveEquality)
{
	EXPECT_TRUE(remap::equals_ignore_case("Block_Size", "block_size"));
	EXPECT_FALSE(remap::equals_ignore_case("block_size", "block_sizes"));
	EXPECT_FALSE(remap::equals_ignore_case("block", "block_size"));
	EXPECT_TRUE(remap::equals_ignore_case("", ""));
}
