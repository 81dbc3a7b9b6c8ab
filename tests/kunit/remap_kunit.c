// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for dm-remap's core as compiled for the kernel: the same C++ objects, flags and
 * platform services (src/kernel/boundary.c) as dm-remap.ko, exercised through the C boundary
 * (rc_*) and the test hooks of core_hooks.cpp. Built as dm-remap-kunit.ko by tests/kunit/Kbuild;
 * the suites run when the module is loaded on a kernel with CONFIG_KUNIT, and their KTAP
 * results appear in /sys/kernel/debug/kunit/<suite>/results. For Debian's kernel, without
 * CONFIG_KUNIT, tools/kunit-ootree builds it with KUnit linked in (REMAP_KUNIT_OOTREE).
 */
#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

/* A deterministic generator, so a failing case fails the same way every time. */
static u64 rkt_next(u64 *state)
{
	u64 x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

char **rkt_argv(struct kunit *test, const char *line, unsigned int *argc)
{
	char *copy = kunit_kzalloc(test, strlen(line) + 1, GFP_KERNEL);
	char **argv = kunit_kcalloc(test, 32, sizeof(char *), GFP_KERNEL);
	char *p, *word;
	unsigned int n = 0;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, copy);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, argv);
	strcpy(copy, line);
	p = copy;
	while ((word = strsep(&p, " ")) != NULL) {
		if (!*word)
			continue;
		KUNIT_ASSERT_LT(test, n, 31u);
		argv[n++] = word;
	}
	*argc = n;
	return argv;
}

/* ============================== remap_spare_allocator ============================== */

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

static struct kunit_suite spare_allocator_suite = {
	.name = "remap_spare_allocator",
	.test_cases = spare_allocator_cases,
};

/* ============================== remap_metadata_codec ============================== */

static void rkt_geometry(struct kunit *test, struct rkt_geometry *g, u32 block_size,
			 u64 spare_len)
{
	const char *err;

	memset(g, 0, sizeof(*g));
	g->data_offset = 0;
	g->data_len = 1 << 20;
	g->spare_offset = 1 << 20;
	g->spare_len = spare_len;
	g->block_size = block_size;
	err = rkt_geometry_create(g);
	KUNIT_ASSERT_TRUE_MSG(test, err == NULL, "geometry refused: %s", err);
}

static void rkt_superblock_sample(struct rkt_superblock *sb, u64 seed)
{
	unsigned int i;

	memset(sb, 0, sizeof(*sb));
	sb->seq = seed * 1000003 + 7;
	for (i = 0; i < sizeof(sb->uuid); i++)
		sb->uuid[i] = (u8)(seed * 31 + i * 17 + 1);
	sb->area = seed & 1;
	sb->used_blocks = 1;
	sb->used_slots = 3;
	sb->entry_count = 2;
	sb->table_crc = (u32)(seed * 2654435761u);
}

static void codec_geometry_limits(struct kunit *test)
{
	struct rkt_geometry g = {
		.data_offset = 0, .data_len = 8192, .spare_offset = 8192, .block_size = 4096,
	};

	/* Fewer than five blocks cannot hold two superblocks, two table areas and a spare. */
	g.spare_len = 4 * 8;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) != NULL);
	g.spare_len = 5 * 8;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) == NULL);
	KUNIT_EXPECT_EQ(test, g.spare_blocks, 5ull);
	KUNIT_EXPECT_EQ(test, g.table_blocks, 1u);
	KUNIT_EXPECT_EQ(test, g.first_usable_spare, 4ull);
	KUNIT_EXPECT_EQ(test, g.entries_per_table_block, (4096u - 64) / 16);
	/* Not a power of two, too small, too big. */
	g.block_size = 3000;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) != NULL);
	g.block_size = 256;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) != NULL);
	g.block_size = 131072;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) != NULL);
	/* The table area grows with the spare range: T = ceil((S - 2) / (E + 2)). */
	g.block_size = 512;
	g.spare_len = 1000;
	KUNIT_EXPECT_TRUE(test, rkt_geometry_create(&g) == NULL);
	KUNIT_EXPECT_EQ(test, g.entries_per_table_block, 28u);
	KUNIT_EXPECT_EQ(test, g.table_blocks, (u32)DIV_ROUND_UP(1000 - 2, 28 + 2));
}

static void codec_superblock_round_trip(struct kunit *test)
{
	static const u32 block_sizes[] = { 512, 4096, 65536 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(block_sizes); i++) {
		struct rkt_geometry g;
		struct rkt_superblock in, out;
		u32 bs = 0;
		u8 *block;
		const char *err;

		rkt_geometry(test, &g, block_sizes[i], 64 * (block_sizes[i] >> 9));
		block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
		rkt_superblock_sample(&in, i + 1);
		rkt_superblock_encode(&g, &in, block);
		err = rkt_superblock_decode(&g, block, &out);
		KUNIT_ASSERT_TRUE_MSG(test, err == NULL, "block_size %u: %s", g.block_size, err);
		KUNIT_EXPECT_EQ(test, out.seq, in.seq);
		KUNIT_EXPECT_EQ(test, memcmp(out.uuid, in.uuid, sizeof(in.uuid)), 0);
		KUNIT_EXPECT_EQ(test, out.area, in.area);
		KUNIT_EXPECT_EQ(test, out.used_blocks, in.used_blocks);
		KUNIT_EXPECT_EQ(test, out.used_slots, in.used_slots);
		KUNIT_EXPECT_EQ(test, out.entry_count, in.entry_count);
		KUNIT_EXPECT_EQ(test, out.table_crc, in.table_crc);
		KUNIT_EXPECT_TRUE(test, rkt_superblock_block_size(block, &bs));
		KUNIT_EXPECT_EQ(test, bs, g.block_size);
		/* Only the first 512 bytes are the superblock; the rest of the block is zero. */
		KUNIT_EXPECT_TRUE(test, g.block_size == 512 ||
					memchr_inv(block + 512, 0, g.block_size - 512) == NULL);
	}
}

