// SPDX-License-Identifier: GPL-2.0
// The remap engine of one dm target: the persistent store, the spare allocator and the
// RCU-published lookup table, and the operations that change them (messages, resume). The
// I/O path only ever reads the published lookup table.
#pragma once

#include "geometry.h"
#include "locks.h"
#include "lookup_table.h"
#include "metadata_store.h"
#include "spare_allocator.h"
#include "text_buffer.h"

namespace remap {

enum class MetadataState : u8 {
	Ok,       // the newest commit loaded cleanly and every commit since succeeded
	Degraded, // loaded from the older slot (the newer one was damaged) until the next commit
	Failed,   // a commit failed: nothing more is written until the table is reloaded
};

class RemapTarget {
public:
	// Loads the metadata (reads only). On failure *error is a literal for ti->error.
	[[nodiscard]] static Result<RemapTarget *> create(const rc_table &table,
							  const rc_devices &devs,
							  const rb_io_ops *io, void *io_ctx,
							  const char **error);
	~RemapTarget();
	RemapTarget(const RemapTarget &) = delete;
	RemapTarget &operator=(const RemapTarget &) = delete;

	[[nodiscard]] Status resume();
	void suspend();

	void map(u64 sector, u32 sectors, rc_mapping *out) const;
	// The slot of the RCU-published summary of lookup_ (see struct rc_io_view).
	const rc_io_view *const *io_view() const { return &view_; }
	void count_error(bool is_write);
	// From the glue's worker (one at a time per target); clear_stats may race with it.
	void count_redone_write(u64 ns);
	int message(unsigned argc, char **argv, char *result, unsigned maxlen);
	int rewrite(const rc_extent *extents, u32 count);
	int reread(u64 sector, u32 sectors, u8 *buf);
	// Raises the low-water and exhaustion events when free spare blocks cross them.
	void check_spare_events();
	// A hint for the I/O path (read without the mutex): rewrite() decides for real.
	bool auto_remap() const
	{
		return table_.auto_remap && !__atomic_load_n(&metadata_failed_, __ATOMIC_RELAXED);
	}
	void status_info(TextBuffer &out) const;

private:
	// What load() builds; replaced as a whole when another table committed meanwhile.
	struct State {
		Own<MetadataStore> store;
		Own<SpareAllocator> allocator;
		LookupTable *lookup = nullptr; // until published
		bool degraded = false;
		~State() { LookupTable::free(lookup); }
	};

	RemapTarget(const rc_table &table, const rc_devices &devs, const Geometry &geo,
		    const rb_io_ops *io, void *io_ctx)
		: table_(table), devs_(devs), geo_(geo), io_(io), io_ctx_(io_ctx)
	{
	}
	// 0, or a negative errno with *error a literal naming the problem.
	[[nodiscard]] static int load_state(const Geometry &geo, const rb_io_ops *io, void *io_ctx,
					    Own<State> *out, const char **error);
	void install(Own<State> state);

	// Publishes next (the target owns it from now) and waits out readers and I/O that used
	// the old table, which it returns: the caller frees it, or keeps it to roll back to.
	[[nodiscard]] LookupTable *publish(LookupTable *next);
	// Fills the view slot of t's generation and publishes it (see views_).
	void publish_view(const LookupTable *t);
	[[nodiscard]] Result<LookupTable *> with_change(u64 block, u32 value, bool remove);
	[[nodiscard]] Status commit(const MetadataStore::SlotChange *changes, u64 count);

	struct RangeWork;
	int do_remap(DataBlock first, u64 count, bool range_reply, TextBuffer &reply);
	u32 move_block(u64 block, RangeWork &work, int *err);
	u32 place_block(RangeWork &work, int *err);
	[[nodiscard]] Status finish_move(RangeWork &work, u64 n, LookupTable *held,
					 LookupTable *before, int err);
	int read_block(const LookupTable *table, u64 block, u32 attempts);
	template <typename Set>
	[[nodiscard]] Result<LookupTable *> range_table(const LookupTable *base, RangeWork &work,
							u64 n, Set set);
	int do_unremap(DataBlock block);

