// SPDX-License-Identifier: GPL-2.0
// The I/O path's view of the mapping: data blocks with their spare blocks, sorted, published
// with RCU when a commit lands and never modified afterwards, so map() reads it without a lock.
// A commit builds the next table by merging its changes into the current one.
//
// Layout: the entries live in immutable sorted chunks of at most kMaxChunk entries, each with
// parallel key and value arrays. A table (one version) is a small top level, one allocation:
// the first key of every chunk in a contiguous array (searched first, and small enough to stay
// in cache: 16 KiB at 1M entries), and per chunk its pointer and the global position of its
// first entry (for key(pos) and lower_bound()). A lookup is one binary search there and one in
// the chunk. merge() copies the top level, rebuilds only the chunks the changes fall into
// (splitting one that outgrows kMaxChunk, dropping one that empties, folding one smaller than
// kMinChunk into a neighbour) and shares every other chunk with the table it came from: a
// commit costs O(changes * log + touched chunks * kChunk + size() / kChunk), not O(size()).
//
// Chunks are shared between versions with a reference count that only the writer touches:
// build(), merge() and free() on tables derived from one another must run one at a time (the
// engine's mutex), while readers never write to a table or a chunk. Versions can be freed in any
// order; a chunk goes when the last version holding it does.
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
	// old is left as it was, and on failure (-ENOMEM) nothing is left allocated.
	[[nodiscard]] static Result<LookupTable *> merge(const LookupTable *old,
							 const Change *changes, u64 count, Gfp gfp);
	static void free(LookupTable *table);

	u64 size() const { return count_; }
	// The entry at a global position (< size()): a binary search over the chunks' positions.
	u64 key(u64 pos) const
	{
		const u64 i = chunk_holding(pos);
		return slot_[i].chunk->keys(chunk_size(i))[pos - slot_[i].start];
	}
	u32 value(u64 pos) const
	{
		const u64 i = chunk_holding(pos);
		return slot_[i].chunk->values(chunk_size(i))[pos - slot_[i].start];
	}
	// The position of the first data block >= block (size() if none).
	u64 lower_bound(u64 block) const;
	// Whether block is mapped, and to what: one binary search over the first keys, one in a
	// chunk. With no entries, one compare.
	bool find(u64 block, u32 *value) const
	{
		if (chunks_ == 0 || block < first_[0])
			return false;
		const u64 i = chunk_for(block);
		const u64 n = chunk_size(i);
		const Chunk *c = slot_[i].chunk;
		const u64 at = c->search(n, block);
		if (c->keys(n)[at] != block)
			return false;
		*value = c->values(n)[at];
		return true;
	}
	// The first entry whose data block is >= block, if there is one: the I/O path's lookup
	// (the same two searches as find(); no position arithmetic).
	bool first_at_or_after(u64 block, u64 *key, u32 *value) const
	{
		if (chunks_ == 0)
			return false;
		u64 i = 0, at = 0;
		if (block > first_[0]) {
			i = chunk_for(block);
			const u64 n = chunk_size(i);
			at = slot_[i].chunk->search(n, block);
			if (slot_[i].chunk->keys(n)[at] != block && ++at == n) {
				if (++i == chunks_)
					return false; // every key is below block
				at = 0;
			}
		}
		const Chunk *c = slot_[i].chunk;
		const u64 n = chunk_size(i);
		*key = c->keys(n)[at];
		*value = c->values(n)[at];
		return true;
	}
	// Calls fn(key, value) for the entries with a data block >= block, in order, until it
	// returns false.
	template <typename Fn> void for_each_from(u64 block, Fn fn) const
	{
		if (chunks_ == 0)
			return;
		u64 i = 0, at = 0;
		if (block > first_[0]) {
			i = chunk_for(block);
			const u64 n = chunk_size(i);
			at = slot_[i].chunk->search(n, block);
			at += slot_[i].chunk->keys(n)[at] != block;
		}
		for (; i < chunks_; i++, at = 0) {
			const u64 n = chunk_size(i);
			const u64 *keys = slot_[i].chunk->keys(n);
			const u32 *values = slot_[i].chunk->values(n);
			for (; at < n; at++) {
				if (!fn(keys[at], values[at]))
					return;
			}
		}
	}
	// Memory held, for the stats and the memory benchmark (chunks shared with other versions
	// included). O(number of chunks).
	u64 bytes() const;

	// Which publication of the mapping this is; the glue drains I/O per generation.
	u32 generation() const { return generation_; }
	void set_generation(u32 g) { generation_ = g; }

	// For tests: entries the build() or merge() that made this table wrote, chunk entries
	// plus top-level slots (the work a commit does, which must not grow with size()).
	u64 copied_entries() const { return copied_; }
	// For tests: the chunks and their sizes.
	u64 chunk_count() const { return chunks_; }
	u64 chunk_entries(u64 i) const { return chunk_size(i); }

	// A chunk holds between kMinChunk and kMaxChunk entries (fewer only if it is the table's
	// only chunk); a rebuilt run of entries is cut into chunks of kChunk to 1.5 * kChunk.
	// kChunk = 512, measured against 256 and 1024: lookups cost the same at all three; one
	// change merged into 1M entries costs ~50 us at 256 (every merge and free touches each
	// chunk's header: 4k of them), ~12 us at 512, ~5 us at 1024; but at 1024 a small table's
	// single chunk is cheaper to rebuild than a large table's average one by more than 2x,
	// so commit cost would visibly grow with the table up to the first splits.
	enum : u64 { kChunk = 512, kMaxChunk = 2 * kChunk, kMinChunk = kChunk / 4 };

