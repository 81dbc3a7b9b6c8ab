// SPDX-License-Identifier: GPL-2.0
// Counters updated and read without a lock (the I/O path's and the stats'): relaxed atomics,
// which compile to plain loads, stores and a locked add.
#pragma once

#include "base.h"

namespace remap {

inline u64 load_relaxed(const u64 *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
inline void add_relaxed(u64 *p, u64 n = 1) { __atomic_fetch_add(p, n, __ATOMIC_RELAXED); }
inline void store_relaxed(u64 *p, u64 v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
inline void zero_relaxed(u64 *p) { __atomic_store_n(p, 0, __ATOMIC_RELAXED); }

// A counter since it was last cleared at `cleared` (a counter that restarted counts whole).
inline u64 since(u64 now, u64 cleared) { return now >= cleared ? now - cleared : now; }

} // namespace remap
