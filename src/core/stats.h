// SPDX-License-Identifier: GPL-2.0
// The engine's event counters: updated on the I/O path and by the worker without a lock, read
// by `stats`, zeroed by `clear_stats`. Relaxed atomics: each counter is exact, the set of them
// is not a snapshot.
#pragma once

#include "base.h"
#include "text_buffer.h"

namespace remap {

class Counter {
public:
	void add(u64 n = 1) { __atomic_fetch_add(&v_, n, __ATOMIC_RELAXED); }
	void set(u64 v) { __atomic_store_n(&v_, v, __ATOMIC_RELAXED); }
	u64 get() const { return __atomic_load_n(&v_, __ATOMIC_RELAXED); }
	void clear() { set(0); }

private:
	u64 v_ = 0;
};

// What the `stats` line shows besides the counters: the engine's state, read by the caller
// from its snapshot (never from the store or the allocator).
struct StatsGauges {
	u64 remapped = 0, lost = 0;
	u64 spare_used = 0, spare_free = 0, spare_total = 0, spare_bad = 0;
	u64 cache_hits = 0, cache_misses = 0; // since the last clear_stats
	const char *metadata = "ok";
	u64 seq = 0;
	u64 lost_sectors = 0;
	bool spare_failed = false;
	bool read_only = false;
};

struct Stats {
	Counter read_errors, write_errors;
	Counter auto_remaps, manual_remaps;
	// Failed writes the worker made good, and how long the glue held them (ns).
	Counter redone_writes, redo_last_ns, redo_sum_ns, redo_max_ns;
	// Failed bios by what failed (rc_target_failed_io()'s taxonomy).
	Counter medium_errors;    // -ENODATA: the medium
	Counter transient_errors; // the path: transport, timeout, offline, again, resource
	Counter nospc_errors;     // the device below is out of space (thin)
	Counter readahead_errors; // REQ_RAHEAD: passed through untouched
	Counter outages;          // failed I/O found to be a device-wide outage: nothing marked
	Counter reprobed;         // lost blocks read again by `reprobe`
	Counter rescued;          // of those, blocks that read and moved with their data

	void count_redone_write(u64 ns);
	// clear_stats: every counter to 0.
	void clear();
	// The `stats` reply: one line of key=value pairs. The keys are a contract: new ones are
	// only ever appended.
	void emit(TextBuffer &out, const StatsGauges &g) const;
};

} // namespace remap
