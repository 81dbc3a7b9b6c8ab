// SPDX-License-Identifier: GPL-2.0
// RemapTarget::MappingChange: one change of the mapping of a few data blocks, as a two-phase
// transaction. Every place that changes the mapping (remap, unremap, rewrite, reread) goes
// through it:
//   1. prepare(): under the engine mutex, with nothing held, allocate everything the change
//      can end with: the held table (the blocks moving), the final table, the commit's
//      memory, the lost-sector log, set and entries sub-block salvage may record for any of
//      its blocks and, if asked, a spare block per block. Nothing after allocates.
//   2. hold(): publish the held table; I/O to the blocks waits from now, and the I/O in flight
//      to them (and only to them) is waited for.
//   3. The caller does the I/O and records each block's outcome: moved (place()), lost,
//      removed (unremap), or kept as it was; and retire_old() for a spare block that failed.
//   4. commit(): write the metadata and publish the final table; on any failure, or if
//      destroyed uncommitted, roll back: publish the table from before again, undo every
//      spare block retired in memory and release every spare block taken. Either way the
//      held I/O is released. Nothing retired stays in memory only.
// The engine mutex is held through every phase. prepare(), hold(), place(), retire_old(),
// commit() and roll_back() assert it (Mutex::assert_held()), which is also how clang's
// analysis learns that it is held: it cannot tell that t_ is the caller's own target, so
// they cannot say REQUIRES. The private helpers say REQUIRES(t_.mutex_) and end in _locked.
#pragma once

#include "remap_target.h"

namespace remap {

class RemapTarget::MappingChange {
public:
	// Blocks one change holds at most: a bound on the I/O held and on the mutex's hold time
	// (a remap of a range, `dmremap import`, commits one chunk at a time).
	enum : u32 {
		kMaxBlocks = 32
	};
	// Metadata slots one block's outcome can take: its entry, its old spare block retired,
	// and the spare blocks that failed a write before one took it.
	enum : u32 {
		kSlotsPerBlock = 2 + kSpareWriteAttempts
	};
	enum Flags : unsigned {
		kRemove = 1u << 0,      // the blocks go back to the data device (unremap)
		kSpares = 1u << 1,      // take a spare block for each block in prepare()
		kFewerBlocks = 1u << 2, // kSpares: when fewer are left, the change shrinks to them
					// (to one block if none is left, with kSparesIfAny)
		kSparesIfAny = 1u << 3, // kSpares: none left is no error; a block without one
					// can only be lost or kept
	};

	explicit MappingChange(RemapTarget &t) : t_(t) {}
	~MappingChange();
	MappingChange(const MappingChange &) = delete;
	MappingChange &operator=(const MappingChange &) = delete;

	// Adds a block (ascending, unique, fewer than kMaxBlocks); false when full.
	bool add(u64 block);
	u64 count() const { return n_; }
	u64 block(u64 i) const { return blocks_[i]; }
	// What block i maps to now (a spare block or kLost); false if unmapped. After prepare().
	bool was_mapped(u64 i, u32 *old) const
	{
		*old = old_[i];
		return mapped_[i];
	}
	bool has_spare(u64 i) const { return spares_[i] != kNoSpare; }
	u32 spare(u64 i) const { return spares_[i]; }

	// Phase 1 (enum Flags). -ENOMEM, or -ENOSPC when kSpares found none (or, without
	// kFewerBlocks or kSparesIfAny, too few).
	[[nodiscard]] Status prepare(unsigned flags);
	// Phase 2.
	void hold();
	// Target sectors the change covers: from its first block to the end of its last.
	u64 first_sector() const;
	u64 sectors() const;

	// Outcomes (after hold()). place() writes data (one block) to block i's spare block,
	// retiring spare blocks that fail the write and trying others; when none of
	// kSpareWriteAttempts accepts it, the spare device has failed (RemapTarget::
	// spare_device_failed()): those retirements are undone and an error returned.
	[[nodiscard]] int place(u64 i, const u8 *data);
	void set_lost(u64 i);
	void set_removed(u64 i);
	// Block i's own spare block failed (a read or a write): retired with the change.
	void retire_old(u64 i);
	// Block i's lost sectors (sub-block salvage) become mask (empty: none) at the commit,
	// whatever its outcome; a block marked lost drops its own. Allocates nothing (prepare()
	// did); false only for a change prepared with kRemove.
	[[nodiscard]] bool log_lost(u64 i, const SectorMask &mask);
	// The lost sectors logged for block i so far (null: none logged).
	const SectorMask *logged_lost(u64 i) const { return lost_log_.find(blocks_[i]); }
	bool moved(u64 i) const { return outcome_[i] == Outcome::Moved; }
	bool lost(u64 i) const { return outcome_[i] == Outcome::Lost; }

	// Phase 3: commits the outcomes (blocks without one keep their mapping). If a block
	// without an outcome was unmapped in a change that maps others, the final table cannot
	// say so without allocating: the change rolls back whole and committed() says false.
	[[nodiscard]] Status commit();
	bool committed() const { return committed_; }
	// Phase 3 instead of commit(): everything as it was.
	void roll_back();

private:
	enum class Outcome : u8 {
		Kept,
		Moved,
		Lost,
		Removed
	};
	enum : u32 {
		kNoSpare = LookupTable::kMoving
	};
	struct Retired {
		u32 spare;
		bool fresh; // taken by this change (else a block's old spare, still mapped)
	};
	enum : u32 {
		kMaxSlots = u32{kMaxBlocks} * u32{kSlotsPerBlock}
	};

	void add_slot(u64 slot, const Entry &e);
	void retire_locked(u32 spare, bool fresh) REQUIRES(t_.mutex_);
	void undo_retirements_locked(u32 from) REQUIRES(t_.mutex_);
	void release_spares_locked() REQUIRES(t_.mutex_);
	// prepare()'s part for lost sectors: lost_log_'s room, lost_set_ and lost_slots_.
	[[nodiscard]] Status prepare_lost_locked(u64 *max_changes, u64 *max_inserts)
		REQUIRES(t_.mutex_);
	// commit()'s metadata: slots_ plus the LostSectors entries lost_log_ changes; on success
	// final_ gets the new lost set.
	[[nodiscard]] Status commit_slots_locked() REQUIRES(t_.mutex_);

	RemapTarget &t_;
	u64 n_ = 0;
	u64 blocks_[kMaxBlocks];
	u32 old_[kMaxBlocks];
	bool mapped_[kMaxBlocks];
	u32 spares_[kMaxBlocks];
	Outcome outcome_[kMaxBlocks];
	LookupTable::Change changes_[kMaxBlocks];
	MetadataStore::SlotChange slots_[kMaxSlots];
	u32 nslots_ = 0;
	Retired retired_[kMaxSlots];
	u32 nretired_ = 0;
	LostLog lost_log_;                // the blocks whose lost sectors change (room for all n_)
	LostSectors *lost_set_ = nullptr; // the lost set after the commit, filled by it
	Array<MetadataStore::SlotChange> lost_slots_; // the commit's slots with lost runs
	bool remove_ = false;
	bool prepared_ = false;
	bool held_ = false;
	bool committed_ = false;
	LookupTable *held_table_ = nullptr; // until hold() publishes it
	LookupTable *final_ = nullptr;      // until commit() publishes it
	LookupTable *before_ = nullptr;     // the table from before hold(): rollback publishes it
};

} // namespace remap
