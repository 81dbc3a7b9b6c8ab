// The in-memory sets of lost sectors (src/core/lost_sectors.*): masks, immutable sets merged
// with changes and shared between lookup tables, and the per-change log.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "boundary_user.h"
#include "lookup_table.h"
#include "lost_sectors.h"

using remap::LostLog;
using remap::LostSectors;
using remap::SectorMask;
using remap::u32;
using remap::u64;

namespace {

SectorMask mask_of(std::initializer_list<u32> sectors)
{
	SectorMask m{};
	for (u32 s : sectors)
		m.set(s, s + 1);
	return m;
}

} // namespace

TEST(SectorMask, RangesAcrossWords)
{
	SectorMask m{};
	m.set(60, 70);
	EXPECT_EQ(m.count(), 10u);
	EXPECT_TRUE(m.touches(69, 128));
	EXPECT_FALSE(m.touches(70, 128));
	EXPECT_FALSE(m.touches(0, 60));
	EXPECT_TRUE(m.touches(59, 61));
	m.clear(64, 66);
	EXPECT_EQ(m.count(), 8u);
	u32 lo, hi;
	ASSERT_TRUE(m.next_run(0, 128, &lo, &hi));
	EXPECT_EQ(lo, 60u);
	EXPECT_EQ(hi, 64u);
	ASSERT_TRUE(m.next_run(hi, 128, &lo, &hi));
	EXPECT_EQ(lo, 66u);
	EXPECT_EQ(hi, 70u);
	EXPECT_FALSE(m.next_run(hi, 128, &lo, &hi));
	m.set(0, 128);
	EXPECT_EQ(m.count(), 128u);
	EXPECT_TRUE(m.overlaps(mask_of({127})));
	m.clear(0, 128);
	EXPECT_FALSE(m.any());
}

// apply() against a model: random changes (some emptying a block), sets shared by holders.
TEST(LostSectors, ApplyMatchesAModel)
{
	std::mt19937_64 rng(14);
	std::map<u64, SectorMask> model;
	LostSectors *cur = nullptr;
	for (int round = 0; round < 200; round++) {
		std::map<u64, SectorMask> changes;
		const int n = 1 + static_cast<int>(rng() % 6);
		for (int i = 0; i < n; i++) {
			SectorMask m{};
			if (rng() % 4)
				m.set(static_cast<u32>(rng() % 128),
				      static_cast<u32>(rng() % 128) + 1);
			changes[rng() % 64] = m;
		}
		std::vector<LostSectors::Change> list;
		for (auto &c : changes) {
			list.push_back({c.first, c.second});
			if (c.second.any())
				model[c.first] = c.second;
			else
				model.erase(c.first);
		}
		auto next = LostSectors::apply(cur, list.data(), list.size(), remap::Gfp::Kernel);
		ASSERT_FALSE(next.is_error());
		LostSectors *held =
			LostSectors::get(cur); // another table still holding the old set
		LostSectors::put(cur);
		cur = next.value();
		LostSectors::put(held);
		if (model.empty()) {
			EXPECT_EQ(cur, nullptr);
			continue;
		}
		ASSERT_NE(cur, nullptr);
		ASSERT_EQ(cur->size(), model.size());
		u64 sectors = 0, i = 0;
		for (auto &e : model) {
			EXPECT_EQ(cur->block(i), e.first);
			EXPECT_TRUE(cur->mask(i) == e.second);
			const SectorMask *f = cur->find(e.first);
			ASSERT_NE(f, nullptr);
			EXPECT_TRUE(*f == e.second);
			sectors += e.second.count();
			i++;
		}
		EXPECT_EQ(cur->sectors(), sectors);
		EXPECT_EQ(cur->find(64), nullptr);
	}
	LostSectors::put(cur);
}

// A merge of a lookup table shares its lost set; freeing the tables in any order frees it.
TEST(LostSectors, SharedByMergedTables)
{
	const long live = rb_user_live_allocs();
	{
		const u64 keys[] = {5, 9};
		const u32 values[] = {40, 41};
		auto t = remap::LookupTable::build(keys, values, 2, remap::Gfp::Kernel);
		ASSERT_FALSE(t.is_error());
		LostSectors::Change c{5, mask_of({3})};
		auto set = LostSectors::apply(nullptr, &c, 1, remap::Gfp::Kernel);
		ASSERT_FALSE(set.is_error());
		t.value()->set_lost(set.value());
		remap::LookupTable::Change ch{7, 42, false};
		auto merged = remap::LookupTable::merge(t.value(), &ch, 1, remap::Gfp::Kernel);
		ASSERT_FALSE(merged.is_error());
		EXPECT_EQ(merged.value()->lost(), t.value()->lost());
		remap::LookupTable::free(t.value());
		ASSERT_NE(merged.value()->lost()->find(5), nullptr);
		EXPECT_TRUE(merged.value()->lost()->find(5)->test(3));
		remap::LookupTable::free(merged.value());
	}
	EXPECT_EQ(rb_user_live_allocs(), live) << "the set goes with the last table holding it";
}

TEST(LostLog, AscendingAppendsAndOutOfOrderReplaces)
{
	LostLog log;
	for (u64 b = 0; b < 100; b++)
		ASSERT_TRUE(log.add(b * 3, mask_of({static_cast<u32>(b % 8)}), remap::Gfp::Kernel));
	ASSERT_TRUE(log.add(30, mask_of({7}), remap::Gfp::Kernel)); // replaces
	ASSERT_TRUE(log.add(31, mask_of({6}), remap::Gfp::Kernel)); // out of order
	EXPECT_EQ(log.size(), 101u);
	ASSERT_NE(log.find(30), nullptr);
	EXPECT_TRUE(*log.find(30) == mask_of({7}));
	ASSERT_NE(log.find(31), nullptr);
	EXPECT_EQ(log.find(32), nullptr);
	const LostSectors::Change *c = log.sorted();
	for (u64 i = 1; i < log.size(); i++)
		EXPECT_LT(c[i - 1].block, c[i].block);
	EXPECT_TRUE(*log.find(31) == mask_of({6}));
	EXPECT_TRUE(*log.find(297) == mask_of({3}));
}