/* Every single-bit flip in the 512 meaningful bytes is detected. */
static void codec_superblock_detects_every_bit_flip(struct kunit *test)
{
	struct rkt_geometry g;
	struct rkt_superblock in, out;
	unsigned int bit, undetected = 0;
	u8 *block;

	rkt_geometry(test, &g, 4096, 64 * 8);
	block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
	rkt_superblock_sample(&in, 5);
	rkt_superblock_encode(&g, &in, block);
	for (bit = 0; bit < 512 * 8; bit++) {
		block[bit / 8] ^= 1u << (bit % 8);
		if (!rkt_superblock_decode(&g, block, &out)) {
			if (undetected++ < 5)
				kunit_err(test, "flip of bit %u in byte %u decodes", bit % 8, bit / 8);
		}
		block[bit / 8] ^= 1u << (bit % 8);
	}
	KUNIT_EXPECT_EQ(test, undetected, 0u);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&g, block, &out) == NULL);
}

static void codec_superblock_of_another_geometry_is_refused(struct kunit *test)
{
	struct rkt_geometry g, other;
	struct rkt_superblock in, out;
	u8 *block;
	u32 bs = 0;

	rkt_geometry(test, &g, 4096, 64 * 8);
	block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
	rkt_superblock_sample(&in, 9);
	rkt_superblock_encode(&g, &in, block);
	/* Same spare range, other block size; then another spare length. */
	rkt_geometry(test, &other, 8192, 64 * 8);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&other, block, &out) != NULL);
	rkt_geometry(test, &other, 4096, 65 * 8);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&other, block, &out) != NULL);
	/* ... but it is still recognisable as a superblock, with its block size. */
	KUNIT_EXPECT_TRUE(test, rkt_superblock_block_size(block, &bs));
	KUNIT_EXPECT_EQ(test, bs, 4096u);
	/* Zeroes are no superblock at all. */
	memset(block, 0, g.block_size);
	KUNIT_EXPECT_FALSE(test, rkt_superblock_block_size(block, &bs));
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&g, block, &out) != NULL);
}

/* Valid entries of every state: data blocks inside the data range, usable spare blocks. */
static void rkt_sample_entries(const struct rkt_geometry *g, struct rkt_entry *e, u32 n, u64 seed)
{
	const u64 data_blocks = g->data_len / (g->block_size >> 9);
	u32 i;

	for (i = 0; i < n; i++) {
		e[i].state = (seed + i) % 4;
		switch (e[i].state) {
		case RKT_REMAPPED:
			e[i].data_block = (seed * 977 + i * 3) % data_blocks;
			e[i].spare_block = g->first_usable_spare + i;
			break;
		case RKT_LOST:
			e[i].data_block = (seed * 977 + i * 3 + 1) % data_blocks;
			e[i].spare_block = 0xffffffffu;
			break;
		case RKT_BAD_SPARE:
			e[i].data_block = ~0ull;
			e[i].spare_block = g->first_usable_spare + i;
			break;
		default:
			e[i].data_block = 0;
			e[i].spare_block = 0;
			break;
		}
	}
}

static void codec_table_block_round_trip(struct kunit *test)
{
	static const u8 uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct rkt_geometry g;
	struct rkt_entry *in, *out;
	u32 e, n, crc, crc_out = 0, i;
	const char *err;
	u8 *block;

	rkt_geometry(test, &g, 4096, 4096 * 8);
	e = g.entries_per_table_block;
	in = kunit_kcalloc(test, e, sizeof(*in), GFP_KERNEL);
	out = kunit_kcalloc(test, e, sizeof(*out), GFP_KERNEL);
	block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, in);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
	for (n = 1; n <= e; n += (n < 4 ? 1 : e / 3)) {
		rkt_sample_entries(&g, in, n, n);
		crc = rkt_table_block_encode(&g, uuid, 42, 1, 0, in, n, block);
		err = rkt_table_block_decode(&g, uuid, 42, 1, 0, n, block, out, &crc_out);
		KUNIT_ASSERT_TRUE_MSG(test, err == NULL, "%u slots: %s", n, err);
		KUNIT_EXPECT_EQ(test, crc_out, crc);
		for (i = 0; i < e; i++) {
			u32 want = i < n ? in[i].state : RKT_FREE;

			KUNIT_EXPECT_EQ_MSG(test, out[i].state, want, "slot %u of %u", i, n);
			if (want == RKT_FREE)
				continue;
			KUNIT_EXPECT_EQ_MSG(test, out[i].data_block, in[i].data_block, "slot %u", i);
			KUNIT_EXPECT_EQ_MSG(test, out[i].spare_block, in[i].spare_block, "slot %u", i);
		}
		/* The block declares its slot count: another expectation is a mismatch. */
		KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 42, 1, 0, n == e ? n - 1 : n + 1,
							       block, out, &crc_out) != NULL);
	}
}

static void codec_table_block_from_another_place_is_refused(struct kunit *test)
{
	static const u8 uuid[16] = { 0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	u8 other_uuid[16];
	struct rkt_geometry g;
	struct rkt_entry *in, *out;
	u32 crc = 0;
	u8 *block;

	rkt_geometry(test, &g, 4096, 4096 * 8);
	KUNIT_ASSERT_GE(test, g.table_blocks, 2u);
	in = kunit_kcalloc(test, g.entries_per_table_block, sizeof(*in), GFP_KERNEL);
	out = kunit_kcalloc(test, g.entries_per_table_block, sizeof(*out), GFP_KERNEL);
	block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, in);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
	rkt_sample_entries(&g, in, 10, 3);
	rkt_table_block_encode(&g, uuid, 7, 0, 1, in, 10, block);
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 7, 0, 1, 10, block, out, &crc) == NULL);
	/* Written later than the superblock that would load it (seq), by another device
	 * (uuid), for another area or another index: all refused. */
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 6, 0, 1, 10, block, out, &crc) != NULL);
	memcpy(other_uuid, uuid, sizeof(other_uuid));
	other_uuid[15] ^= 0x80;
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, other_uuid, 7, 0, 1, 10, block, out, &crc) != NULL);
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 7, 1, 1, 10, block, out, &crc) != NULL);
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 7, 0, 0, 10, block, out, &crc) != NULL);
}

