// SPDX-License-Identifier: GPL-2.0
// Spare block allocation with a per-target cache; see spare_allocator.h.
#include "spare_allocator.h"

namespace remap {

Status SpareAllocator::init(u64 total_blocks, Gfp gfp)
{
	TRY(taken_.init(total_blocks, gfp));
	TRY(reserved_.init(total_blocks, gfp));
	free_in_bitmap_ = total_blocks;
	return {};
}

// Marks b reserved and taken. Returns whether it was already taken (in use or cached).
bool SpareAllocator::reserve_locked(u64 b)
{
	lock_.assert_held();
	if (!reserved_.test(b)) {
		reserved_.set(b);
		reserved_count_++;
	}
	if (taken_.test(b))
		return true;
	taken_.set(b);
	free_in_bitmap_--;
	return false;
}

void SpareAllocator::reserve(SpareBlock block)
{
	SpinGuard guard(lock_);
	(void)reserve_locked(block.value());
}

void SpareAllocator::mark_in_use(SpareBlock block)
{
	SpinGuard guard(lock_);
	if (!taken_.test(block.value())) {
		taken_.set(block.value());
		free_in_bitmap_--;
	}
}

// How much bitmap one refill scans before it settles for what it found (if anything): 256
// words, 16384 blocks, 2 KiB of bitmap in 32 cache lines. It bounds the spinlock's hold time
// on a nearly full bitmap; it binds only when a bitmap has fewer than 64 free blocks per 16384
// (over ~99.6% taken), and there a refill still finds enough blocks that most allocations are
// cache hits. (The figures behind 256 words are in commit a94e535's message.)
enum : u64 {
	kRefillWindowBits = u64(256) * 64
};

// Fills the cache from the bitmap, continuing where the last refill stopped so that a nearly
// full bitmap is not rescanned from the start every time. Takes all the free blocks of a word
// at once (one find_next_zero_bit per word with a free bit, one store). Stops when the cache
// is full or, having found at least one block, after kRefillWindowBits of bitmap; with none
// found it goes on, wrapping once, so that it comes back empty only when the bitmap is full.
// Reserved blocks are set in taken_ (reserve_locked), so the scan skips them as taken.
void SpareAllocator::refill_locked()
{
	lock_.assert_held();
	const u64 total = taken_.size();
	// In locals: the cache's stores could alias the members, which would be reloaded for
	// every word found.
	u64 pos = cursor_;
	u64 free = free_in_bitmap_;
	u32 cached = cached_;
	u64 window = kRefillWindowBits; // what is left of it
	bool wrapped = false;

	while (cached < kCacheSlots && free > 0) {
		if (!window && cached)
			break;
		// Search to the end of the bitmap, or of the window while there is one left.
		const u64 end = window && window < total - pos ? pos + window : total;
		const u64 bit = taken_.find_next_zero(pos, end);
		if (bit >= end) {
			window -= window < end - pos ? window : end - pos;
			pos = end;
			if (pos < total)
				continue; // the window is used up
			if (wrapped)
				break;
			wrapped = true;
			pos = 0;
			continue;
		}
		u64 next;
		const u32 n = taken_.take_zeros_in_word(bit, kCacheSlots - cached, cache_ + cached,
							&next);
		cached += n;
		free -= n;
		if (next > total)
			next = total;
		window -= window < next - pos ? window : next - pos;
		pos = next;
	}
	cursor_ = pos < total ? pos : 0;
	free_in_bitmap_ = free;
	cached_ = cached;
	// allocate() pops from the end: reverse the batch so that blocks go out in ascending order.
	for (u32 i = 0, j = cached ? cached - 1 : 0; i < j; i++, j--) {
		const u64 t = cache_[i];
		cache_[i] = cache_[j];
		cache_[j] = t;
	}
}

Result<SpareBlock> SpareAllocator::allocate()
{
	SpinGuard guard(lock_);
	if (cached_) {
		hits_++;
	} else {
		misses_++;
		refill_locked();
		if (!cached_)
			return Error::from_errno(-kENOSPC, "No spare blocks left");
	}
	return SpareBlock(cache_[--cached_]);
}

void SpareAllocator::release_locked(SpareBlock block)
{
	lock_.assert_held();
	if (cached_ < kCacheSlots) {
		cache_[cached_++] = block.value();
		return;
	}
	taken_.clear(block.value());
	free_in_bitmap_++;
}

void SpareAllocator::release(SpareBlock block)
{
	SpinGuard guard(lock_);
	release_locked(block);
}

void SpareAllocator::free(SpareBlock block)
{
	SpinGuard guard(lock_);
	if (reserved_.test(block.value()))
		return; // a bad block stays out of circulation even when its mapping goes
	release_locked(block);
}

void SpareAllocator::mark_bad(SpareBlock block)
{
	SpinGuard guard(lock_);
	const u64 b = block.value();
	if (!reserve_locked(b))
		return;
	// If it was waiting in the cache, take it out so it is never handed out.
	for (u32 i = 0; i < cached_; i++) {
		if (cache_[i] == b) {
			cache_[i] = cache_[--cached_];
			break;
		}
	}
}

void SpareAllocator::unmark_bad(SpareBlock block)
{
	SpinGuard guard(lock_);
	const u64 b = block.value();
	if (reserved_.test(b)) {
		reserved_.clear(b);
		reserved_count_--;
	}
}

u64 SpareAllocator::available() const
{
	SpinGuard guard(lock_);
	return free_in_bitmap_ + cached_;
}

u64 SpareAllocator::reserved_blocks() const
{
	SpinGuard guard(lock_);
	return reserved_count_;
}

bool SpareAllocator::is_reserved(SpareBlock block) const
{
	SpinGuard guard(lock_);
	return reserved_.test(block.value());
}

u64 SpareAllocator::cache_hits() const
{
	SpinGuard guard(lock_);
	return hits_;
}

u64 SpareAllocator::cache_misses() const
{
	SpinGuard guard(lock_);
	return misses_;
}

u32 SpareAllocator::cached() const
{
	SpinGuard guard(lock_);
	return cached_;
}

void SpareAllocator::clear_counters()
{
	SpinGuard guard(lock_);
	hits_ = 0;
	misses_ = 0;
}

} // namespace remap
