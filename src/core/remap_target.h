// SPDX-License-Identifier: GPL-2.0
// The remap engine of one dm target: the persistent store, the spare allocator and the
// RCU-published lookup table, and the operations that change them (messages, resume). The
// I/O path only ever reads the published lookup table.
#pragma once

#include "geometry.h"
#include "locks.h"
#include "lookup_table.h"
#include "metadata_store.h"
#include "registry.h"
#include "spare_allocator.h"
#include "stats.h"
#include "text_buffer.h"

namespace remap {

enum class MetadataState : u8 {
	Ok,       // the newest commit loaded cleanly and every commit since succeeded
	Degraded, // loaded from the older slot (the newer one was damaged) until the next commit
	Failed,   // a commit failed: nothing more is written until the table is reloaded
};

class RemapTarget {
public:
	// Loads the metadata (reads only) and registers the table's area (registry.h). An
	// error's text is for ti->error.
	static Result<RemapTarget *> create(const rc_table &table, const rc_devices &devs,
					    const rb_io_ops *io, void *io_ctx);
	~RemapTarget();
	RemapTarget(const RemapTarget &) = delete;
	RemapTarget &operator=(const RemapTarget &) = delete;

	// preresume. The first resume takes the device's mapping over from the table this one
	// replaces (no I/O) and formats a fresh area; a later one does no I/O. It fails only
	// for what cannot be reported instead: a failed format or read means metadata=failed
	// and an event, and the table resumes.
	[[nodiscard]] Status resume() EXCLUDES(global_lock, mutex_);
	void suspend() EXCLUDES(mutex_);
	bool read_only() const { return table_.read_only; }

	void map(u64 sector, u32 sectors, rc_mapping *out) const;
	// The slot of the RCU-published summary of lookup_ (see struct rc_io_view).
	const rc_io_view *const *io_view() const { return &view_; }
	void count_error(bool is_write);
	// The error taxonomy's verdict on a bio that failed where map() routed it (counts it).
	// Never sleeps, allocates or locks: end_io may call it in interrupt context.
	rc_verdict failed_io(const rc_failed_io &f);
	// From the glue's worker (one at a time per target); clear_stats may race with it.
	void count_redone_write(u64 ns);
	int message(unsigned argc, char **argv, char *result, unsigned maxlen) EXCLUDES(mutex_);
	int rewrite(const rc_extent *extents, u32 count) EXCLUDES(mutex_);
	int reread(u64 sector, u32 sectors, u8 *buf, int error) EXCLUDES(mutex_);
	// Raises the low-water and exhaustion events when free spare blocks cross them.
	void check_spare_events() EXCLUDES(mutex_);
	// A hint for the I/O path (read without the mutex): rewrite() decides for real.
	bool auto_remap() const
	{
		return table_.auto_remap && !table_.read_only &&
			!__atomic_load_n(&metadata_failed_, __ATOMIC_RELAXED) &&
			!__atomic_load_n(&spare_failed_, __ATOMIC_RELAXED);
	}
	void status_info(TextBuffer &out) const;

private:
	// Spare blocks one block's move tries before the spare device counts as failed.
	enum : u32 {
		kSpareWriteAttempts = 3
	};
	// Failing reads salvage_block() spends on a block whose whole read failed (a failing
	// read is what costs: the drive's own recovery, seconds; a read that works costs a
	// transfer). One bad spot in the largest block (128 units of 512 bytes) takes 5 failing
	// reads (4 halvings down to 8 units, then one unit) of 16 in all; 24 isolate three or
	// four spread spots exactly; a wholly bad block costs 24 failing reads, not 128. A block
	// of fewer units has one failing read per unit at most (8 for 4 KiB on 512-byte
	// sectors), never more than reading each unit once.
	enum : u32 {
		kSalvageFailures = 24
	};
	// A failing range of this many units or fewer is read unit by unit: bisecting a wholly
	// bad range of n units costs 2n - 2 failing reads, reading its units n.
	enum : u32 {
		kSalvageScanUnits = 8
	};

