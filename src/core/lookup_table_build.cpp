// SPDX-License-Identifier: GPL-2.0
// The lookup table's writer side: building, merging and freeing tables (the commit path,
// under the engine mutex); the read side the I/O path uses is lookup_table.{h,cpp}.
#include "lookup_table.h"

#include "memory.h"
#include "sort.h"
#include "warn.h"

namespace remap {

namespace {

// The first change at or after j whose block is >= limit.
u64 changes_below(const LookupTable::Change *changes, u64 count, u64 j, u64 limit)
{
	while (j < count && changes[j].data_block < limit)
		j++;
	return j;
}

} // namespace

// Lays out the chunks of the next table, in order. It runs twice over the same plan: dry (out
// is null), only counting the chunks the table will have, then for real into a table allocated
// for exactly that many. New chunks have refs == 0 until finish(), which tells them apart from
// shared ones (refs >= 1, held by the old table) if the real run fails half-way.
struct LookupTable::Assembler {
	LookupTable *out = nullptr; // null: the dry run
	Gfp gfp = Gfp::Kernel;
	u64 chunks = 0;  // emitted so far
	u64 entries = 0; // in them
	u64 last = 0;    // entries of the last chunk emitted
	u64 copied = 0;  // entries written into new chunks

	// The run being cut into new chunks: its plan and the chunk being filled.
	u64 pieces = 0, opened = 0, base = 0, extra = 0;
	bool wide = false;
	void *cur = nullptr;
	u64 cur_first = 0; // its first key
	u64 fill = 0, cur_size = 0;

	bool dry() const { return out == nullptr; }

	// Takes old's chunks [from, to) as they are.
	[[nodiscard]] bool share(const LookupTable *old, u64 from, u64 to)
	{
		if (from == to)
			return true;
		const u64 n = to - from;
		const u64 origin = old->slot_[from].start;
		if (out) {
			if (REMAP_WARN_ON(chunks + n > out->chunks_)) // the dry run counted them
				return false;
			__builtin_memcpy(out->first_ + chunks, old->first_ + from, n * sizeof(u64));
			Slot *dst = out->slot_ + chunks;
			const Slot *src = old->slot_ + from;
			for (u64 i = 0; i < n; i++)
				dst[i] = Slot{src[i].tagged, src[i].start - origin + entries};
		}
		chunks += n;
		entries += old->slot_[to].start - origin;
		last = old->chunk_size(to - 1);
		return true;
	}

	// Takes back the last chunk emitted, to rebuild it with what follows it: its slot (in a
	// real run) and size.
	Slot pop(u64 *size)
	{
		chunks--;
		entries -= last;
		*size = last;
		return out ? out->slot_[chunks] : Slot{0, 0};
	}

	// Starts a run of s > 0 entries, which put_run() then supplies in order: as few chunks as
	// hold it (one if it fits), of equal sizes. wide: its keys span more than kMaxNarrowSpan.
	void begin(u64 s, bool wide_keys)
	{
		pieces = (s + kMaxChunk - 1) / kMaxChunk;
		base = s / pieces;
		extra = s % pieces;
		opened = 0;
		fill = cur_size = 0;
		wide = wide_keys;
		if (dry()) {
			chunks += pieces;
			entries += s;
			last = base;
		}
	}

	bool open()
	{
		if (REMAP_WARN_ON(opened == pieces || chunks == out->chunks_)) // more than planned
			return false;
		const u64 size = base + (opened < extra ? 1 : 0);
		const u64 bytes = wide ? Layout<u64>::bytes(size) : Layout<u32>::bytes(size);
		void *mem = rb_alloc_large(bytes, static_cast<rb_gfp>(gfp));
		if (!mem)
			return false;
		cur = mem; // zero-filled: refs == 0 until finish()
		opened++;
		out->slot_[chunks] = Slot{reinterpret_cast<u64>(mem) | (wide ? 1 : 0), entries};
		chunks++;
		entries += size;
		last = size;
		fill = 0;
		cur_size = size;
		return true;
	}

