// The lookup table against std::map: every lookup and lower_bound agrees, through builds and
// long chains of merges, at sizes around the index fanout.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "boundary_user.h"
#include "lookup_table.h"

using remap::LookupTable;
using remap::u32;
using remap::u64;

namespace {

void expect_matches(const LookupTable *t, const std::map<u64, u32> &model, std::mt19937_64 &rng)
{
	ASSERT_EQ(t->size(), model.size());
	u64 pos = 0;
	for (auto [k, v] : model) {
		ASSERT_EQ(t->key(pos), k);
		ASSERT_EQ(t->value(pos), v);
		pos++;
	}
	const u64 top = model.empty() ? 100 : model.rbegin()->first + 100;
	for (int i = 0; i < 2000; i++) {
		u64 probe = rng() % top;
		auto it = model.lower_bound(probe);
		u64 expect = static_cast<u64>(std::distance(model.begin(), it));
		ASSERT_EQ(t->lower_bound(probe), expect) << "probe " << probe;
		u32 v = 0;
		ASSERT_EQ(t->find(probe, &v), it != model.end() && it->first == probe);
		if (it != model.end() && it->first == probe) {
			ASSERT_EQ(v, it->second);
		}
	}
	for (auto [k, v] : model) {
		u32 got = 0;
		ASSERT_TRUE(t->find(k, &got));
		ASSERT_EQ(got, v);
	}
}

} // namespace

TEST(LookupTable, SortPairs)
{
	std::mt19937_64 rng(7);
	for (u64 n : {0u, 1u, 2u, 3u, 31u, 32u, 33u, 1000u}) {
		std::vector<u64> keys(n);
		std::vector<u32> values(n);
		for (u64 i = 0; i < n; i++) {
			keys[i] = rng() % 500;
			values[i] = static_cast<u32>(keys[i] * 3);
		}
		remap::sort_pairs(keys.data(), values.data(), n);
		for (u64 i = 1; i < n; i++)
			ASSERT_LE(keys[i - 1], keys[i]);
		for (u64 i = 0; i < n; i++)
			ASSERT_EQ(values[i], keys[i] * 3) << "value did not travel with its key";
	}
}

TEST(LookupTable, BuildMatchesModelAtManySizes)
{
	std::mt19937_64 rng(1);
	for (u64 n : {0u, 1u, 31u, 32u, 33u, 64u, 65u, 1000u, 20000u}) {
		std::map<u64, u32> model;
		while (model.size() < n)
			model[rng() % (n * 4 + 10)] = static_cast<u32>(rng());
		std::vector<u64> keys;
		std::vector<u32> values;
		for (auto [k, v] : model) {
			keys.push_back(k);
			values.push_back(v);
		}
		std::shuffle(keys.begin(), keys.end(), rng); // build sorts; values follow a key map
		for (u64 i = 0; i < n; i++)
			values[i] = model[keys[i]];
		auto r = LookupTable::build(keys.data(), values.data(), n, remap::Gfp::Kernel);
		ASSERT_FALSE(r.is_error());
		expect_matches(r.value(), model, rng);
		LookupTable::free(r.value());
	}
}

TEST(LookupTable, BuildRejectsDuplicates)
{
	u64 keys[] = {5, 9, 5};
	u32 values[] = {1, 2, 3};
	auto r = LookupTable::build(keys, values, 3, remap::Gfp::Kernel);
	ASSERT_TRUE(r.is_error());
	EXPECT_EQ(r.error().code, -remap::kEINVAL);
}

TEST(LookupTable, MergeChainsMatchModel)
{
	std::mt19937_64 rng(3);
	std::map<u64, u32> model;
	LookupTable *t = nullptr;
	for (int round = 0; round < 300; round++) {
		std::map<u64, LookupTable::Change> batch;
		const int k = 1 + static_cast<int>(rng() % (round % 10 == 0 ? 400 : 8));
		for (int i = 0; i < k; i++) {
			u64 key = rng() % 5000;
			bool remove = !model.empty() && rng() % 4 == 0;
			u32 value = rng() % 3 ? static_cast<u32>(rng() % 100000) : LookupTable::kLost;
			batch[key] = LookupTable::Change{key, value, remove};
		}
		std::vector<LookupTable::Change> changes;
		for (auto &[key, c] : batch) {
			changes.push_back(c);
			if (c.remove)
				model.erase(key);
			else
				model[key] = c.spare;
		}
		auto r = LookupTable::merge(t, changes.data(), changes.size(), remap::Gfp::Noio);
		ASSERT_FALSE(r.is_error());
		LookupTable::free(t);
		t = r.value();
		expect_matches(t, model, rng);
	}
	LookupTable::free(t);
}

TEST(LookupTable, AllocationFailureLeavesNothingBehind)
{
	long before = rb_user_live_allocs();
	u64 keys[] = {1, 2, 3};
	u32 values[] = {1, 2, 3};
	for (long nth = 0; nth < 4; nth++) {
		rb_user_fail_alloc_nth(nth);
		auto r = LookupTable::build(keys, values, 3, remap::Gfp::Kernel);
		ASSERT_TRUE(r.is_error()) << nth;
		EXPECT_EQ(r.error().code, -remap::kENOMEM);
		EXPECT_EQ(rb_user_live_allocs(), before);
	}
	rb_user_fail_alloc_nth(-1);
}
