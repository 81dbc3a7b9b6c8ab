// SPDX-License-Identifier: GPL-2.0
// The I/O path's view of the mapping: data blocks with their spare blocks, sorted, published
// with RCU when a commit lands and never modified afterwards, so map() reads it without a lock.
// A commit builds the next table by merging its changes into the current one.
//
// Layout: the entries live in immutable sorted chunks of at most kMaxChunk entries, each with
// parallel arrays of keys, stored as 4-byte offsets from the chunk's first key (8-byte in the
// rare chunk whose keys span more than 2^32 - 2 blocks), and 4-byte values: about 8.4 bytes an
// entry with the chunk's fences and its allocation class's slack. A table (one version) is a
// small top level, one allocation: the first key of every chunk in a contiguous array (8.5 KiB
// at 1M entries), per chunk its pointer and the global position of its first entry (for
// key(pos) and lower_bound()), and a radix index over the keys' range (up to 4 buckets a
// chunk, 16 bytes) that names the one or two chunks a block's bucket overlaps. A lookup is
// two loads and a compare-and-select there (a search over the first keys only where the keys
// cluster), then branch-free halvings in the chunk, unrolled; a block outside the keys' range
// is answered from the table's header. merge() copies the top level (and remakes the index),
// rebuilds only the chunks the changes fall into (splitting one that outgrows kMaxChunk,
// dropping one that empties, folding one smaller than kMinChunk into a neighbour) and shares
// every other chunk with the table it came from: a commit costs
// O(changes * log + touched chunks * kChunk + size() / kChunk), not O(size()).
//
// Chunks are shared between versions with a reference count that only the writer touches:
// build(), merge() and free() on tables derived from one another must run one at a time (the
// engine's mutex), while readers never write to a table or a chunk. Versions can be freed in any
// order; a chunk goes when the last version holding it does.
//
// The read side is inline here because map() and rc_io_view_touches() run it for every bio and
// must compile it into their own code (a call per I/O is measurable); the rest of the read side
// is lookup_table.cpp, and the writer (build, merge, free and their steps) is
// lookup_table_build.cpp.
#pragma once

#include "lost_sectors.h"
#include "result.h"
#include "units.h"

namespace remap {

class LookupTable {
public:
	// The value of a data block that is lost: reads fail until it is rewritten.
	enum : u32 {
		kLost = 0xffffffffu
	};
	// A block being moved: its I/O waits until the move is published. (Spare block numbers
	// stop below this; see Geometry::kMaxSpareBlocks.)
	enum : u32 {
		kMoving = 0xfffffffeu
	};

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
	// Sets the value of a block the table holds, in place. Only for a table not yet
	// published, and a block that the merge() which made it changed (whose chunk that merge
	// built, so no other version shares it): false if block is not there or shared.
	bool set_value(u64 block, u32 value);