	// n entries with keys add + keys[i] (add wraps: the keys of a chunk are offsets from its
	// first key), ascending and above everything put before.
	template <typename S>
	[[nodiscard]] bool put_run(const S *keys, u64 add, const u32 *values, u64 n)
	{
		while (n) {
			if (fill == cur_size && !open())
				return false;
			if (fill == 0) {
				cur_first = add + keys[0];
				out->first_[chunks - 1] = cur_first;
			}
			const u64 take = min(n, cur_size - fill);
			if (wide)
				copy_keys(Layout<u64>::keys(cur, cur_size) + fill, keys,
					  add - cur_first, take);
			else
				copy_keys(Layout<u32>::keys(cur, cur_size) + fill, keys,
					  add - cur_first, take);
			__builtin_memcpy((wide ? Layout<u64>::values(cur, cur_size)
					       : Layout<u32>::values(cur, cur_size)) +
						 fill,
					 values, take * sizeof(u32));
			fill += take;
			if (fill == cur_size) {
				if (wide)
					seal<u64>();
				else
					seal<u32>();
			}
			copied += take;
			keys += take;
			values += take;
			n -= take;
		}
		return true;
	}

	template <typename D, typename S>
	static void copy_keys(D *dst, const S *src, u64 add, u64 n)
	{
		for (u64 i = 0; i < n; i++)
			dst[i] = static_cast<D>(src[i] + add);
	}

	[[nodiscard]] bool put(u64 key, u32 value) { return put_run(&key, 0, &value, 1); }

	// Entries [from, to) of chunk slot s (n entries, first key first).
	[[nodiscard]] bool put_chunk(Slot s, u64 n, u64 first, u64 from, u64 to)
	{
		if (from == to)
			return true;
		if (s.wide())
			return put_run(Layout<u64>::keys(s.chunk(), n) + from, first,
				       Layout<u64>::values(s.chunk(), n) + from, to - from);
		return put_run(Layout<u32>::keys(s.chunk(), n) + from, first,
			       Layout<u32>::values(s.chunk(), n) + from, to - from);
	}

	// The current chunk is full: its fences.
	template <typename K> void seal()
	{
		const K *keys = Layout<K>::keys(cur, cur_size);
		K *fences = Layout<K>::fences(cur);
		for (u64 g = 0; g < Layout<K>::groups(cur_size); g++)
			fences[g] = keys[g * kGroup];
	}

	// After a failed run: frees the new chunks, leaving the shared ones alone.
	void discard()
	{
		for (u64 i = 0; i < chunks; i++) {
			const Slot s = out->slot_[i];
			const u64 end = i + 1 < chunks ? out->slot_[i + 1].start : entries;
			const u64 n = end - s.start;
			if (refs(s, n) == 0)
				rb_free_large(s.chunk());
		}
		chunks = 0;
	}

