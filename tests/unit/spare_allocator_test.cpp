// The allocator's promises: nothing handed out twice, nothing reserved ever handed out, every
// free block reachable, cache counters honest. The property test drives random interleavings of
// allocate / commit / release / free / mark_bad / reload against a simple model.
#include <gtest/gtest.h>

#include <memory>
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
			EXPECT_EQ(r.error().code(), -remap::kENOSPC);
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
		EXPECT_EQ(s.error().code(), -remap::kENOMEM);
	}
	EXPECT_EQ(rb_user_live_allocs(), before);
}

namespace {

// The allocator next to a model of what it must hold: blocks committed to a mapping, allocated
// but not committed (pending), bad, and metadata. step() does one random operation on both
// and checks that they agree.
struct AllocatorModel {
	// Operation mix: rng() % 100 below alloc allocates, below commit commits a pending
	// block, below release releases one, below free frees a committed one, below bad marks
	// a block bad, below reload reloads (one time in reload_one_in); the rest do nothing.
	struct Mix {
		unsigned alloc, commit, release, free, bad, reload, reload_one_in;
	};

	std::mt19937_64 &rng;
	const unsigned seed;
	const u64 total;
	const Mix mix;
	std::set<u64> metadata, committed, pending, bad;
	std::unique_ptr<SpareAllocator> a;

	AllocatorModel(std::mt19937_64 &r, unsigned sd, u64 t, Mix m) :
	    rng(r), seed(sd), total(t), mix(m)
	{
		for (u64 i = 0; i < 2 + rng() % 10; i++)
			metadata.insert(i);
	}
	void start() { a = make_allocator(total, metadata, committed); }

	std::set<u64> reserved() const
	{
		std::set<u64> r = metadata;
		r.insert(bad.begin(), bad.end());
		return r;
	}
	u64 expected_available() const
	{
		u64 n = total - committed.size() - pending.size();
		for (u64 b : reserved())
			if (!committed.count(b) && !pending.count(b))
				n--;
		return n;
	}
	// A random member of s: uniform on a small set; on a large one (walking to a uniform
	// position is O(n)) the one at or after a random block, in O(log n).
	std::set<u64>::iterator pick(std::set<u64> &s)
	{
		if (s.size() < 4096)
			return std::next(s.begin(), static_cast<long>(rng() % s.size()));
		auto it = s.lower_bound(rng() % total);
		return it == s.end() ? s.begin() : it;
	}

	void step(int n)
	{
		const unsigned op = rng() % 100;
		if (op < mix.alloc) {
			auto r = a->allocate();
			if (r.is_error()) {
				ASSERT_EQ(expected_available(), 0u)
					<< "ENOSPC with free blocks, seed " << seed;
				return;
			}
			u64 b = r.value().value();
			ASSERT_LT(b, total);
			ASSERT_FALSE(metadata.count(b))
				<< "metadata block handed out, seed " << seed;
			ASSERT_FALSE(bad.count(b)) << "bad block handed out, seed " << seed;
			ASSERT_FALSE(committed.count(b) || pending.count(b))
				<< "block handed out twice, seed " << seed;
			pending.insert(b);
		} else if (op < mix.commit && !pending.empty()) {
			auto it = pick(pending);
			committed.insert(*it);
			pending.erase(it);
		} else if (op < mix.release && !pending.empty()) {
			auto it = pick(pending);
			a->release(SpareBlock(*it));
			pending.erase(it);
		} else if (op < mix.free && !committed.empty()) {
			auto it = pick(committed);
			a->free(SpareBlock(*it));
			committed.erase(it);
		} else if (op < mix.bad) {
			u64 b = rng() % total;
			if (metadata.count(b))
				return;
			a->mark_bad(SpareBlock(b));
			bad.insert(b);
			pending.erase(b); // a pending allocation whose block failed is dropped
		} else if (op < mix.reload && rng() % mix.reload_one_in == 0) {
			// Reload: uncommitted allocations are forgotten, everything else persists.
			pending.clear();
			std::set<u64> in_use;
			for (u64 b : committed)
				if (!bad.count(b))
					in_use.insert(b);
			a = make_allocator(total, reserved(), in_use);
		}
		ASSERT_EQ(a->available(), expected_available()) << "seed " << seed << " step " << n;
	}
};

} // namespace

// Random interleavings against the model.
TEST(SpareAllocator, PropertyRandomInterleavings)
{
	for (unsigned seed = 1; seed <= 40; seed++) {
		std::mt19937_64 rng(seed);
		AllocatorModel m(rng, seed, 64 + rng() % 3000, {45, 70, 78, 90, 94, 97, 1});
		m.start();
		for (int step = 0; step < 4000 && !testing::Test::HasFatalFailure(); step++)
			m.step(step);
		ASSERT_FALSE(testing::Test::HasFatalFailure());
	}
}

namespace {

// Allocates until ENOSPC; every block, in the order handed out.
std::vector<u64> allocate_all(SpareAllocator &a)
{
	std::vector<u64> out;
	for (;;) {
		auto r = a.allocate();
		if (r.is_error()) {
			EXPECT_EQ(r.error().code(), -remap::kENOSPC);
			return out;
		}
		out.push_back(r.value().value());
	}
}

} // namespace

