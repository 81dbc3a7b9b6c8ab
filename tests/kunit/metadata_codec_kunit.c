// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite remap_metadata_codec: the on-disk codec of dm-remap's core (geometry limits,
 * superblock and table blocks, checksums) as compiled for the kernel, through core_hooks.cpp.
 */
#include <kunit/test.h>
#include <linux/string.h>

#include "remap_boundary.h"
#include "core_hooks.h"
#include "kunit_util.h"

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
	/* Same spare range, other block size; then a shorter spare area (it may only grow). */
	rkt_geometry(test, &other, 8192, 64 * 8);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&other, block, &out) != NULL);
	rkt_geometry(test, &other, 4096, 63 * 8);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&other, block, &out) != NULL);
	rkt_geometry(test, &other, 4096, 65 * 8);
	KUNIT_EXPECT_TRUE(test, rkt_superblock_decode(&other, block, &out) == NULL);
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

struct kunit_suite remap_metadata_codec_suite = {
	.name = "remap_metadata_codec",
	.test_cases = metadata_codec_cases,
};
