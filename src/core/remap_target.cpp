// SPDX-License-Identifier: GPL-2.0
// The remap engine: loading, messages and the I/O path's lookup; see remap_target.h.
#include "remap_target.h"

#include "fault_policy.h"
#include "mapping_change.h"
#include "memory.h"
#include "message_parser.h"

namespace remap {

namespace {

// Blocks one remap message may move: bounds the memory and the time its I/O is held.
constexpr u32 kMaxRemapRange = 65536;
// Loads a constructor makes before giving up on an area another table keeps committing to.
constexpr u32 kLoadAttempts = 4;

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

u64 load_relaxed(const u64 *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void add_relaxed(u64 *p, u64 n = 1) { __atomic_fetch_add(p, n, __ATOMIC_RELAXED); }
void store_relaxed(u64 *p, u64 v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
void zero_relaxed(u64 *p) { __atomic_store_n(p, 0, __ATOMIC_RELAXED); }

// A counter since it was last cleared at `cleared` (a counter that restarted counts whole).
u64 since(u64 now, u64 cleared) { return now >= cleared ? now - cleared : now; }

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
int RemapTarget::load_state(const Geometry &geo, u32 spare_block, const rb_io_ops *io, void *io_ctx,
			    Gfp gfp, Own<State> *out, const char **error)
{
	for (u32 attempt = 1;; attempt++) {
		Own<State> st;
		const int r = load_once(geo, spare_block, io, io_ctx, gfp, &st, error);
		if (r == -kENOMEM || r == -kEIO || !st || !st->store)
			return r; // no memory or no readable device: not a race
		auto moved = st->store->changed_since_load();
		if (moved.is_error() || !moved.value()) {
			if (!r)
				*out = move(st);
			return r;
		}
		if (attempt == kLoadAttempts) {
			*error =
				"Metadata kept changing while loading (the live table is committing): try again";
			return -kEBUSY;
		}
		rb_log(RB_LOG_INFO,
		       "metadata changed while loading (another table committed): loading it again");
	}
}

int RemapTarget::load_once(const Geometry &geo, u32 spare_block, const rb_io_ops *io, void *io_ctx,
			   Gfp gfp, Own<State> *out, const char **error)
{
	*error = "Cannot allocate memory for the remap engine";
	Own<State> st(make<State>(gfp));
	if (!st)
		return -kENOMEM;
	st->store.reset(make<MetadataStore>(gfp, geo, io, io_ctx, spare_block));
	st->allocator.reset(make<SpareAllocator>(gfp));
	if (!st->store || !st->allocator || st->allocator->init(geo.spare_blocks(), gfp).is_error())
		return -kENOMEM;

	*error = st->store->load(gfp);
	if (*error) {
		const int r = st->store->load_errno();
		*out = move(st); // for load_state() to tell a race from damage
		return r;
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
		if (r.is_error()) {
			*error = "Cannot allocate memory for the remap engine";
			return -kENOMEM;
		}
		st->lookup = r.value();
	}
	st->degraded = st->store->fell_back();
	*out = move(st);
	*error = nullptr;
	return 0;
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
	       static_cast<unsigned long long>(store_->seq()));
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
				return Error{-kEBUSY};
			}
			bool same = old->store_->seq() == store_->seq();
			for (u32 i = 0; same && i < kUuidBytes; i++)
				same = old->store_->uuid()[i] == store_->uuid()[i];
			if (!same)
				take_over_locked(*old);
			old->superseded_ = true;
			__atomic_store_n(&old->metadata_failed_, true, __ATOMIC_RELAXED);
			sib->live = false;
		}
		claim_.live = true;
		if (sib)
			return {};
		// The first table of a device over a fresh area is about to format it, which
		// writes the spare anyway: read its superblocks first, so that nothing written
		// there since the load is formatted over (the fresh-area rule). Otherwise the live
		// table of this device went away before this one resumed (orphaned: dm never does
		// that, it destroys the old table after the new one's preresume), so its last
		// commits are only on disk: check there, as for a table that is not registered.
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
	// Not registered (the host named no devices, as tests of the engine alone), or
	// orphaned: only the disk tells whether another table committed since the load.
	// Without it, serving the loaded mapping could route blocks remapped since to their
	// old places, so a read error fails this resume. (In the kernel neither happens.)
	auto unchanged = store_->disk_unchanged();
	if (unchanged.is_error()) {
		rb_log(RB_LOG_ERR, "cannot read the metadata superblocks at resume");
		return unchanged.error();
	}
	if (!unchanged.value()) {
		Own<State> st;
		const char *bad;
		int r = load_state(geo_, devs_.spare_logical_block, io_, io_ctx_, Gfp::Noio, &st,
				   &bad);
		if (r) {
			rb_log(RB_LOG_ERR, "metadata changed on disk and no longer loads: %s", bad);
			return Error{r};
		}
		install_locked(move(st));
		rb_log(RB_LOG_INFO, "picked up metadata seq %llu committed by another table",
		       static_cast<unsigned long long>(store_->seq()));
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
					  const rb_io_ops *io, void *io_ctx, const char **error)
{
	Geometry geo;
	*error = Geometry::from_table(table, devs.target_len, &geo);
	if (*error)
		return Error{-kEINVAL};

	Own<RemapTarget> t(new (Gfp::Kernel) RemapTarget(table, devs, geo, io, io_ctx));
	if (t) {
		t->copy_buf_ = static_cast<u8 *>(rb_alloc_large(geo.block_size(), RB_GFP_KERNEL));
		t->retry_buf_ = static_cast<u8 *>(rb_alloc_large(geo.block_size(), RB_GFP_KERNEL));
	}
	if (!t || !t->copy_buf_ || !t->retry_buf_) {
		*error = "Cannot allocate memory for the remap engine";
		return Error{-kENOMEM};
	}

	// Registered before loading: from here no table of another device can claim the area.
	t->claim_ = claim_of(t->table_, t->devs_, geo);
	t->claim_.instance = t.get();
	if (t->claim_.registrable()) {
		GlobalGuard global;
		int err = 0;
		*error = registry::add(&t->claim_, &err);
		if (*error)
			return Error{err};
	}

	Own<State> st;
	int r = load_state(geo, devs.spare_logical_block, io, io_ctx, Gfp::Kernel, &st, error);
	if (r)
		return Error{r};
	if (table.read_only && st->store->fresh()) {
		*error =
			"Spare area is not formatted and the table is read-only: load it read-write once to format it";
		return Error{-kEROFS};
	}
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
			return Error{-kEBUSY};
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
		if (st.is_error() && st.error().code == -kENOMEM)
			return st;
		if (st.is_error())
			rb_log(RB_LOG_ERR, "could not format the spare area");
		else
			rb_log(RB_LOG_INFO,
			       "formatted the spare area: %llu spare blocks of %u bytes",
			       static_cast<unsigned long long>(spare_total()), geo_.block_size());
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

	const u32 shift = geo_.block_shift();
	const u64 first = sector >> shift;
	const u64 last = (sector + sectors - 1) >> shift;
	u64 key;
	u32 v;
	if (!t->first_at_or_after(first, &key, &v) || key > last)
		return; // touches no remapped block: pass through whole
	if (key > first) {
		out->sectors = static_cast<u32>((key << shift) - sector);
		return; // the clean part before the first remapped block
	}

	const u64 block_end = (first + 1) << shift;
	out->sectors = static_cast<u32>(min<u64>(sectors, block_end - sector));
	if (v == LookupTable::kLost) {
		out->route = RC_ROUTE_LOST;
	} else if (v == LookupTable::kPending) {
		out->route = RC_ROUTE_HOLD;
	} else {
		out->route = RC_ROUTE_SPARE;
		out->sector = geo_.spare_dev_sector(SpareBlock(v)) + (sector & ((1u << shift) - 1));
		// A salvaged block: the piece fails (a read) or goes to rewrite() (a write) if it
		// touches a sector that did not read. One compare when nothing is lost anywhere.
		const LostSectors *lost = t->lost();
		if (__builtin_expect(lost != nullptr, 0)) {
			const SectorMask *m = lost->find(first);
			const u32 off = static_cast<u32>(sector & ((1u << shift) - 1));
			if (m && m->touches(off, off + out->sectors))
				out->route = RC_ROUTE_LOST;
		}
	}
}

void RemapTarget::count_error(bool is_write)
{
	add_relaxed(is_write ? &write_errors_ : &read_errors_);
}

void RemapTarget::count_redone_write(u64 ns)
{
	add_relaxed(&redone_writes_);
	add_relaxed(&redo_sum_ns_, ns);
	store_relaxed(&redo_last_ns_, ns);
	if (ns > load_relaxed(&redo_max_ns_))
		store_relaxed(&redo_max_ns_, ns);
}

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
		       static_cast<unsigned long long>(free),
		       static_cast<unsigned long long>(table_.spare_low_water));
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
int RemapTarget::can_change_mapping_locked(const char *verb) const
{
	if (table_.read_only) {
		rb_log(RB_LOG_ERR, "%s: the table is read-only", verb);
		return -kEROFS;
	}
	if (superseded_) {
		rb_log(RB_LOG_ERR, "%s: a newer table of the device took over", verb);
		return -kEBUSY;
	}
	if (suspended_) {
		rb_log(RB_LOG_ERR, "%s: the device is suspended", verb);
		return -kEBUSY;
	}
	if (metadata_ == MetadataState::Failed) {
		rb_log(RB_LOG_ERR, "%s: metadata has failed; reload the table", verb);
		return -kEIO;
	}
	return 0;
}

Status RemapTarget::commit_locked(const MetadataStore::SlotChange *changes, u64 count)
{
	mutex_.assert_held();
	if (table_.read_only)
		return Error{-kEROFS};
	if (metadata_ == MetadataState::Failed || superseded_)
		return Error{-kEIO};
	Status st = store_->commit(changes, count, Gfp::Noio);
	if (st.is_error()) {
		const int code = st.error().code;
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

// The one-block reply of `remap`: "<block> <spare block>" or "<block> lost".
void RemapTarget::emit_place(TextBuffer &reply, u64 block, u32 place)
{
	if (place == LookupTable::kLost)
		reply.emit("%llu lost", static_cast<unsigned long long>(block));
	else
		reply.emit("%llu %u", static_cast<unsigned long long>(block), place);
}

// Reads each block of a held remap chunk and moves it to its spare block, or marks it lost when
// the medium is at fault. An error that does not say so (no memory, a path, an outage: the data
// device does not answer elsewhere) stops the chunk and is returned: it changes nothing.
int RemapTarget::copy_to_spares_locked(MappingChange &change)
{
	for (u64 i = 0; i < change.count(); i++) {
		const u64 blk = change.block(i);
		const int r = io_->read(io_ctx_, RB_DATA_DEV, geo_.data_dev_sector(DataBlock(blk)),
					copy_buf_, geo_.block_size(), 0);
		if (r &&
		    (!repairable(classify_error(r)) ||
		     (r != -kENODATA && !device_answers(RB_DATA_DEV, blk, blk + 1, copy_buf_)))) {
			rb_log(RB_LOG_ERR,
			       "remap: block %llu does not read (error %d) and the device is not answering: nothing marked",
			       static_cast<unsigned long long>(blk), r);
			return r;
		}
		const int err = move_or_mark_locked(change, i, r);
		if (err)
			return err;
	}
	return 0;
}

// Copies the blocks of [first, first + count) that are not remapped yet to spare blocks, one
// bounded chunk (MappingChange::kMaxBlocks blocks) at a time, each committed on its own; the
// mutex is released between chunks, so the worker, other messages and status go on. A block
// that does not read is marked lost, unless the error is the path's or the data device does
// not answer at all (then the remap fails and the chunk changes nothing).
int RemapTarget::do_remap(DataBlock first, u64 count, bool range_reply, TextBuffer &reply)
{
	const u64 f = first.value(), end = f + count;
	u64 done = 0, lost = 0, already = 0;
	u32 place = 0; // block f's, for the one-block reply
	int err = 0;
	for (u64 b = f; b < end && !err;) {
		MutexGuard guard(mutex_);
		// First: while suspended, lookup_ may be stale.
		err = can_change_mapping_locked("remap");
		if (err)
			break;
		u32 v;
		if (!range_reply && lookup_->find(f, &v)) { // already remapped: nothing to do
			emit_place(reply, f, v);
			return 1;
		}
		Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
		if (!change) {
			err = -kENOMEM;
			break;
		}
		// At most kMaxBlocks blocks, within a span of as many (what the drain covers).
		for (; b < end; b++) {
			if (change->count() && b - change->block(0) >= MappingChange::kMaxBlocks)
				break;
			if (lookup_->find(b, &v))
				already++;
			else if (!change->add(b))
				break;
		}
		if (change->count() == 0)
			continue;
		const u64 wanted = change->count();
		// Every table, spare block and commit this chunk can end with is allocated before
		// its I/O is held: the held blocks' writes could be what memory reclaim waits for.
		Status st = change->prepare(MappingChange::kSpares | MappingChange::kFewerBlocks |
					    MappingChange::kSparesIfAny);
		if (st.is_error()) {
			err = st.error().code;
			break;
		}
		if (change->count() < wanted) {
			rb_log(RB_LOG_ERR, "remap: no spare blocks left: %llu more blocks can move",
			       static_cast<unsigned long long>(change->count()));
			err = -kENOSPC; // after this chunk
		}
		change->hold();
		const int chunk_err = copy_to_spares_locked(*change);
		if (chunk_err) {
			change->roll_back();
			err = chunk_err;
			break;
		}
		st = change->commit();
		if (st.is_error() || !change->committed()) {
			err = st.is_error() ? st.error().code : -kEIO;
			break;
		}
		u64 chunk_done = 0;
		for (u64 i = 0; i < change->count(); i++) {
			chunk_done++;
			lost += change->lost(i);
			if (change->block(i) == f)
				place = change->lost(i) ? u32(LookupTable::kLost)
							: change->spare(i);
		}
		done += chunk_done;
		__atomic_fetch_add(&manual_remaps_, chunk_done, __ATOMIC_RELAXED);
	}
	if (err)
		return err;
	if (!range_reply) {
		emit_place(reply, f, place);
	} else {
		reply.emit("remapped=%llu lost=%llu already=%llu",
			   static_cast<unsigned long long>(done - lost),
			   static_cast<unsigned long long>(lost),
			   static_cast<unsigned long long>(already));
	}
	return 1;
}

int RemapTarget::do_unremap(DataBlock block)
{
	MutexGuard guard(mutex_);
	const u64 b = block.value();
	// First: while suspended, lookup_ may be stale.
	int r = can_change_mapping_locked("unremap");
	if (r)
		return r;
	u32 spare;
	if (!lookup_->find(b, &spare))
		return 0; // not remapped: nothing to do
	if (spare == LookupTable::kLost) {
		rb_log(RB_LOG_ERR,
		       "unremap: block %llu is lost: there is no data to copy back; write the block instead",
		       static_cast<unsigned long long>(b));
		return -kEINVAL;
	}
	if (has_lost_sectors_locked(b)) {
		rb_log(RB_LOG_ERR,
		       "unremap: block %llu has lost sectors: write them or reprobe first",
		       static_cast<unsigned long long>(b));
		return -kEINVAL;
	}

	Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
	if (!change)
		return -kENOMEM;
	(void)change->add(b);
	Status st = change->prepare(MappingChange::kRemove);
	if (st.is_error())
		return st.error().code;
	change->hold();
	r = io_->read(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(spare)), copy_buf_,
		      geo_.block_size(), 0);
	if (!r)
		r = io_->write(io_ctx_, RB_DATA_DEV, geo_.data_dev_sector(block), copy_buf_,
			       geo_.block_size(), RB_IO_FUA);
	if (!r) {
		change->set_removed(0);
		st = change->commit();
		r = st.is_error() ? st.error().code : change->committed() ? 0 : -kEIO;
	} else {
		change->roll_back();
	}
	if (r)
		rb_log(RB_LOG_ERR, "unremap: block %llu stays remapped (error %d)",
		       static_cast<unsigned long long>(b), r);
	return r;
}

void RemapTarget::do_list(u64 first, u64 max, TextBuffer &reply) const
{
	RcuReadGuard rcu;
	const LookupTable *t = rcu_read(&lookup_);
	t->for_each_from(first, [&](u64 key, u32 v) {
		if (!max--)
			return false;
		const unsigned long long b = key;
		if (v == LookupTable::kLost)
			return reply.emit_whole("%llu - lost\n", b);
		if (v == LookupTable::kPending)
			return reply.emit_whole("%llu - moving\n", b);
		const SectorMask *m = t->lost() ? t->lost()->find(key) : nullptr;
		if (m) // a salvaged block: the sectors that did not read
			return reply.emit_whole("%llu %u remapped lost_sectors=%u\n", b, v,
						m->count());
		return reply.emit_whole("%llu %u remapped\n", b, v); // a full buffer ends the page
	});
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
	const u64 redone = load_relaxed(&redone_writes_);
	out.emit("remapped=%llu lost=%llu spare_used=%llu spare_free=%llu spare_total=%llu "
		 "bad_spare=%llu read_errors=%llu write_errors=%llu auto_remaps=%llu "
		 "manual_remaps=%llu cache_hits=%llu cache_misses=%llu metadata=%s seq=%llu "
		 "redone_writes=%llu redo_last_ns=%llu redo_avg_ns=%llu redo_max_ns=%llu "
		 "medium_errors=%llu transient_errors=%llu nospc_errors=%llu readahead_errors=%llu "
		 "outages=%llu reprobed=%llu rescued=%llu lost_sectors=%llu spare=%s mode=%s",
		 static_cast<unsigned long long>(load_relaxed(&snap_.remapped)),
		 static_cast<unsigned long long>(load_relaxed(&snap_.lost)),
		 static_cast<unsigned long long>(total - free - bad),
		 static_cast<unsigned long long>(free), static_cast<unsigned long long>(total),
		 static_cast<unsigned long long>(bad),
		 static_cast<unsigned long long>(load_relaxed(&read_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&write_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&auto_remaps_)),
		 static_cast<unsigned long long>(load_relaxed(&manual_remaps_)),
		 static_cast<unsigned long long>(
			 since(load_relaxed(&snap_.cache_hits), load_relaxed(&snap_.hits_cleared))),
		 static_cast<unsigned long long>(since(load_relaxed(&snap_.cache_misses),
						       load_relaxed(&snap_.misses_cleared))),
		 metadata_name(snapshot_metadata()),
		 static_cast<unsigned long long>(load_relaxed(&snap_.seq)),
		 static_cast<unsigned long long>(redone),
		 static_cast<unsigned long long>(load_relaxed(&redo_last_ns_)),
		 static_cast<unsigned long long>(redone ? load_relaxed(&redo_sum_ns_) / redone : 0),
		 static_cast<unsigned long long>(load_relaxed(&redo_max_ns_)),
		 static_cast<unsigned long long>(load_relaxed(&medium_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&transient_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&nospc_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&readahead_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&outages_)),
		 static_cast<unsigned long long>(load_relaxed(&reprobed_)),
		 static_cast<unsigned long long>(load_relaxed(&rescued_)),
		 static_cast<unsigned long long>(load_relaxed(&lost_sectors_)),
		 __atomic_load_n(&spare_failed_, __ATOMIC_RELAXED) ? "failed" : "ok",
		 table_.read_only ? "ro" : "rw");
}

// Reads only snap_ (see do_stats()). The fields are a contract: new ones go at the end.
void RemapTarget::status_info(TextBuffer &out) const
{
	const u64 total = spare_total();
	const u64 used = total - load_relaxed(&snap_.spare_free) - load_relaxed(&snap_.spare_bad);
	out.emit("%u %llu %llu %llu/%llu %s %llu %s", geo_.block_size(),
		 static_cast<unsigned long long>(load_relaxed(&snap_.remapped)),
		 static_cast<unsigned long long>(load_relaxed(&snap_.lost)),
		 static_cast<unsigned long long>(used), static_cast<unsigned long long>(total),
		 metadata_name(snapshot_metadata()),
		 static_cast<unsigned long long>(load_relaxed(&snap_.seq)),
		 table_.read_only ? "ro" : "rw");
}

int RemapTarget::message(unsigned argc, char **argv, char *result, unsigned maxlen)
{
	Message m;
	const char *bad = parse_message(argc, argv, &m);
	if (bad) {
		rb_log(RB_LOG_ERR, "message rejected: %s", bad);
		return -kEINVAL;
	}
	unsigned used = 0;
	TextBuffer reply(result, maxlen, &used);
	if (maxlen)
		result[0] = '\0';

	if (m.verb == Verb::Remap || m.verb == Verb::Unremap) {
		if (m.args[0] >= geo_.data_len()) {
			rb_log(RB_LOG_ERR,
			       "message rejected: sector %llu is beyond the end of the device (%llu sectors)",
			       static_cast<unsigned long long>(m.args[0]),
			       static_cast<unsigned long long>(geo_.data_len()));
			return -kEINVAL;
		}
		const DataBlock block = geo_.data_block(Sector(m.args[0]));
		if (m.verb == Verb::Unremap) {
			int r = do_unremap(block);
			check_spare_events();
			return r;
		}
		const u64 count = m.nargs > 1 ? m.args[1] : 1;
		if (count == 0 || count > kMaxRemapRange ||
		    count > geo_.data_blocks() - block.value()) {
			rb_log(RB_LOG_ERR,
			       "message rejected: remap count must be 1 to %u and stay inside the device",
			       static_cast<unsigned>(kMaxRemapRange));
			return -kEINVAL;
		}
		int r = do_remap(block, count, m.nargs > 1, reply);
		check_spare_events();
		return r;
	}
	if (m.verb == Verb::Reprobe) {
		u64 first = 0, count = geo_.data_blocks();
		if (m.nargs > 0) {
			if (m.args[0] >= geo_.data_len()) {
				rb_log(RB_LOG_ERR,
				       "message rejected: sector %llu is beyond the end of the device (%llu sectors)",
				       static_cast<unsigned long long>(m.args[0]),
				       static_cast<unsigned long long>(geo_.data_len()));
				return -kEINVAL;
			}
			first = geo_.data_block(Sector(m.args[0])).value();
			count = m.nargs > 1 ? m.args[1] : 1;
			if (count == 0 || count > kMaxRemapRange ||
			    count > geo_.data_blocks() - first) {
				rb_log(RB_LOG_ERR,
				       "message rejected: reprobe count must be 1 to %u and stay inside the device",
				       static_cast<unsigned>(kMaxRemapRange));
				return -kEINVAL;
			}
		}
		int r = do_reprobe(first, count, reply);
		check_spare_events();
		return r;
	}
	switch (m.verb) {
	case Verb::List:
		do_list(m.nargs > 0 ? m.args[0] : 0, m.nargs > 1 ? m.args[1] : ~0ull, reply);
		return 1;
	case Verb::Stats:
		do_stats(reply);
		return 1;
	case Verb::ClearStats:
		zero_relaxed(&read_errors_);
		zero_relaxed(&write_errors_);
		zero_relaxed(&auto_remaps_);
		zero_relaxed(&manual_remaps_);
		zero_relaxed(&redone_writes_);
		zero_relaxed(&redo_last_ns_);
		zero_relaxed(&redo_sum_ns_);
		zero_relaxed(&redo_max_ns_);
		zero_relaxed(&medium_errors_);
		zero_relaxed(&transient_errors_);
		zero_relaxed(&nospc_errors_);
		zero_relaxed(&readahead_errors_);
		zero_relaxed(&outages_);
		zero_relaxed(&reprobed_);
		zero_relaxed(&rescued_);
		// The allocator's counters are cleared in the snapshot: a resume may replace it.
		store_relaxed(&snap_.hits_cleared, load_relaxed(&snap_.cache_hits));
		store_relaxed(&snap_.misses_cleared, load_relaxed(&snap_.cache_misses));
		return 0;
	case Verb::Help:
		reply.emit("%s", kMessageHelp);
		return 1;
	default:
		return -kEINVAL;
	}
}

bool RemapTarget::has_lost_sectors_locked(u64 b) const
{
	return lookup_->lost() && lookup_->lost()->find(b);
}

} // namespace remap

using namespace remap;

// struct rc_target is never defined: the C side only holds the pointer.
extern "C" struct rc_target *rc_target_create(const struct rc_table *table,
					      const struct rc_devices *devs,
					      const struct rb_io_ops *io, void *io_ctx,
					      const char **error, int *err)
{
	auto r = RemapTarget::create(*table, *devs, io, io_ctx, error);
	if (r.is_error()) {
		*err = r.error().code;
		return nullptr;
	}
	*err = 0;
	return reinterpret_cast<rc_target *>(r.value());
}

static RemapTarget *engine(rc_target *t) { return reinterpret_cast<RemapTarget *>(t); }
static const RemapTarget *engine(const rc_target *t)
{
	return reinterpret_cast<const RemapTarget *>(t);
}

extern "C" void rc_target_destroy(struct rc_target *t) { destroy(engine(t)); }

// preresume: the mapped device is suspended, and I/O to it (reclaim's writeback included) waits
// for this resume, so what it allocates must not wait for I/O.
extern "C" int rc_target_resume(struct rc_target *t)
{
	NoioScope noio;
	return to_errno(engine(t)->resume());
}

extern "C" void rc_target_suspend(struct rc_target *t) { engine(t)->suspend(); }

extern "C" void rc_target_map(const struct rc_target *t, rb_u64 sector, rb_u32 sectors,
			      struct rc_mapping *out)
{
	engine(t)->map(sector, sectors, out);
}

extern "C" const struct rc_io_view *const *rc_target_io_view(const struct rc_target *t)
{
	return engine(t)->io_view();
}

extern "C" int rc_io_view_touches(const struct rc_io_view *v, rb_u64 sector, rb_u32 sectors)
{
	if (sectors == 0)
		return 1;
	// The table lives while the view does: publish_locked() frees a table only after a grace
	// period that follows the publication of the next view.
	const LookupTable *t = static_cast<const LookupTable *>(v->mapping);
	return t->any_in(sector >> v->block_shift, (sector + sectors - 1) >> v->block_shift);
}

// The worker's entry points: the I/O path, on which reclaim must not wait for our own I/O.
extern "C" int rc_target_rewrite(struct rc_target *t, const struct rc_extent *extents, rb_u32 count)
{
	NoioScope noio;
	if (engine(t)->read_only())
		return -kEROFS; // a read-only table writes nothing, not even a retry in place
	int r = engine(t)->rewrite(extents, count);
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_reread(struct rc_target *t, rb_u64 sector, rb_u32 sectors, void *data,
				int error)
{
	NoioScope noio;
	int r = engine(t)->reread(sector, sectors, static_cast<u8 *>(data), error);
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_auto_remap(const struct rc_target *t) { return engine(t)->auto_remap(); }

extern "C" enum rc_verdict rc_target_failed_io(struct rc_target *t, const struct rc_failed_io *f)
{
	return engine(t)->failed_io(*f);
}

extern "C" void rc_target_count_error(struct rc_target *t, int is_write)
{
	engine(t)->count_error(is_write != 0);
}

extern "C" void rc_target_count_redone_write(struct rc_target *t, rb_u64 ns)
{
	engine(t)->count_redone_write(ns);
}

extern "C" int rc_target_message(struct rc_target *t, unsigned int argc, char **argv, char *result,
				 unsigned int maxlen)
{
	return engine(t)->message(argc, argv, result, maxlen);
}

extern "C" void rc_target_status_info(struct rc_target *t, char *buf, unsigned int maxlen,
				      unsigned int *used)
{
	TextBuffer out(buf, maxlen, used);
	engine(t)->status_info(out);
}
