// SPDX-License-Identifier: GPL-2.0
// Building and searching the immutable lookup table; see lookup_table.h.
#include "lookup_table.h"

#include "memory.h"

namespace remap {

LookupTable *LookupTable::alloc(u64 count, Gfp gfp)
{
	auto *t = new (gfp) LookupTable; // make<>() cannot reach the private constructor
	if (!t)
		return nullptr;
	if (count) {
		const u64 index_count = (count + kFanout - 1) / kFanout;
		u64 key_bytes, value_bytes, index_bytes;
		if (!checked_mul(count, sizeof(u64), &key_bytes) ||
		    !checked_mul(count, sizeof(u32), &value_bytes) ||
		    !checked_mul(index_count, sizeof(u64), &index_bytes)) {
			destroy(t);
			return nullptr;
		}
		const auto g = static_cast<rb_gfp>(gfp);
		t->keys_ = static_cast<u64 *>(rb_alloc_large(key_bytes, g));
		t->values_ = static_cast<u32 *>(rb_alloc_large(value_bytes, g));
		t->index_ = static_cast<u64 *>(rb_alloc_large(index_bytes, g));
		t->index_count_ = index_count;
		if (!t->keys_ || !t->values_ || !t->index_) {
			free(t);
			return nullptr;
		}
	}
	t->count_ = count;
	return t;
}

void LookupTable::free(LookupTable *table)
{
	if (!table)
		return;
	rb_free_large(table->keys_);
	rb_free_large(table->values_);
	rb_free_large(table->index_);
	destroy(table);
}

void LookupTable::build_index()
{
	for (u64 i = 0; i < index_count_; i++)
		index_[i] = keys_[i * kFanout];
}

u64 LookupTable::bytes() const
{
	return sizeof(*this) + count_ * (sizeof(u64) + sizeof(u32)) + index_count_ * sizeof(u64);
}

u64 LookupTable::lower_bound(u64 block) const
{
	if (count_ == 0)
		return 0;
	// The last index entry <= block names the group that holds the answer (or the answer
	// is the first key of the next group).
	u64 lo = 0, hi = index_count_;
	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;
		if (index_[mid] <= block)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0; // block is below every key
	u64 first = (lo - 1) * kFanout;
	u64 last = min(first + kFanout, count_);
	while (first < last) {
		u64 mid = first + (last - first) / 2;
		if (keys_[mid] < block)
			first = mid + 1;
		else
			last = mid;
	}
	return first;
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
	LookupTable *t = alloc(count, gfp);
	if (!t)
		return Error{-kENOMEM};
	for (u64 i = 0; i < count; i++) {
		t->keys_[i] = data_blocks[i];
		t->values_[i] = spares[i];
	}
	sort_pairs(t->keys_, t->values_, count);
	for (u64 i = 1; i < count; i++) {
		if (t->keys_[i] == t->keys_[i - 1]) {
			free(t);
			return Error{-kEINVAL};
		}
	}
	t->build_index();
	return t;
}

Result<LookupTable *> LookupTable::merge(const LookupTable *old, const Change *changes, u64 count,
					 Gfp gfp)
{
	const u64 old_count = old ? old->count_ : 0;
	u64 added = 0;
	for (u64 i = 0; i < count; i++)
		added += changes[i].remove ? 0 : 1;
	// An upper bound: every change an addition. Trimmed by count_ below, not reallocated.
	LookupTable *t = alloc(old_count + added, gfp);
	if (!t)
		return Error{-kENOMEM};

	u64 i = 0, j = 0, n = 0;
	while (i < old_count || j < count) {
		if (j == count || (i < old_count && old->keys_[i] < changes[j].data_block)) {
			t->keys_[n] = old->keys_[i];
			t->values_[n++] = old->values_[i++];
			continue;
		}
		const Change &c = changes[j++];
		if (i < old_count && old->keys_[i] == c.data_block)
			i++; // replaced or removed
		if (!c.remove) {
			t->keys_[n] = c.data_block;
			t->values_[n++] = c.spare;
		}
	}
	t->count_ = n;
	t->index_count_ = (n + kFanout - 1) / kFanout;
	t->build_index();
	return t;
}

} // namespace remap
