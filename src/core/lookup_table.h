// SPDX-License-Identifier: GPL-2.0
// The I/O path's view of the mapping: an immutable sorted array of data blocks with their spare
// blocks, published with RCU when a commit lands and never modified afterwards, so map() reads
// it without a lock. A commit builds the next table by merging its changes into the current one.
#pragma once

#include "result.h"
#include "units.h"

namespace remap {

class LookupTable {
public:
	// The value of a data block that is lost: reads fail until it is rewritten.
	enum : u32 { kLost = 0xffffffffu };
	// A block being moved: its I/O waits until the move is published. (Spare block numbers
	// stop below this; see Geometry::kMaxSpareBlocks.)
	enum : u32 { kPending = 0xfffffffeu };

	// One change to apply: set data_block to spare (or kLost), or remove it.
	struct Change {
		u64 data_block;
		u32 spare;
		bool remove;
	};

	// A table of the given pairs, which need not be sorted; -EINVAL on a duplicate data block.
	[[nodiscard]] static Result<LookupTable *> build(const u64 *data_blocks, const u32 *spares,
							 u64 count, Gfp gfp);
	// old (may be null) with changes applied; changes sorted by data block, each block once.
	[[nodiscard]] static Result<LookupTable *> merge(const LookupTable *old,
							 const Change *changes, u64 count, Gfp gfp);
	static void free(LookupTable *table);

	u64 size() const { return count_; }
	u64 key(u64 pos) const { return keys_[pos]; }
	u32 value(u64 pos) const { return values_[pos]; }
	// The position of the first data block >= block (size() if none).
	u64 lower_bound(u64 block) const;
	// Whether block is mapped, and to what.
	bool find(u64 block, u32 *value) const
	{
		u64 pos = lower_bound(block);
		if (pos == count_ || keys_[pos] != block)
			return false;
		*value = values_[pos];
		return true;
	}
	// Memory held, for the stats and the memory benchmark.
	u64 bytes() const;

	// Which publication of the mapping this is; the glue drains I/O per generation.
	u32 generation() const { return generation_; }
	void set_generation(u32 g) { generation_ = g; }

private:
	// Every kFanout-th key is copied into a small top-level array searched first, so a lookup
	// in a large table touches a few cache lines instead of log2(n) scattered ones.
	enum : u64 { kFanout = 32 };

	LookupTable() = default;
	[[nodiscard]] static LookupTable *alloc(u64 count, Gfp gfp);
	void build_index();

	u64 count_ = 0;
	u64 index_count_ = 0;
	u32 generation_ = 0;
	u64 *keys_ = nullptr;
	u32 *values_ = nullptr;
	u64 *index_ = nullptr;
};

// Sorts keys ascending, moving values along (heapsort: no recursion, no extra memory).
void sort_pairs(u64 *keys, u32 *values, u64 count);

} // namespace remap
