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

void Stats::emit(TextBuffer &out, const StatsGauges &g) const
{
	const u64 redone = redone_writes.get();
	// A field is a number, or a word when text is set.
	struct Field {
		const char *key;
		u64 value;
		const char *text;
	};
	const Field fields[] = {
		{"remapped", g.remapped, nullptr},
		{"lost", g.lost, nullptr},
		{"spare_used", g.spare_used, nullptr},
		{"spare_free", g.spare_free, nullptr},
		{"spare_total", g.spare_total, nullptr},
		{"bad_spare", g.spare_bad, nullptr},
		{"read_errors", read_errors.get(), nullptr},
		{"write_errors", write_errors.get(), nullptr},
		{"auto_remaps", auto_remaps.get(), nullptr},
		{"manual_remaps", manual_remaps.get(), nullptr},
		{"cache_hits", g.cache_hits, nullptr},
		{"cache_misses", g.cache_misses, nullptr},
		{"metadata", 0, g.metadata},
		{"seq", g.seq, nullptr},
		{"redone_writes", redone, nullptr},
		{"redo_last_ns", redo_last_ns.get(), nullptr},
		{"redo_avg_ns", redone ? redo_sum_ns.get() / redone : 0, nullptr},
		{"redo_max_ns", redo_max_ns.get(), nullptr},
		{"medium_errors", medium_errors.get(), nullptr},
		{"transient_errors", transient_errors.get(), nullptr},
		{"nospc_errors", nospc_errors.get(), nullptr},
		{"readahead_errors", readahead_errors.get(), nullptr},
		{"outages", outages.get(), nullptr},
		{"reprobed", reprobed.get(), nullptr},
		{"rescued", rescued.get(), nullptr},
		{"lost_sectors", g.lost_sectors, nullptr},
		{"spare", 0, g.spare_failed ? "failed" : "ok"},
		{"mode", 0, g.read_only ? "ro" : "rw"},
	};
	// Field by field: a line cut by a full buffer is the same prefix one printf would leave.
	const char *sep = "";
	for (const Field &f : fields) {
		if (f.text)
			out.emit("%s%s=%s", sep, f.key, f.text);
		else
			out.emit("%s%s=%llu", sep, f.key, f.value);
		sep = " ";
	}
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
	StatsGauges g;
	g.spare_total = spare_total();
	g.spare_free = load_relaxed(&snap_.spare_free);
	g.spare_bad = load_relaxed(&snap_.spare_bad);
	g.spare_used = g.spare_total - g.spare_free - g.spare_bad;
	g.remapped = load_relaxed(&snap_.remapped);
	g.lost = load_relaxed(&snap_.lost);
	g.cache_hits = since(load_relaxed(&snap_.cache_hits), load_relaxed(&snap_.hits_cleared));
	g.cache_misses =
		since(load_relaxed(&snap_.cache_misses), load_relaxed(&snap_.misses_cleared));
	g.metadata = metadata_name(snapshot_metadata());
	g.seq = load_relaxed(&snap_.seq);
	g.lost_sectors = load_relaxed(&lost_sectors_);
	g.spare_failed = __atomic_load_n(&spare_failed_, __ATOMIC_RELAXED);
	g.read_only = table_.read_only;
	stats_.emit(out, g);
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
