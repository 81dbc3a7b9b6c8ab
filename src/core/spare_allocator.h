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
	enum : u32 {
		kCacheSlots = 64
	};

	SpareAllocator() = default;
	SpareAllocator(const SpareAllocator &) = delete;
	SpareAllocator &operator=(const SpareAllocator &) = delete;

	// Every block starts free. May sleep; call before the allocator is shared.
	// Not checked: it allocates the bitmaps, which cannot happen under the spinlock, and
	// nothing else can see the allocator yet.
	[[nodiscard]] Status init(u64 total_blocks, Gfp gfp) NO_THREAD_SAFETY_ANALYSIS;

	// Setup from metadata, before the allocator is shared: metadata and bad blocks are
	// reserved; blocks of loaded mappings are in use.
	void reserve(SpareBlock block) EXCLUDES(lock_);
	void mark_in_use(SpareBlock block) EXCLUDES(lock_);

	// A free block, now marked taken; -ENOSPC when none is left.
	[[nodiscard]] Result<SpareBlock> allocate() EXCLUDES(lock_);
	// An allocated block that was never committed to a mapping goes back.
	void release(SpareBlock block) EXCLUDES(lock_);
	// A committed mapping was dropped: the block is free again.
	void free(SpareBlock block) EXCLUDES(lock_);
	// The block failed: never hand it out again (it stays taken).
	void mark_bad(SpareBlock block) EXCLUDES(lock_);
	// Undoes mark_bad() of a block whose retirement was never committed: no longer reserved,
	// still taken (in use, or to be released by the caller).
	void unmark_bad(SpareBlock block) EXCLUDES(lock_);

	// Not checked: the bitmap's size is fixed by init(), before the allocator is shared.
	u64 total_blocks() const NO_THREAD_SAFETY_ANALYSIS { return taken_.size(); }
	// Blocks that can still be handed out (free in the bitmap or waiting in the cache).
	u64 available() const EXCLUDES(lock_);
	u64 reserved_blocks() const EXCLUDES(lock_);
	bool is_reserved(SpareBlock block) const EXCLUDES(lock_);
	u64 cache_hits() const EXCLUDES(lock_);
	u64 cache_misses() const EXCLUDES(lock_);
	// Blocks waiting in the cache: lets tests and benchmarks tell when the next allocation
	// refills.
	u32 cached() const EXCLUDES(lock_);
	void clear_counters() EXCLUDES(lock_);

private:
	void refill_locked() REQUIRES(lock_);
	bool reserve_locked(u64 block) REQUIRES(lock_);
	void release_locked(SpareBlock block) REQUIRES(lock_);

	// Guards everything below (interrupts off: see locks.h).
	mutable SpinLock lock_;
	Bitmap taken_ GUARDED_BY(lock_);
	Bitmap reserved_ GUARDED_BY(lock_);
	u64 free_in_bitmap_ GUARDED_BY(lock_) = 0; // clear bits in taken_
	u64 reserved_count_ GUARDED_BY(lock_) = 0;
	u64 cursor_ GUARDED_BY(lock_) = 0; // where the next refill starts searching
	u64 hits_ GUARDED_BY(lock_) = 0;
	u64 misses_ GUARDED_BY(lock_) = 0;
	u32 cached_ GUARDED_BY(lock_) = 0;
	u64 cache_[kCacheSlots] GUARDED_BY(lock_) = {};
};

} // namespace remap