	// Sub-block salvage and lost data (at the end of remap_target.cpp): what the move,
	// reread and rewrite paths call when a block does not read whole or a write reaches
	// lost data.
	// Reads a block into copy_buf_ at the device's logical block size, zero-filling what does
	// not read; *lost gets the sectors that did not. 0, or -ENOMEM (nothing says the disk).
	int salvage_block(rb_device dev, u64 dev_sector, unsigned flags, SectorMask *lost);
	// Salvages block b from where it is and places what read on a new spare block with its
	// lost sectors logged in work (with any it already had). kLost if nothing read, else the
	// spare block, or kPending with a negative errno in *err.
	u32 salvage_move(u64 b, rb_device dev, u64 dev_sector, RangeWork &work, int *err);
	// finish_move()'s commit: work.slots plus the LostSectors entries work.lost changes, and
	// on success final_table gets the new lost set.
	[[nodiscard]] Status commit_move(RangeWork &work, u64 n, LookupTable *final_table);
	// Whether the extents write some lost sector of block b (per lookup_).
	bool writes_lost_sectors(u64 b, const rc_extent *ext, u32 count) const;
	// rewrite()'s step 3 for a block that is lost or whose lost sectors the extents write:
	// merges, places or rewrites it in place, logs the sectors still lost. False if the block
	// is not such a block (the caller handles it).
	bool rewrite_lost(RangeWork &work, u64 i, const LookupTable *before, const rc_extent *ext,
			  u32 count, int *err);
	int do_reprobe(u64 first, u64 count, TextBuffer &reply);
	u32 reprobe_block(RangeWork &work, u64 i, u32 v, int *err, bool *rescued);
	bool has_lost_sectors(u64 b) const;
	int can_change_mapping(const char *verb) const;
	void do_list(u64 first, u64 max, TextBuffer &reply) const;
	void do_stats(TextBuffer &reply) const;
	u64 spare_total() const;
	u64 spare_bad() const;

	const rc_table table_;
	const rc_devices devs_; // what the glue learnt of the devices (logical block sizes, ids)
	const Geometry geo_;
	const rb_io_ops *io_;
	void *io_ctx_;

	// Serializes everything that changes the mapping or writes metadata.
	Mutex mutex_;
	Own<MetadataStore> store_;
	Own<SpareAllocator> allocator_;
	LookupTable *lookup_ = nullptr; // RCU-published; read with rcu_read()
	// lookup_'s summary for the glue's fast path, RCU-published with it. Two slots, by the
	// parity of the generation: publish() waits for a grace period every time, so when the
	// slot of generation g + 1 is rewritten no reader can still hold it from generation g - 1.
	rc_io_view views_[2] = {};
	const rc_io_view *view_ = nullptr;
	u32 generation_ = 0;
	bool suspended_ = true;
	MetadataState metadata_ = MetadataState::Ok;
	bool metadata_failed_ = false; // metadata_ == Failed, for readers without the mutex
	bool low_water_signalled_ = false; // under mutex_
	bool empty_signalled_ = false;
	u8 *copy_buf_ = nullptr; // one block, for moving data (under mutex_)

	u64 remapped_ = 0; // under mutex_
	u64 lost_ = 0;

	// Updated without the mutex (end_io), read for stats.
	u64 read_errors_ = 0;
	u64 write_errors_ = 0;
	u64 auto_remaps_ = 0;
	u64 manual_remaps_ = 0;
	u64 redone_writes_ = 0;
	u64 redo_last_ns_ = 0;
	u64 redo_sum_ns_ = 0;
	u64 redo_max_ns_ = 0;
	// Failed bios by what failed (rc_target_failed_io()'s taxonomy); relaxed atomics.
	u64 medium_errors_ = 0;    // -ENODATA: the medium
	u64 transient_errors_ = 0; // the path: transport, timeout, offline, again, resource
	u64 nospc_errors_ = 0;     // the device below is out of space (thin)
	u64 readahead_errors_ = 0; // REQ_RAHEAD: passed through untouched
	u64 outages_ = 0;          // failed reads found to be a device-wide outage: nothing marked
	u64 reprobed_ = 0;         // lost blocks read again by `reprobe`
	u64 rescued_ = 0;          // of those, blocks that read and moved with their data
	u64 lost_sectors_ = 0;     // 512-byte sectors lost inside salvaged blocks (under mutex_)
	bool spare_failed_ = false; // no spare block accepted a write: the spare device failed
};

} // namespace remap
