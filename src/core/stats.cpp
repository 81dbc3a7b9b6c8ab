// SPDX-License-Identifier: GPL-2.0
// What `dmsetup status` and the `stats` message show: read from the engine's snapshot and its
// relaxed counters only, never from the metadata store or the allocator, and without the
// mutex (refresh_snapshot_locked() fills the snapshot, spare_bad_locked() one of its counts).
#include "stats.h"

#include "relaxed.h"
#include "remap_target.h"

namespace remap {

namespace {

const char *metadata_name(MetadataState s)
{
	switch (s) {
	case MetadataState::Ok:
		return "ok";
	case MetadataState::Degraded:
		return "degraded";
	case MetadataState::Failed:
		return "failed";
	}
	return "?";
}

} // namespace

void Stats::count_redone_write(u64 ns)
{
	redone_writes.add();
	redo_sum_ns.add(ns);
	redo_last_ns.set(ns);
	if (ns > redo_max_ns.get())
		redo_max_ns.set(ns);
}

void Stats::clear()
{
	Counter *const all[] = {&read_errors,   &write_errors,     &auto_remaps,  &manual_remaps,
				&redone_writes, &redo_last_ns,     &redo_sum_ns,  &redo_max_ns,
				&medium_errors, &transient_errors, &nospc_errors, &readahead_errors,
				&outages,       &reprobed,         &rescued};
	for (Counter *c : all)
		c->clear();
}

u64 RemapTarget::spare_total() const
{
	return geo_.spare_blocks() - geo_.first_usable_spare().value();
}

// Usable spare blocks are free (in the bitmap or the cache), retired as bad, or used.
u64 RemapTarget::spare_bad_locked() const
{
	return allocator_->reserved_blocks() - geo_.first_usable_spare().value();
}

// Reads only snap_ and counters of the target itself, never store_ or allocator_.
void RemapTarget::do_stats(TextBuffer &out) const
{
	const u64 total = spare_total();
	const u64 free = load_relaxed(&snap_.spare_free);
	const u64 bad = load_relaxed(&snap_.spare_bad);
	const u64 redone = stats_.redone_writes.get();
	out.emit("remapped=%llu lost=%llu spare_used=%llu spare_free=%llu spare_total=%llu "
		 "bad_spare=%llu read_errors=%llu write_errors=%llu auto_remaps=%llu "
		 "manual_remaps=%llu cache_hits=%llu cache_misses=%llu metadata=%s seq=%llu "
		 "redone_writes=%llu redo_last_ns=%llu redo_avg_ns=%llu redo_max_ns=%llu "
		 "medium_errors=%llu transient_errors=%llu nospc_errors=%llu readahead_errors=%llu "
		 "outages=%llu reprobed=%llu rescued=%llu lost_sectors=%llu spare=%s mode=%s",
		 load_relaxed(&snap_.remapped), load_relaxed(&snap_.lost), total - free - bad, free,
		 total, bad, stats_.read_errors.get(), stats_.write_errors.get(),
		 stats_.auto_remaps.get(), stats_.manual_remaps.get(),
		 since(load_relaxed(&snap_.cache_hits), load_relaxed(&snap_.hits_cleared)),
		 since(load_relaxed(&snap_.cache_misses), load_relaxed(&snap_.misses_cleared)),
		 metadata_name(snapshot_metadata()), load_relaxed(&snap_.seq), redone,
		 stats_.redo_last_ns.get(), redone ? stats_.redo_sum_ns.get() / redone : 0,
		 stats_.redo_max_ns.get(), stats_.medium_errors.get(),
		 stats_.transient_errors.get(), stats_.nospc_errors.get(),
		 stats_.readahead_errors.get(), stats_.outages.get(), stats_.reprobed.get(),
		 stats_.rescued.get(), load_relaxed(&lost_sectors_),
		 __atomic_load_n(&spare_failed_, __ATOMIC_RELAXED) ? "failed" : "ok",
		 table_.read_only ? "ro" : "rw");
}

// Reads only snap_ (see do_stats()). The fields are a contract: new ones go at the end.
void RemapTarget::status_info(TextBuffer &out) const
{
	const u64 total = spare_total();
	const u64 used = total - load_relaxed(&snap_.spare_free) - load_relaxed(&snap_.spare_bad);
	out.emit("%u %llu %llu %llu/%llu %s %llu %s", geo_.block_size(),
		 load_relaxed(&snap_.remapped), load_relaxed(&snap_.lost), used, total,
		 metadata_name(snapshot_metadata()), load_relaxed(&snap_.seq),
		 table_.read_only ? "ro" : "rw");
}

} // namespace remap