// A refill scans a bounded window of the bitmap when it has found something; when it has not,
// it must go on: to a block far past the window, and behind the cursor (wrapping).
TEST(SpareAllocator, BoundedRefillStillFindsTheLastFreeBlockAnywhere)
{
	const u64 total = 100003; // not a multiple of 64; the last three blocks are reserved
	const u64 lone = 40000;
	SpareAllocator a;
	ASSERT_FALSE(a.init(total, remap::Gfp::Kernel).is_error());
	for (u64 b = total - 3; b < total; b++)
		a.reserve(SpareBlock(b));
	for (u64 b = 64; b < total - 3; b++)
		if (b != lone)
			a.mark_in_use(SpareBlock(b));
	ASSERT_EQ(a.available(), 65u);

	std::vector<SpareBlock> first;
	for (u64 i = 0; i < 64; i++) {
		auto r = a.allocate();
		ASSERT_FALSE(r.is_error());
		EXPECT_EQ(r.value().value(), i)
			<< "a fresh word goes out whole, in ascending order";
		first.push_back(r.value());
	}
	EXPECT_EQ(a.cache_misses(), 1u);
	// Nothing free within a window of the cursor (64): the refill keeps scanning.
	auto r = a.allocate();
	ASSERT_FALSE(r.is_error());
	EXPECT_EQ(r.value().value(), lone);
	EXPECT_EQ(a.cached(), 0u);

	// Put `lone` back into the bitmap, just behind the cursor: the cache is filled first so
	// that free() cannot keep it there.
	for (SpareBlock b : first)
		a.release(b);
	EXPECT_EQ(a.cached(), 64u);
	a.free(SpareBlock(lone));
	EXPECT_EQ(a.cached(), 64u);
	for (u64 i = 0; i < 64; i++)
		ASSERT_FALSE(a.allocate().is_error());
	EXPECT_EQ(a.available(), 1u);
	// From the cursor to the end of the bitmap nothing is free (the tail is reserved): wrap.
	auto r2 = a.allocate();
	ASSERT_FALSE(r2.is_error());
	EXPECT_EQ(r2.value().value(), lone);
	EXPECT_EQ(a.available(), 0u);
	auto r3 = a.allocate();
	ASSERT_TRUE(r3.is_error());
	EXPECT_EQ(r3.error().code(), -remap::kENOSPC);
	// Freed again, it is found again, however far behind the cursor.
	a.free(SpareBlock(lone));
	EXPECT_EQ(allocate_all(a), std::vector<u64>{lone});
}

// On a nearly full bitmap a refill settles for the blocks in its window: more, smaller
// refills, still every free block once, in ascending order over one pass, then ENOSPC.
TEST(SpareAllocator, RefillStopsEarlyOnANearlyFullBitmap)
{
	const u64 total = 1 << 20;
	SpareAllocator a;
	ASSERT_FALSE(a.init(total, remap::Gfp::Kernel).is_error());
	std::vector<u64> free_blocks;
	for (u64 b = 0; b < total; b++) {
		if (b % 4096 == 17)
			free_blocks.push_back(b);
		else
			a.mark_in_use(SpareBlock(b));
	}
	ASSERT_EQ(a.available(), free_blocks.size());
	std::vector<u64> got = allocate_all(a);
	EXPECT_EQ(got, free_blocks);
	EXPECT_GT(a.cache_misses(), free_blocks.size() / SpareAllocator::kCacheSlots)
		<< "a refill stopped at its window with fewer than 64 blocks";
	EXPECT_EQ(a.available(), 0u);
}

// Word-wise refill at the ends: sizes that are not a multiple of 64 (the last word's bits past
// the end are no blocks), a refill that fills the cache in the middle of a word, reserved
// blocks in the first and last words.
TEST(SpareAllocator, WordWiseRefillAtTheBitmapEnds)
{
	for (u64 total : {1ull, 2ull, 63ull, 64ull, 65ull, 127ull, 130ull, 200ull, 1000ull}) {
		for (u64 in_use_prefix : {0ull, 10ull}) {
			if (in_use_prefix >= total)
				continue;
			std::set<u64> reserved = {total - 1};
			if (total > 40)
				reserved.insert(37);
			std::set<u64> in_use;
			for (u64 b = 0; b < in_use_prefix; b++)
				in_use.insert(b);
			auto a = make_allocator(total, reserved, in_use);
			std::vector<u64> expected;
			for (u64 b = 0; b < total; b++)
				if (!reserved.count(b) && !in_use.count(b))
					expected.push_back(b);
			EXPECT_EQ(a->available(), expected.size());
			EXPECT_EQ(allocate_all(*a), expected)
				<< "total " << total << ", " << in_use_prefix << " in use";
			EXPECT_EQ(a->available(), 0u);
		}
	}
}

// The property test on large, nearly full bitmaps, where the refill window binds and refills
// both stop early and scan on past it.
TEST(SpareAllocator, PropertyNearlyFullLargeBitmaps)
{
	for (unsigned seed = 1; seed <= 8; seed++) {
		std::mt19937_64 rng(seed);
		// A reload rebuilds 100k blocks: rarer here.
		AllocatorModel m(rng, seed, 40000 + rng() % 60000, {45, 70, 78, 94, 97, 100, 10});
		for (u64 b = 0; b < m.total; b++)
			if (!m.metadata.count(b) && rng() % 1000 >= 2)
				m.committed.insert(b);
		m.start();
		for (int step = 0; step < 3000 && !testing::Test::HasFatalFailure(); step++)
			m.step(step);
		ASSERT_FALSE(testing::Test::HasFatalFailure());
		// Whatever is left is handed out, once each, never a reserved block; then ENOSPC.
		const u64 left = m.expected_available();
		std::vector<u64> rest = allocate_all(*m.a);
		ASSERT_EQ(rest.size(), left) << "seed " << seed;
		std::set<u64> seen(rest.begin(), rest.end());
		ASSERT_EQ(seen.size(), rest.size()) << "seed " << seed;
		for (u64 b : rest) {
			ASSERT_FALSE(m.reserved().count(b)) << "seed " << seed;
			ASSERT_FALSE(m.committed.count(b) || m.pending.count(b)) << "seed " << seed;
		}
	}
}