	// What load() builds; replaced as a whole when another table committed meanwhile.
	struct State {
		Own<MetadataStore> store;
		Own<SpareAllocator> allocator;
		LookupTable *lookup = nullptr; // until published
		bool degraded = false;
		~State() { LookupTable::free(lookup); }
	};

	RemapTarget(const rc_table &table, const rc_devices &devs, const Geometry &geo,
		    const rb_io_ops *io, void *io_ctx) :
	    table_(table),
	    devs_(devs), geo_(geo), io_(io), io_ctx_(io_ctx)
	{}
	// Loads again (a few times) when another table committed while it read; *out is set
	// on success. spare_block: the spare device's logical block size (metadata I/O is
	// aligned to it). gfp: Gfp::Kernel for the constructor, Gfp::Noio for a resume (the
	// mapped device is suspended).
	static Status load_state(const Geometry &geo, u32 spare_block, const rb_io_ops *io,
				 void *io_ctx, Gfp gfp, Own<State> *out);
	// One load; *out is also set when the metadata did not load, for load_state() to tell a
	// race from damage.
	static Status load_once(const Geometry &geo, u32 spare_block, const rb_io_ops *io,
				void *io_ctx, Gfp gfp, Own<State> *out);
	void install_locked(Own<State> state) REQUIRES(mutex_);
	// The first resume's part: with the global lock and mutex_ held.
	[[nodiscard]] Status pick_up_state_locked() REQUIRES(global_lock, mutex_);
	void take_over_locked(RemapTarget &old) REQUIRES(mutex_, old.mutex_);
	// Copies what status and stats show into snap_; with mutex_ held, after every change.
	void refresh_snapshot_locked() REQUIRES(mutex_);
	MetadataState snapshot_metadata() const
	{
		return static_cast<MetadataState>(
			__atomic_load_n(&snap_.metadata, __ATOMIC_RELAXED));
	}

	// Publishes next (the target owns it from now) and waits out readers and the I/O that
	// used the old table and overlaps target sectors [sector, sector + sectors). Returns the
	// old table: the caller frees it, or keeps it to roll back to.
	[[nodiscard]] LookupTable *publish_locked(LookupTable *next, u64 sector = 0,
						  u64 sectors = RC_ALL_SECTORS) REQUIRES(mutex_);
	// Fills the view slot of t's generation and publishes it (see views_).
	void publish_view_locked(const LookupTable *t) REQUIRES(mutex_);
	[[nodiscard]] Status commit_locked(const MetadataStore::SlotChange *changes, u64 count)
		REQUIRES(mutex_);

	// One change of the mapping of a few blocks, in two phases (mapping_change.h).
	class MappingChange;
	friend class MappingChange;
	// Both take mutex_ themselves (do_remap() once per chunk).
	Status do_remap(DataBlock first, u64 count, bool range_reply, TextBuffer &reply)
		EXCLUDES(mutex_);
	static void emit_place(TextBuffer &reply, u64 block, u32 place);
	[[nodiscard]] int copy_to_spares_locked(MappingChange &change) REQUIRES(mutex_);
	Status do_unremap(DataBlock block) EXCLUDES(mutex_);