	u64 size() const { return count_; }
	// The entry at a global position (< size()): a binary search over the chunks' positions.
	u64 key(u64 pos) const
	{
		const u64 i = chunk_holding(pos);
		const u64 n = chunk_size(i), at = pos - slot_[i].start;
		return first_[i] +
			(slot_[i].wide() ? Layout<u64>::keys(slot_[i].chunk(), n)[at]
					 : Layout<u32>::keys(slot_[i].chunk(), n)[at]);
	}
	u32 value(u64 pos) const
	{
		const u64 i = chunk_holding(pos);
		const u64 n = chunk_size(i), at = pos - slot_[i].start;
		return slot_[i].wide() ? Layout<u64>::values(slot_[i].chunk(), n)[at]
				       : Layout<u32>::values(slot_[i].chunk(), n)[at];
	}
	// The position of the first data block >= block (size() if none).
	u64 lower_bound(u64 block) const;
	// Whether block is mapped, and to what: the chunk from the radix index over the first
	// keys, then one search in the chunk. With no entries, or outside the keys' range, one or
	// two compares.
	[[gnu::always_inline]] bool find(u64 block, u32 *value) const
	{
		const u64 off = block - base_; // wraps above span_ if block < base_
		if (chunks_ == 0 || off > span_)
			return false;
		const u64 i = chunk_for(block, off);
		const u64 n = chunk_size(i), rel = block - first_[i];
		if (__builtin_expect(slot_[i].wide(), 0))
			return Layout<u64>::find(slot_[i].chunk(), n, rel, value);
		return Layout<u32>::find(slot_[i].narrow_chunk(), n, narrow(rel), value);
	}
	// The first entry whose data block is >= block, if there is one: the I/O path's lookup
	// (the same two searches as find(); no position arithmetic). A block above the last key,
	// the usual case when the remapped blocks lie elsewhere on the device, costs two compares.
	[[gnu::always_inline]] bool first_at_or_after(u64 block, u64 *key, u32 *value) const
	{
		if (chunks_ == 0)
			return false;
		if (block <= base_) {
			*key = base_;
			*value = first_value(0);
			return true;
		}
		const u64 off = block - base_;
		if (off > span_)
			return false; // every key is below block
		u64 i = chunk_for(block, off);
		const u64 n = chunk_size(i), rel = block - first_[i];
		const bool found = __builtin_expect(slot_[i].wide(), 0)
			? Layout<u64>::first_at_or_after(slot_[i].chunk(), n, rel, key, value)
			: Layout<u32>::first_at_or_after(slot_[i].narrow_chunk(), n, narrow(rel),
							 key, value);
		if (found) {
			*key += first_[i];
			return true;
		}
		// Chunk i's keys are all below block and the last key is not: chunk i + 1 exists.
		i++;
		*key = first_[i];
		*value = first_value(i);
		return true;
	}
	// Whether an entry's data block lies in [first, last] (first <= last): the I/O path's
	// question for a request that may lie between entries (rc_io_view_touches()). One search,
	// for the last key <= last, compared with first: no value is read, and neither the step
	// to the next key (or chunk) nor the compare with it that first_at_or_after() needs.
	[[gnu::always_inline]] bool any_in(u64 first, u64 last) const
	{
		if (chunks_ == 0 || last < base_)
			return false;
		const u64 off = last - base_;
		if (first <= base_ || off >= span_)
			return first <=
				base_ + span_; // base_ or the last key, whichever is in range
		const u64 i = chunk_for(last, off);
		const u64 n = chunk_size(i), rel = last - first_[i];
		if (__builtin_expect(slot_[i].wide(), 0)) {
			const void *c = slot_[i].chunk();
			return first_[i] +
				Layout<u64>::keys(c, n)[Layout<u64>::search_any(c, n, rel)] >=
				first;
		}
		// rel < 2^32 unless last lies past the chunk's keys, where narrow() keeps it above
		// them all.
		const void *c = slot_[i].narrow_chunk();
		return first_[i] +
			Layout<u32>::keys(c, n)[Layout<u32>::search_any(c, n, narrow(rel))] >=
			first;
	}
	// Calls fn(key, value) for the entries with a data block >= block, in order, until it
	// returns false.
	template <typename Fn> void for_each_from(u64 block, Fn fn) const
	{
		u64 pos = lower_bound(block);
		for (u64 i = pos < count_ ? chunk_holding(pos) : chunks_; i < chunks_; i++) {
			const bool more = slot_[i].wide() ? each_in<u64>(i, pos, fn)
							  : each_in<u32>(i, pos, fn);
			if (!more)
				return;
			pos = slot_[i + 1].start;
		}
	}
	// Memory held, for the stats and the memory benchmark: the top level and every chunk
	// (shared ones included), each counted as the allocation the platform really hands out
	// for its size (rb_alloc_large_bytes(): the kmalloc size class or whole pages), not as
	// the bytes asked for. O(number of chunks).
	u64 bytes() const;

	// The lost sectors of remapped blocks (salvaged ones), published with this table: null
	// when there are none. merge() shares old's set; set_lost() takes over a reference.
	const LostSectors *lost() const { return lost_; }
	void set_lost(LostSectors *s)
	{
		LostSectors::put(lost_);
		lost_ = s;
	}

	// Which publication of the mapping this is; the glue drains I/O per generation.
	u32 generation() const { return generation_; }
	void set_generation(u32 g) { generation_ = g; }

