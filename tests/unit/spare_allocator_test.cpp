// The allocator's promises: nothing handed out twice, nothing reserved ever handed out, every
// free block reachable, cache counters honest. The property test drives random interleavings of
// allocate / commit / release / free / mark_bad / reload against a simple model.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "boundary_user.h"
#include "spare_allocator.h"

using remap::SpareAllocator;
using remap::SpareBlock;
using remap::u64;

namespace {

std::unique_ptr<SpareAllocator> make_allocator(u64 total, const std::set<u64> &reserved,
					       const std::set<u64> &in_use)
{
	auto a = std::make_unique<SpareAllocator>();
	EXPECT_FALSE(a->init(total, remap::Gfp::Kernel).is_error());
	for (u64 b : reserved)
		a->reserve(SpareBlock(b));
	for (u64 b : in_use)
		a->mark_in_use(SpareBlock(b));
	return a;
}

} // namespace

TEST(SpareAllocator, HandsOutEveryFreeBlockOnceThenENOSPC)
{
	const std::set<u64> metadata = {0, 1, 2, 3, 4, 5};
	auto a = make_allocator(1000, metadata, {});
	EXPECT_EQ(a->available(), 994u);
	std::set<u64> seen;
	for (;;) {
		auto r = a->allocate();
		if (r.is_error()) {
			EXPECT_EQ(r.error().code, -remap::kENOSPC);
			break;
		}
		u64 b = r.value().value();
		EXPECT_LT(b, 1000u);
		EXPECT_FALSE(metadata.count(b)) << "reserved block " << b << " handed out";
		EXPECT_TRUE(seen.insert(b).second) << "block " << b << " handed out twice";
	}
	EXPECT_EQ(seen.size(), 994u);
	EXPECT_EQ(a->available(), 0u);
}

TEST(SpareAllocator, CacheCountersAndBatches)
{
	auto a = make_allocator(10000, {}, {});
	for (int i = 0; i < 64; i++)
		ASSERT_FALSE(a->allocate().is_error());
	EXPECT_EQ(a->cache_misses(), 1u) << "one refill serves a whole batch";
	EXPECT_EQ(a->cache_hits(), 63u);
	ASSERT_FALSE(a->allocate().is_error());
	EXPECT_EQ(a->cache_misses(), 2u);
	a->clear_counters();
	EXPECT_EQ(a->cache_hits() + a->cache_misses(), 0u);
}

TEST(SpareAllocator, BadBlocksAreNeverReused)
{
	auto a = make_allocator(100, {0, 1}, {});
	auto r = a->allocate();
	ASSERT_FALSE(r.is_error());
	SpareBlock bad = r.value();
	a->mark_bad(bad);
	a->free(bad); // its mapping goes away: still never reused
	// A bad block sitting in the cache is pulled out of it too.
	auto r2 = a->allocate();
	ASSERT_FALSE(r2.is_error());
	a->release(r2.value());
	a->mark_bad(r2.value());
	std::set<u64> seen;
	for (;;) {
		auto x = a->allocate();
		if (x.is_error())
			break;
		seen.insert(x.value().value());
	}
	EXPECT_FALSE(seen.count(bad.value()));
	EXPECT_FALSE(seen.count(r2.value().value()));
	EXPECT_EQ(seen.size(), 96u);
	EXPECT_TRUE(a->is_reserved(bad));
	EXPECT_EQ(a->reserved_blocks(), 4u);
}

TEST(SpareAllocator, InitFailureIsClean)
{
	long before = rb_user_live_allocs();
	rb_user_fail_alloc_nth(1); // the second bitmap
	{
		SpareAllocator a;
		auto s = a.init(1 << 20, remap::Gfp::Kernel);
		ASSERT_TRUE(s.is_error());
		EXPECT_EQ(s.error().code, -remap::kENOMEM);
	}
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// Random interleavings against a model; the model knows which blocks are committed to a
// mapping, allocated but not committed, bad, and metadata.
TEST(SpareAllocator, PropertyRandomInterleavings)
{
	for (unsigned seed = 1; seed <= 40; seed++) {
		std::mt19937_64 rng(seed);
		const u64 total = 64 + rng() % 3000;
		std::set<u64> metadata;
		for (u64 i = 0; i < 2 + rng() % 10; i++)
			metadata.insert(i);
		std::set<u64> committed, pending, bad;
		auto reserved = [&] {
			std::set<u64> r = metadata;
			r.insert(bad.begin(), bad.end());
			return r;
		};
		auto a = make_allocator(total, metadata, {});
		auto expected_available = [&] {
			u64 n = total - committed.size() - pending.size();
			for (u64 b : reserved())
				if (!committed.count(b) && !pending.count(b))
					n--;
			return n;
		};

		for (int step = 0; step < 4000; step++) {
			const unsigned op = rng() % 100;
			if (op < 45) {
				auto r = a->allocate();
				if (r.is_error()) {
					ASSERT_EQ(expected_available(), 0u) << "ENOSPC with free blocks, seed " << seed;
					continue;
				}
				u64 b = r.value().value();
				ASSERT_LT(b, total);
				ASSERT_FALSE(metadata.count(b)) << "metadata block handed out, seed " << seed;
				ASSERT_FALSE(bad.count(b)) << "bad block handed out, seed " << seed;
				ASSERT_FALSE(committed.count(b) || pending.count(b))
					<< "block handed out twice, seed " << seed;
				pending.insert(b);
			} else if (op < 70 && !pending.empty()) {
				auto it = std::next(pending.begin(), rng() % pending.size());
				committed.insert(*it); // commit
				pending.erase(it);
			} else if (op < 78 && !pending.empty()) {
				auto it = std::next(pending.begin(), rng() % pending.size());
				a->release(SpareBlock(*it));
				pending.erase(it);
			} else if (op < 90 && !committed.empty()) {
				auto it = std::next(committed.begin(), rng() % committed.size());
				a->free(SpareBlock(*it));
				committed.erase(it);
			} else if (op < 94) {
				u64 b = rng() % total;
				if (metadata.count(b))
					continue;
				a->mark_bad(SpareBlock(b));
				bad.insert(b);
				pending.erase(b); // a pending allocation whose block failed is dropped
			} else if (op < 97) {
				// Reload: uncommitted allocations are forgotten, everything else persists.
				pending.clear();
				std::set<u64> in_use;
				for (u64 b : committed)
					if (!bad.count(b))
						in_use.insert(b);
				a = make_allocator(total, reserved(), in_use);
			}
			ASSERT_EQ(a->available(), expected_available()) << "seed " << seed << " step " << step;
		}
	}
}