	// The failed-I/O policy (fault_repair.cpp).
	enum : int {
		kRestart = 1
	}; // a pass saw the mapping change under it: run it again
	bool can_repair() const { return auto_remap(); }
	int reread_pass(u64 sector, u32 sectors, u8 *buf, int error) EXCLUDES(mutex_);
	struct RereadPlan;
	int read_alone(RereadPlan &plan) EXCLUDES(mutex_);
	int retry_alone(rb_device dev, u64 dev_sector, int r, u32 alone, bool *medium,
			bool *outage);
	bool reread_held_locked(RereadPlan &plan, u64 i) REQUIRES(mutex_);
	int rewrite_pass(const rc_extent *ext, u32 count) EXCLUDES(mutex_);
	struct RewritePlan;
	int retry_in_place(const rc_extent *ext, u32 count, RewritePlan &plan) EXCLUDES(mutex_);
	int retry_part(const rc_extent &e, u64 b, bool mapped, u32 v);
	int move_written_locked(MappingChange &change, const rc_extent *ext, u32 count)
		REQUIRES(mutex_);
	int read_where(rb_device dev, u64 dev_sector, u8 *buf, unsigned flags);
	// The published mapping's entry for block, read without the mutex (as map() reads it).
	[[nodiscard]] bool find_now(u64 block, u32 *value) const;
	[[nodiscard]] u32 generation_now() const;
	void wait_for_change() EXCLUDES(mutex_);
	// Whether dev still answers a read outside data blocks [first_block, end_block) (buf: one
	// block of scratch): tells an error confined to those blocks from an outage.
	[[nodiscard]] bool device_answers(rb_device dev, u64 first_block, u64 end_block, u8 *buf);
	// Block i of a held change was read (read_error 0: its data is in copy_buf_) or was
	// found unreadable with the medium at fault: moved with its data, or marked lost.
	[[nodiscard]] int move_or_mark_locked(MappingChange &change, u64 i, int read_error)
		REQUIRES(mutex_);
	void count_outage();
	// reread()'s summary of what became of the blocks it moved, salvaged or marked lost.
	void log_reread(u64 sector, u64 moved, u64 salvaged, u64 salvaged_lost, u64 lost);
	void spare_device_failed(int error);
	// Marks block i of a held change unreadable (the one place a read error loses data).
	void mark_unreadable_locked(MappingChange &change, u64 i) REQUIRES(mutex_);

	// Sub-block salvage and lost data (at the end of fault_repair.cpp): what
	// move_or_mark_locked(), rewrite_pass() and reprobe call when a block does not read whole
	// or a write reaches lost data.
	// Reads a block into buf down to the device's logical block size, by bisection of the
	// ranges that fail, until kSalvageFailures reads failed, or as many as the block has
	// units if fewer (after the whole block's read, skipped if whole_failed: the caller's
	// read of it failed); zero-fills what did not read or was not read by then; *lost gets
	// those sectors. 0, or -ENOMEM (nothing says the disk).
	// Not inlined: its queue stays off the frames of do_reprobe() and the repairs.
	[[gnu::noinline]] int salvage_block(rb_device dev, u64 dev_sector, unsigned flags, u8 *buf,
					    SectorMask *lost, bool whole_failed);
	// Block i of a held change does not read whole: salvages it from where it is into
	// copy_buf_ and places what read on its spare block with its lost sectors logged in the
	// change (with any it already had); marks it lost (mark_unreadable_locked()) if nothing
	// read.
	[[nodiscard]] int salvage_or_mark_locked(MappingChange &change, u64 i) REQUIRES(mutex_);
	// Whether the extents write some lost sector of block b per table t.
	bool writes_lost_sectors(const LookupTable *t, u64 b, const rc_extent *ext,
				 u32 count) const;
	// Whether block i of a held change is lost, or has lost sectors the extents write.
	bool writes_lost_locked(MappingChange &change, u64 i, const rc_extent *ext, u32 count) const
		REQUIRES(mutex_);
	// rewrite_pass()'s step 3 for such a block: merges, places or rewrites it in place, logs
	// the sectors still lost. 0 or the error.
	int rewrite_lost_locked(MappingChange &change, u64 i, const rc_extent *ext, u32 count)
		REQUIRES(mutex_);
	int do_reprobe(u64 first, u64 count, TextBuffer &reply) EXCLUDES(mutex_);
	struct ReprobeBatch;
	int next_lost(u64 next, u64 end, ReprobeBatch &at) EXCLUDES(mutex_);
	int probe_lost(ReprobeBatch &at, u8 *probe);
	int rescue_batch(const ReprobeBatch &at, u64 *rescued) EXCLUDES(mutex_);
	int rescue_block_locked(MappingChange &change, u64 i, u64 *rescued) REQUIRES(mutex_);
	int rescue_sectors_locked(u64 data, u32 spare, const SectorMask &m, SectorMask *still)
		REQUIRES(mutex_);
	bool has_lost_sectors_locked(u64 b) const REQUIRES(mutex_);
	// Whether block b is lost or has lost sectors. Not inlined: reprobe's frame is large
	// already.
	[[gnu::noinline]] bool lost_now_locked(u64 b) const REQUIRES(mutex_);
	Status can_change_mapping_locked(const char *verb) const REQUIRES(mutex_);
	void do_list(u64 first, u64 max, TextBuffer &reply) const;
	void do_stats(TextBuffer &reply) const;
	u64 spare_total() const;
	u64 spare_bad_locked() const REQUIRES(mutex_);

