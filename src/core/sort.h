// SPDX-License-Identifier: GPL-2.0
// The core's two sorts, neither recursive nor allocating: a heapsort for the large arrays a table
// is built from, an insertion sort for the few blocks of one mapping change; and the binary
// search of a sorted array.
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

// The first of keys[0, n) that is >= x (n if none); keys ascending.
template <typename K> u64 lower_bound_in(const K *keys, u64 n, K x)
{
	u64 lo = 0, hi = n;
	while (lo < hi) {
		const u64 mid = lo + (hi - lo) / 2;
		if (keys[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

} // namespace remap
