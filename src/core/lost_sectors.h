// SPDX-License-Identifier: GPL-2.0
// Sub-block salvage's memory: per data block, the 512-byte sectors that did not read when the
// block was copied to its spare block (docs/on-disk-format.rst, LostSectors entries). A set is
// immutable once built and published with the lookup table that holds it (the same RCU
// generation); a merge of that table shares it. As with the table's chunks, the reference
// count is touched only by the writer (the engine's mutex), never by readers.
#pragma once

#include "result.h"
#include "units.h"

namespace remap {

// The sectors of one block, bit i for 512-byte sector i (blocks hold at most 128).
struct SectorMask {
	enum : u32 {
		kWords = RC_MAX_BLOCK_SIZE / 512 / 64
	};
	u64 w[kWords];

	bool any() const;
	u32 count() const;
	// Whether any of sectors [lo, hi) is set.
	bool touches(u32 lo, u32 hi) const;
	bool test(u32 i) const { return w[i / 64] >> (i % 64) & 1; }
	void set(u32 lo, u32 hi);
	void clear(u32 lo, u32 hi);
	bool overlaps(const SectorMask &o) const;
	bool operator==(const SectorMask &o) const;
	// The next run of set sectors at or after *from (below limit): true with [*lo, *hi).
	bool next_run(u32 from, u32 limit, u32 *lo, u32 *hi) const;
};

class LostSectors {
public:
	// One block's new mask; an empty mask drops the block from the set.
	struct Change {
		u64 block;
		SectorMask mask;
	};

	// old (may be null) with changes applied; changes sorted by block, each block once. Null
	// with no error when the result is empty (no lost sectors anywhere: map()'s one compare).
	[[nodiscard]] static Result<LostSectors *> apply(const LostSectors *old,
							 const Change *changes, u64 count, Gfp gfp);
	// An empty set with room for capacity blocks, for assign(): what a mapping change
	// allocates before it holds its blocks, to build its new set after. Null: no memory.
	[[nodiscard]] static LostSectors *reserve(u64 capacity, Gfp gfp);
	// This set (from reserve(), published to nobody yet) becomes old with changes applied,
	// as apply() builds it; false, with the set empty, if that does not fit its capacity.
	[[nodiscard]] bool assign(const LostSectors *old, const Change *changes, u64 count);
	// Another holder of s (may be null); put() drops one and frees the set with the last.
	static LostSectors *get(const LostSectors *s);
	static void put(const LostSectors *s);

	u64 size() const { return count_; }
	u64 block(u64 i) const { return blocks_[i]; }
	const SectorMask &mask(u64 i) const { return masks_[i]; }
	// The position of the first block >= block (size() if none).
	u64 lower_bound(u64 block) const;
	const SectorMask *find(u64 block) const
	{
		const u64 i = lower_bound(block);
		return i < count_ && blocks_[i] == block ? &masks_[i] : nullptr;
	}
	// 512-byte sectors lost in all blocks: the stats' lost_sectors.
	u64 sectors() const { return sectors_; }
	u64 bytes() const;

private:
	LostSectors() = default;

	// The merge of apply() and assign(): the blocks it yields, written to out if not null.
	static u64 merge(const LostSectors *old, const Change *changes, u64 count,
			 LostSectors *out);

	u64 count_ = 0;
	u64 capacity_ = 0;
	u64 sectors_ = 0;
	u64 alloc_bytes_ = 0;
	u32 refs_ = 1;
	u64 *blocks_ = nullptr;       // ascending
	SectorMask *masks_ = nullptr; // parallel to blocks_
};

// The lost-sector changes one mapping change makes, a block at most once (a later add()
// replaces an earlier one). Grows as salvage finds blocks (rare: allocated on demand). The
// mapping changes add blocks in ascending order: then add() appends and find() is a binary
// search, so a range of 65536 salvaged blocks costs O(n log n), not O(n^2).
class LostLog {
public:
	LostLog() = default;
	~LostLog();
	LostLog(const LostLog &) = delete;
	LostLog &operator=(const LostLog &) = delete;

	[[nodiscard]] bool add(u64 block, const SectorMask &mask, Gfp gfp);
	// Room for blocks entries in all, so that adding up to that many allocates nothing.
	[[nodiscard]] bool reserve(u64 blocks, Gfp gfp);
	const SectorMask *find(u64 block) const;
	u64 size() const { return count_; }
	// Sorted by block, for LostSectors::apply().
	LostSectors::Change *sorted();
	void clear()
	{
		count_ = 0;
		ascending_ = true;
	}

private:
	LostSectors::Change *changes_ = nullptr;
	u64 count_ = 0;
	u64 capacity_ = 0;
	bool ascending_ = true; // changes_ is sorted by block
};

} // namespace remap
