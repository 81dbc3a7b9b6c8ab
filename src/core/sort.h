// SPDX-License-Identifier: GPL-2.0
// The core's two sorts, neither recursive nor allocating: a heapsort for the large arrays a table
// is built from, an insertion sort for the few blocks of one mapping change.
#pragma once

#include "base.h"

namespace remap {

// Sorts keys ascending, moving values along (heapsort: O(n log n) in all cases).
void sort_pairs(u64 *keys, u32 *values, u64 count);

// Sorts a[0, n) ascending by key(a[i]), keeping equal keys in order (insertion sort: for short
// or nearly sorted arrays only).
template <typename T, typename Key> void insertion_sort(T *a, u64 n, Key key)
{
	for (u64 i = 1; i < n; i++) {
		const T v = a[i];
		u64 j = i;
		for (; j > 0 && key(a[j - 1]) > key(v); j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

} // namespace remap