	// A chunk holds between kMinChunk and kMaxChunk entries (fewer only if it is the table's
	// only chunk). A rebuilt run of entries is cut into as few chunks as hold it, of equal
	// size. Sizes follow the allocation classes (kmalloc's power-of-two caches): a full
	// chunk of kMaxChunk entries (4-byte keys) takes 8180 of an 8 KiB object, and one cut
	// in two by an insert two of kChunk entries, 4096 bytes each: exactly a 4 KiB object.
	enum : u64 {
		kChunk = 496,
		kMaxChunk = 2 * kChunk - 1,
		kMinChunk = kChunk / 4
	};
	// A chunk's keys are stored as offsets from its first key, in 4 bytes when the span of
	// the run it was cut from is at most kMaxNarrowSpan (always, on a device of fewer than
	// 2^32 blocks), else in 8 ("wide").
	enum : u64 {
		kMaxNarrowSpan = 0xfffffffeull
	};

private:
	friend struct LookupTableProbe; // lookup_table_probe.h: the layout, for tests and benchmarks

	// Within a chunk, the first key of every kGroup keys is repeated in a small array (the
	// fences) searched first: a lookup then waits for its few cache lines and then for one
	// group's keys and its value, where a binary search over all the keys would wait for ~8
	// misses in turn. The group search is four unrolled compare-and-select steps.
	enum : u64 {
		kGroup = 16
	};
	// Buckets of the radix index per chunk, at most: at 4, a bucket overlaps more than two
	// chunks only where chunks hold under a quarter of the keys' average density, and the
	// index takes 16 bytes a chunk (0.02 bytes an entry).
	enum : u64 {
		kBucketsPerChunk = 4
	};

	// An immutable run of n entries, one allocation of Layout<K>::bytes(n) bytes:
	//   K   fences[groups(n)]   the offset of every kGroup-th key
	//   K   keys[n]             key - the chunk's first key (which the table's first_ holds)
	//   u32 values[n]
	//   u32 refs                tables holding it: read and written only by build(), merge()
	//                           and free(), which the writer serializes (top of the file)
	// with K = u32, or u64 for a wide chunk. Readers take n and K from the table's slots,
	// so the addresses of all of it are known before its first cache line arrives.
	template <typename K> struct Layout {
		static u64 groups(u64 n) { return (n + kGroup - 1) / kGroup; }
		static u64 bytes(u64 n)
		{
			return (groups(n) + n) * sizeof(K) + (n + 1) * sizeof(u32);
		}
		static K *fences(void *c) { return static_cast<K *>(c); }
		static const K *fences(const void *c) { return static_cast<const K *>(c); }
		static K *keys(void *c, u64 n) { return fences(c) + groups(n); }
		static const K *keys(const void *c, u64 n) { return fences(c) + groups(n); }
		static u32 *values(void *c, u64 n)
		{
			return reinterpret_cast<u32 *>(keys(c, n) + n);
		}
		static const u32 *values(const void *c, u64 n)
		{
			return reinterpret_cast<const u32 *>(keys(c, n) + n);
		}
		static u32 &refs(void *c, u64 n) { return values(c, n)[n]; }

		// The index of the last key <= off, given keys[0] (= 0) <= off.
		[[gnu::always_inline]] static u64 search(const void *c, u64 n, K off)
		{
			const K *k = keys(c, n);
			if (__builtin_expect(n <= kGroup, 0))
				return last_at_or_below(k, n, off);
			// The group from the fences, then the 16 keys from its first one; the last
			// group's window ends at the last key instead (it may hold fewer than 16).
			// The fences of a chunk of kChunk or more entries number 32 to 63, of a
			// smaller one of 16 or more, 16 to 31: unrolled searches for both.
			// Each level's cache lines are asked for together, before its search: the
			// fences' (up to 252 bytes: 4 lines in a kmalloc object, which is 64-byte
			// aligned), then the group's 16 keys and 16 values (two lines each at
			// most). A lookup in a chunk out of cache then waits for about two misses
			// rather than one per halving and one more for the value.
			const u64 ng = groups(n);
			const K *f = fences(c);
			const char *fb = reinterpret_cast<const char *>(f);
			prefetch(fb);
			prefetch(fb + 64);
			prefetch(fb + 128);
			prefetch(fb + 192);
			const u64 g = (ng >= 32           ? last_in_range<32>(f, ng, off)
					       : ng >= 16 ? last_in_range<16>(f, ng, off)
							  : last_at_or_below(f, ng, off)) *
				kGroup;
			const u64 w = min(g, n - kGroup);
			const u32 *v = values(c, n) + w;
			prefetch(k + w);
			prefetch(k + w + kGroup - 1);
			prefetch(v);
			prefetch(v + kGroup - 1);
			return w + last_of_16(k + w, off);
		}
		// search(), inlined for 4-byte keys; out of line for 8-byte ones, so that the I/O
		// path's inlined code is the narrow search (and its locals stay in registers).
		[[gnu::always_inline]] static u64 search_any(const void *c, u64 n, K off)
		{
			if constexpr (sizeof(K) == sizeof(u64))
				return search_wide(c, n, off);
			else
				return search(c, n, off);
		}
		[[gnu::always_inline]] static bool find(const void *c, u64 n, K off, u32 *value)
		{
			const u64 at = search_any(c, n, off);
			if (keys(c, n)[at] != off)
				return false;
			*value = values(c, n)[at];
			return true;
		}
		// The first entry >= off in this chunk, as an offset; false if all are below.
		[[gnu::always_inline]] static bool first_at_or_after(const void *c, u64 n, K off,
								     u64 *key, u32 *value)
		{
			u64 at = search_any(c, n, off);
			const K *k = keys(c, n);
			if (k[at] != off && ++at == n)
				return false;
			*key = k[at];
			*value = values(c, n)[at];
			return true;
		}
	};