/* Bit flips in a table block: every header bit, and a spread of entry bits, are caught. */
static void codec_table_block_detects_bit_flips(struct kunit *test)
{
	static const u8 uuid[16] = { 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct rkt_geometry g;
	struct rkt_entry *in, *out;
	unsigned int bit, tried = 0, undetected = 0;
	u32 crc = 0, n = 50;
	u8 *block;

	rkt_geometry(test, &g, 4096, 4096 * 8);
	in = kunit_kcalloc(test, g.entries_per_table_block, sizeof(*in), GFP_KERNEL);
	out = kunit_kcalloc(test, g.entries_per_table_block, sizeof(*out), GFP_KERNEL);
	block = kunit_kzalloc(test, g.block_size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, in);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, block);
	rkt_sample_entries(&g, in, n, 11);
	rkt_table_block_encode(&g, uuid, 99, 1, 0, in, n, block);
	for (bit = 0; bit < g.block_size * 8; bit += (bit < 64 * 8 ? 1 : 37)) {
		block[bit / 8] ^= 1u << (bit % 8);
		tried++;
		if (!rkt_table_block_decode(&g, uuid, 99, 1, 0, n, block, out, &crc)) {
			if (undetected++ < 5)
				kunit_err(test, "flip of bit %u in byte %u decodes", bit % 8, bit / 8);
		}
		block[bit / 8] ^= 1u << (bit % 8);
	}
	kunit_info(test, "%u bit flips tried", tried);
	KUNIT_EXPECT_EQ(test, undetected, 0u);
	KUNIT_EXPECT_TRUE(test, rkt_table_block_decode(&g, uuid, 99, 1, 0, n, block, out, &crc) == NULL);
}

static void codec_slots_per_table_block(struct kunit *test)
{
	struct rkt_geometry g;
	u32 e;

	rkt_geometry(test, &g, 4096, 4096 * 8);
	e = g.entries_per_table_block;
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, 0, 0), 0u);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, 1, 0), 1u);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, e, 0), e);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, e, 1), 0u);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, e + 1, 0), e);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, e + 1, 1), 1u);
	KUNIT_EXPECT_EQ(test, rkt_slots_in_table_block(&g, 2 * e, 1), e);
}

static struct kunit_case metadata_codec_cases[] = {
	KUNIT_CASE(codec_geometry_limits),
	KUNIT_CASE(codec_superblock_round_trip),
	KUNIT_CASE(codec_superblock_detects_every_bit_flip),
	KUNIT_CASE(codec_superblock_of_another_geometry_is_refused),
	KUNIT_CASE(codec_table_block_round_trip),
	KUNIT_CASE(codec_table_block_from_another_place_is_refused),
	KUNIT_CASE(codec_table_block_detects_bit_flips),
	KUNIT_CASE(codec_slots_per_table_block),
	{}
};

static struct kunit_suite metadata_codec_suite = {
	.name = "remap_metadata_codec",
	.test_cases = metadata_codec_cases,
};

/* ============================== remap_parsers ============================== */

struct rkt_line {
	const char *line;
	const char *error; /* NULL: accepted; else a substring of the expected error */
};

static const struct rkt_line table_lines[] = {
	{ "/dev/a 0 /dev/b 0 2048", NULL },
	{ "/dev/a 8 /dev/a 16384 4096", NULL },
	{ "/dev/a 0 /dev/b 0 2048 1 no_auto_remap", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 65536", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 read_retries 100", NULL },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water 0", NULL },
	{ "/dev/a 0 /dev/b 0 2048 7 block_size 4096 no_auto_remap read_retries 0 spare_low_water 5", NULL },
	{ "/dev/a 0 /dev/b 0 2048 0", NULL },
	{ "", "Not enough arguments" },
	{ "/dev/a 0 /dev/b 0", "Not enough arguments" },
	{ "/dev/a x /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a -1 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a +1 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a 18446744073709551616 /dev/b 0 2048", "Invalid data device offset" },
	{ "/dev/a 0 /dev/b 0x10 2048", "Invalid spare device offset" },
	{ "/dev/a 0 /dev/b 0 2048k", "Invalid spare length" },
	{ "/dev/a 0 /dev/b 0 2048 1", "Number of feature arguments does not match" },
	{ "/dev/a 0 /dev/b 0 2048 x no_auto_remap", "Invalid number of feature arguments" },
	{ "/dev/a 0 /dev/b 0 2048 1 frobnicate", "Unknown feature" },
	{ "/dev/a 0 /dev/b 0 2048 2 no_auto_remap no_auto_remap", "Feature given more than once" },
	{ "/dev/a 0 /dev/b 0 2048 1 block_size", "Feature is missing its value" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 1000", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 131072", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 256", "Invalid block_size" },
	{ "/dev/a 0 /dev/b 0 2048 2 read_retries 101", "Invalid read_retries" },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water -1", "Invalid spare_low_water" },
};

static void table_line_desc(const struct rkt_line *l, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s'", l->line);
}
KUNIT_ARRAY_PARAM(table_line, table_lines, table_line_desc);

static void parser_table_line(struct kunit *test)
{
	const struct rkt_line *l = test->param_value;
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, l->line, &argc);
	int r;

	memset(&table, 0xa5, sizeof(table));
	r = rc_table_parse(argc, argv, &table, &error);
	if (!l->error) {
		KUNIT_EXPECT_EQ_MSG(test, r, 0, "refused: %s", r ? error : "");
		return;
	}
	KUNIT_EXPECT_EQ(test, r, -EINVAL);
	KUNIT_ASSERT_TRUE(test, error != NULL);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(error, l->error) != NULL, "error '%s', expected '%s'",
			      error, l->error);
}

