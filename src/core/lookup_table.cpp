// SPDX-License-Identifier: GPL-2.0
// The lookup table's read side out of line: the searches too large or too rare to inline
// into the I/O path, bytes() for the stats. The builder is lookup_table_build.cpp.
#include "lookup_table.h"

namespace remap {

u64 LookupTable::chunk_between(u64 lo, u64 hi, u64 block) const
{
	return lo + last_at_or_below(first_ + lo, hi - lo + 1, block);
}

u64 LookupTable::bytes() const
{
	u64 total = rb_alloc_large_bytes(top_bytes_);
	for (u64 i = 0; i < chunks_; i++) {
		const u64 n = chunk_size(i);
		total += rb_alloc_large_bytes(slot_[i].wide() ? Layout<u64>::bytes(n)
							      : Layout<u32>::bytes(n));
	}
	return total + (lost_ ? lost_->bytes() : 0);
}

u64 LookupTable::search_wide(const void *c, u64 n, u64 rel)
{
	return Layout<u64>::search(c, n, rel);
}

u64 LookupTable::lower_bound(u64 block) const
{
	if (chunks_ == 0 || block <= base_)
		return 0;
	const u64 off = block - base_;
	if (off > span_)
		return count_;
	const u64 i = chunk_for(block, off);
	u64 at;
	const bool present = chunk_has(i, block, &at);
	return slot_[i].start + at + (present ? 0 : 1);
}

} // namespace remap
