// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite remap_spare_allocator: the spare allocator of dm-remap's core as compiled for the
 * kernel, through the test hooks of core_hooks.cpp (part of dm-remap-kunit.ko, tests/kunit/Kbuild).
 */
#include <kunit/test.h>
#include <linux/bitmap.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

/* Allocates until -ENOSPC; every block comes once, in range, never a reserved one. */
static u64 rkt_drain_allocator(struct kunit *test, struct rkt_alloc *a, u64 total,
			       unsigned long *seen)
{
	u64 n = 0;
	s64 b;

	while ((b = rkt_alloc_get(a)) >= 0) {
		KUNIT_ASSERT_LT(test, (u64)b, total);
		KUNIT_EXPECT_FALSE_MSG(test, test_bit(b, seen), "block %lld handed out twice", b);
		KUNIT_EXPECT_FALSE_MSG(test, rkt_alloc_is_reserved(a, b),
				       "reserved block %lld handed out", b);
		__set_bit(b, seen);
		n++;
		KUNIT_ASSERT_LE(test, n, total);
	}
	KUNIT_EXPECT_EQ(test, b, (s64)-ENOSPC);
	KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), 0ull);
	return n;
}

static void alloc_hands_out_every_free_block_once(struct kunit *test)
{
	static const u64 sizes[] = { 1, 5, 63, 64, 65, 1000, 4099 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		const u64 total = sizes[i];
		unsigned long *seen = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long),
						     GFP_KERNEL);
		struct rkt_alloc *a = rkt_alloc_create(total);
		u64 reserved = 0, b;

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, seen);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
		KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), total);
		/* Reserve every seventh block and the last one, as metadata and bad blocks are. */
		for (b = 0; b < total; b += 7) {
			rkt_alloc_reserve(a, b);
			reserved++;
		}
		if ((total - 1) % 7) {
			rkt_alloc_reserve(a, total - 1);
			reserved++;
		}
		KUNIT_EXPECT_EQ(test, rkt_alloc_reserved(a), reserved);
		KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), total - reserved);
		KUNIT_EXPECT_EQ_MSG(test, rkt_drain_allocator(test, a, total, seen), total - reserved,
				    "total %llu", total);
		rkt_alloc_destroy(a);
	}
}

static void alloc_freed_and_released_blocks_come_back(struct kunit *test)
{
	const u64 total = 300;
	unsigned long *seen = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	unsigned long *back = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	struct rkt_alloc *a = rkt_alloc_create(total);
	u64 b, n = 0;
	s64 got;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, seen);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, back);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	KUNIT_EXPECT_EQ(test, rkt_drain_allocator(test, a, total, seen), total);
	/* Free the even blocks below 40 (committed mappings dropped), release the odd ones
	 * (allocations never committed). */
	for (b = 0; b < 40; b++) {
		if (b % 2)
			rkt_alloc_release(a, b);
		else
			rkt_alloc_free(a, b);
		__set_bit(b, back);
	}
	KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), 40ull);
	while ((got = rkt_alloc_get(a)) >= 0) {
		KUNIT_EXPECT_TRUE_MSG(test, test_and_clear_bit(got, back),
				      "block %lld was not given back or came twice", got);
		n++;
		KUNIT_ASSERT_LE(test, n, 40ull);
	}
	KUNIT_EXPECT_EQ(test, n, 40ull);
	KUNIT_EXPECT_TRUE(test, bitmap_empty(back, total));
	rkt_alloc_destroy(a);
}

