// SPDX-License-Identifier: GPL-2.0
// The remap engine: loading, messages and the I/O path's lookup; see remap_target.h.
#include "remap_target.h"

#include "memory.h"
#include "message_parser.h"

namespace remap {

namespace {

constexpr u32 kSpareWriteAttempts = 3;
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
int RemapTarget::load_state(const Geometry &geo, const rb_io_ops *io, void *io_ctx,
			    Own<State> *out, const char **error)
{
	for (u32 attempt = 1;; attempt++) {
		Own<State> st;
		const int r = load_once(geo, io, io_ctx, &st, error);
		if (r == -kENOMEM || r == -kEIO || !st || !st->store)
			return r; // no memory or no readable device: not a race
		auto moved = st->store->changed_since_load();
		if (moved.is_error() || !moved.value()) {
			if (!r)
				*out = move(st);
			return r;
		}
		if (attempt == kLoadAttempts) {
			*error = "Metadata kept changing while loading (the live table is committing): try again";
			return -kEBUSY;
		}
		rb_log(RB_LOG_INFO, "metadata changed while loading (another table committed): loading it again");
	}
}

int RemapTarget::load_once(const Geometry &geo, const rb_io_ops *io, void *io_ctx,
			   Own<State> *out, const char **error)
{
	*error = "Cannot allocate memory for the remap engine";
	Own<State> st(make<State>(Gfp::Kernel));
	if (!st)
		return -kENOMEM;
	st->store.reset(make<MetadataStore>(Gfp::Kernel, geo, io, io_ctx));
	st->allocator.reset(make<SpareAllocator>(Gfp::Kernel));
	if (!st->store || !st->allocator ||
	    st->allocator->init(geo.spare_blocks(), Gfp::Kernel).is_error())
		return -kENOMEM;

	*error = st->store->load(Gfp::Kernel);
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
		auto r = LookupTable::merge(nullptr, nullptr, 0, Gfp::Kernel);
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
// this only runs while suspended, and publish() still waits out any reader.
void RemapTarget::install(Own<State> st)
{
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
		LookupTable::free(publish(t));
	} else {
		lookup_ = t;
		publish_view(t);
	}
	store_relaxed(&snap_.hits_cleared, 0); // a new allocator counts from 0
	store_relaxed(&snap_.misses_cleared, 0);
	refresh_snapshot();
}

// The first resume of a reloaded table: the table it replaces (suspended by now) may have
// committed after this one loaded. Its mapping is swapped in without I/O; the old table
// gets this one's and never writes again (dm destroys it next). Swapping, not moving, keeps
// every object either table can still reach alive until its own destructor.
void RemapTarget::take_over(RemapTarget &old)
{
	swap_own(store_, old.store_);
	swap_own(allocator_, old.allocator_);
	store_->rebind(io_, io_ctx_); // old's devices go away with old
	old.store_->rebind(old.io_, old.io_ctx_);
	rcu_publish(&old.lookup_, publish(old.lookup_)); // what a straggling `list` of old reads
	remapped_ = old.remapped_;
	lost_ = old.lost_;
	store_relaxed(&lost_sectors_, old.lost_sectors_); // stats reads both without the mutex
	__atomic_store_n(&spare_failed_, old.spare_failed_, __ATOMIC_RELAXED);
	metadata_ = old.metadata_;
	__atomic_store_n(&metadata_failed_, metadata_ == MetadataState::Failed, __ATOMIC_RELAXED);
	low_water_signalled_ = old.low_water_signalled_;
	empty_signalled_ = old.empty_signalled_;
	store_relaxed(&snap_.hits_cleared, load_relaxed(&old.snap_.hits_cleared));
	store_relaxed(&snap_.misses_cleared, load_relaxed(&old.snap_.misses_cleared));
	rb_log(RB_LOG_INFO, "took over metadata seq %llu from the table this one replaces",
	       static_cast<unsigned long long>(store_->seq()));
}

Status RemapTarget::pick_up_state()
{
	if (claim_.registered) {
		// Only the live table of this device wrote the area since this one loaded (the
		// registry refuses other devices): if there is one, its mapping is the truth.
		AreaClaim *sib = registry::live_sibling(&claim_);
		if (sib) {
			auto *old = static_cast<RemapTarget *>(sib->instance);
			MutexGuard old_guard(old->mutex_);
			if (!old->suspended_) {
				rb_log(RB_LOG_ERR, "another table of this device is live and not suspended");
				return Error{-kEBUSY};
			}
			bool same = old->store_->seq() == store_->seq();
			for (u32 i = 0; same && i < kUuidBytes; i++)
				same = old->store_->uuid()[i] == store_->uuid()[i];
			if (!same)
				take_over(*old);
			old->superseded_ = true;
			__atomic_store_n(&old->metadata_failed_, true, __ATOMIC_RELAXED);
			sib->live = false;
		}
		if (sib || !claim_.orphaned) {
			claim_.live = true;
			return {};
		}
		// The live table of this device went away before this one resumed (dm never does
		// that: it destroys the old table after the new one's preresume), so its last
		// commits are only on disk: check there, as for a table that is not registered.
		claim_.live = true;
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
		int r = load_state(geo_, io_, io_ctx_, &st, &bad);
		if (r) {
			rb_log(RB_LOG_ERR, "metadata changed on disk and no longer loads: %s", bad);
			return Error{r};
		}
		install(move(st));
		rb_log(RB_LOG_INFO, "picked up metadata seq %llu committed by another table",
		       static_cast<unsigned long long>(store_->seq()));
	}
	return {};
}

void RemapTarget::refresh_snapshot()
{
	store_relaxed(&snap_.remapped, remapped_);
	store_relaxed(&snap_.lost, lost_);
	store_relaxed(&snap_.spare_free, allocator_->available());
	store_relaxed(&snap_.spare_bad, spare_bad());
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
	if (t)
		t->copy_buf_ = static_cast<u8 *>(rb_alloc_large(geo.block_size(), RB_GFP_KERNEL));
	if (!t || !t->copy_buf_) {
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
	int r = load_state(geo, io, io_ctx, &st, error);
	if (r)
		return Error{r};
	if (table.read_only && st->store->fresh()) {
		*error = "Spare area is not formatted and the table is read-only: load it read-write once to format it";
		return Error{-kEROFS};
	}
	MutexGuard guard(t->mutex_); // install() refreshes the snapshot under it
	t->install(move(st));
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
}

Status RemapTarget::resume()
{
	if (superseded_) {
		rb_log(RB_LOG_ERR, "this table was replaced by a newer table of the device");
		return Error{-kEBUSY};
	}
	// A resume of the same table does no I/O: inside one mapped device only the live table
	// writes the area, and this one was live until its suspend.
	if (!resumed_) {
		GlobalGuard global;
		MutexGuard guard(mutex_);
		TRY(pick_up_state());
		resumed_ = true;
	}
	MutexGuard guard(mutex_);
	if (store_->fresh() && metadata_ != MetadataState::Failed && !table_.read_only) {
		// A failed write is reported: metadata=failed with an event (commit()), and the
		// table resumes. No memory changes nothing, and a retried resume formats.
		Status st = commit(nullptr, 0);
		if (st.is_error() && st.error().code == -kENOMEM)
			return st;
		if (st.is_error())
			rb_log(RB_LOG_ERR, "could not format the spare area");
		else
			rb_log(RB_LOG_INFO, "formatted the spare area: %llu spare blocks of %u bytes",
			       static_cast<unsigned long long>(spare_total()), geo_.block_size());
	}
	if (metadata_ == MetadataState::Failed) {
		rb_log(RB_LOG_ERR, "resuming with failed metadata: I/O is served, nothing is remapped");
		io_->event(io_ctx_);
	}
	suspended_ = false;
	refresh_snapshot();
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
	}
}

void RemapTarget::count_error(bool is_write) { add_relaxed(is_write ? &write_errors_ : &read_errors_); }

void RemapTarget::count_redone_write(u64 ns)
{
	add_relaxed(&redone_writes_);
	add_relaxed(&redo_sum_ns_, ns);
	store_relaxed(&redo_last_ns_, ns);
	if (ns > load_relaxed(&redo_max_ns_))
		store_relaxed(&redo_max_ns_, ns);
}

LookupTable *RemapTarget::publish(LookupTable *next)
{
	LookupTable *old = lookup_;
	next->set_generation(++generation_);
	rcu_publish(&lookup_, next);
	publish_view(next);
	rb_synchronize_rcu();
	io_->drain(io_ctx_, old->generation(), 0, RC_ALL_SECTORS);
	return old;
}

void RemapTarget::publish_view(const LookupTable *t)
{
	rc_io_view &v = views_[t->generation() & 1];
	u64 first;
	u32 value;
	v.first_block = t->first_at_or_after(0, &first, &value) ? first : RC_NO_BLOCK;
	v.block_shift = geo_.block_shift();
	v.generation = t->generation();
	v.mapping = t;
	rcu_publish(&view_, static_cast<const rc_io_view *>(&v));
}

void RemapTarget::check_spare_events()
{
	MutexGuard guard(mutex_);
	refresh_snapshot();
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
int RemapTarget::can_change_mapping(const char *verb) const
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

Result<LookupTable *> RemapTarget::with_change(u64 block, u32 value, bool remove)
{
	LookupTable::Change c{block, value, remove};
	return LookupTable::merge(lookup_, &c, 1, Gfp::Noio);
}

Status RemapTarget::commit(const MetadataStore::SlotChange *changes, u64 count)
{
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
			rb_log(RB_LOG_ERR, "metadata commit failed (error %d): no more remaps until the table is reloaded",
			       code);
			refresh_snapshot(); // status says failed before the waiter wakes
			io_->event(io_ctx_); // `dmsetup wait` wakes up to metadata=failed
		}
		return st;
	}
	metadata_ = MetadataState::Ok;
	return {};
}

// Scratch arrays for one remap message, allocated up front (Gfp::Noio: I/O may be held).
struct RemapTarget::RangeWork {
	u64 *blocks = nullptr;                  // the blocks of the range not yet mapped
	u32 *spares = nullptr;                  // their new spare block, kLost, or kPending if undone
	LookupTable::Change *lookup = nullptr;  // scratch for building tables
	MetadataStore::SlotChange *slots = nullptr;
	u64 nslots = 0;

