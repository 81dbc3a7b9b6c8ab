// SPDX-License-Identifier: GPL-2.0
// What tests and benchmarks look at in a LookupTable beyond its API: how build() and merge()
// cut it into chunks and how much each commit copied. Not for the engine (nothing in src/core
// includes it): the layout may change without any caller of the API noticing.
#pragma once

#include "lookup_table.h"

namespace remap {

struct LookupTableProbe {
	// Entries the build() or merge() that made t wrote, chunk entries plus top-level slots
	// (the work a commit does, which must not grow with size()).
	static u64 copied_entries(const LookupTable &t) { return t.copied_; }
	// The chunks, their sizes and key widths.
	static u64 chunk_count(const LookupTable &t) { return t.chunks_; }
	static u64 chunk_entries(const LookupTable &t, u64 i) { return t.chunk_size(i); }
	static bool chunk_is_wide(const LookupTable &t, u64 i) { return t.slot_[i].wide(); }
};

} // namespace remap
