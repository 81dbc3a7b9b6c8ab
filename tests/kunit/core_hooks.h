/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test hooks into dm-remap's C++ core for the KUnit suites (the <suite>_kunit.c files): small
 * extern "C" wrappers around the parts of the core that have no rc_* entry point (allocator,
 * metadata codec, message parser). Like include/remap_boundary.h it includes nothing
 * kernel-specific, so the C++ side (core_hooks.cpp) never sees a kernel header.
 */
#ifndef REMAP_KUNIT_CORE_HOOKS_H
#define REMAP_KUNIT_CORE_HOOKS_H

#include "remap_boundary.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SpareAllocator ---- */
struct rkt_alloc;
/* NULL on allocation failure or a refused size. */
struct rkt_alloc *rkt_alloc_create(rb_u64 total_blocks);
void rkt_alloc_destroy(struct rkt_alloc *a);
void rkt_alloc_reserve(struct rkt_alloc *a, rb_u64 block);
void rkt_alloc_mark_in_use(struct rkt_alloc *a, rb_u64 block);
/* A block number, or a negative errno (-ENOSPC when none is left). */
rb_s64 rkt_alloc_get(struct rkt_alloc *a);
void rkt_alloc_release(struct rkt_alloc *a, rb_u64 block);
void rkt_alloc_free(struct rkt_alloc *a, rb_u64 block);
void rkt_alloc_mark_bad(struct rkt_alloc *a, rb_u64 block);
rb_u64 rkt_alloc_available(const struct rkt_alloc *a);
rb_u64 rkt_alloc_reserved(const struct rkt_alloc *a);
int rkt_alloc_is_reserved(const struct rkt_alloc *a, rb_u64 block);
rb_u64 rkt_alloc_cache_hits(const struct rkt_alloc *a);
rb_u64 rkt_alloc_cache_misses(const struct rkt_alloc *a);

/* ---- Geometry and the metadata codec ---- */
struct rkt_geometry {
	rb_u64 data_offset, data_len, spare_offset, spare_len; /* sectors */
	rb_u32 block_size;                                     /* bytes */
	/* Filled in by rkt_geometry_create: */
	rb_u64 spare_blocks;
	rb_u32 entries_per_table_block;
	rb_u32 table_blocks;
	rb_u64 first_usable_spare;
};
/* NULL, or the core's message naming why the layout is refused. */
const char *rkt_geometry_create(struct rkt_geometry *g);

/* The superblock fields a test sets and compares (the rest come from the geometry). */
struct rkt_superblock {
	rb_u64 seq;
	rb_u8 uuid[16];
	rb_u32 area;
	rb_u32 used_blocks;
	rb_u64 used_slots;
	rb_u64 entry_count;
	rb_u32 table_crc;
};
/* Encodes sb for geometry g into block (g->block_size bytes). */
void rkt_superblock_encode(const struct rkt_geometry *g, const struct rkt_superblock *sb,
			   rb_u8 *block);
/* Decodes block; NULL and *out filled, or the core's message naming the problem. */
const char *rkt_superblock_decode(const struct rkt_geometry *g, const rb_u8 *block,
				  struct rkt_superblock *out);
/* 1 and the block size if block starts with an intact superblock of any geometry. */
int rkt_superblock_block_size(const rb_u8 *block, rb_u32 *block_size);

enum rkt_entry_state {
	RKT_FREE = 0,
	RKT_REMAPPED = 1,
	RKT_LOST = 2,
	RKT_BAD_SPARE = 3
};
struct rkt_entry {
	rb_u64 data_block;
	rb_u32 spare_block;
	rb_u32 state; /* enum rkt_entry_state */
};
rb_u32 rkt_slots_in_table_block(const struct rkt_geometry *g, rb_u64 used_slots, rb_u32 index);
/* Encodes slots[0 .. nslots) as table block `index` of `area`; returns the block's crc. */
rb_u32 rkt_table_block_encode(const struct rkt_geometry *g, const rb_u8 uuid[16], rb_u64 seq,
			      rb_u32 area, rb_u32 index, const struct rkt_entry *slots,
			      rb_u32 nslots, rb_u8 *block);
/* out must hold entries_per_table_block entries. NULL or the core's message. */
const char *rkt_table_block_decode(const struct rkt_geometry *g, const rb_u8 uuid[16],
				   rb_u64 max_seq, rb_u32 area, rb_u32 index, rb_u32 expected_slots,
				   const rb_u8 *block, struct rkt_entry *out, rb_u32 *crc);

/* ---- message parser ---- */
struct rkt_message {
	rb_u32 verb; /* the index of the verb in: remap unremap list stats clear_stats help */
	rb_u32 nargs;
	rb_u64 args[2];
};
const char *rkt_parse_message(unsigned int argc, char **argv, struct rkt_message *out);

#ifdef __cplusplus
}
#endif

#endif /* REMAP_KUNIT_CORE_HOOKS_H */