	// A chunk pointer with its key width in the low bit (allocations are at least 8-aligned).
	// NOLINTBEGIN(performance-no-int-to-ptr): the tag is the point of the type
	struct Slot {
		u64 tagged;
		u64 start; // the global position of its first entry
		void *chunk() const { return reinterpret_cast<void *>(tagged & ~u64(1)); }
		bool wide() const { return tagged & 1; }
		// chunk() of a slot known not to be wide.
		const void *narrow_chunk() const { return reinterpret_cast<const void *>(tagged); }
	};
	// NOLINTEND(performance-no-int-to-ptr)
	struct Assembler;

	[[gnu::noinline]] static u64 search_wide(const void *c, u64 n, u64 rel);

	LookupTable() = default;
	[[nodiscard]] static LookupTable *alloc(u64 chunks, Gfp gfp);
	struct Run;
	struct Carry;
	static bool assemble(const LookupTable *old, const Change *changes, u64 count,
			     Assembler &a);
	static u64 additions(const Change *changes, u64 count);
	u64 chunk_of(u64 i, u64 block) const;
	Run run_at(u64 t, const Change *changes, u64 count, u64 j) const;
	static bool build_run(const LookupTable *old, const Change *changes, const Run &r,
			      Assembler &a);
	static u64 key_span(const LookupTable *old, const Change *changes, const Run &r,
			    const Carry &pre);
	u64 position_in(u64 c, u64 at, u64 block, bool *replaces) const;
	static bool merge_entries(const LookupTable *old, const Change *changes, const Run &r,
				  Assembler &a);
	static LookupTable *finish(LookupTable *t, Assembler &a);
	void index();
	static void put_chunk(Slot s, u64 n);
	u64 merged_size(u64 i, const Change *changes, u64 count) const;
	u64 last_key(u64 i) const;
	// Whether block is in chunk i, given first_[i] <= block; *at = its index or that of the
	// last key below it.
	bool chunk_has(u64 i, u64 block, u64 *at) const
	{
		const u64 n = chunk_size(i), rel = block - first_[i];
		if (slot_[i].wide()) {
			*at = Layout<u64>::search(slot_[i].chunk(), n, rel);
			return Layout<u64>::keys(slot_[i].chunk(), n)[*at] == rel;
		}
		*at = Layout<u32>::search(slot_[i].chunk(), n, narrow(rel));
		return Layout<u32>::keys(slot_[i].chunk(), n)[*at] == rel;
	}
	u32 first_value(u64 i) const
	{
		return slot_[i].wide() ? Layout<u64>::values(slot_[i].chunk(), chunk_size(i))[0]
				       : Layout<u32>::values(slot_[i].chunk(), chunk_size(i))[0];
	}
	template <typename K, typename Fn> bool each_in(u64 i, u64 pos, Fn &fn) const
	{
		const u64 n = chunk_size(i), base = first_[i];
		const K *keys = Layout<K>::keys(slot_[i].chunk(), n);
		const u32 *values = Layout<K>::values(slot_[i].chunk(), n);
		for (u64 at = pos - slot_[i].start; at < n; at++) {
			if (!fn(base + keys[at], values[at]))
				return false;
		}
		return true;
	}