/* A parsed line prints back (rc_status_table) as a line that parses to the same table. */
static void parser_table_round_trip(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(table_lines); i++) {
		struct rc_table a, b;
		const char *error = NULL;
		unsigned int argc, used = 0;
		char **argv;
		char *text = kunit_kzalloc(test, 256, GFP_KERNEL);

		if (table_lines[i].error)
			continue;
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, text);
		argv = rkt_argv(test, table_lines[i].line, &argc);
		KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &a, &error), 0);
		rc_status_table(&a, argv[0], argv[2], text, 256, &used);
		KUNIT_EXPECT_LT(test, used, 256u);
		argv = rkt_argv(test, text, &argc);
		KUNIT_ASSERT_EQ_MSG(test, rc_table_parse(argc, argv, &b, &error), 0, "'%s'", text);
		KUNIT_EXPECT_EQ_MSG(test, a.data_offset, b.data_offset, "'%s'", text);
		KUNIT_EXPECT_EQ(test, a.spare_offset, b.spare_offset);
		KUNIT_EXPECT_EQ(test, a.spare_len, b.spare_len);
		KUNIT_EXPECT_EQ(test, a.block_size, b.block_size);
		KUNIT_EXPECT_EQ(test, a.read_retries, b.read_retries);
		KUNIT_EXPECT_EQ(test, a.auto_remap, b.auto_remap);
		KUNIT_EXPECT_EQ(test, a.explicit_features, b.explicit_features);
		if (a.explicit_features & RC_FEAT_SPARE_LOW_WATER)
			KUNIT_EXPECT_EQ(test, a.spare_low_water, b.spare_low_water);
	}
}

struct rkt_check {
	const char *line;
	u64 target_len, data_sectors, spare_sectors;
	u32 data_lbs, spare_lbs;
	int same;
	const char *error;
};

static const struct rkt_check table_checks[] = {
	{ "/dev/a 0 /dev/b 0 2048", 8192, 8192, 2048, 512, 512, 0, NULL },
	{ "/dev/a 0 /dev/a 8192 2048", 8192, 10240, 10240, 512, 512, 1, NULL },
	{ "/dev/a 0 /dev/a 4096 2048", 8192, 10240, 10240, 512, 512, 1, "overlaps the data range" },
	{ "/dev/a 0 /dev/b 0 2048", 8192, 8191, 2048, 512, 512, 0, "exceeds the data device" },
	{ "/dev/a 0 /dev/b 8 2048", 8192, 8192, 2048, 512, 512, 0, "exceeds the spare device" },
	{ "/dev/a 0 /dev/b 4 2048", 8192, 8192, 4096, 512, 512, 0, "Spare offset is not aligned" },
	{ "/dev/a 4 /dev/b 0 2048", 8192, 8200, 2048, 512, 512, 0, "Data offset is not aligned" },
	{ "/dev/a 0 /dev/b 0 2052", 8192, 8192, 4096, 512, 512, 0, "Spare length is not" },
	{ "/dev/a 0 /dev/b 0 2048", 8196, 8200, 2048, 512, 512, 0, "Target length" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", 8192, 8192, 2048, 4096, 512, 0,
	  "smaller than the data device's logical block size" },
	{ "/dev/a 0 /dev/b 0 2048 2 block_size 512", 8192, 8192, 2048, 512, 4096, 0,
	  "Spare device's logical block size exceeds the data device's" },
	{ "/dev/a 0 /dev/b 0 2048 3 block_size 512 allow_larger_spare_sectors", 8192, 8192, 2048,
	  512, 4096, 0, "smaller than the spare device's logical block size" },
	{ "/dev/a 0 /dev/b 0 2048 2 spare_low_water 100000", 8192, 8192, 2048, 512, 512, 0,
	  "spare_low_water exceeds" },
};

static void table_check_desc(const struct rkt_check *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s' len %llu on %llu/%llu", c->line,
		 c->target_len, c->data_sectors, c->spare_sectors);
}
KUNIT_ARRAY_PARAM(table_check, table_checks, table_check_desc);

static void parser_table_check(struct kunit *test)
{
	const struct rkt_check *c = test->param_value;
	struct rc_devices devs = {
		.target_len = c->target_len,
		.data_dev_sectors = c->data_sectors,
		.spare_dev_sectors = c->spare_sectors,
		.data_logical_block = c->data_lbs,
		.spare_logical_block = c->spare_lbs,
		.same_device = c->same,
	};
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, c->line, &argc);
	int r;

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
	r = rc_table_check(&table, &devs, &error);
	if (!c->error) {
		KUNIT_EXPECT_EQ_MSG(test, r, 0, "refused: %s", r ? error : "");
		return;
	}
	KUNIT_EXPECT_EQ(test, r, -EINVAL);
	KUNIT_ASSERT_TRUE(test, error != NULL);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(error, c->error) != NULL, "error '%s', expected '%s'",
			      error, c->error);
}

struct rkt_msg {
	const char *line;
	int verb; /* -1: refused */
	u32 nargs;
	u64 a0, a1;
};

static const struct rkt_msg messages[] = {
	{ "remap 8", 0, 1, 8, 0 },
	{ "REMAP 8 16", 0, 2, 8, 16 },
	{ "unremap 18446744073709551615", 1, 1, 18446744073709551615ull, 0 },
	{ "list", 2, 0, 0, 0 },
	{ "list 5 10", 2, 2, 5, 10 },
	{ "stats", 3, 0, 0, 0 },
	{ "Clear_Stats", 4, 0, 0, 0 },
	{ "help", 5, 0, 0, 0 },
	{ "", -1, 0, 0, 0 },
	{ "frobnicate", -1, 0, 0, 0 },
	{ "remap", -1, 0, 0, 0 },
	{ "remap 1 2 3", -1, 0, 0, 0 },
	{ "remap -1", -1, 0, 0, 0 },
	{ "remap 18446744073709551616", -1, 0, 0, 0 },
	{ "remap 0x10", -1, 0, 0, 0 },
	{ "remap 1k", -1, 0, 0, 0 },
	{ "unremap", -1, 0, 0, 0 },
	{ "stats 1", -1, 0, 0, 0 },
	{ "list 1 2 3", -1, 0, 0, 0 },
};