	const rc_table table_;
	[[maybe_unused]] const rc_devices
		devs_; // what the glue learnt of the devices (logical block sizes, ids)
	const Geometry geo_;
	const rb_io_ops *io_;
	void *io_ctx_;

	// Serializes everything that changes the mapping or writes metadata: it guards the
	// fields marked GUARDED_BY(mutex_) (checked by clang, thread_annotations.h).
	Mutex mutex_;
	Own<MetadataStore> store_ GUARDED_BY(mutex_);
	Own<SpareAllocator> allocator_ GUARDED_BY(mutex_);
	// RCU-published: written under mutex_ (rcu_publish()), read with rcu_read() without it
	// (map(), find_now(), generation_now()) or plainly with it.
	LookupTable *lookup_ GUARDED_BY(mutex_) = nullptr;
	// lookup_'s summary for the glue's fast path, RCU-published with it. Two slots, by the
	// parity of the generation: publish_locked() waits for a grace period every time, so when
	// the slot of generation g + 1 is rewritten no reader can still hold it from generation
	// g - 1.
	// Written under mutex_; readers go through view_.
	rc_io_view views_[2] GUARDED_BY(mutex_) = {};
	// RCU-published (rcu_publish() under mutex_); the glue reads it through io_view() with
	// rcu_read() in its read-side section.
	const rc_io_view *view_ = nullptr;
	u32 generation_ GUARDED_BY(mutex_) = 0;
	bool suspended_ GUARDED_BY(mutex_) = true;
	bool resumed_ GUARDED_BY(mutex_) = false;    // resumed once: later resumes need no I/O
	bool superseded_ GUARDED_BY(mutex_) = false; // a newer table took the mapping over
	// This table's entry in the registry: its changing fields are GUARDED_BY(global_lock).
	AreaClaim claim_;
	MetadataState metadata_ GUARDED_BY(mutex_) = MetadataState::Ok;
	// metadata_ == Failed, for readers without the mutex: a relaxed atomic, written under it.
	bool metadata_failed_ = false;
	bool low_water_signalled_ GUARDED_BY(mutex_) = false;
	bool empty_signalled_ GUARDED_BY(mutex_) = false;
	u8 *copy_buf_ PT_GUARDED_BY(mutex_) = nullptr; // one block, for moving data
	// One block for the worker's retries and probes, which run without mutex_ (the glue's
	// worker is single-threaded per target; messages use copy_buf_ under the mutex).
	u8 *retry_buf_ = nullptr;

	u64 remapped_ GUARDED_BY(mutex_) = 0;
	u64 lost_ GUARDED_BY(mutex_) = 0;

	// What status and stats show of the state under mutex_, copied by refresh_snapshot_locked()
	// (relaxed atomics). They read nothing else of it: a resume may replace store_ and
	// allocator_ while the table is live, and the fault path may hold mutex_ for long.
	struct Snapshot {
		u64 remapped = 0, lost = 0, spare_free = 0, spare_bad = 0, seq = 0;
		u64 cache_hits = 0, cache_misses = 0;
		u64 hits_cleared = 0, misses_cleared = 0; // the cache counters at clear_stats
		u8 metadata = 0;                          // MetadataState
	};
	Snapshot snap_;

	Stats stats_; // updated without the mutex (end_io, the worker), read for stats
	u64 lost_sectors_ GUARDED_BY(mutex_) = 0; // 512-byte sectors lost inside salvaged blocks
	// No spare block accepted a write: the spare device failed. Automatic remaps stop
	// (verdict PASS) until a resume or a manual remap that places a block (relaxed atomic).
	bool spare_failed_ = false;
};

} // namespace remap
