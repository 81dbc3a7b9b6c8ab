// SPDX-License-Identifier: GPL-2.0
// The remap engine: its life (load, create, resume, suspend, take-over) and the publication of
// its mapping (map(), publish, commit); see remap_target.h. Messages are in messages.cpp, stats
// and status in stats.cpp, the C entry points in entry_points.cpp, the fault path in
// fault_repair.cpp.
#include "remap_target.h"

#include "fault_policy.h"
#include "mapping_change.h"
#include "memory.h"
#include "relaxed.h"

namespace remap {

namespace {

// Loads a constructor makes before giving up on an area another table keeps committing to.
constexpr u32 kLoadAttempts = 4;

template <typename T> void swap_own(Own<T> &a, Own<T> &b)
{
	Own<T> t(move(a));
	a = move(b);
	b = move(t);
}

AreaClaim claim_of(const rc_table &table, const rc_devices &devs, const Geometry &geo)
{
	AreaClaim c;
	c.owner = devs.owner_id;
	c.data_dev = devs.data_dev_id;
	c.data_offset = table.data_offset;
	c.data_len = geo.data_len();
	c.spare_dev = devs.spare_dev_id;
	c.spare_offset = table.spare_offset;
	c.spare_len = table.spare_len;
	c.block_size = table.block_size;
	return c;
}

} // namespace

// A reload's constructor reads while the live table of the device may commit: a load that
// saw two commits land can find both slots inconsistent ("newer than its superblock") or fall
// back to the older one, though the metadata is fine. So the superblocks are read again after
// each load, and a load that raced a commit is done again. (Taking the state from the live
// table instead would leave the constructor unable to check the area itself; that hand-over
// happens at the first resume, for commits after the load.)
Status RemapTarget::load_state(const Geometry &geo, u32 spare_block, const rb_io_ops *io,
			       void *io_ctx, Gfp gfp, Own<State> *out)
{
	for (u32 attempt = 1;; attempt++) {
		Own<State> st;
		Status r = load_once(geo, spare_block, io, io_ctx, gfp, &st);
		const int code = to_errno(r);
		if (code == -kENOMEM || code == -kEIO || !st || !st->store)
			return r; // no memory or no readable device: not a race
		auto moved = st->store->changed_since_load();
		if (moved.is_error() || !moved.value()) {
			if (!code)
				*out = move(st);
			return r;
		}
		if (attempt == kLoadAttempts)
			return Error::busy(
				"Metadata kept changing while loading (the live table is committing): try again");
		rb_log(RB_LOG_INFO,
		       "metadata changed while loading (another table committed): loading it again");
	}
}

Status RemapTarget::load_once(const Geometry &geo, u32 spare_block, const rb_io_ops *io,
			      void *io_ctx, Gfp gfp, Own<State> *out)
{
	const Error no_memory = Error::no_memory("Cannot allocate memory for the remap engine");
	Own<State> st(make<State>(gfp));
	if (!st)
		return no_memory;
	st->store.reset(make<MetadataStore>(gfp, geo, io, io_ctx, spare_block));
	st->allocator.reset(make<SpareAllocator>(gfp));
	if (!st->store || !st->allocator || st->allocator->init(geo.spare_blocks(), gfp).is_error())
		return no_memory;

	Status loaded = st->store->load(gfp);
	if (loaded.is_error()) {
		*out = move(st); // for load_state() to tell a race from damage
		return loaded;
	}

	SpareAllocator &alloc = *st->allocator;
	const MetadataStore &store = *st->store;
	for (u64 b = 0; b < geo.first_usable_spare().value(); b++)
		alloc.reserve(SpareBlock(b));
	for (u64 i = 0; i < store.used_slots(); i++) {
		const Entry &e = store.slot(i);
		if (e.state == EntryState::Remapped)
			alloc.mark_in_use(SpareBlock(e.spare_block));
		else if (e.state == EntryState::BadSpare)
			alloc.reserve(SpareBlock(e.spare_block));
	}

	st->lookup = st->store->take_loaded_lookup();
	if (!st->lookup) { // fresh: an empty table
		auto r = LookupTable::merge(nullptr, nullptr, 0, gfp);
		if (r.is_error())
			return no_memory;
		st->lookup = r.value();
	}
	st->degraded = st->store->fell_back();
	*out = move(st);
	return {};
}

// Takes over a freshly loaded state. Before the target is live nothing reads lookup_; after,
// this only runs while suspended, and publish_locked() still waits out any reader.
void RemapTarget::install_locked(Own<State> st)
{
	mutex_.assert_held();
	store_ = move(st->store);
	allocator_ = move(st->allocator);
	remapped_ = lost_ = 0;
	st->lookup->for_each_from(0, [&](u64, u32 v) {
		(v == LookupTable::kLost ? lost_ : remapped_)++;
		return true;
	});
	metadata_ = st->degraded ? MetadataState::Degraded : MetadataState::Ok;
	__atomic_store_n(&metadata_failed_, false, __ATOMIC_RELAXED);
	LookupTable *t = st->lookup;
	st->lookup = nullptr;
	if (lookup_) {
		LookupTable::free(publish_locked(t));
	} else {
		lookup_ = t;
		publish_view_locked(t);
	}
	store_relaxed(&snap_.hits_cleared, 0); // a new allocator counts from 0
	store_relaxed(&snap_.misses_cleared, 0);
	refresh_snapshot_locked();
}

// The first resume of a reloaded table: the table it replaces (suspended by now) may have
// committed after this one loaded. Its mapping is swapped in without I/O; the old table
// gets this one's and never writes again (dm destroys it next). Swapping, not moving, keeps
// every object either table can still reach alive until its own destructor.
void RemapTarget::take_over_locked(RemapTarget &old)
{
	mutex_.assert_held();
	old.mutex_.assert_held();
	swap_own(store_, old.store_);
	swap_own(allocator_, old.allocator_);
	store_->rebind(io_, io_ctx_); // old's devices go away with old
	old.store_->rebind(old.io_, old.io_ctx_);
	// What a straggling `list` of old reads:
	rcu_publish(&old.lookup_, publish_locked(old.lookup_));
	remapped_ = old.remapped_;
	lost_ = old.lost_;
	store_relaxed(&lost_sectors_, old.lost_sectors_); // stats reads both without the mutex
	// A reload is how an admin says the spare device was seen to: automatic remaps try it
	// again (a spare that still takes no write fails again, with an event).
	__atomic_store_n(&spare_failed_, false, __ATOMIC_RELAXED);
	metadata_ = old.metadata_;
	__atomic_store_n(&metadata_failed_, metadata_ == MetadataState::Failed, __ATOMIC_RELAXED);
	low_water_signalled_ = old.low_water_signalled_;
	empty_signalled_ = old.empty_signalled_;
	store_relaxed(&snap_.hits_cleared, load_relaxed(&old.snap_.hits_cleared));
	store_relaxed(&snap_.misses_cleared, load_relaxed(&old.snap_.misses_cleared));
	rb_log(RB_LOG_INFO, "took over metadata seq %llu from the table this one replaces",
	       store_->seq());
}

Status RemapTarget::pick_up_state_locked()
{
	global_assert_held(); // the registry, and no other resume of this device meanwhile
	mutex_.assert_held();
	if (claim_.registered) {
		// Only the live table of this device wrote the area since this one loaded (the
		// registry refuses other devices): if there is one, its mapping is the truth.
		AreaClaim *sib = registry::live_sibling(&claim_);
		if (sib) {
			auto *old = static_cast<RemapTarget *>(sib->instance);
			// The old table's mutex under this one's: the one place two are held.
			MutexGuard old_guard(old->mutex_, MutexGuard::kNested);
			if (!old->suspended_) {
				rb_log(RB_LOG_ERR,
				       "another table of this device is live and not suspended");
				return Error::busy(
					"Another table of this device is live and not suspended");
			}
			// A reload that grows (or shrinks) a range: the old table's state is sized for
			// its own lengths, so this one keeps its load, or loads again below what the old
			// table committed since. Its mapping is all on disk unless its metadata failed.
			const bool resized = old->geo_.data_len() != geo_.data_len() ||
				old->geo_.spare_len() != geo_.spare_len();
			if (resized && old->metadata_ == MetadataState::Failed)
				return Error::from_errno(
					-kEIO,
					"The lengths cannot change while the metadata has failed: reload with the same lengths first");
			bool same = old->store_->seq() == store_->seq();
			for (u32 i = 0; same && i < kUuidBytes; i++)
				same = old->store_->uuid()[i] == store_->uuid()[i];
			if (!same && !resized)
				take_over_locked(*old);
			old->superseded_ = true;
			__atomic_store_n(&old->metadata_failed_, true, __ATOMIC_RELAXED);
			sib->live = false;
			claim_.live = true;
			if (!resized || same)
				return {};
			// Resized, and the replaced table committed after this one loaded: load that.
		} else {
			claim_.live = true;
			// The first table of a device over a fresh area is about to format it, which
			// writes the spare anyway: read its superblocks first, so that nothing written
			// there since the load is formatted over (the fresh-area rule). Otherwise the
			// live table of this device went away before this one resumed (orphaned: dm
			// never does that, it destroys the old table after the new one's preresume),
			// so its last commits are only on disk: check there, as for a table that is
			// not registered.
			if (!claim_.orphaned) {
				if (!store_->fresh())
					return {};
				auto unchanged = store_->disk_unchanged();
				// A read error: the format that follows fails on the same device and is
				// reported (failed mode and an event), never by failing this resume.
				if (unchanged.is_error() || unchanged.value())
					return {};
			}
		}
	}
	// Not registered (the host named no devices, as tests of the engine alone), orphaned,
	// or resized: only the disk tells whether another table committed since the load.
	// Without it, serving the loaded mapping could route blocks remapped since to their
	// old places, so a read error fails this resume. (In the kernel neither happens.)
	auto unchanged = store_->disk_unchanged();
	if (unchanged.is_error()) {
		rb_log(RB_LOG_ERR, "cannot read the metadata superblocks at resume");
		return unchanged.error();
	}
	if (!unchanged.value()) {
		Own<State> st;
		Status r =
			load_state(geo_, devs_.spare_logical_block, io_, io_ctx_, Gfp::Noio, &st);
		if (r.is_error()) {
			rb_log(RB_LOG_ERR, "metadata changed on disk and no longer loads: %s",
			       r.error().message());
			return r;
		}
		install_locked(move(st));
		rb_log(RB_LOG_INFO, "picked up metadata seq %llu committed by another table",
		       store_->seq());
	}
	return {};
}

void RemapTarget::refresh_snapshot_locked()
{
	mutex_.assert_held();
	store_relaxed(&snap_.remapped, remapped_);
	store_relaxed(&snap_.lost, lost_);
	store_relaxed(&snap_.spare_free, allocator_->available());
	store_relaxed(&snap_.spare_bad, spare_bad_locked());
	store_relaxed(&snap_.seq, store_->seq());
	store_relaxed(&snap_.cache_hits, allocator_->cache_hits());
	store_relaxed(&snap_.cache_misses, allocator_->cache_misses());
	__atomic_store_n(&snap_.metadata, static_cast<u8>(metadata_), __ATOMIC_RELAXED);
}

Result<RemapTarget *> RemapTarget::create(const rc_table &table, const rc_devices &devs,
					  const rb_io_ops *io, void *io_ctx)
{
	Geometry geo;
	TRY(Geometry::from_table(table, devs.target_len, &geo));

	Own<RemapTarget> t(new (Gfp::Kernel) RemapTarget(table, devs, geo, io, io_ctx));
	if (t) {
		t->copy_buf_ = static_cast<u8 *>(rb_alloc_large(geo.block_size(), RB_GFP_KERNEL));
		t->retry_buf_ = static_cast<u8 *>(rb_alloc_large(geo.block_size(), RB_GFP_KERNEL));
	}
	if (!t || !t->copy_buf_ || !t->retry_buf_)
		return Error::no_memory("Cannot allocate memory for the remap engine");

	// Registered before loading: from here no table of another device can claim the area.
	t->claim_ = claim_of(t->table_, t->devs_, geo);
	t->claim_.instance = t.get();
	if (t->claim_.registrable()) {
		GlobalGuard global;
		TRY(registry::add(&t->claim_));
	}

	Own<State> st;
	TRY(load_state(geo, devs.spare_logical_block, io, io_ctx, Gfp::Kernel, &st));
	if (table.read_only && st->store->fresh())
		return Error::from_errno(
			-kEROFS,
			"Spare area is not formatted and the table is read-only: load it read-write once to format it");
	MutexGuard guard(t->mutex_); // install_locked() refreshes the snapshot under it
	t->install_locked(move(st));
	if (t->store_->fresh())
		rb_log(RB_LOG_INFO, "no metadata in the spare area: formatting it at resume");
	return t.release();
}

RemapTarget::~RemapTarget()
{
	if (claim_.registrable()) {
		GlobalGuard global;
		registry::remove(&claim_);
	}
	LookupTable::free(lookup_);
	rb_free_large(copy_buf_);
	rb_free_large(retry_buf_);
}

Status RemapTarget::resume()
{
	bool first;
	{
		MutexGuard guard(mutex_);
		if (superseded_) {
			rb_log(RB_LOG_ERR,
			       "this table was replaced by a newer table of the device");
			return Error::busy(
				"This table was replaced by a newer table of the device");
		}
		first = !resumed_;
	}
	// A resume of the same table does no I/O: inside one mapped device only the live table
	// writes the area, and this one was live until its suspend. dm runs one resume of a
	// table at a time, so resumed_ is still false below; the global lock comes first.
	if (first) {
		GlobalGuard global;
		MutexGuard guard(mutex_);
		TRY(pick_up_state_locked());
		resumed_ = true;
	}
	MutexGuard guard(mutex_);
	if (store_->fresh() && metadata_ != MetadataState::Failed && !table_.read_only) {
		// A failed write is reported: metadata=failed with an event (commit_locked()), and
		// the table resumes. No memory changes nothing, and a retried resume formats.
		Status st = commit_locked(nullptr, 0);
		if (st.is_error() && st.error().code() == -kENOMEM)
			return st;
		if (st.is_error())
			rb_log(RB_LOG_ERR, "could not format the spare area");
		else
			rb_log(RB_LOG_INFO,
			       "formatted the spare area: %llu spare blocks of %u bytes",
			       spare_total(), geo_.block_size());
	}
	if (metadata_ == MetadataState::Failed) {
		rb_log(RB_LOG_ERR,
		       "resuming with failed metadata: I/O is served, nothing is remapped");
		io_->event(io_ctx_);
	} else if (__atomic_load_n(&spare_failed_, __ATOMIC_RELAXED)) {
		// Same table, same dead spare: the state stays until a remap message places a block
		// or a reload; the resume itself succeeds and says so.
		rb_log(RB_LOG_ERR,
		       "resuming with a failed spare device: I/O is served, nothing is remapped automatically");
		io_->event(io_ctx_);
	}
	suspended_ = false;
	refresh_snapshot_locked();
	return {};
}

void RemapTarget::suspend()
{
	MutexGuard guard(mutex_); // waits for a mapping change in progress
	suspended_ = true;
}

void RemapTarget::map(u64 sector, u32 sectors, rc_mapping *out) const
{
	const LookupTable *t = rcu_read(&lookup_);
	out->generation = t->generation();
	out->route = RC_ROUTE_DATA;
	out->sector = geo_.data_offset() + sector;
	out->sectors = sectors;
	if (t->size() == 0 || sectors == 0)
		return;

	const Sector start(sector);
	const DataBlock first = geo_.data_block(start);
	const DataBlock last = geo_.last_block(start, sectors);
	u64 key;
	u32 v;
	if (!t->first_at_or_after(first.value(), &key, &v) || DataBlock(key) > last)
		return; // touches no remapped block: pass through whole
	if (DataBlock(key) > first) {
		out->sectors = static_cast<u32>(geo_.first_sector(DataBlock(key)) - start);
		return; // the clean part before the first remapped block
	}

	out->sectors = static_cast<u32>(min<u64>(sectors, geo_.end_sector(first) - start));
	if (v == LookupTable::kLost) {
		out->route = RC_ROUTE_LOST;
	} else if (v == LookupTable::kMoving) {
		out->route = RC_ROUTE_HOLD;
	} else {
		out->route = RC_ROUTE_SPARE;
		const u32 off = geo_.offset_in_block(start);
		out->sector = geo_.spare_dev_sector(SpareBlock(v)) + off;
		// A salvaged block: the piece fails (a read) or goes to rewrite() (a write) if it
		// touches a sector that did not read. One compare when nothing is lost anywhere.
		const LostSectors *lost = t->lost();
		if (__builtin_expect(lost != nullptr, 0)) {
			const SectorMask *m = lost->find(first.value());
			if (m && m->touches(off, off + out->sectors))
				out->route = RC_ROUTE_LOST;
		}
	}
}

void RemapTarget::count_error(bool is_write)
{
	(is_write ? stats_.write_errors : stats_.read_errors).add();
}

void RemapTarget::count_redone_write(u64 ns) { stats_.count_redone_write(ns); }

LookupTable *RemapTarget::publish_locked(LookupTable *next, u64 sector, u64 sectors)
{
	mutex_.assert_held(); // one writer; drain and release_held run under it
	LookupTable *old = lookup_;
	next->set_generation(++generation_);
	rcu_publish(&lookup_, next);
	publish_view_locked(next);
	rb_synchronize_rcu();
	io_->drain(io_ctx_, old->generation(), sector, sectors);
	return old;
}

void RemapTarget::publish_view_locked(const LookupTable *t)
{
	rc_io_view &v = views_[t->generation() & 1];
	u64 first;
	u32 value;
	v.first_block = t->first_at_or_after(0, &first, &value) ? first : RC_NO_BLOCK;
	v.first_sector = v.first_block == RC_NO_BLOCK ? RC_NO_BLOCK
						      : geo_.first_sector(DataBlock(first)).value();
	v.block_shift = geo_.block_shift();
	v.generation = t->generation();
	v.mapping = t;
	rcu_publish(&view_, static_cast<const rc_io_view *>(&v));
	store_relaxed(&lost_sectors_, t->lost() ? t->lost()->sectors() : 0);
}

void RemapTarget::check_spare_events()
{
	MutexGuard guard(mutex_);
	refresh_snapshot_locked();
	const u64 free = allocator_->available();
	if (free <= table_.spare_low_water && !low_water_signalled_) {
		low_water_signalled_ = true;
		rb_log(RB_LOG_WARN, "spare blocks running low: %llu left (spare_low_water %llu)",
		       free, table_.spare_low_water);
		if (io_->event)
			io_->event(io_ctx_);
	}
	if (free == 0 && !empty_signalled_) {
		empty_signalled_ = true;
		rb_log(RB_LOG_ERR, "no spare blocks left: further remaps will fail");
		if (io_->event)
			io_->event(io_ctx_);
	}
	// Freed blocks (unremap) re-arm the events.
	if (free > table_.spare_low_water)
		low_water_signalled_ = false;
	if (free > 0)
		empty_signalled_ = false;
}

// Called with mutex_ held by the messages that change the mapping.
Status RemapTarget::can_change_mapping_locked(const char *verb) const
{
	Status refused;
	if (table_.read_only)
		refused = Error::from_errno(-kEROFS, "the table is read-only");
	else if (superseded_)
		refused = Error::busy("a newer table of the device took over");
	else if (suspended_)
		refused = Error::busy("the device is suspended");
	else if (metadata_ == MetadataState::Failed)
		refused = Error::io("metadata has failed; reload the table");
	if (refused.is_error())
		rb_log(RB_LOG_ERR, "%s: %s", verb, refused.error().message());
	return refused;
}

Status RemapTarget::commit_locked(const MetadataStore::SlotChange *changes, u64 count)
{
	mutex_.assert_held();
	if (table_.read_only)
		return Error::from_errno(-kEROFS, "The table is read-only");
	if (metadata_ == MetadataState::Failed || superseded_)
		return Error::io("Metadata has failed or the table was replaced");
	Status st = store_->commit(changes, count, Gfp::Noio);
	if (st.is_error()) {
		const int code = st.error().code();
		if (code != -kENOMEM && code != -kENOSPC) {
			// The disk may hold anything the failed writes left; the last good commit is
			// still intact for a reload, but this instance writes nothing more.
			metadata_ = MetadataState::Failed;
			__atomic_store_n(&metadata_failed_, true, __ATOMIC_RELAXED);
			rb_log(RB_LOG_ERR,
			       "metadata commit failed (error %d): no more remaps until the table is reloaded",
			       code);
			refresh_snapshot_locked(); // status says failed before the waiter wakes
			io_->event(io_ctx_);       // `dmsetup wait` wakes up to metadata=failed
		}
		return st;
	}
	metadata_ = MetadataState::Ok;
	return {};
}

bool RemapTarget::has_lost_sectors_locked(u64 b) const
{
	return lookup_->lost() && lookup_->lost()->find(b);
}

} // namespace remap