static void message_desc(const struct rkt_msg *m, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s'", m->line);
}
KUNIT_ARRAY_PARAM(message, messages, message_desc);

static void parser_message(struct kunit *test)
{
	const struct rkt_msg *m = test->param_value;
	struct rkt_message out;
	unsigned int argc;
	char **argv = rkt_argv(test, m->line, &argc);
	const char *err = rkt_parse_message(argc, argv, &out);

	if (m->verb < 0) {
		KUNIT_EXPECT_TRUE(test, err != NULL);
		return;
	}
	KUNIT_ASSERT_TRUE_MSG(test, err == NULL, "refused: %s", err);
	KUNIT_EXPECT_EQ(test, out.verb, (u32)m->verb);
	KUNIT_EXPECT_EQ(test, out.nargs, m->nargs);
	if (m->nargs > 0)
		KUNIT_EXPECT_EQ(test, out.args[0], m->a0);
	if (m->nargs > 1)
		KUNIT_EXPECT_EQ(test, out.args[1], m->a1);
}

static struct kunit_case parser_cases[] = {
	KUNIT_CASE_PARAM(parser_table_line, table_line_gen_params),
	KUNIT_CASE(parser_table_round_trip),
	KUNIT_CASE_PARAM(parser_table_check, table_check_gen_params),
	KUNIT_CASE_PARAM(parser_message, message_gen_params),
	{}
};

static struct kunit_suite parser_suite = {
	.name = "remap_parsers",
	.test_cases = parser_cases,
};

/* ============================== remap_status ============================== */

typedef void (*rkt_emit_fn)(void *ctx, char *buf, unsigned int maxlen, unsigned int *used);

/*
 * DMEMIT rules for every buffer size, with each buffer allocated at exactly its size so that
 * KASAN catches a write past it: always NUL-terminated, never more than fits, a prefix of
 * the full text, and the full text once it fits. Also when appending after earlier text.
 */
static void rkt_check_truncation(struct kunit *test, rkt_emit_fn emit, void *ctx)
{
	char *full = kunit_kzalloc(test, 1024, GFP_KERNEL);
	unsigned int len, maxlen, used = 0, prefix;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, full);
	emit(ctx, full, 1024, &used);
	len = strlen(full);
	KUNIT_ASSERT_GT(test, len, 0u);
	KUNIT_ASSERT_LT(test, len, 1000u);
	KUNIT_EXPECT_EQ(test, used, len);

	for (prefix = 0; prefix <= 3; prefix += 3) {
		for (maxlen = prefix + 1; maxlen <= prefix + len + 2; maxlen++) {
			char *buf = kmalloc(maxlen, GFP_KERNEL);

			KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
			memset(buf, 'x', maxlen);
			memcpy(buf, "ab ", prefix);
			if (prefix)
				buf[prefix] = '\0';
			used = prefix;
			emit(ctx, buf, maxlen, &used);
			KUNIT_EXPECT_LE_MSG(test, used, maxlen, "maxlen %u", maxlen);
			KUNIT_EXPECT_TRUE_MSG(test, memchr(buf, '\0', maxlen) != NULL,
					      "maxlen %u: not terminated", maxlen);
			if (memchr(buf, '\0', maxlen)) {
				KUNIT_EXPECT_EQ(test, memcmp(buf, "ab ", prefix), 0);
				KUNIT_EXPECT_EQ_MSG(test, strncmp(buf + prefix, full, strlen(buf + prefix)), 0,
						    "maxlen %u: '%s' is no prefix of '%s'", maxlen,
						    buf + prefix, full);
				if (maxlen > prefix + len)
					KUNIT_EXPECT_STREQ(test, buf + prefix, full);
			}
			kfree(buf);
		}
	}
}

static const char *const status_lines[] = {
	"/dev/a 0 /dev/b 0 2048",
	"/dev/a 8 /dev/a 16384 4096 7 block_size 4096 no_auto_remap read_retries 0 spare_low_water 5",
};

static void rkt_emit_table(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_status_table(ctx, "253:0", "253:1", buf, maxlen, used);
}

static void rkt_emit_ima(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_status_ima(ctx, "253:0", "253:1", buf, maxlen, used);
}

static void status_table_and_ima_truncate_cleanly(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(status_lines); i++) {
		struct rc_table table;
		const char *error = NULL;
		unsigned int argc;
		char **argv = rkt_argv(test, status_lines[i], &argc);

		KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
		rkt_check_truncation(test, rkt_emit_table, &table);
		rkt_check_truncation(test, rkt_emit_ima, &table);
	}
}

static void status_zero_length_buffer_is_untouched(struct kunit *test)
{
	struct rc_table table;
	const char *error = NULL;
	unsigned int argc, used = 5;
	char **argv = rkt_argv(test, status_lines[0], &argc);
	char buf[8] = "abcdefg";

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, &table, &error), 0);
	/* A full buffer (used == maxlen) stays as it is. */
	rc_status_table(&table, "a", "b", buf, 5, &used);
	KUNIT_EXPECT_EQ(test, used, 5u);
	KUNIT_EXPECT_STREQ(test, buf, "abcdefg");
}

static struct kunit_case status_cases[] = {
	KUNIT_CASE(status_table_and_ima_truncate_cleanly),
	KUNIT_CASE(status_zero_length_buffer_is_untouched),
	{}
};

static struct kunit_suite status_suite = {
	.name = "remap_status",
	.test_cases = status_cases,
};

/* ============================== remap_engine ============================== */

/* Two in-memory "devices" behind the core's I/O callbacks. */
struct rkt_disks {
	u8 *data, *spare;
	u64 data_sectors, spare_sectors;
	unsigned long reads, writes, events;
	bool fail_spare_writes;
	u64 fail_spare_below; /* spare writes below this sector fail (the metadata area, say) */
};

static u8 *rkt_disk(struct rkt_disks *d, enum rb_device dev, u64 sector, u32 bytes)
{
	u64 sectors = dev == RB_DATA_DEV ? d->data_sectors : d->spare_sectors;

	if (bytes % 512 || sector > sectors || (bytes >> 9) > sectors - sector)
		return NULL;
	return (dev == RB_DATA_DEV ? d->data : d->spare) + (sector << 9);
}

