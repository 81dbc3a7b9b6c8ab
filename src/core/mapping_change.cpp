// SPDX-License-Identifier: GPL-2.0
// The two-phase mapping change; see mapping_change.h.
#include "mapping_change.h"

#include "fault_policy.h"
#include "warn.h"

namespace remap {

RemapTarget::MappingChange::~MappingChange()
{
	if (!committed_)
		roll_back();
	LostSectors::put(lost_set_);
}

bool RemapTarget::MappingChange::add(u64 block)
{
	if (n_ == kMaxBlocks || prepared_)
		return false;
	blocks_[n_] = block;
	spares_[n_] = kNoSpare;
	outcome_[n_] = Outcome::Kept;
	n_++;
	return true;
}

u64 RemapTarget::MappingChange::first_sector() const
{
	return n_ ? t_.geo_.first_sector(DataBlock(blocks_[0])).value() : 0;
}

u64 RemapTarget::MappingChange::sectors() const
{
	return n_ ? t_.geo_.sectors_of(blocks_[n_ - 1] - blocks_[0] + 1) : 0;
}

Status RemapTarget::MappingChange::prepare(unsigned flags)
{
	t_.mutex_.assert_held(); // held from prepare() to the commit or the roll-back
	if (REMAP_WARN_ON(prepared_ || n_ == 0))
		return Error::invalid("Mapping change prepared twice or empty");
	remove_ = flags & kRemove;
	for (u64 i = 0; i < n_; i++)
		mapped_[i] = t_.lookup_->find(blocks_[i], &old_[i]);

	if (flags & kSpares) {
		u64 got = 0;
		for (; got < n_; got++) {
			auto s = t_.allocator_->allocate();
			if (s.is_error())
				break;
			spares_[got] = static_cast<u32>(s.value().value());
		}
		if (got == 0 && !(flags & kSparesIfAny)) {
			rb_log(RB_LOG_ERR, "no spare blocks left");
			return Error::from_errno(-kENOSPC, "No spare blocks left");
		}
		if (got < n_) {
			if (flags & kFewerBlocks) {
				n_ = got ? got : 1; // one block that may turn out lost needs none
			} else if (!(flags & kSparesIfAny)) {
				release_spares_locked();
				return Error::from_errno(-kENOSPC, "No spare blocks left");
			}
		}
	}

	// The commit: per block its entry, its old spare block retired and the spare blocks
	// that may fail a write; every one may be a new slot. Then what salvage may record.
	u64 max_changes = n_ * kSlotsPerBlock, max_inserts = max_changes;
	Status st = remove_ ? Status{} : prepare_lost_locked(&max_changes, &max_inserts);
	if (!st.is_error())
		st = t_.store_->prepare_commit(max_changes, max_inserts, Gfp::Noio);
	if (!st.is_error()) {
		for (u64 i = 0; i < n_; i++)
			changes_[i] = LookupTable::Change{blocks_[i], LookupTable::kMoving, false};
		auto held = LookupTable::merge(t_.lookup_, changes_, n_, Gfp::Noio);
		if (held.is_error()) {
			st = held.error();
		} else {
			held_table_ = held.value();
			// The final table has every block in it (its value set in place by
			// commit()), or, for an unremap, none.
			for (u64 i = 0; i < n_; i++)
				changes_[i].remove = remove_;
			auto fin = LookupTable::merge(t_.lookup_, changes_, n_, Gfp::Noio);
			if (fin.is_error())
				st = fin.error();
			else
				final_ = fin.value();
		}
	}
	if (st.is_error()) {
		LookupTable::free(held_table_);
		held_table_ = nullptr;
		release_spares_locked();
		return st;
	}
	prepared_ = true;
	return {};
}

// Any block of the change may end with new lost sectors (salvage), or drop those it has (a
// write revives them, or it is lost whole): its LostLog entry, a place in the new lost set,
// the frees of its LostSectors entries in the store now and a new entry per run of lost
// sectors, at most one per two sectors.
Status RemapTarget::MappingChange::prepare_lost_locked(u64 *max_changes, u64 *max_inserts)
{
	const LostSectors *cur = t_.lookup_->lost();
	u64 runs_now = 0;
	if (cur) {
		t_.store_->for_each_lost_run([&](u64, const Entry &e) {
			for (u64 i = 0; i < n_; i++)
				runs_now += blocks_[i] == e.data_block;
		});
	}
	const u64 runs_new = n_ * ((t_.geo_.block_sectors() + 1) / 2);
	if (!lost_log_.reserve(n_, Gfp::Noio))
		return Error::no_memory("Cannot allocate memory for a mapping change");
	lost_set_ = LostSectors::reserve((cur ? cur->size() : 0) + n_, Gfp::Noio);
	if (!lost_set_)
		return Error::no_memory("Cannot allocate memory for a mapping change");
	if (!lost_slots_.alloc(*max_changes + runs_now + runs_new, Gfp::Noio))
		return Error::no_memory("Cannot allocate memory for a mapping change");
	*max_changes = lost_slots_.size();
	*max_inserts += runs_new;
	return {};
}

void RemapTarget::MappingChange::hold()
{
	t_.mutex_.assert_held();
	// From here I/O to these blocks waits, and none that was in flight to them goes on.
	// The table from before is kept: publishing it again is the rollback.
	before_ = t_.publish_locked(held_table_, first_sector(), sectors());
	held_table_ = nullptr;
	held_ = true;
}

void RemapTarget::MappingChange::add_slot(u64 slot, const Entry &e)
{
	slots_[nslots_++] = MetadataStore::SlotChange{slot, e};
}

void RemapTarget::MappingChange::retire_locked(u32 spare, bool fresh)
{
	if (t_.allocator_->is_reserved(SpareBlock(spare)))
		return; // retired already
	t_.allocator_->mark_bad(SpareBlock(spare));
	retired_[nretired_++] = Retired{spare, fresh};
	add_slot(MetadataStore::SlotChange::kNewSlot,
		 Entry{Entry::kBadSpareData, spare, EntryState::BadSpare});
}

// Undoes retirements [from, nretired_) in memory; their slots must be dropped by the caller.
void RemapTarget::MappingChange::undo_retirements_locked(u32 from)
{
	while (nretired_ > from) {
		const Retired &r = retired_[--nretired_];
		t_.allocator_->unmark_bad(SpareBlock(r.spare));
		if (r.fresh)
			t_.allocator_->release(SpareBlock(r.spare));
	}
}

// Releases the spare blocks taken and not (or, after a rollback, no longer) mapped.
void RemapTarget::MappingChange::release_spares_locked()
{
	for (u64 i = 0; i < n_; i++) {
		if (spares_[i] != kNoSpare && !(committed_ && outcome_[i] == Outcome::Moved)) {
			t_.allocator_->release(SpareBlock(spares_[i]));
			spares_[i] = kNoSpare;
		}
	}
}

void RemapTarget::MappingChange::retire_old(u64 i)
{
	t_.mutex_.assert_held();
	if (mapped_[i] && old_[i] != LookupTable::kLost)
		retire_locked(old_[i], false);
}

int RemapTarget::MappingChange::place(u64 i, const u8 *data)
{
	t_.mutex_.assert_held();
	const Geometry &geo = t_.geo_;
	const u32 first_retired = nretired_, first_slot = nslots_;
	int err = -kENOSPC;
	for (u32 attempt = 0; attempt < kSpareWriteAttempts; attempt++) {
		if (spares_[i] == kNoSpare) {
			auto got = t_.allocator_->allocate();
			if (got.is_error()) {
				rb_log(RB_LOG_ERR, "no spare blocks left");
				return got.error().code();
			}
			spares_[i] = static_cast<u32>(got.value().value());
		}
		const u32 s = spares_[i];
		err = t_.io_->write(t_.io_ctx_, RB_SPARE_DEV, geo.spare_dev_sector(SpareBlock(s)),
				    data, geo.block_size(), 0);
		if (!err) {
			outcome_[i] = Outcome::Moved;
			__atomic_store_n(&t_.spare_failed_, false, __ATOMIC_RELAXED);
			return 0;
		}
		spares_[i] = kNoSpare;
		if (repairable(classify_error(err))) {
			rb_log(RB_LOG_WARN, "spare block %u failed a write (error %d): retiring it",
			       s, err);
			retire_locked(s, true);
		} else {
			t_.allocator_->release(SpareBlock(s)); // the path failed, not the block
		}
	}
	// No spare block took the data: that is the spare device, not its blocks. Nothing is
	// retired for it (which would only drain the free spare blocks).
	undo_retirements_locked(first_retired);
	nslots_ = first_slot;
	t_.spare_device_failed(err);
	return err ? err : -kEIO;
}

void RemapTarget::MappingChange::set_lost(u64 i) { outcome_[i] = Outcome::Lost; }

bool RemapTarget::MappingChange::log_lost(u64 i, const SectorMask &mask)
{
	// Each block once (a later log replaces an earlier one): prepare() made room for n_.
	if (!lost_set_ || (!lost_log_.find(blocks_[i]) && lost_log_.size() >= n_))
		return false;
	return lost_log_.add(blocks_[i], mask, Gfp::Noio);
}

void RemapTarget::MappingChange::set_removed(u64 i) { outcome_[i] = Outcome::Removed; }

Status RemapTarget::MappingChange::commit()
{
	t_.mutex_.assert_held();
	if (REMAP_WARN_ON(!held_ || committed_))
		return Error::invalid("Mapping change committed before it was held, or twice");
	bool any = false;
	for (u64 i = 0; i < n_; i++) {
		const Outcome o = outcome_[i];
		if (o == Outcome::Kept) {
			// As it was: mapped blocks keep their value; an unmapped one cannot be
			// absent from a final table that maps it.
			if (remove_ ? false : !mapped_[i]) {
				roll_back();
				return {};
			}
			if (!remove_ && !final_->set_value(blocks_[i], old_[i])) {
				roll_back();
				return Error::no_memory(
					"Cannot allocate memory for a mapping change");
			}
			continue;
		}
		any = true;
		const u64 slot = mapped_[i] ? t_.store_->find_slot(blocks_[i])
					    : u64(MetadataStore::SlotChange::kNewSlot);
		if (o == Outcome::Removed) {
			add_slot(slot, Entry{0, 0, EntryState::Free});
			continue;
		}
		const u32 v = o == Outcome::Lost ? u32(LookupTable::kLost) : spares_[i];
		if (!final_->set_value(blocks_[i], v)) {
			roll_back();
			return Error::no_memory("Cannot allocate memory for a mapping change");
		}
		add_slot(slot,
			 o == Outcome::Lost ? Entry{blocks_[i], Entry::kLostSpare, EntryState::Lost}
					    : Entry{blocks_[i], v, EntryState::Remapped});
	}
	if (remove_ && any) {
		for (u64 i = 0; i < n_; i++) {
			if (outcome_[i] != Outcome::Removed) {
				roll_back(); // an unremap is one block: all or nothing
				return {};
			}
		}
	}
	if (!any && nslots_ == 0 && lost_log_.size() == 0) {
		roll_back();
		return {};
	}
	Status st = commit_slots_locked();
	if (st.is_error()) {
		roll_back();
		return st;
	}

	for (u64 i = 0; i < n_; i++) {
		const Outcome o = outcome_[i];
		if (o == Outcome::Kept)
			continue;
		if (mapped_[i])
			(old_[i] == LookupTable::kLost ? t_.lost_ : t_.remapped_)--;
		if (o == Outcome::Removed) {
			t_.allocator_->free(SpareBlock(old_[i]));
			continue;
		}
		(o == Outcome::Lost ? t_.lost_ : t_.remapped_)++;
	}
	committed_ = true;
	release_spares_locked(); // taken but not used (lost or kept blocks)
	LookupTable::free(t_.publish_locked(final_, first_sector(), sectors()));
	final_ = nullptr;
	LookupTable::free(before_);
	before_ = nullptr;
	held_ = false;
	t_.io_->release_held(t_.io_ctx_);
	return {};
}

// The lost sectors of the changed blocks are replaced: their old LostSectors entries freed,
// the new runs added, in the same commit as the blocks' entries. Allocates nothing: prepare()
// made room for every block of the change (prepare_lost_locked()).
Status RemapTarget::MappingChange::commit_slots_locked()
{
	const LostSectors *cur = final_->lost();
	// A block that ends up lost whole has no lost sectors of its own any more.
	for (u64 i = 0; cur && i < n_; i++) {
		if (outcome_[i] == Outcome::Lost && cur->find(blocks_[i]) &&
		    !log_lost(i, SectorMask{}))
			return Error::no_memory("Cannot allocate memory for a mapping change");
	}
	if (lost_log_.size() == 0)
		return t_.commit_locked(slots_, nslots_);

	const u64 nlog = lost_log_.size();
	const LostSectors::Change *log = lost_log_.sorted();
	if (!lost_set_ || !lost_set_->assign(cur, log, nlog))
		return Error::no_memory("Cannot allocate memory for a mapping change");
	const u32 bs = t_.geo_.block_sectors();
	u64 k = 0;
	auto add = [&](const MetadataStore::SlotChange &c) {
		if (k < lost_slots_.size())
			lost_slots_[k] = c;
		k++;
	};
	for (u32 j = 0; j < nslots_; j++)
		add(slots_[j]);
	t_.store_->for_each_lost_run([&](u64 slot, const Entry &e) {
		if (lost_log_.find(e.data_block))
			add({slot, Entry{0, 0, EntryState::Free}});
	});
	for (u64 j = 0; j < nlog; j++) {
		u32 lo, hi;
		for (u32 from = 0; log[j].mask.next_run(from, bs, &lo, &hi); from = hi)
			add({MetadataStore::SlotChange::kNewSlot,
			     Entry{log[j].block, Entry::run(lo, hi - lo),
				   EntryState::LostSectors}});
	}
	if (REMAP_WARN_ON(k > lost_slots_.size())) // prepare_lost_locked() counted every one
		return Error::invalid("Lost-sector slots miscounted");
	TRY(t_.commit_locked(lost_slots_.data(), k));
	LostSectors *next = nullptr;
	if (lost_set_->size()) {
		next = lost_set_;
		lost_set_ = nullptr;
	}
	final_->set_lost(next); // the empty set is none: map()'s one compare
	return {};
}

void RemapTarget::MappingChange::roll_back()
{
	t_.mutex_.assert_held();
	undo_retirements_locked(0);
	nslots_ = 0;
	lost_log_.clear();
	release_spares_locked();
	for (u64 i = 0; i < n_; i++)
		outcome_[i] = Outcome::Kept;
	LookupTable::free(final_);
	final_ = nullptr;
	LookupTable::free(held_table_);
	held_table_ = nullptr;
	if (held_) {
		LookupTable::free(t_.publish_locked(before_, first_sector(), sectors()));
		before_ = nullptr;
		held_ = false;
		t_.io_->release_held(t_.io_ctx_);
	}
}

} // namespace remap
