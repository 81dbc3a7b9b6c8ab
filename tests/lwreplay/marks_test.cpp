// SPDX-License-Identifier: GPL-2.0
// The workload's marks and what they oblige the checker to find.
#include <gtest/gtest.h>

#include "log_format.h"
#include "marks.h"

using namespace lwreplay;

TEST(Marks, DurableWritesKeepTheNewestVersion)
{
	Expectations x;
	x.absorb("lwr-durable:5.10,6.11", {});
	x.absorb("lwr-durable:5.12", {});
	x.absorb("lwr-durable:5.9", {}); // an older version acknowledged later changes nothing
	EXPECT_EQ(x.durable.at(5), 12u);
	EXPECT_EQ(x.durable.at(6), 11u);
	EXPECT_TRUE(x.remapped.empty());
}

TEST(Marks, DurableWriteToABadBlockRequiresItsRemap)
{
	Expectations x;
	x.absorb("lwr-durable:5.10,7.11", {7});
	EXPECT_EQ(x.remapped, (std::set<uint64_t>{7}));
}

TEST(Marks, RemapAndUnremapBracketTheirMessages)
{
	Expectations x;
	x.absorb("lwr-ready", {});
	EXPECT_TRUE(x.ready);
	x.absorb("lwr-remapping:3", {});
	EXPECT_TRUE(x.remapped.empty()); // in doubt until the reply
	x.absorb("lwr-remap:3", {});
	EXPECT_EQ(x.remapped, (std::set<uint64_t>{3}));
	x.absorb("lwr-unremapping:3", {});
	EXPECT_TRUE(x.remapped.empty());
	EXPECT_TRUE(x.not_remapped.empty());
	x.absorb("lwr-unremapped:3", {});
	EXPECT_EQ(x.not_remapped, (std::set<uint64_t>{3}));
	x.absorb("lwr-remapping:3", {});
	EXPECT_TRUE(x.not_remapped.empty());
}

TEST(Marks, OtherMarksAreIgnoredMalformedOnesRefused)
{
	Expectations x;
	x.absorb(kEndMark, {});
	x.absorb("mkfs", {});
	EXPECT_FALSE(x.ready);
	EXPECT_THROW(x.absorb("lwr-remap:", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-remap:12x", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-durable:", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-durable:5", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-durable:5.0", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-durable:5.1,", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-durable:99999999999999999999.1", {}), LogError);
	EXPECT_THROW(x.absorb("lwr-frobnicate", {}), LogError);
}

TEST(Marks, DurableMarksFitALogSectorAndRoundTrip)
{
	std::vector<std::pair<uint64_t, uint64_t>> w;
	for (uint64_t b = 0; b < 300; b++)
		w.emplace_back(b * 1000003, b + 1000000);
	const auto marks = durable_marks(w);
	EXPECT_GT(marks.size(), 1u);
	Expectations x;
	for (const auto &m : marks) {
		EXPECT_LE(m.size(), kMaxMarkBytes);
		EXPECT_EQ(m.find(' '), std::string::npos);
		x.absorb(m, {});
	}
	ASSERT_EQ(x.durable.size(), w.size());
	for (const auto &p : w)
		EXPECT_EQ(x.durable.at(p.first), p.second);
}