static int rkt_read(void *ctx, enum rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
		    unsigned int flags)
{
	struct rkt_disks *d = ctx;
	u8 *p = rkt_disk(d, dev, sector, bytes);

	if (!p)
		return -EIO;
	d->reads++;
	memcpy(buf, p, bytes);
	return 0;
}

static int rkt_write(void *ctx, enum rb_device dev, rb_u64 sector, const void *buf,
		     rb_u32 bytes, unsigned int flags)
{
	struct rkt_disks *d = ctx;
	u8 *p = rkt_disk(d, dev, sector, bytes);

	if (!p || (dev == RB_SPARE_DEV && (d->fail_spare_writes || sector < d->fail_spare_below)))
		return -EIO;
	d->writes++;
	memcpy(p, buf, bytes);
	return 0;
}

static void rkt_drain(void *ctx, rb_u32 old_generation, rb_u64 sector, rb_u64 sectors) { }
static void rkt_release_held(void *ctx) { }
static void rkt_event(void *ctx) { ((struct rkt_disks *)ctx)->events++; }

static const struct rb_io_ops rkt_io_ops = {
	.read = rkt_read,
	.write = rkt_write,
	.drain = rkt_drain,
	.release_held = rkt_release_held,
	.event = rkt_event,
};

#define RKT_DATA_SECTORS 8192u  /* 4 MiB: 1024 blocks of 4 KiB */
#define RKT_SPARE_SECTORS 2048u /* 1 MiB: 256 blocks */

/* The buffers are a KUnit resource, so they go even when an assertion ends the case early. */
static int rkt_disks_init(struct kunit_resource *res, void *context)
{
	res->data = context;
	return 0;
}

static void rkt_disks_release(struct kunit_resource *res)
{
	struct rkt_disks *d = res->data;

	vfree(d->data);
	vfree(d->spare);
}

static struct rkt_disks *rkt_disks_create(struct kunit *test)
{
	struct rkt_disks *d = kunit_kzalloc(test, sizeof(*d), GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d);
	d->data_sectors = RKT_DATA_SECTORS;
	d->spare_sectors = RKT_SPARE_SECTORS;
	d->data = vzalloc(RKT_DATA_SECTORS * 512);
	d->spare = vzalloc(RKT_SPARE_SECTORS * 512);
	KUNIT_ASSERT_TRUE(test, kunit_alloc_resource(test, rkt_disks_init, rkt_disks_release,
						     GFP_KERNEL, d) != NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d->data);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d->spare);
	return d;
}

/* Parses and checks the table line of the in-memory pair, as the constructor does. */
static void rkt_table(struct kunit *test, const char *line, struct rc_table *table)
{
	struct rc_devices devs = {
		.target_len = RKT_DATA_SECTORS,
		.data_dev_sectors = RKT_DATA_SECTORS,
		.spare_dev_sectors = RKT_SPARE_SECTORS,
		.data_logical_block = 512,
		.spare_logical_block = 512,
	};
	const char *error = NULL;
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	KUNIT_ASSERT_EQ(test, rc_table_parse(argc, argv, table, &error), 0);
	KUNIT_ASSERT_EQ_MSG(test, rc_table_check(table, &devs, &error), 0, "%s", error);
}

static const char rkt_engine_line[] = "data 0 spare 0 2048";

/* The devices the engine tests run on, as the glue would report them. */
static const struct rc_devices rkt_devs = {
	.target_len = RKT_DATA_SECTORS,
	.data_dev_sectors = RKT_DATA_SECTORS,
	.spare_dev_sectors = RKT_SPARE_SECTORS,
	.data_logical_block = 512,
	.spare_logical_block = 512,
};

static struct rc_target *rkt_engine(struct kunit *test, struct rkt_disks *d)
{
	struct rc_table table;
	const char *error = NULL;
	struct rc_target *t = NULL;
	int err = 0;

	rkt_table(test, rkt_engine_line, &table);
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_ASSERT_TRUE_MSG(test, t != NULL, "create: %d %s", err, error);
	KUNIT_EXPECT_EQ(test, rc_target_resume(t), 0);
	return t;
}

static int rkt_message(struct kunit *test, struct rc_target *t, const char *line, char *result,
		       unsigned int maxlen)
{
	unsigned int argc;
	char **argv = rkt_argv(test, line, &argc);

	return rc_target_message(t, argc, argv, result, maxlen);
}

static struct rc_mapping rkt_map(struct rc_target *t, u64 sector, u32 sectors)
{
	struct rc_mapping m;

	rb_rcu_read_lock();
	rc_target_map(t, sector, sectors, &m);
	rb_rcu_read_unlock();
	return m;
}

static void engine_remap_moves_data_and_routes_to_spare(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;
	struct rc_mapping m;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	/* Block 2 (sectors 16..23) holds a pattern before it is remapped. */
	memset(d->data + 16 * 512, 0x5a, 4096);
	t = rkt_engine(test, d);
	/* Formatted at the first resume: a superblock in one of the two slots. */
	KUNIT_EXPECT_TRUE(test, memchr_inv(d->spare, 0, 2 * 4096) != NULL);

	m = rkt_map(t, 16, 8);
	KUNIT_EXPECT_EQ(test, m.route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, m.sector, 16ull);
	KUNIT_EXPECT_EQ(test, m.sectors, 8u);

	KUNIT_EXPECT_GE(test, rkt_message(test, t, "remap 17", result, 256), 0);
	m = rkt_map(t, 16, 8);
	KUNIT_ASSERT_EQ(test, m.route, RC_ROUTE_SPARE);
	KUNIT_EXPECT_EQ(test, m.sectors, 8u);
	KUNIT_ASSERT_LE(test, m.sector + 8, (u64)RKT_SPARE_SECTORS);
	KUNIT_EXPECT_TRUE(test, memchr_inv(d->spare + m.sector * 512, 0x5a, 4096) == NULL);
	/* Its neighbours still go to the data device; an I/O crossing into block 2 is cut. */
	KUNIT_EXPECT_EQ(test, rkt_map(t, 24, 8).route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 8, 8).route, RC_ROUTE_DATA);
	m = rkt_map(t, 12, 8);
	KUNIT_EXPECT_EQ(test, m.route, RC_ROUTE_DATA);
	KUNIT_EXPECT_EQ(test, m.sectors, 4u);

	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "list", result, 256), 1);
	KUNIT_EXPECT_TRUE_MSG(test, strncmp(result, "2 ", 2) == 0 && strstr(result, "remapped"),
			      "list: '%s'", result);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "unremap 16", result, 256), 0);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 16, 8).route, RC_ROUTE_DATA);
	rc_target_destroy(t);
}