	static u32 &refs(Slot s, u64 n)
	{
		return s.wide() ? Layout<u64>::refs(s.chunk(), n) : Layout<u32>::refs(s.chunk(), n);
	}
};

LookupTable *LookupTable::alloc(u64 chunks, Gfp gfp)
{
	static_assert(sizeof(LookupTable) % 8 == 0 && sizeof(Slot) == 16, "array alignment");
	// The radix index: up to kBucketsPerChunk buckets a chunk, and one entry more.
	const u64 radix_entries = chunks ? kBucketsPerChunk * chunks + 1 : 0;
	u64 bytes, radix;
	if (chunks > 0xffffffffull / kBucketsPerChunk) // radix_ holds 4-byte chunk indexes
		return nullptr;
	if (!checked_mul(chunks, sizeof(Slot) + sizeof(u64), &bytes) ||
	    !checked_mul(radix_entries, sizeof(u32), &radix) ||
	    !checked_add(bytes, sizeof(LookupTable) + sizeof(Slot), &bytes) ||
	    !checked_add(bytes, radix, &bytes))
		return nullptr;
	void *mem = rb_alloc_large(bytes, static_cast<rb_gfp>(gfp));
	if (!mem)
		return nullptr;
	auto *t = new (mem, place) LookupTable;
	t->slot_ = reinterpret_cast<Slot *>(t + 1);
	t->first_ = reinterpret_cast<u64 *>(t->slot_ + chunks + 1);
	t->radix_ = reinterpret_cast<u32 *>(t->first_ + chunks);
	t->chunks_ = chunks;
	t->top_bytes_ = bytes;
	return t;
}

// Takes the chunks a successful run laid out into t: the new ones and the shared ones alike
// gain t as a holder. Then the radix index over their first keys (O(chunks)).
LookupTable *LookupTable::finish(LookupTable *t, Assembler &a)
{
	t->chunks_ = a.chunks;
	t->count_ = a.entries;
	t->slot_[a.chunks] = Slot{0, a.entries};
	for (u64 i = 0; i < a.chunks; i++)
		Assembler::refs(t->slot_[i], t->chunk_size(i))++;
	t->copied_ = a.copied + a.chunks;
	if (a.chunks)
		t->index();
	return t;
}

// The fewest buckets of 2^shift_ blocks, no more than kBucketsPerChunk a chunk, that cover
// the keys' range, and the last chunk starting before each (the dry run allotted them).
void LookupTable::index()
{
	base_ = first_[0];
	span_ = last_key(chunks_ - 1) - base_;
	const u64 most = kBucketsPerChunk * chunks_;
	u32 shift = 0;
	while ((span_ >> shift) >= most) // span_ >> 63 <= 1 < most: ends by 63
		shift++;
	shift_ = shift;
	const u64 buckets = (span_ >> shift) + 1;
	// Chunk by chunk: the buckets up to the one chunk c starts in get c - 1 (the commit
	// pays for this loop, so it is a run of plain stores).
	u32 *r = radix_;
	u32 *const end = radix_ + buckets + 1;
	*r++ = 0;
	for (u64 c = 1; c < chunks_; c++) {
		u32 *const to = radix_ + ((first_[c] - base_) >> shift) + 1;
		while (r < to)
			*r++ = static_cast<u32>(c - 1);
	}
	while (r < end)
		*r++ = static_cast<u32>(chunks_ - 1);
}

void LookupTable::put_chunk(Slot s, u64 n)
{
	if (--Assembler::refs(s, n) == 0)
		rb_free_large(s.chunk());
}

void LookupTable::free(LookupTable *table)
{
	if (!table)
		return;
	for (u64 i = 0; i < table->chunks_; i++)
		put_chunk(table->slot_[i], table->chunk_size(i));
	LostSectors::put(table->lost_);
	table->~LookupTable();
	rb_free_large(table);
}

u64 LookupTable::last_key(u64 i) const
{
	const u64 n = chunk_size(i);
	return first_[i] +
		(slot_[i].wide() ? Layout<u64>::keys(slot_[i].chunk(), n)[n - 1]
				 : Layout<u32>::keys(slot_[i].chunk(), n)[n - 1]);
}

// Chunk i's size once the changes meant for it (all of them within its key range) apply.
u64 LookupTable::merged_size(u64 i, const Change *changes, u64 count) const
{
	u64 size = chunk_size(i);
	for (u64 j = 0; j < count; j++) {
		const u64 b = changes[j].data_block;
		u64 at;
		const bool present = b >= first_[i] && chunk_has(i, b, &at);
		if (present && changes[j].remove)
			size--;
		else if (!present && !changes[j].remove)
			size++;
	}
	return size;
}

// A run of old chunks rebuilt into new ones together with the changes that fall into them.
struct LookupTable::Run {
	u64 first, end; // old chunks [first, end)
	u64 from, to;   // changes [from, to), all within their key range
	u64 size;       // entries once merged
};

// The last chunk emitted before a run, taken back to be rebuilt with it (size 0: none).
struct LookupTable::Carry {
	Slot slot;
	u64 size;
	u64 first; // its first key (a real run only)
};

// old's chunks and changes laid out by a: untouched chunks shared, each touched one rebuilt
// (with its neighbours while it would be smaller than kMinChunk). False if a chunk allocation
// failed (only in a real run).
bool LookupTable::assemble(const LookupTable *old, const Change *changes, u64 count, Assembler &a)
{
	const u64 m = old ? old->chunks_ : 0;
	if (m == 0) { // no chunks: the changes make the whole table
		const Run all{0, 0, 0, count, additions(changes, count)};
		return count == 0 || build_run(old, changes, all, a);
	}
	u64 i = 0, j = 0;
	while (i < m) {
		// The chunks before the one the next change falls into stay as they are.
		const u64 t = j < count ? old->chunk_of(i, changes[j].data_block) : m;
		if (!a.share(old, i, t))
			return false;
		if (t == m)
			break;
		const Run r = old->run_at(t, changes, count, j);
		i = r.end;
		j = r.to;
		if (!build_run(old, changes, r, a))
			return false;
	}
	return true;
}

// How many of changes add an entry.
u64 LookupTable::additions(const Change *changes, u64 count)
{
	u64 n = 0;
	for (u64 x = 0; x < count; x++)
		n += changes[x].remove ? 0 : 1;
	return n;
}

// The chunk, from chunk i on, that block falls into: the last whose first key is <= block
// (chunk 0 also takes the blocks below its first key, the last chunk those above its last).
u64 LookupTable::chunk_of(u64 i, u64 block) const
{
	return block <= first_[i] ? i : i + last_at_or_below(first_ + i, chunks_ - i, block);
}

// The run that starts at chunk t with change j: t with its changes, and the chunks after it
// while the merged run would be smaller than kMinChunk (an emptied chunk just drops out).
LookupTable::Run LookupTable::run_at(u64 t, const Change *changes, u64 count, u64 j) const
{
	const u64 m = chunks_;
	Run r{t, t + 1, j, 0, 0};
	r.to = t + 1 < m ? changes_below(changes, count, j, first_[t + 1]) : count;
	r.size = merged_size(t, changes + j, r.to - j);
	while (r.size > 0 && r.size < kMinChunk && r.end < m) {
		const u64 e = r.end;
		const u64 to =
			e + 1 < m ? changes_below(changes, count, r.to, first_[e + 1]) : count;
		r.size += merged_size(e, changes + r.to, to - r.to);
		r.to = to;
		r.end++;
	}
	return r;
}

// Emits run r: folded into the chunk before when it is still too small (the table's tail),
// cut into as few chunks as hold it.
bool LookupTable::build_run(const LookupTable *old, const Change *changes, const Run &r,
			    Assembler &a)
{
	Carry pre{Slot{0, 0}, 0, 0};
	u64 size = r.size;
	if (size > 0 && size < kMinChunk && a.chunks > 0) {
		pre.slot = a.pop(&pre.size);
		if (!a.dry())
			pre.first = a.out->first_[a.chunks];
		size += pre.size;
	}
	if (size == 0)
		return true; // every entry removed: the chunks drop out
	if (a.dry()) {
		a.begin(size, false);
		return true;
	}
	a.begin(size, key_span(old, changes, r, pre) > kMaxNarrowSpan);
	bool ok = !pre.size || a.put_chunk(pre.slot, pre.size, pre.first, 0, pre.size);
	ok = ok && merge_entries(old, changes, r, a);
	if (pre.size && Assembler::refs(pre.slot, pre.size) == 0)
		rb_free_large(pre.slot.chunk()); // made earlier in this run, now copied again
	return ok;
}

// The key span of run r with the chunk carried into it, from above (removals can only narrow
// it): the run gets 4-byte keys if it is at most kMaxNarrowSpan.
u64 LookupTable::key_span(const LookupTable *old, const Change *changes, const Run &r,
			  const Carry &pre)
{
	u64 lo = ~0ull, hi = 0;
	if (pre.size) {
		const u64 n = pre.size;
		lo = pre.first;
		hi = pre.first +
			(pre.slot.wide() ? Layout<u64>::keys(pre.slot.chunk(), n)[n - 1]
					 : Layout<u32>::keys(pre.slot.chunk(), n)[n - 1]);
	}
	if (r.first < r.end) {
		lo = min(lo, old->first_[r.first]);
		hi = max(hi, old->last_key(r.end - 1));
	}
	if (r.from < r.to) {
		lo = min(lo, changes[r.from].data_block);
		hi = max(hi, changes[r.to - 1].data_block);
	}
	return hi - lo;
}

// Where block lands in chunk c from index at: the index of the first entry >= block; *replaces
// whether that entry is block itself.
u64 LookupTable::position_in(u64 c, u64 at, u64 block, bool *replaces) const
{
	const u64 n = chunk_size(c);
	const Slot s = slot_[c];
	*replaces = false;
	if (block < first_[c])
		return at;
	const u64 rel = block - first_[c];
	u64 stop = at;
	if (s.wide()) {
		const u64 *k = Layout<u64>::keys(s.chunk(), n);
		stop += lower_bound_in(k + at, n - at, rel);
		*replaces = stop < n && k[stop] == rel;
	} else {
		const u32 *k = Layout<u32>::keys(s.chunk(), n);
		stop += lower_bound_in(k + at, n - at, narrow(rel));
		*replaces = stop < n && k[stop] == rel;
	}
	return stop;
}

// The entries of run r in key order: old entries and changes merged, a change replacing the
// old entry of its block (or removing it).
bool LookupTable::merge_entries(const LookupTable *old, const Change *changes, const Run &r,
				Assembler &a)
{
	bool ok = true;
	u64 c = r.first, at = 0; // the next old entry: chunk c, index at
	for (u64 x = r.from; ok && x < r.to; x++) {
		const Change &ch = changes[x];
		// The old entries before ch, then ch itself (replacing its old entry).
		bool replaces = false;
		for (; c < r.end; c++, at = 0) {
			const u64 n = old->chunk_size(c);
			const u64 stop = old->position_in(c, at, ch.data_block, &replaces);
			ok = a.put_chunk(old->slot_[c], n, old->first_[c], at, stop);
			at = stop;
			if (!ok || at < n)
				break;
		}
		if (ok && c < r.end && replaces)
			at++;
		if (ok && !ch.remove)
			ok = a.put(ch.data_block, ch.spare);
	}
	for (; ok && c < r.end; c++, at = 0) {
		const u64 n = old->chunk_size(c);
		ok = a.put_chunk(old->slot_[c], n, old->first_[c], at, n);
	}
	return ok;
}

Result<LookupTable *> LookupTable::merge(const LookupTable *old, const Change *changes, u64 count,
					 Gfp gfp)
{
	Assembler plan;
	if (REMAP_WARN_ON(!assemble(old, changes, count, plan))) // the dry run allocates nothing
		return Error::invalid("Cannot plan the lookup table");
	LookupTable *t = alloc(plan.chunks, gfp);
	if (!t)
		return Error::no_memory("Cannot allocate the lookup table");
	Assembler a;
	a.out = t;
	a.gfp = gfp;
	if (!assemble(old, changes, count, a)) {
		a.discard();
		t->chunks_ = 0;
		free(t);
		return Error::no_memory("Cannot allocate the lookup table");
	}
	if (old)
		t->lost_ = LostSectors::get(old->lost_);
	return finish(t, a);
}

Result<LookupTable *> LookupTable::build(const u64 *data_blocks, const u32 *spares, u64 count,
					 Gfp gfp)
{
	if (count == 0) {
		LookupTable *t = alloc(0, gfp);
		if (!t)
			return Error::no_memory("Cannot allocate the lookup table");
		return t;
	}
	// Sorted in scratch arrays first, then cut into chunks.
	Array<u64> keys;
	Array<u32> values;
	if (!keys.alloc(count, gfp) || !values.alloc(count, gfp))
		return Error::no_memory("Cannot allocate the lookup table");
	__builtin_memcpy(keys.data(), data_blocks, count * sizeof(u64));
	__builtin_memcpy(values.data(), spares, count * sizeof(u32));
	sort_pairs(keys.data(), values.data(), count);
	Status err;
	for (u64 i = 1; i < count && !err.is_error(); i++) {
		if (keys[i] == keys[i - 1])
			err = Error::invalid("Lookup table built with a data block twice");
	}

	LookupTable *t = nullptr;
	if (!err.is_error()) {
		Assembler plan;
		plan.begin(count, false);
		t = alloc(plan.chunks, gfp);
		if (!t)
			err = Error::no_memory("Cannot allocate the lookup table");
	}
	if (!err.is_error()) {
		Assembler a;
		a.out = t;
		a.gfp = gfp;
		a.begin(count, keys[count - 1] - keys[0] > kMaxNarrowSpan);
		if (a.put_run(keys.data(), 0, values.data(), count)) {
			finish(t, a);
		} else {
			a.discard();
			t->chunks_ = 0;
			free(t);
			err = Error::no_memory("Cannot allocate the lookup table");
		}
	}
	if (err.is_error())
		return err.error();
	return t;
}

bool LookupTable::set_value(u64 block, u32 value)
{
	const u64 off = block - base_;
	if (chunks_ == 0 || off > span_)
		return false;
	const u64 i = chunk_for(block, off);
	const u64 n = chunk_size(i);
	u64 at;
	if (!chunk_has(i, block, &at))
		return false;
	if (slot_[i].wide()) {
		if (Layout<u64>::refs(slot_[i].chunk(), n) != 1)
			return false;
		Layout<u64>::values(slot_[i].chunk(), n)[at] = value;
	} else {
		if (Layout<u32>::refs(slot_[i].chunk(), n) != 1)
			return false;
		Layout<u32>::values(slot_[i].chunk(), n)[at] = value;
	}
	return true;
}

} // namespace remap
