// SPDX-License-Identifier: GPL-2.0
// Building, merging and freeing the chunked lookup table; see lookup_table.h.
#include "lookup_table.h"

#include "memory.h"

namespace remap {

namespace {

// The first of keys[0..n) that is >= block (n if none).
u64 lower_bound_in(const u64 *keys, u64 n, u64 block)
{
	u64 lo = 0, hi = n;
	while (lo < hi) {
		const u64 mid = lo + (hi - lo) / 2;
		if (keys[mid] < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

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
	Chunk *cur = nullptr;
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
			if (chunks + n > out->chunks_)
				return false; // cannot happen: the dry run counted them
			__builtin_memcpy(out->first_ + chunks, old->first_ + from, n * sizeof(u64));
			Slot *dst = out->slot_ + chunks;
			const Slot *src = old->slot_ + from;
			for (u64 i = 0; i < n; i++)
				dst[i] = Slot{src[i].chunk, src[i].start - origin + entries};
		}
		chunks += n;
		entries += old->slot_[to].start - origin;
		last = old->chunk_size(to - 1);
		return true;
	}

	// Takes back the last chunk emitted, to rebuild it with what follows it.
	Chunk *pop(u64 *size)
	{
		chunks--;
		entries -= last;
		*size = last;
		return out ? out->slot_[chunks].chunk : nullptr;
	}

	// Starts a run of s > 0 entries, which put_run() then supplies in order: one chunk if it
	// fits, else chunks of kChunk to 1.5 * kChunk entries (room to grow before the next split).
	void begin(u64 s)
	{
		pieces = s <= kMaxChunk ? 1 : s / kChunk;
		base = s / pieces;
		extra = s % pieces;
		opened = 0;
		fill = cur_size = 0;
		if (dry()) {
			chunks += pieces;
			entries += s;
			last = base;
		}
	}

	bool open()
	{
		if (opened == pieces || chunks == out->chunks_)
			return false; // more entries than planned: cannot happen
		const u64 size = base + (opened < extra ? 1 : 0);
		void *mem = rb_alloc_large(Chunk::bytes(size), static_cast<rb_gfp>(gfp));
		if (!mem)
			return false;
		cur = new (mem, place) Chunk{0, static_cast<u32>(size)};
		opened++;
		out->slot_[chunks] = Slot{cur, entries};
		chunks++;
		entries += size;
		last = size;
		fill = 0;
		cur_size = size;
		return true;
	}

	[[nodiscard]] bool put_run(const u64 *keys, const u32 *values, u64 n)
	{
		while (n) {
			if (fill == cur_size && !open())
				return false;
			const u64 take = min(n, cur_size - fill);
			__builtin_memcpy(cur->keys(cur_size) + fill, keys, take * sizeof(u64));
			__builtin_memcpy(cur->values(cur_size) + fill, values, take * sizeof(u32));
			fill += take;
			if (fill == cur_size)
				seal();
			copied += take;
			keys += take;
			values += take;
			n -= take;
		}
		return true;
	}

	[[nodiscard]] bool put(u64 key, u32 value) { return put_run(&key, &value, 1); }

	// The current chunk is full: its group keys and its first key in the table.
	void seal()
	{
		const u64 *keys = cur->keys(cur_size);
		u64 *fences = cur->fences();
		for (u64 g = 0; g < Chunk::groups(cur_size); g++)
			fences[g] = keys[g * kGroup];
		out->first_[chunks - 1] = keys[0];
	}

	// After a failed run: frees the new chunks, leaving the shared ones alone.
	void discard()
	{
		for (u64 i = 0; i < chunks; i++) {
			if (out->slot_[i].chunk->refs == 0)
				rb_free_large(out->slot_[i].chunk);
		}
		chunks = 0;
	}
};

LookupTable *LookupTable::alloc(u64 chunks, Gfp gfp)
{
	static_assert(sizeof(LookupTable) % 8 == 0 && sizeof(Slot) == 16, "array alignment");
	u64 bytes;
	if (!checked_mul(chunks, sizeof(Slot) + sizeof(u64), &bytes) ||
	    !checked_add(bytes, sizeof(LookupTable) + sizeof(Slot), &bytes))
		return nullptr;
	void *mem = rb_alloc_large(bytes, static_cast<rb_gfp>(gfp));
	if (!mem)
		return nullptr;
	auto *t = new (mem, place) LookupTable;
	t->slot_ = reinterpret_cast<Slot *>(t + 1);
	t->first_ = reinterpret_cast<u64 *>(t->slot_ + chunks + 1);
	t->chunks_ = chunks;
	t->top_bytes_ = bytes;
	return t;
}

// Takes the chunks a successful run laid out into t: the new ones and the shared ones alike
// gain t as a holder.
LookupTable *LookupTable::finish(LookupTable *t, Assembler &a)
{
	t->chunks_ = a.chunks;
	t->count_ = a.entries;
	t->slot_[a.chunks] = Slot{nullptr, a.entries};
	for (u64 i = 0; i < a.chunks; i++)
		t->slot_[i].chunk->refs++;
	t->copied_ = a.copied + a.chunks;
	return t;
}

void LookupTable::free(LookupTable *table)
{
	if (!table)
		return;
	for (u64 i = 0; i < table->chunks_; i++) {
		Chunk *c = table->slot_[i].chunk;
		if (--c->refs == 0)
			rb_free_large(c);
	}
	table->~LookupTable();
	rb_free_large(table);
}

u64 LookupTable::bytes() const
{
	u64 total = top_bytes_;
	for (u64 i = 0; i < chunks_; i++)
		total += Chunk::bytes(chunk_size(i));
	return total;
}

u64 LookupTable::lower_bound(u64 block) const
{
	if (chunks_ == 0 || block <= first_[0])
		return 0;
	const u64 i = chunk_for(block);
	const u64 n = chunk_size(i);
	const u64 at = slot_[i].chunk->search(n, block);
	return slot_[i].start + at + (slot_[i].chunk->keys(n)[at] != block ? 1 : 0);
}

// Chunk i's size once the changes meant for it (all of them within its key range) apply.
u64 LookupTable::merged_size(u64 i, const Change *changes, u64 count) const
{
	const u64 n = chunk_size(i);
	const Chunk *c = slot_[i].chunk;
	const u64 *keys = c->keys(n);
	u64 size = n;
	for (u64 j = 0; j < count; j++) {
		const u64 b = changes[j].data_block;
		const bool present = b >= keys[0] && keys[c->search(n, b)] == b;
		if (present && changes[j].remove)
			size--;
		else if (!present && !changes[j].remove)
			size++;
	}
	return size;
}

namespace {

struct Run {
	u64 first, end;   // old chunks [first, end)
	u64 from, to;     // changes [from, to), all within their key range
	u64 size;         // entries once merged
};

} // namespace

// old's chunks and changes laid out by a: untouched chunks shared, each touched one rebuilt
// (with its neighbours while it would be smaller than kMinChunk). False if a chunk allocation
// failed (only in a real run).
bool LookupTable::assemble(const LookupTable *old, const Change *changes, u64 count,
			   Assembler &a)
{
	const u64 m = old ? old->chunks_ : 0;
	u64 i = 0, j = 0;
	while (i < m || (m == 0 && j < count)) {
		Run r{i, i, j, count, 0};
		if (m == 0) { // no chunks: the changes make the whole table
			for (u64 x = 0; x < count; x++)
				r.size += changes[x].remove ? 0 : 1;
		} else {
			// The chunk the next change falls into: the last whose first key is <= its
			// block (chunk 0 also takes the blocks below its first key, the last chunk
			// those above its last). The chunks before it stay as they are.
			u64 t = m;
			if (j < count) {
				const u64 b = changes[j].data_block;
				t = b <= old->first_[i]
					    ? i
					    : i + last_at_or_below(old->first_ + i, m - i, b);
			}
			if (!a.share(old, i, t))
				return false;
			if (t == m)
				break;
			i = t;
			r.first = i;
			r.to = i + 1 < m ? changes_below(changes, count, j, old->first_[i + 1])
					 : count;
			r.end = i + 1;
			r.size = old->merged_size(i, changes + j, r.to - j);
			// Too small (but not emptied, which just drops out): take in the next
			// chunk.
			while (r.size > 0 && r.size < kMinChunk && r.end < m) {
				const u64 e = r.end;
				const u64 to = e + 1 < m ? changes_below(changes, count, r.to,
									  old->first_[e + 1])
							 : count;
				r.size += old->merged_size(e, changes + r.to, to - r.to);
				r.to = to;
				r.end++;
			}
		}
		i = r.end;
		j = r.to;

		// Still too small: this is the table's tail; fold it into the chunk before.
		Chunk *pre = nullptr;
		u64 pre_size = 0;
		if (r.size > 0 && r.size < kMinChunk && a.chunks > 0) {
			pre = a.pop(&pre_size);
			r.size += pre_size;
		}
		if (r.size == 0)
			continue; // every entry removed: the chunks drop out
		a.begin(r.size);
		if (a.dry())
			continue;

		bool ok = !pre || a.put_run(pre->keys(pre_size), pre->values(pre_size), pre_size);
		u64 c = r.first, at = 0; // the next old entry: chunk c, index at
		for (u64 x = r.from; ok && x < r.to; x++) {
			const Change &ch = changes[x];
			// The old entries before ch, then ch itself (replacing its old entry).
			const u64 *keys = nullptr;
			for (; c < r.end; c++, at = 0) {
				const u64 n = old->chunk_size(c);
				keys = old->slot_[c].chunk->keys(n);
				const u32 *values = old->slot_[c].chunk->values(n);
				const u64 stop = at + lower_bound_in(keys + at, n - at,
								     ch.data_block);
				ok = a.put_run(keys + at, values + at, stop - at);
				at = stop;
				if (!ok || at < n)
					break;
			}
			if (ok && c < r.end && keys[at] == ch.data_block)
				at++;
			if (ok && !ch.remove)
				ok = a.put(ch.data_block, ch.spare);
		}
		for (; ok && c < r.end; c++, at = 0) {
			const u64 n = old->chunk_size(c);
			ok = a.put_run(old->slot_[c].chunk->keys(n) + at,
				       old->slot_[c].chunk->values(n) + at, n - at);
		}
		if (pre && pre->refs == 0)
			rb_free_large(pre); // made earlier in this run, now copied again
		if (!ok)
			return false;
	}
	return true;
}

Result<LookupTable *> LookupTable::merge(const LookupTable *old, const Change *changes, u64 count,
					 Gfp gfp)
{
	Assembler plan;
	if (!assemble(old, changes, count, plan))
		return Error{-kENOMEM}; // cannot happen: the dry run allocates nothing
	LookupTable *t = alloc(plan.chunks, gfp);
	if (!t)
		return Error{-kENOMEM};
	Assembler a;
	a.out = t;
	a.gfp = gfp;
	if (!assemble(old, changes, count, a)) {
		a.discard();
		t->chunks_ = 0;
		free(t);
		return Error{-kENOMEM};
	}
	return finish(t, a);
}

namespace {

void swap_pair(u64 *keys, u32 *values, u64 a, u64 b)
{
	u64 k = keys[a];
	keys[a] = keys[b];
	keys[b] = k;
	u32 v = values[a];
	values[a] = values[b];
	values[b] = v;
}

void sift_down(u64 *keys, u32 *values, u64 root, u64 end)
{
	for (;;) {
		u64 child = 2 * root + 1;
		if (child >= end)
			return;
		if (child + 1 < end && keys[child] < keys[child + 1])
			child++;
		if (keys[root] >= keys[child])
			return;
		swap_pair(keys, values, root, child);
		root = child;
	}
}

} // namespace

void sort_pairs(u64 *keys, u32 *values, u64 count)
{
	if (count < 2)
		return;
	for (u64 i = count / 2; i-- > 0;)
		sift_down(keys, values, i, count);
	for (u64 end = count - 1; end > 0; end--) {
		swap_pair(keys, values, 0, end);
		sift_down(keys, values, 0, end);
	}
}

Result<LookupTable *> LookupTable::build(const u64 *data_blocks, const u32 *spares, u64 count,
					 Gfp gfp)
{
	if (count == 0) {
		LookupTable *t = alloc(0, gfp);
		if (!t)
			return Error{-kENOMEM};
		return t;
	}
	// Sorted in scratch arrays first, then cut into chunks.
	u64 key_bytes, value_bytes;
	if (!checked_mul(count, sizeof(u64), &key_bytes) ||
	    !checked_mul(count, sizeof(u32), &value_bytes))
		return Error{-kENOMEM};
	const auto g = static_cast<rb_gfp>(gfp);
	auto *keys = static_cast<u64 *>(rb_alloc_large(key_bytes, g));
	auto *values = static_cast<u32 *>(rb_alloc_large(value_bytes, g));
	if (!keys || !values) {
		rb_free_large(keys);
		rb_free_large(values);
		return Error{-kENOMEM};
	}
	__builtin_memcpy(keys, data_blocks, key_bytes);
	__builtin_memcpy(values, spares, value_bytes);
	sort_pairs(keys, values, count);
	int err = 0;
	for (u64 i = 1; i < count && !err; i++) {
		if (keys[i] == keys[i - 1])
			err = -kEINVAL;
	}

	LookupTable *t = nullptr;
	if (!err) {
		Assembler plan;
		plan.begin(count);
		t = alloc(plan.chunks, gfp);
		err = t ? 0 : -kENOMEM;
	}
	if (!err) {
		Assembler a;
		a.out = t;
		a.gfp = gfp;
		a.begin(count);
		if (a.put_run(keys, values, count)) {
			finish(t, a);
		} else {
			a.discard();
			t->chunks_ = 0;
			free(t);
			err = -kENOMEM;
		}
	}
	rb_free_large(keys);
	rb_free_large(values);
	if (err)
		return Error{err};
	return t;
}

} // namespace remap