static void engine_refuses_bad_messages(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 64, GFP_KERNEL);
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 8192", result, 64), -EINVAL);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "frobnicate", result, 64), -EINVAL);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap", result, 64), -EINVAL);
	/* A reply that does not fit is cut, never overrun (result is exactly 64 bytes). */
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "help", result, 64), 1);
	KUNIT_EXPECT_LT(test, strlen(result), (size_t)64);
	rc_target_destroy(t);
}

static void engine_mappings_survive_a_reload(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;
	struct rc_mapping before, after;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 0", result, 256) >= 0, true);
	/* A range remap: ten blocks from sector 800, i.e. sectors 800 .. 879. */
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 800 10", result, 256) >= 0, true);
	before = rkt_map(t, 808, 8);
	KUNIT_EXPECT_EQ(test, before.route, RC_ROUTE_SPARE);
	rc_target_suspend(t);
	rc_target_destroy(t);

	t = rkt_engine(test, d);
	after = rkt_map(t, 808, 8);
	KUNIT_EXPECT_EQ(test, after.route, RC_ROUTE_SPARE);
	KUNIT_EXPECT_EQ(test, after.sector, before.sector);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 880, 8).route, RC_ROUTE_DATA);
	rc_target_destroy(t);
}

/* With one superblock slot destroyed the older commit loads; with both, nothing does. */
static void engine_corrupt_superblocks(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_table table;
	const char *error = NULL;
	struct rc_target *t;
	int err = 0;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 64", result, 256) >= 0, true);
	KUNIT_EXPECT_EQ(test, rkt_message(test, t, "remap 128", result, 256) >= 0, true);
	rc_target_destroy(t);

	rkt_table(test, rkt_engine_line, &table);
	d->spare[100] ^= 0xff; /* superblock slot 0: block 0 */
	t = NULL;
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_EXPECT_TRUE_MSG(test, t != NULL, "one bad slot: %d %s", err, error);
	if (t)
		rc_target_destroy(t);

	d->spare[4096 + 100] ^= 0xff; /* slot 1: block 1 */
	error = NULL;
	t = NULL;
	err = rc_target_create(&table, &rkt_devs, &rkt_io_ops, d, &t, &error);
	KUNIT_EXPECT_TRUE(test, t == NULL);
	KUNIT_EXPECT_LT(test, err, 0);
	KUNIT_EXPECT_TRUE(test, error != NULL);
	if (t)
		rc_target_destroy(t);
}

/* A spare device that fails every write: the remap is refused, nothing is routed there. */
static void engine_failed_metadata_write_changes_nothing(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	d->fail_spare_writes = true;
	KUNIT_EXPECT_LT(test, rkt_message(test, t, "remap 200", result, 256), 0);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 200, 8).route, RC_ROUTE_DATA);
	d->fail_spare_writes = false;
	rc_target_destroy(t);
}

/* A failed commit: the message fails, status says failed, and a dm event is raised. */
static void engine_failed_commit_raises_an_event(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	unsigned int used = 0;
	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	d->fail_spare_writes = false;
	d->fail_spare_below = 32; /* the superblocks and table areas (blocks 0-3), not the spare blocks */
	d->events = 0;
	KUNIT_EXPECT_LT(test, rkt_message(test, t, "remap 200", result, 256), 0);
	KUNIT_EXPECT_EQ(test, d->events, 1ul);
	rc_target_status_info(t, result, 256, &used);
	KUNIT_EXPECT_TRUE_MSG(test, strstr(result, " failed ") != NULL, "status: %s", result);
	KUNIT_EXPECT_EQ(test, rkt_map(t, 200, 8).route, RC_ROUTE_DATA);
	d->fail_spare_below = 0;
	rc_target_destroy(t);
}

/*
 * The split decision the glue applies with dm_accept_partial_bio(): a bio is routed as far as
 * its first piece goes to one place, and never across a remapped block's edge. Blocks 10 and
 * 12 (sectors 80..87, 96..103) are remapped; block 14 is lost.
 */