	~RangeWork()
	{
		rb_free_large(blocks);
		rb_free_large(spares);
		rb_free_large(lookup);
		rb_free_large(slots);
	}
	[[nodiscard]] bool alloc(u64 n)
	{
		const auto g = RB_GFP_NOIO;
		blocks = static_cast<u64 *>(rb_alloc_large(n * sizeof(u64), g));
		spares = static_cast<u32 *>(rb_alloc_large(n * sizeof(u32), g));
		lookup = static_cast<LookupTable::Change *>(
			rb_alloc_large(n * sizeof(LookupTable::Change), g));
		slots = static_cast<MetadataStore::SlotChange *>(rb_alloc_large(
			n * (1 + kSpareWriteAttempts) * sizeof(MetadataStore::SlotChange), g));
		if (!blocks || !spares || !lookup || !slots)
			return false;
		for (u64 i = 0; i < n; i++)
			spares[i] = LookupTable::kPending; // "not moved" until a move says otherwise
		return true;
	}
};

// Writes copy_buf_ to a new spare block, retiring spare blocks that fail the write. Returns
// the spare block, or kPending with a negative errno in *err.
u32 RemapTarget::place_block(RangeWork &work, int *err)
{
	for (u32 attempt = 0; attempt < kSpareWriteAttempts; attempt++) {
		auto got = allocator_->allocate();
		if (got.is_error()) {
			*err = got.error().code;
			if (*err == -kENOSPC)
				rb_log(RB_LOG_ERR, "no spare blocks left");
			return LookupTable::kPending;
		}
		const SpareBlock s = got.value();
		*err = io_->write(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(s), copy_buf_,
				  geo_.block_size(), 0);
		if (!*err)
			return static_cast<u32>(s.value());
		rb_log(RB_LOG_WARN, "spare block %llu failed a write (error %d): retiring it",
		       static_cast<unsigned long long>(s.value()), *err);
		allocator_->mark_bad(s);
		work.slots[work.nslots++] = {MetadataStore::SlotChange::kNewSlot,
					     Entry{Entry::kBadSpareData, static_cast<u32>(s.value()),
						   EntryState::BadSpare}};
	}
	return LookupTable::kPending;
}

// Copies one data block to a new spare block. Returns the spare block, kLost if the data
// block does not read, or kPending with a negative errno in *err. A failure that says nothing
// about the disk (no memory for the I/O) fails the move: it never marks a block lost.
u32 RemapTarget::move_block(u64 b, RangeWork &work, int *err)
{
	*err = io_->read(io_ctx_, RB_DATA_DEV, geo_.data_dev_sector(DataBlock(b)), copy_buf_,
			 geo_.block_size(), 0);
	if (*err == -kENOMEM)
		return LookupTable::kPending;
	if (*err) {
		rb_log(RB_LOG_WARN, "remap: block %llu does not read (error %d): marking it lost",
		       static_cast<unsigned long long>(b), *err);
		*err = 0;
		return LookupTable::kLost;
	}
	return place_block(work, err);
}

// base with one change per range block; set(i, change) fills in what happens to block i.
template <typename Set>
Result<LookupTable *> RemapTarget::range_table(const LookupTable *base, RangeWork &work, u64 n,
					       Set set)
{
	for (u64 i = 0; i < n; i++) {
		work.lookup[i] = LookupTable::Change{work.blocks[i], 0, false};
		set(i, work.lookup[i]);
	}
	return LookupTable::merge(base, work.lookup, n, Gfp::Noio);
}

// Ends a move of work.blocks[0..n) while `held` (those blocks pending) is published and
// `before` is the table from before it. Blocks whose work.spares[i] is a spare block or kLost
// get that mapping; kPending ones stay as they were. Commits work.slots and publishes the
// result; on failure (or a non-zero err) releases the spare blocks it placed and publishes
// `before` again. Either way the held I/O is released.
Status RemapTarget::finish_move(RangeWork &work, u64 n, LookupTable *held, LookupTable *before,
				int err)
{
	Status st = err ? Status(Error{err}) : Status();
	LookupTable *final_table = nullptr;
	if (!st.is_error()) {
		auto r = range_table(held, work, n, [&](u64 i, LookupTable::Change &c) {
			u32 old = 0; // read below even when find() fails (c.remove then)
			c.spare = work.spares[i];
			if (work.spares[i] == LookupTable::kPending) { // not moved: as before
				c.remove = !before->find(work.blocks[i], &old);
				c.spare = old;
			}
		});
		if (r.is_error())
			st = r.error();
		else
			final_table = r.value();
	}
	if (!st.is_error() && work.nslots)
		st = commit(work.slots, work.nslots);
	if (st.is_error()) {
		LookupTable::free(final_table);
		for (u64 i = 0; i < n; i++) {
			if (work.spares[i] != LookupTable::kLost && work.spares[i] != LookupTable::kPending)
				allocator_->release(SpareBlock(work.spares[i]));
		}
		LookupTable::free(publish(before));
		io_->release_held(io_ctx_);
		return st;
	}
	LookupTable::free(publish(final_table));
	for (u64 i = 0; i < n; i++) {
		if (work.spares[i] == LookupTable::kPending)
			continue;
		u32 old;
		if (before->find(work.blocks[i], &old))
			(old == LookupTable::kLost ? lost_ : remapped_)--;
		(work.spares[i] == LookupTable::kLost ? lost_ : remapped_)++;
	}
	LookupTable::free(before);
	io_->release_held(io_ctx_);
	return {};
}

int RemapTarget::do_remap(DataBlock first, u64 count, bool range_reply, TextBuffer &reply)
{
	MutexGuard guard(mutex_);
	const u64 f = first.value();
	int r = can_change_mapping("remap"); // first: while suspended, lookup_ may be stale
	if (r)
		return r;
	u32 v;
	if (!range_reply && lookup_->find(f, &v)) { // already remapped: nothing to do
		if (v == LookupTable::kLost)
			reply.emit("%llu lost", static_cast<unsigned long long>(f));
		else
			reply.emit("%llu %u", static_cast<unsigned long long>(f), v);
		return 1;
	}

	RangeWork work;
	if (!work.alloc(count))
		return -kENOMEM;
	u64 n = 0;
	for (u64 b = f; b < f + count; b++) {
		if (!lookup_->find(b, &v))
			work.blocks[n++] = b;
	}
	const u64 already = count - n;

	// Every table this can end with is allocated before I/O is held: the held blocks'
	// writes could be what memory reclaim is waiting for.
	auto pending = range_table(lookup_, work, n, [](u64, LookupTable::Change &c) {
		c.spare = LookupTable::kPending;
	});
	if (pending.is_error())
		return pending.error().code;

	// From here writes to these blocks wait; none that was already in flight is going on.
	// The table from before is kept: publishing it again is the rollback.
	LookupTable *before = publish(pending.value());

	int err = 0;
	u64 done = 0, lost = 0;
	for (u64 i = 0; i < n; i++) {
		work.spares[i] = err ? u32(LookupTable::kPending) : move_block(work.blocks[i], work, &err);
		if (work.spares[i] == LookupTable::kPending)
			continue;
		work.slots[work.nslots++] = {
			MetadataStore::SlotChange::kNewSlot,
			work.spares[i] == LookupTable::kLost
				? Entry{work.blocks[i], Entry::kLostSpare, EntryState::Lost}
				: Entry{work.blocks[i], work.spares[i], EntryState::Remapped}};
		done++;
		lost += work.spares[i] == LookupTable::kLost;
	}
	if (err == -kENOSPC)
		rb_log(RB_LOG_ERR, "remap: no spare blocks left: %llu of %llu blocks remapped",
		       static_cast<unsigned long long>(done), static_cast<unsigned long long>(n));

	Status st = finish_move(work, n, lookup_, before, 0); // commits what was done
	if (st.is_error())
		return st.error().code;
	__atomic_fetch_add(&manual_remaps_, done, __ATOMIC_RELAXED);
	if (err)
		return err;
	if (!range_reply) {
		if (lost)
			reply.emit("%llu lost", static_cast<unsigned long long>(f));
		else
			reply.emit("%llu %u", static_cast<unsigned long long>(f), work.spares[0]);
	} else {
		reply.emit("remapped=%llu lost=%llu already=%llu",
			   static_cast<unsigned long long>(done - lost),
			   static_cast<unsigned long long>(lost), static_cast<unsigned long long>(already));
	}
	return 1;
}

namespace {

// The part of extent e inside block b, as target sectors [lo, hi); empty if none.
struct Part {
	u64 lo, hi;
	bool empty() const { return lo >= hi; }
};
Part part_of(const rc_extent &e, u64 b, u32 shift)
{
	return {max(e.sector, b << shift), min(e.sector + e.sectors, (b + 1) << shift)};
}

const u8 *payload(const rc_extent &e, u64 sector)
{
	return static_cast<const u8 *>(e.data) + ((sector - e.sector) << RC_SECTOR_SHIFT);
}

// Whether the extents together write all of block b.
bool written_whole(const rc_extent *ext, u32 count, u64 b, u32 shift)
{
	u64 covered = b << shift;
	const u64 end = (b + 1) << shift;
	for (bool progress = true; progress && covered < end;) {
		progress = false;
		for (u32 i = 0; i < count; i++) {
			const Part p = part_of(ext[i], b, shift);
			if (!p.empty() && p.lo <= covered && p.hi > covered) {
				covered = p.hi;
				progress = true;
			}
		}
	}
	return covered >= end;
}

bool contains(const u64 *a, u64 n, u64 v)
{
	for (u64 i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

void sort(u64 *a, u64 n) // insertion sort: a batch moves a few hundred blocks at most
{
	for (u64 i = 1; i < n; i++) {
		const u64 v = a[i];
		u64 j = i;
		for (; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

} // namespace

// Writes that failed on the device they were routed to, or that need a home because their
// block is lost. Retries each block's part where it belongs; the blocks that still fail (and
// lost blocks written whole) move to new spare blocks holding the written data, all in one
// commit. Returns 0 once every extent is durable under the same rules as a plain write, else
// an error (and then nothing was acknowledged or changed).
int RemapTarget::rewrite(const rc_extent *ext, u32 count)
{
	MutexGuard guard(mutex_);
	const u32 shift = geo_.block_shift();
	if (!table_.auto_remap || metadata_ == MetadataState::Failed || count == 0)
		return -kEIO;
	u64 total = 0;
	for (u32 i = 0; i < count; i++) {
		if (ext[i].sectors == 0 || ext[i].sector > geo_.data_len() ||
		    ext[i].sectors > geo_.data_len() - ext[i].sector)
			return -kEINVAL;
		total += ((ext[i].sector + ext[i].sectors - 1) >> shift) - (ext[i].sector >> shift) + 1;
	}

	RangeWork work;
	if (!work.alloc(total))
		return -kENOMEM;

	// 1. Retry each extent's part of each block where the current mapping puts it: an error
	//    that does not repeat needs no remap. Collect the blocks that need a new home; a block
	//    already collected is written whole in step 3, this extent's part included.
	u64 n = 0;
	for (u32 i = 0; i < count; i++) {
		const rc_extent &e = ext[i];
		for (u64 b = e.sector >> shift; b <= (e.sector + e.sectors - 1) >> shift; b++) {
			if (contains(work.blocks, n, b))
				continue;
			const Part p = part_of(e, b, shift);
			u32 v;
			const bool mapped = lookup_->find(b, &v);
			if (mapped && v == LookupTable::kLost) {
				if (!written_whole(ext, count, b, shift)) {
					rb_log(RB_LOG_ERR, "write of part of lost block %llu: the rest of it is gone",
					       static_cast<unsigned long long>(b));
					return -kEIO;
				}
			} else {
				const u64 dev_sector = mapped ? geo_.spare_dev_sector(SpareBlock(v)) +
									(p.lo & (geo_.block_sectors() - 1))
							      : geo_.data_offset() + p.lo;
				if (!io_->write(io_ctx_, mapped ? RB_SPARE_DEV : RB_DATA_DEV, dev_sector,
						payload(e, p.lo), static_cast<u32>((p.hi - p.lo) << RC_SECTOR_SHIFT),
						e.flags & RB_IO_FUA))
					continue;
			}
			work.blocks[n++] = b;
		}
	}
	if (n == 0)
		return 0;
	sort(work.blocks, n);

	// 2. Hold other I/O to those blocks and let what is in flight finish, so the rest of a
	//    partly written block is read after every write that raced with this one.
	auto pending = range_table(lookup_, work, n, [](u64, LookupTable::Change &c) {
		c.spare = LookupTable::kPending;
	});
	if (pending.is_error())
		return pending.error().code;
	LookupTable *held = pending.value();
	LookupTable *before = publish(held); // kept: publishing it again rolls back

	// 3. Each block: what it held where it was, overlaid with every extent's part of it.
	int err = 0;
	for (u64 i = 0; i < n && !err; i++) {
		const u64 b = work.blocks[i];
		u32 v = 0; // read only when mapped; initialised for the compiler
		const bool mapped = before->find(b, &v);
		if (!written_whole(ext, count, b, shift)) { // keep the rest of the block
			err = io_->read(io_ctx_, mapped ? RB_SPARE_DEV : RB_DATA_DEV,
					mapped ? geo_.spare_dev_sector(SpareBlock(v))
					       : geo_.data_dev_sector(DataBlock(b)),
					copy_buf_, geo_.block_size(), 0);
			if (err) {
				rb_log(RB_LOG_ERR, "write to block %llu failed and the rest of the block does not read",
				       static_cast<unsigned long long>(b));
				break;
			}
		}
		for (u32 k = 0; k < count; k++) {
			const Part p = part_of(ext[k], b, shift);
			if (!p.empty())
				__builtin_memcpy(copy_buf_ + ((p.lo - (b << shift)) << RC_SECTOR_SHIFT),
						 payload(ext[k], p.lo), (p.hi - p.lo) << RC_SECTOR_SHIFT);
		}
		if (mapped && v != LookupTable::kLost) {
			// Its spare block failed the write: retire it.
			allocator_->mark_bad(SpareBlock(v));
			work.slots[work.nslots++] = {MetadataStore::SlotChange::kNewSlot,
						     Entry{Entry::kBadSpareData, v, EntryState::BadSpare}};
		}
		work.spares[i] = place_block(work, &err);
		if (err)
			break;
		work.slots[work.nslots++] = {mapped ? store_->find_slot(b) : u64(MetadataStore::SlotChange::kNewSlot),
					     Entry{b, work.spares[i], EntryState::Remapped}};
	}

	Status st = finish_move(work, n, held, before, err); // all or nothing
	if (st.is_error()) {
		rb_log(RB_LOG_ERR, "could not remap a failed write (error %d): it fails", st.error().code);
		return st.error().code;
	}
	__atomic_fetch_add(&auto_remaps_, n, __ATOMIC_RELAXED);
	rb_log(RB_LOG_WARN, "remapped %llu block(s) after %u failed write(s) at sector %llu",
	       static_cast<unsigned long long>(n), count, static_cast<unsigned long long>(ext[0].sector));
	return 0;
}

// Reads a whole block from where the mapping `table` puts it, with read_retries retries.
int RemapTarget::read_block(const LookupTable *table, u64 b, u32 attempts)
{
	u32 v;
	const bool on_spare = table->find(b, &v) && v != LookupTable::kLost;
	int r = -kEIO;
	for (u32 i = 0; i < attempts && r; i++)
		r = io_->read(io_ctx_, on_spare ? RB_SPARE_DEV : RB_DATA_DEV,
			      on_spare ? geo_.spare_dev_sector(SpareBlock(v))
				       : geo_.data_dev_sector(DataBlock(b)),
			      copy_buf_, geo_.block_size(), 0);
	return r;
}

// A read that failed where it was routed. Each block is retried up to read_retries times: a
// block that reads on a retry is weak and moves to a new spare block (its data is copied),
// a block that never reads is marked lost, both persisted. Fills buf and returns 0 if every
// block read in the end; otherwise -EIO, and the glue fails the read with its original
// status. A retry that fails for lack of memory changes nothing. data covers
// [sector, sector + sectors).
int RemapTarget::reread(u64 sector, u32 sectors, u8 *buf)
{
	MutexGuard guard(mutex_);
	const u32 shift = geo_.block_shift();
	const u64 end = sector + sectors;
	const u64 first = sector >> shift;
	const u64 count = ((end - 1) >> shift) - first + 1;
	if (sectors == 0)
		return -kEIO;

	RangeWork work;
	if (!work.alloc(count))
		return -kENOMEM;

	// 1. Retry every block; remember the ones that failed at first (weak or unreadable).
	bool all_read = true;
	u64 n = 0;
	for (u64 b = first; b < first + count; b++) {
		const u64 lo = max(sector, b << shift), hi = min(end, (b + 1) << shift);
		u32 v;
		if (lookup_->find(b, &v) && v == LookupTable::kLost) {
			all_read = false;
			continue;
		}
		// One read of the block alone tells which blocks of the bio failed; a block that
		// fails it and then reads on a retry is weak.
		const bool good = read_block(lookup_, b, 1) == 0;
		if (good || read_block(lookup_, b, table_.read_retries) == 0)
			__builtin_memcpy(buf + ((lo - sector) << RC_SECTOR_SHIFT),
					 copy_buf_ + ((lo - (b << shift)) << RC_SECTOR_SHIFT),
					 (hi - lo) << RC_SECTOR_SHIFT);
		else
			all_read = false;
		if (!good)
			work.blocks[n++] = b;
	}
	if (n == 0 || !auto_remap())
		return all_read ? 0 : -kEIO;

	// 2. Hold I/O to those blocks, let what is in flight finish, read each once more (so a
	//    racing write is not undone), and move it (weak) or mark it lost (unreadable).
	auto pending = range_table(lookup_, work, n, [](u64, LookupTable::Change &c) {
		c.spare = LookupTable::kPending;
	});
	if (pending.is_error())
		return all_read ? 0 : -kEIO;
	LookupTable *held = pending.value();
	LookupTable *before = publish(held); // kept: publishing it again rolls back

	int err = 0;
	u64 moved = 0, lost = 0;
	for (u64 i = 0; i < n && !err; i++) {
		const u64 b = work.blocks[i];
		u32 v;
		const bool mapped = before->find(b, &v);
		const int rr = read_block(before, b, 1 + table_.read_retries);
		if (rr == -kENOMEM) {
			// No memory for the read says nothing about the disk (as in move_block()):
			// nothing is moved or marked lost, and the read fails with its own error.
			err = rr;
			break;
		}
		const bool readable = rr == 0;
		if (mapped) {
			// The spare block it lived in failed a read: retire it.
			allocator_->mark_bad(SpareBlock(v));
			work.slots[work.nslots++] = {MetadataStore::SlotChange::kNewSlot,
						     Entry{Entry::kBadSpareData, v, EntryState::BadSpare}};
		}
		if (readable) {
			work.spares[i] = place_block(work, &err);
			if (err)
				break;
			moved++;
		} else {
			work.spares[i] = LookupTable::kLost;
			lost++;
		}
		const bool is_lost = work.spares[i] == LookupTable::kLost;
		work.slots[work.nslots++] = {
			mapped ? store_->find_slot(b) : u64(MetadataStore::SlotChange::kNewSlot),
			is_lost ? Entry{b, Entry::kLostSpare, EntryState::Lost}
				: Entry{b, work.spares[i], EntryState::Remapped}};
	}

	Status st = finish_move(work, n, held, before, err);
	if (st.is_error()) {
		rb_log(RB_LOG_ERR, "could not record a failed read (error %d)", st.error().code);
		return all_read ? 0 : -kEIO;
	}
	__atomic_fetch_add(&auto_remaps_, moved, __ATOMIC_RELAXED);
	rb_log(RB_LOG_WARN, "read error at sector %llu: %llu weak block(s) moved, %llu lost",
	       static_cast<unsigned long long>(sector), static_cast<unsigned long long>(moved),
	       static_cast<unsigned long long>(lost));
	return all_read ? 0 : -kEIO;
}

int RemapTarget::do_unremap(DataBlock block)
{
	MutexGuard guard(mutex_);
	const u64 b = block.value();
	int r = can_change_mapping("unremap"); // first: while suspended, lookup_ may be stale
	if (r)
		return r;
	u32 spare;
	if (!lookup_->find(b, &spare))
		return 0; // not remapped: nothing to do
	if (spare == LookupTable::kLost) {
		rb_log(RB_LOG_ERR, "unremap: block %llu is lost: there is no data to copy back; write the block instead",
		       static_cast<unsigned long long>(b));
		return -kEINVAL;
	}

	auto pending = with_change(b, LookupTable::kPending, false);
	if (pending.is_error())
		return pending.error().code;
	LookupTable::Change drop{b, 0, true};
	auto final_table = LookupTable::merge(pending.value(), &drop, 1, Gfp::Noio);
	if (final_table.is_error()) {
		LookupTable::free(pending.value());
		return final_table.error().code;
	}
	LookupTable *before = publish(pending.value()); // kept: publishing it again rolls back

	r = io_->read(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(spare)), copy_buf_,
			  geo_.block_size(), 0);
	if (!r)
		r = io_->write(io_ctx_, RB_DATA_DEV, geo_.data_dev_sector(block), copy_buf_,
			       geo_.block_size(), RB_IO_FUA);
	Status st = r ? Status(Error{r}) : Status();
	if (!st.is_error()) {
		MetadataStore::SlotChange c{store_->find_slot(b), Entry{0, 0, EntryState::Free}};
		st = commit(&c, 1);
	}
	if (st.is_error()) {
		rb_log(RB_LOG_ERR, "unremap: block %llu stays remapped (error %d)",
		       static_cast<unsigned long long>(b), st.error().code);
		LookupTable::free(final_table.value());
		LookupTable::free(publish(before));
		io_->release_held(io_ctx_);
		return st.error().code;
	}
	LookupTable::free(publish(final_table.value()));
	LookupTable::free(before);
	io_->release_held(io_ctx_);
	allocator_->free(SpareBlock(spare));
	remapped_--;
	return 0;
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
		return reply.emit_whole("%llu %u remapped\n", b, v); // a full buffer ends the page
	});
}

u64 RemapTarget::spare_total() const
{
	return geo_.spare_blocks() - geo_.first_usable_spare().value();
}

// Usable spare blocks are free (in the bitmap or the cache), retired as bad, or used.
u64 RemapTarget::spare_bad() const
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
		 static_cast<unsigned long long>(
			 since(load_relaxed(&snap_.cache_misses), load_relaxed(&snap_.misses_cleared))),
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
			rb_log(RB_LOG_ERR, "message rejected: sector %llu is beyond the end of the device (%llu sectors)",
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
			rb_log(RB_LOG_ERR, "message rejected: remap count must be 1 to %u and stay inside the device",
			       static_cast<unsigned>(kMaxRemapRange));
			return -kEINVAL;
		}
		int r = do_remap(block, count, m.nargs > 1, reply);
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

extern "C" int rc_target_resume(struct rc_target *t) { return to_errno(engine(t)->resume()); }

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
	// The table lives while the view does: publish() frees a table only after a grace
	// period that follows the publication of the next view.
	const LookupTable *t = static_cast<const LookupTable *>(v->mapping);
	u64 key;
	u32 value;
	return t->first_at_or_after(sector >> v->block_shift, &key, &value) &&
	       key <= (sector + sectors - 1) >> v->block_shift;
}

extern "C" int rc_target_rewrite(struct rc_target *t, const struct rc_extent *extents,
				 rb_u32 count)
{
	if (engine(t)->read_only())
		return -kEROFS; // a read-only table writes nothing, not even a retry in place
	int r = engine(t)->rewrite(extents, count);
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_reread(struct rc_target *t, rb_u64 sector, rb_u32 sectors, void *data,
				int /*error*/)
{
	int r = engine(t)->reread(sector, sectors, static_cast<u8 *>(data));
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_auto_remap(const struct rc_target *t)
{
	return engine(t)->auto_remap();
}

extern "C" enum rc_verdict rc_target_failed_io(struct rc_target *t, const struct rc_failed_io *f)
{
	engine(t)->count_error((f->flags & RC_FAILED_WRITE) != 0);
	return engine(t)->auto_remap() ? RC_VERDICT_REDO : RC_VERDICT_PASS;
}

extern "C" void rc_target_count_error(struct rc_target *t, int is_write)
{
	engine(t)->count_error(is_write != 0);
}

extern "C" void rc_target_count_redone_write(struct rc_target *t, rb_u64 ns)
{
	engine(t)->count_redone_write(ns);
}

extern "C" int rc_target_message(struct rc_target *t, unsigned int argc, char **argv,
				 char *result, unsigned int maxlen)
{
	return engine(t)->message(argc, argv, result, maxlen);
}

extern "C" void rc_target_status_info(struct rc_target *t, char *buf, unsigned int maxlen,
				      unsigned int *used)
{
	TextBuffer out(buf, maxlen, used);
	engine(t)->status_info(out);
}
