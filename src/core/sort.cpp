// SPDX-License-Identifier: GPL-2.0
// The heapsort of sort.h.
#include "sort.h"

namespace remap {

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

} // namespace remap