static void engine_map_splits_bios_at_remapped_block_edges(struct kunit *test)
{
	static const struct {
		u64 sector;
		u32 sectors;
		enum rc_route route;
		u32 accepted;
	} cases[] = {
		{0, 8, RC_ROUTE_DATA, 8},     /* far from any remap */
		{0, 80, RC_ROUTE_DATA, 80},   /* up to block 10, not into it */
		{0, 256, RC_ROUTE_DATA, 80},  /* split before block 10 */
		{79, 2, RC_ROUTE_DATA, 1},    /* one sector on each side of the edge */
		{80, 8, RC_ROUTE_SPARE, 8},   /* exactly block 10 */
		{80, 24, RC_ROUTE_SPARE, 8},  /* block 10, then the rest is resubmitted */
		{84, 2, RC_ROUTE_SPARE, 2},   /* inside block 10 */
		{86, 4, RC_ROUTE_SPARE, 2},   /* to block 10's end */
		{88, 16, RC_ROUTE_DATA, 8},   /* block 11, split before block 12 */
		{96, 8, RC_ROUTE_SPARE, 8},   /* block 12 */
		{112, 8, RC_ROUTE_LOST, 8},   /* block 14: lost, failed without I/O */
		{104, 16, RC_ROUTE_DATA, 8},  /* block 13, split before the lost block */
		{120, 4096, RC_ROUTE_DATA, 4096},
	};
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);
	u32 spare10 = 0, spare12 = 0;
	struct rc_target *t;
	unsigned int i;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 80", result, 256), 1);
	KUNIT_ASSERT_EQ(test, sscanf(result, "10 %u", &spare10), 1);
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 96", result, 256), 1);
	KUNIT_ASSERT_EQ(test, sscanf(result, "12 %u", &spare12), 1);
	/* Block 14 does not read while it is remapped: lost. */
	d->data_sectors = 112;
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "remap 112", result, 256), 1);
	KUNIT_EXPECT_STREQ(test, result, "14 lost");
	d->data_sectors = RKT_DATA_SECTORS;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct rc_mapping m = rkt_map(t, cases[i].sector, cases[i].sectors);
		u64 off = cases[i].sector & 7;

		KUNIT_EXPECT_EQ_MSG(test, m.route, cases[i].route, "bio at %llu+%u",
				    cases[i].sector, cases[i].sectors);
		KUNIT_EXPECT_EQ_MSG(test, m.sectors, cases[i].accepted, "bio at %llu+%u",
				    cases[i].sector, cases[i].sectors);
		if (m.route == RC_ROUTE_DATA)
			KUNIT_EXPECT_EQ(test, m.sector, cases[i].sector);
		else if (m.route == RC_ROUTE_SPARE)
			KUNIT_EXPECT_EQ(test, m.sector,
					(u64)(cases[i].sector < 96 ? spare10 : spare12) * 8 + off);
	}
	rc_target_destroy(t);
}

static void rkt_emit_info(void *ctx, char *buf, unsigned int maxlen, unsigned int *used)
{
	rc_target_status_info(ctx, buf, maxlen, used);
}

static void engine_status_info_truncates_cleanly(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *result = kunit_kzalloc(test, 256, GFP_KERNEL);

	struct rc_target *t;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, result);
	t = rkt_engine(test, d);
	KUNIT_EXPECT_GE(test, rkt_message(test, t, "remap 4000", result, 256), 0);
	rkt_check_truncation(test, rkt_emit_info, t);
	rc_target_destroy(t);
}

/* list replies end at a whole line whatever the buffer size. */
static void engine_list_cuts_at_whole_lines(struct kunit *test)
{
	struct rkt_disks *d = rkt_disks_create(test);
	char *full = kunit_kzalloc(test, 4096, GFP_KERNEL);
	struct rc_target *t;
	unsigned int maxlen;
	u64 s;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, full);
	t = rkt_engine(test, d);
	for (s = 0; s < 30; s++) {
		char line[32];

		snprintf(line, sizeof(line), "remap %llu", s * 8 * 3);
		KUNIT_ASSERT_GE(test, rkt_message(test, t, line, full, 4096), 0);
	}
	KUNIT_ASSERT_EQ(test, rkt_message(test, t, "list", full, 4096), 1);
	for (maxlen = 1; maxlen < strlen(full) + 2; maxlen++) {
		char *buf = kmalloc(maxlen, GFP_KERNEL);
		size_t n;

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
		KUNIT_EXPECT_EQ(test, rkt_message(test, t, "list", buf, maxlen), 1);
		n = strnlen(buf, maxlen);
		KUNIT_EXPECT_LT_MSG(test, n, (size_t)maxlen, "maxlen %u", maxlen);
		KUNIT_EXPECT_TRUE_MSG(test, n == 0 || buf[n - 1] == '\n', "maxlen %u ends mid-line", maxlen);
		KUNIT_EXPECT_EQ(test, strncmp(buf, full, n), 0);
		kfree(buf);
	}
	rc_target_destroy(t);
}

static struct kunit_case engine_cases[] = {
	KUNIT_CASE(engine_remap_moves_data_and_routes_to_spare),
	KUNIT_CASE(engine_refuses_bad_messages),
	KUNIT_CASE(engine_mappings_survive_a_reload),
	KUNIT_CASE(engine_corrupt_superblocks),
	KUNIT_CASE(engine_failed_metadata_write_changes_nothing),
	KUNIT_CASE(engine_failed_commit_raises_an_event),
	KUNIT_CASE(engine_map_splits_bios_at_remapped_block_edges),
	KUNIT_CASE(engine_status_info_truncates_cleanly),
	KUNIT_CASE(engine_list_cuts_at_whole_lines),
	{}
};

static struct kunit_suite engine_suite = {
	.name = "remap_engine",
	.test_cases = engine_cases,
};

#define REMAP_KUNIT_SUITES &spare_allocator_suite, &metadata_codec_suite, &parser_suite, \
			   &status_suite, &engine_suite, &remap_glue_suite

#ifdef REMAP_KUNIT_OOTREE
/*
 * A kernel without CONFIG_KUNIT (Debian's): KUnit is linked into this module
 * (tools/kunit-ootree) and the loader knows nothing of .kunit_test_suites, so the module's own
 * init runs the suites, as the loader's KUnit notifier does on a CONFIG_KUNIT kernel.
 */
#include "compat.h"
#include "kunit_ootree.h"

static struct kunit_suite *remap_kunit_suites[] = { REMAP_KUNIT_SUITES };

static int __init remap_kunit_init(void)
{
	int rc = kunit_ootree_init();

	if (rc)
		return rc;
	rc = remap_kunit_suites_init(remap_kunit_suites, ARRAY_SIZE(remap_kunit_suites));
	if (rc)
		kunit_ootree_exit();
	return rc;
}
module_init(remap_kunit_init);

static void __exit remap_kunit_exit(void)
{
	__kunit_test_suites_exit(remap_kunit_suites, ARRAY_SIZE(remap_kunit_suites));
	kunit_ootree_exit();
}
module_exit(remap_kunit_exit);
#else
kunit_test_suites(REMAP_KUNIT_SUITES);
#endif

MODULE_DESCRIPTION("KUnit tests of dm-remap's core");
MODULE_LICENSE("GPL");
