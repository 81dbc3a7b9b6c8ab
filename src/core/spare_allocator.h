// SPDX-License-Identifier: GPL-2.0
// Hands out spare blocks. Two bitmaps: `taken` (in use by a mapping, sitting in the cache, or
// reserved) is what the search scans; `reserved` (metadata blocks and spare blocks known bad)
// is the authority for what may never be handed out. A 64-slot cache, refilled in batches,
// keeps the common allocation to a lock and an array pop.
#pragma once

#include "bitmap.h"
#include "locks.h"
#include "units.h"

namespace remap {

class SpareAllocator {
public:
	enum : u32 { kCacheSlots = 64 };

	SpareAllocator() = default;
	SpareAllocator(const SpareAllocator &) = delete;
	SpareAllocator &operator=(const SpareAllocator &) = delete;

	// Every block starts free. May sleep; call before the allocator is shared.
	[[nodiscard]] Status init(u64 total_blocks, Gfp gfp);

	// Setup from metadata, before the allocator is shared: metadata and bad blocks are
	// reserved; blocks of loaded mappings are in use.
	void reserve(SpareBlock block);
	void mark_in_use(SpareBlock block);

	// A free block, now marked taken; -ENOSPC when none is left.
	[[nodiscard]] Result<SpareBlock> allocate();
	// An allocated block that was never committed to a mapping goes back.
	void release(SpareBlock block);
	// A committed mapping was dropped: the block is free again.
	void free(SpareBlock block);
	// The block failed: never hand it out again (it stays taken).
	void mark_bad(SpareBlock block);
	// Undoes mark_bad() of a block whose retirement was never committed: no longer reserved,
	// still taken (in use, or to be released by the caller).
	void unmark_bad(SpareBlock block);

	u64 total_blocks() const { return taken_.size(); }
	// Blocks that can still be handed out (free in the bitmap or waiting in the cache).
	u64 available() const;
	u64 reserved_blocks() const;
	bool is_reserved(SpareBlock block) const;
	u64 cache_hits() const;
	u64 cache_misses() const;
	// Blocks waiting in the cache: lets tests and benchmarks tell when the next allocation
	// refills.
	u32 cached() const;
	void clear_counters();

private:
	void refill_locked();
	bool reserve_locked(u64 block);
	void release_locked(SpareBlock block);

	mutable SpinLock lock_;
	Bitmap taken_;
	Bitmap reserved_;
	u64 free_in_bitmap_ = 0; // clear bits in taken_
	u64 reserved_count_ = 0;
	u64 cursor_ = 0;         // where the next refill starts searching
	u64 hits_ = 0;
	u64 misses_ = 0;
	u32 cached_ = 0;
	u64 cache_[kCacheSlots] = {};
};

} // namespace remap