private:
	// Within a chunk, the first key of every kGroup keys is repeated in a small array searched
	// first: a lookup then waits for its few cache lines (prefetched together) and then for
	// one group's keys and value (prefetched together), where a binary search over all the
	// keys would wait for ~6 misses in turn. (At 1M entries: ~80 ns a lookup instead of ~120.)
	enum : u64 { kGroup = 16 };

	// An immutable run of n entries: this header, the groups' first keys, the n keys, the n
	// values. Readers take n from the table's slots, not from count, so that the addresses of
	// the arrays are known before the chunk's first cache line arrives.
	struct Chunk {
		// Tables holding it: a plain integer, read and written only by build(), merge()
		// and free(), which the writer serializes (see the top of the file).
		u32 refs;
		u32 count; // n, for debugging

		static u64 groups(u64 n) { return (n + kGroup - 1) / kGroup; }
		static u64 bytes(u64 n)
		{
			return sizeof(Chunk) + groups(n) * sizeof(u64) +
			       n * (sizeof(u64) + sizeof(u32));
		}
		u64 *fences() { return reinterpret_cast<u64 *>(this + 1); }
		const u64 *fences() const { return reinterpret_cast<const u64 *>(this + 1); }
		u64 *keys(u64 n) { return fences() + groups(n); }
		const u64 *keys(u64 n) const { return fences() + groups(n); }
		u32 *values(u64 n) { return reinterpret_cast<u32 *>(keys(n) + n); }
		const u32 *values(u64 n) const
		{
			return reinterpret_cast<const u32 *>(keys(n) + n);
		}

		// The index of the last key <= block, given keys(n)[0] <= block.
		u64 search(u64 n, u64 block) const
		{
			const u64 g = groups(n);
			const u64 *f = fences();
			for (u64 off = 0; off < g; off += 64 / sizeof(u64))
				__builtin_prefetch(f + off);
			const u64 first = last_at_or_below(f, g, block) * kGroup;
			const u64 *k = keys(n) + first;
			const u64 in_group = min<u64>(kGroup, n - first);
			__builtin_prefetch(k + in_group - 1);
			__builtin_prefetch(values(n) + first);
			return first + last_at_or_below(k, in_group, block);
		}
	};
	struct Slot {
		Chunk *chunk;
		u64 start; // the global position of its first entry
	};
	struct Assembler;

	LookupTable() = default;
	[[nodiscard]] static LookupTable *alloc(u64 chunks, Gfp gfp);
	static bool assemble(const LookupTable *old, const Change *changes, u64 count,
			     Assembler &a);
	static LookupTable *finish(LookupTable *t, Assembler &a);
	u64 merged_size(u64 i, const Change *changes, u64 count) const;

	u64 chunk_size(u64 i) const { return slot_[i + 1].start - slot_[i].start; }
	// The index of the last of n >= 1 sorted keys that is <= block, given keys[0] <= block.
	// Branch-free but for the loop, whose trip count only depends on n.
	static u64 last_at_or_below(const u64 *keys, u64 n, u64 block)
	{
		const u64 *base = keys;
		while (n > 1) {
			const u64 half = n / 2;
			base = base[half] <= block ? base + half : base;
			n -= half;
		}
		return static_cast<u64>(base - keys);
	}
	// The chunk whose key range holds block, given first_[0] <= block.
	u64 chunk_for(u64 block) const { return last_at_or_below(first_, chunks_, block); }
	// The chunk that holds global position pos (< size()).
	u64 chunk_holding(u64 pos) const
	{
		u64 lo = 0, n = chunks_;
		while (n > 1) {
			const u64 half = n / 2;
			lo = slot_[lo + half].start <= pos ? lo + half : lo;
			n -= half;
		}
		return lo;
	}

	u64 count_ = 0;
	u64 chunks_ = 0;
	u64 *first_ = nullptr; // chunks_ first keys
	Slot *slot_ = nullptr; // chunks_ + 1 slots; the last is {nullptr, count_}
	u64 top_bytes_ = 0;    // this object and its arrays, one allocation
	u64 copied_ = 0;
	u32 generation_ = 0;
};

// Sorts keys ascending, moving values along (heapsort: no recursion, no extra memory).
void sort_pairs(u64 *keys, u32 *values, u64 count);

} // namespace remap