static void alloc_bad_blocks_are_never_handed_out_again(struct kunit *test)
{
	const u64 total = 200;
	unsigned long *seen = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	struct rkt_alloc *a = rkt_alloc_create(total);
	s64 bad[3];
	unsigned int i;
	u64 b;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, seen);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		bad[i] = rkt_alloc_get(a);
		KUNIT_ASSERT_GE(test, bad[i], 0ll);
		rkt_alloc_mark_bad(a, bad[i]);
		KUNIT_EXPECT_TRUE(test, rkt_alloc_is_reserved(a, bad[i]));
	}
	KUNIT_EXPECT_EQ(test, rkt_alloc_reserved(a), 3ull);
	KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), total - 3);
	KUNIT_EXPECT_EQ(test, rkt_drain_allocator(test, a, total, seen), total - 3);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_FALSE(test, test_bit(bad[i], seen));
	/* Everything else back, then once more: the bad blocks still stay out. */
	for (b = 0; b < total; b++)
		if (test_bit(b, seen))
			rkt_alloc_free(a, b);
	bitmap_zero(seen, total);
	KUNIT_EXPECT_EQ(test, rkt_drain_allocator(test, a, total, seen), total - 3);
	rkt_alloc_destroy(a);
}

static void alloc_blocks_in_use_stay_taken(struct kunit *test)
{
	const u64 total = 128;
	unsigned long *seen = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	struct rkt_alloc *a = rkt_alloc_create(total);
	u64 b;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, seen);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	for (b = 10; b < 20; b++)
		rkt_alloc_mark_in_use(a, b);
	KUNIT_EXPECT_EQ(test, rkt_alloc_available(a), total - 10);
	KUNIT_EXPECT_EQ(test, rkt_drain_allocator(test, a, total, seen), total - 10);
	for (b = 10; b < 20; b++)
		KUNIT_EXPECT_FALSE(test, test_bit(b, seen));
	rkt_alloc_destroy(a);
}

/* Random interleavings against a model: available() and the taken set agree throughout. */
static void alloc_random_interleaving_matches_model(struct kunit *test)
{
	const u64 total = 512;
	unsigned long *model = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	unsigned long *bad = kunit_kcalloc(test, BITS_TO_LONGS(total), sizeof(long), GFP_KERNEL);
	struct rkt_alloc *a = rkt_alloc_create(total);
	u64 state = 0x9e3779b97f4a7c15ull, taken = 0, nbad = 0;
	unsigned int step;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, model);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, bad);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	for (step = 0; step < 20000; step++) {
		u64 r = rkt_next(&state);

		if (r % 8 < 5) {
			s64 b = rkt_alloc_get(a);

			if (taken + nbad == total) {
				KUNIT_ASSERT_EQ(test, b, (s64)-ENOSPC);
				continue;
			}
			KUNIT_ASSERT_GE(test, b, 0ll);
			KUNIT_ASSERT_FALSE_MSG(test, test_bit(b, model) || test_bit(b, bad),
					       "step %u: block %lld is taken", step, b);
			__set_bit(b, model);
			taken++;
		} else if (taken) {
			/* A taken block picked at random goes back, or turns out bad. */
			u64 b = find_next_bit(model, total, (r >> 8) % total);

			if (b >= total)
				b = find_first_bit(model, total);
			__clear_bit(b, model);
			taken--;
			if (r % 8 == 5) {
				rkt_alloc_free(a, b);
			} else if (r % 8 == 6) {
				rkt_alloc_release(a, b);
			} else {
				rkt_alloc_mark_bad(a, b);
				__set_bit(b, bad);
				nbad++;
			}
		}
		KUNIT_ASSERT_EQ_MSG(test, rkt_alloc_available(a), total - taken - nbad,
				    "step %u", step);
	}
	KUNIT_EXPECT_GT(test, rkt_alloc_cache_hits(a), 0ull);
	KUNIT_EXPECT_EQ(test, rkt_alloc_reserved(a), nbad);
	rkt_alloc_destroy(a);
}

static struct kunit_case spare_allocator_cases[] = {
	KUNIT_CASE(alloc_hands_out_every_free_block_once),
	KUNIT_CASE(alloc_freed_and_released_blocks_come_back),
	KUNIT_CASE(alloc_bad_blocks_are_never_handed_out_again),
	KUNIT_CASE(alloc_blocks_in_use_stay_taken),
	KUNIT_CASE(alloc_random_interleaving_matches_model),
	{}
};

struct kunit_suite remap_spare_allocator_suite = {
	.name = "remap_spare_allocator",
	.test_cases = spare_allocator_cases,
};