	// An offset into a narrow chunk: beyond its span (at most kMaxNarrowSpan), 0xffffffff,
	// which is above all of its keys and equal to none.
	static u32 narrow(u64 rel) { return static_cast<u32>(min<u64>(rel, 0xffffffffull)); }
	u64 chunk_size(u64 i) const { return slot_[i + 1].start - slot_[i].start; }
	// The index of the last of n >= 1 sorted keys that is <= x, given keys[0] <= x. A
	// compare-and-select per halving; the first step takes the odd part (Shar's search), so
	// the others all halve a power of two and the trip count only depends on n.
	template <typename K> static u64 last_at_or_below(const K *keys, u64 n, K x)
	{
		u64 step = u64(1) << (63 - __builtin_clzll(n));
		u64 i = keys[n - step] <= x ? n - step : 0;
		while (step > 1) {
			step >>= 1;
			i = keys[i + step] <= x ? i + step : i;
		}
		return i;
	}
	// The same for P <= n < 2P, P a power of two known at compile time: unrolled.
	template <u64 P, typename K>
	[[gnu::always_inline]] static u64 last_in_range(const K *keys, u64 n, K x)
	{
		static_assert(is_power_of_two(P), "halving steps");
		u64 i = keys[n - P] <= x ? n - P : 0;
#pragma GCC unroll 8
		for (u64 step = P / 2; step > 0; step /= 2)
			i = keys[i + step] <= x ? i + step : i;
		return i;
	}
	// The same over exactly 16 keys: four steps, unrolled.
	template <typename K> [[gnu::always_inline]] static u64 last_of_16(const K *k, K x)
	{
		static_assert(kGroup == 16, "four steps");
		u64 i = k[8] <= x ? 8 : 0;
		i = k[i + 4] <= x ? i + 4 : i;
		i = k[i + 2] <= x ? i + 2 : i;
		i = k[i + 1] <= x ? i + 1 : i;
		return i;
	}
	// The chunk whose key range holds block, given off = block - base_ <= span_. The radix
	// index says which chunks the block's bucket overlaps, [lo, hi]: with a few buckets per
	// chunk that is one or two (lo == hi, or the bucket holds one chunk boundary), and one
	// compare-and-select picks the chunk. Where the keys cluster, a bucket may overlap many:
	// a search over their first keys, out of line (no slower than one over all of them).
	[[gnu::always_inline]] u64 chunk_for(u64 block, u64 off) const
	{
		const u64 b = off >> shift_;
		const u64 lo = radix_[b], hi = radix_[b + 1];
		if (__builtin_expect(hi - lo > 1, 0))
			return chunk_between(lo, hi, block);
		return first_[hi] <= block ? hi : lo;
	}
	[[gnu::noinline]] u64 chunk_between(u64 lo, u64 hi, u64 block) const;
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

	// What the lookups read first, together.
	u64 count_ = 0;
	u64 chunks_ = 0;
	u64 *first_ = nullptr; // chunks_ first keys
	Slot *slot_ = nullptr; // chunks_ + 1 slots; the last is {0, count_}
	// The radix index: the keys' range [base_, base_ + span_] cut into buckets of 2^shift_
	// blocks, at most kBucketsPerChunk * chunks_ of them (and so at least half as many, the
	// fewest that cover the range); radix_[b] is the last chunk whose first key lies in a
	// bucket before b (0 if none), so bucket b's blocks are in chunks radix_[b] to
	// radix_[b + 1]. The bucket count plus one entries; made with the rest by finish().
	u32 *radix_ = nullptr;
	u64 base_ = 0; // first_[0]
	u64 span_ = 0; // the last key - base_
	u32 shift_ = 0;
	u32 generation_ = 0;
	const LostSectors *lost_ = nullptr;
	u64 top_bytes_ = 0; // this object and its arrays, one allocation
	u64 copied_ = 0;
};

} // namespace remap
