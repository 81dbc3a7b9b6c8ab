// SPDX-License-Identifier: GPL-2.0
// The replayed prefix states, and the torn states a cut during a flush can leave.
#include <gtest/gtest.h>

#include <set>

#include "crash_state.h"
#include "log_builder.h"

using namespace lwreplay;
using lwreplay_test::LogBuilder;

namespace {


// The byte a torn variant leaves in sector s (the first byte of the sector's content).
uint8_t torn_byte(const CrashStates &cs, const std::vector<CrashStates::Override> &v, uint64_t s)
{
	for (const auto &o : v)
		if (o.sector == s)
			return o.data[0];
	return cs.sector(s)[0];
}

} // namespace

TEST(CrashStates, PrefixStateAndDirtyRuns)
{
	CrashStates cs(64);
	for (const auto &e :
	     LogBuilder::entries(LogBuilder().write(2, 3, 7).write(10, 1, 8).discard(3, 1).build()))
		cs.apply(e);
	EXPECT_EQ(cs.sector(2)[0], 7);
	EXPECT_EQ(cs.sector(3)[0], 0); // discarded
	EXPECT_EQ(cs.sector(4)[511], 7);
	EXPECT_EQ(cs.sector(10)[0], 8);
	const auto runs = cs.take_dirty();
	ASSERT_EQ(runs.size(), 2u);
	EXPECT_EQ(runs[0], std::make_pair(uint64_t{2}, uint64_t{5}));
	EXPECT_EQ(runs[1], std::make_pair(uint64_t{10}, uint64_t{11}));
	EXPECT_TRUE(cs.take_dirty().empty());
}

TEST(CrashStates, WriteBeyondTheDeviceIsRefused)
{
	CrashStates cs(8);
	const auto e = LogBuilder::entries(LogBuilder().write(7, 2, 1).build());
	EXPECT_THROW(cs.apply(e[0]), LogError);
}

TEST(CrashStates, NothingIsInDoubtRightAfterAFlushWithoutData)
{
	CrashStates cs(16);
	for (const auto &e : LogBuilder::entries(LogBuilder().write(0, 4, 1).flush().flush().build()))
		cs.apply(e);
	// The second flush's window is empty: the first one made sectors 0..3 durable.
	EXPECT_EQ(cs.window_entries(), 0u);
	EXPECT_TRUE(cs.torn_variant(1).empty());
}

TEST(CrashStates, TornVariantsMixTheFloorAndTheWritesSinceTheLastFlush)
{
	// Sector 0: 1 durable, then 2 and 3 unflushed. Sector 1: 4 unflushed over zero. The
	// point is a flush whose data (5, sector 2) is itself in doubt.
	CrashStates cs(8);
	for (const auto &e : LogBuilder::entries(LogBuilder()
					     .write(0, 1, 1)
					     .flush()
					     .write(0, 2, 2)
					     .write(0, 1, 3)
					     .write(2, 1, 5, kLogFlush | kLogFua)
					     .build()))
		cs.apply(e);
	EXPECT_EQ(cs.window_entries(), 3u);
	std::set<uint8_t> seen0, seen1, seen2;
	for (uint64_t seed = 0; seed < 400; seed++) {
		const auto v = cs.torn_variant(seed);
		for (const auto &o : v)
			EXPECT_LT(o.sector, 3u)
				<< "only sectors written since the flush are in doubt";
		seen0.insert(torn_byte(cs, v, 0));
		seen1.insert(torn_byte(cs, v, 1));
		seen2.insert(torn_byte(cs, v, 2));
		// Reproducible.
		const auto again = cs.torn_variant(seed);
		ASSERT_EQ(again.size(), v.size());
		for (size_t i = 0; i < v.size(); i++)
			EXPECT_EQ(again[i].data, v[i].data);
	}
	// Never older than the floor (1 for sector 0), and every state is reached, including the
	// older unflushed write winning over the newer (the newer not landed yet).
	EXPECT_EQ(seen0, (std::set<uint8_t>{1, 2, 3}));
	EXPECT_EQ(seen1, (std::set<uint8_t>{0, 2}));
	EXPECT_EQ(seen2, (std::set<uint8_t>{0, 5}));
}

TEST(CrashStates, CompletedFuaWritesAlwaysLand)
{
	CrashStates cs(8);
	for (const auto &e :
	     LogBuilder::entries(LogBuilder()
			     .flush()
			     .write(0, 1, 1) // cached
			     .write(1, 1, 2, kLogFua) // durable once the next entry is logged
			     .flush()
			     .build()))
		cs.apply(e);
	std::set<uint8_t> seen0, seen1;
	for (uint64_t seed = 0; seed < 200; seed++) {
		const auto v = cs.torn_variant(seed);
		seen0.insert(torn_byte(cs, v, 0));
		seen1.insert(torn_byte(cs, v, 1));
	}
	EXPECT_EQ(seen0, (std::set<uint8_t>{0, 1}));
	EXPECT_EQ(seen1, (std::set<uint8_t>{2}));
}

TEST(CrashStates, TheNewestFuaWriteIsStillInDoubt)
{
	CrashStates cs(8);
	for (const auto &e : LogBuilder::entries(LogBuilder().flush().write(1, 1, 2, kLogFua).build()))
		cs.apply(e);
	std::set<uint8_t> seen;
	for (uint64_t seed = 0; seed < 100; seed++)
		seen.insert(torn_byte(cs, cs.torn_variant(seed), 1));
	EXPECT_EQ(seen, (std::set<uint8_t>{0, 2}));
}

TEST(CrashStates, TornWritesSplitAt512Bytes)
{
	CrashStates cs(16);
	for (const auto &e : LogBuilder::entries(LogBuilder().flush().write(0, 8, 9).flush().build()))
		cs.apply(e);
	bool partial = false;
	for (uint64_t seed = 0; seed < 100 && !partial; seed++) {
		const auto v = cs.torn_variant(seed);
		partial = !v.empty() && v.size() < 8;
	}
	EXPECT_TRUE(partial) << "some variant keeps part of the 4 KiB write";
}
