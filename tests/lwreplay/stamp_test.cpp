// SPDX-License-Identifier: GPL-2.0
// The self-identifying sectors of the crash-check workload.
#include <gtest/gtest.h>

#include <cstring>

#include "stamp.h"

using namespace lwreplay;

TEST(Stamp, RoundTrip)
{
	uint8_t s[kStampBytes];
	stamp_sector(s, 123456789012ull, 7, 42);
	const Stamp st = read_stamp(s);
	ASSERT_EQ(st.kind, Stamp::Kind::Valid);
	EXPECT_EQ(st.block, 123456789012ull);
	EXPECT_EQ(st.index, 7u);
	EXPECT_EQ(st.version, 42u);
}

TEST(Stamp, ZeroSectorIsNeverWritten)
{
	uint8_t s[kStampBytes] = {};
	EXPECT_EQ(read_stamp(s).kind, Stamp::Kind::Zero);
}

TEST(Stamp, AnyFlippedByteIsGarbage)
{
	uint8_t s[kStampBytes];
	stamp_sector(s, 5, 1, 9);
	for (uint32_t i = 0; i < kStampBytes; i++) {
		uint8_t t[kStampBytes];
		std::memcpy(t, s, sizeof(t));
		t[i] ^= 0x10;
		EXPECT_EQ(read_stamp(t).kind, Stamp::Kind::Garbage) << "byte " << i;
	}
}

TEST(Stamp, HalvesOfTwoVersionsAreGarbage)
{
	// A sector torn inside itself (which 512-byte atomicity rules out, but a bug could
	// produce) must not pass as either version.
	uint8_t a[kStampBytes], b[kStampBytes];
	stamp_sector(a, 5, 1, 9);
	stamp_sector(b, 5, 1, 10);
	std::memcpy(a + 256, b + 256, 256);
	EXPECT_EQ(read_stamp(a).kind, Stamp::Kind::Garbage);
}

TEST(Stamp, VersionsAndPlacesDiffer)
{
	uint8_t a[kStampBytes], b[kStampBytes], c[kStampBytes];
	stamp_sector(a, 5, 1, 9);
	stamp_sector(b, 5, 2, 9);
	stamp_sector(c, 6, 1, 9);
	EXPECT_NE(std::memcmp(a, b, kStampBytes), 0);
	EXPECT_NE(std::memcmp(a, c, kStampBytes), 0);
	EXPECT_EQ(read_stamp(b).index, 2u);
	EXPECT_EQ(read_stamp(c).block, 6u);
}
