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

} // namespace

int RemapTarget::load_state(const Geometry &geo, const rb_io_ops *io, void *io_ctx,
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
	if (*error)
		return st->store->load_errno();

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

	Own<State> st;
	int r = load_state(geo, io, io_ctx, &st, error);
	if (r)
		return Error{r};
	t->install(move(st));
	if (t->store_->fresh())
		rb_log(RB_LOG_INFO, "no metadata in the spare area: formatting it at resume");
	return t.release();
}

RemapTarget::~RemapTarget()
{
	LookupTable::free(lookup_);
	rb_free_large(copy_buf_);
}

Status RemapTarget::resume()
{
	MutexGuard guard(mutex_);
	// Another table may have committed since this one loaded (a reload races with
	// messages to the old table): pick that up rather than overwrite it.
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
	if (store_->fresh()) {
		TRY(commit(nullptr, 0));
		rb_log(RB_LOG_INFO, "formatted the spare area: %llu spare blocks of %u bytes",
		       static_cast<unsigned long long>(spare_total()), geo_.block_size());
	}
	suspended_ = false;
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
	store_relaxed(&lost_sectors_, t->lost() ? t->lost()->sectors() : 0);
}

void RemapTarget::check_spare_events()
{
	MutexGuard guard(mutex_);
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
	if (metadata_ == MetadataState::Failed)
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
	LostLog lost; // the blocks whose lost sectors change (salvage.cpp)

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
		rb_log(RB_LOG_WARN, "remap: block %llu does not read whole (error %d): salvaging it",
		       static_cast<unsigned long long>(b), *err);
		return salvage_move(b, RB_DATA_DEV, geo_.data_dev_sector(DataBlock(b)), work, err);
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
	if (!st.is_error())
		st = commit_move(work, n, final_table);
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
				// Step 3 gives it a home (rewrite_lost(): the rest of it stays lost).
			} else if (!(mapped && writes_lost_sectors(b, ext, count))) {
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
		if (rewrite_lost(work, i, before, ext, count, &err))
			continue;
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
			work.spares[i] = salvage_move(b, mapped ? RB_SPARE_DEV : RB_DATA_DEV,
						      mapped ? geo_.spare_dev_sector(SpareBlock(v))
							     : geo_.data_dev_sector(DataBlock(b)),
						      work, &err);
			if (err)
				break;
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
	if (has_lost_sectors(b)) {
		rb_log(RB_LOG_ERR, "unremap: block %llu has lost sectors: write them or reprobe first",
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
		const SectorMask *m = t->lost() ? t->lost()->find(key) : nullptr;
		if (m) // a salvaged block: the sectors that did not read
			return reply.emit_whole("%llu %u remapped lost_sectors=%u\n", b, v, m->count());
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

void RemapTarget::do_stats(TextBuffer &out) const
{
	const u64 total = spare_total();
	const u64 free = allocator_->available();
	const u64 bad = spare_bad();
	const u64 redone = load_relaxed(&redone_writes_);
	out.emit("remapped=%llu lost=%llu spare_used=%llu spare_free=%llu spare_total=%llu "
		 "bad_spare=%llu read_errors=%llu write_errors=%llu auto_remaps=%llu "
		 "manual_remaps=%llu cache_hits=%llu cache_misses=%llu metadata=%s seq=%llu "
		 "redone_writes=%llu redo_last_ns=%llu redo_avg_ns=%llu redo_max_ns=%llu "
		 "medium_errors=%llu transient_errors=%llu nospc_errors=%llu readahead_errors=%llu "
		 "outages=%llu reprobed=%llu rescued=%llu lost_sectors=%llu spare=%s mode=%s",
		 static_cast<unsigned long long>(remapped_), static_cast<unsigned long long>(lost_),
		 static_cast<unsigned long long>(total - free - bad),
		 static_cast<unsigned long long>(free), static_cast<unsigned long long>(total),
		 static_cast<unsigned long long>(bad),
		 static_cast<unsigned long long>(load_relaxed(&read_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&write_errors_)),
		 static_cast<unsigned long long>(load_relaxed(&auto_remaps_)),
		 static_cast<unsigned long long>(load_relaxed(&manual_remaps_)),
		 static_cast<unsigned long long>(allocator_->cache_hits()),
		 static_cast<unsigned long long>(allocator_->cache_misses()), metadata_name(metadata_),
		 static_cast<unsigned long long>(store_->seq()),
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

void RemapTarget::status_info(TextBuffer &out) const
{
	const u64 total = spare_total();
	const u64 used = total - allocator_->available() - spare_bad();
	out.emit("%u %llu %llu %llu/%llu %s %llu", geo_.block_size(),
		 static_cast<unsigned long long>(remapped_), static_cast<unsigned long long>(lost_),
		 static_cast<unsigned long long>(used), static_cast<unsigned long long>(total),
		 metadata_name(metadata_), static_cast<unsigned long long>(store_->seq()));
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
	if (m.verb == Verb::Reprobe) {
		u64 first = 0, count = geo_.data_blocks();
		if (m.nargs > 0) {
			if (m.args[0] >= geo_.data_len()) {
				rb_log(RB_LOG_ERR, "message rejected: sector %llu is beyond the end of the device (%llu sectors)",
				       static_cast<unsigned long long>(m.args[0]),
				       static_cast<unsigned long long>(geo_.data_len()));
				return -kEINVAL;
			}
			first = geo_.data_block(Sector(m.args[0])).value();
			count = m.nargs > 1 ? m.args[1] : 1;
			if (count == 0 || count > kMaxRemapRange || count > geo_.data_blocks() - first) {
				rb_log(RB_LOG_ERR, "message rejected: reprobe count must be 1 to %u and stay inside the device",
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
		allocator_->clear_counters();
		return 0;
	case Verb::Help:
		reply.emit("%s", kMessageHelp);
		return 1;
	default:
		return -kEINVAL;
	}
}

// ---------------------------------------------------------------------------------------------
// Sub-block salvage and lost data. A block that does not read whole is read again at the
// device's logical block size; what reads goes to a spare block (zeros in the holes) and the
// sectors that did not are recorded as LostSectors entries, published with the lookup table.
// Reads that touch them fail, writes revive them, `reprobe` tries them again.

namespace {

// Sectors [lo, hi) of block b written by the extents, as a mask.
SectorMask written_mask(const rc_extent *ext, u32 count, u64 b, u32 shift)
{
	SectorMask m{};
	for (u32 i = 0; i < count; i++) {
		const Part p = part_of(ext[i], b, shift);
		if (!p.empty())
			m.set(static_cast<u32>(p.lo - (b << shift)), static_cast<u32>(p.hi - (b << shift)));
	}
	return m;
}

SectorMask minus(SectorMask a, const SectorMask &b)
{
	for (u32 k = 0; k < SectorMask::kWords; k++)
		a.w[k] &= ~b.w[k];
	return a;
}

SectorMask all_sectors(u32 n)
{
	SectorMask m{};
	m.set(0, n);
	return m;
}

constexpr u64 kReprobeBatch = 32; // blocks per commit: the mutex is let go in between

} // namespace

bool RemapTarget::has_lost_sectors(u64 b) const
{
	return lookup_->lost() && lookup_->lost()->find(b);
}

int RemapTarget::salvage_block(rb_device dev, u64 dev_sector, unsigned flags, SectorMask *lost)
{
	const u32 lbs = dev == RB_DATA_DEV ? devs_.data_logical_block : devs_.spare_logical_block;
	const u32 unit_bytes = min(max(lbs, u32(1) << RC_SECTOR_SHIFT), geo_.block_size());
	const u32 unit = unit_bytes >> RC_SECTOR_SHIFT;
	*lost = SectorMask{};
	for (u32 s = 0; s < geo_.block_sectors(); s += unit) {
		u8 *at = copy_buf_ + (static_cast<u64>(s) << RC_SECTOR_SHIFT);
		const int r = io_->read(io_ctx_, dev, dev_sector + s, at, unit_bytes, flags);
		if (r == -kENOMEM)
			return r;
		if (r) {
			__builtin_memset(at, 0, unit_bytes);
			lost->set(s, s + unit);
		}
	}
	return 0;
}

u32 RemapTarget::salvage_move(u64 b, rb_device dev, u64 dev_sector, RangeWork &work, int *err)
{
	SectorMask lost;
	*err = salvage_block(dev, dev_sector, RB_IO_FAILFAST, &lost);
	if (*err)
		return LookupTable::kPending;
	const SectorMask *had = lookup_->lost() ? lookup_->lost()->find(b) : nullptr;
	if (had) { // read from its spare block, where those sectors read as zeros
		for (u32 k = 0; k < SectorMask::kWords; k++)
			lost.w[k] |= had->w[k];
	}
	if (lost.count() == geo_.block_sectors()) {
		rb_log(RB_LOG_WARN, "block %llu does not read at all: marking it lost",
		       static_cast<unsigned long long>(b));
		return LookupTable::kLost; // commit_move() drops lost sectors it had
	}
	const u32 spare = place_block(work, err);
	if (*err)
		return LookupTable::kPending;
	if ((lost.any() || had) && !work.lost.add(b, lost, Gfp::Noio)) {
		allocator_->release(SpareBlock(spare));
		*err = -kENOMEM;
		return LookupTable::kPending;
	}
	if (lost.any())
		rb_log(RB_LOG_WARN, "block %llu salvaged to spare block %u: %u of %u sectors lost",
		       static_cast<unsigned long long>(b), spare, lost.count(), geo_.block_sectors());
	return spare;
}

Status RemapTarget::commit_move(RangeWork &work, u64 n, LookupTable *final_table)
{
	const LostSectors *cur = final_table ? final_table->lost() : nullptr;
	// A block that ends up lost whole has no lost sectors of its own any more.
	for (u64 i = 0; cur && i < n; i++) {
		if (work.spares[i] == LookupTable::kLost && cur->find(work.blocks[i]) &&
		    !work.lost.add(work.blocks[i], SectorMask{}, Gfp::Noio))
			return Error{-kENOMEM};
	}
	if (work.lost.size() == 0)
		return work.nslots ? commit(work.slots, work.nslots) : Status();

	const u64 nlog = work.lost.size();
	const LostSectors::Change *log = work.lost.sorted();
	auto next = LostSectors::apply(cur, log, nlog, Gfp::Noio);
	if (next.is_error())
		return next.error();
	// The runs of the changed blocks are replaced: old ones freed, new ones added.
	const u32 bs = geo_.block_sectors();
	u64 nfree = 0, nadd = 0;
	store_->for_each_lost_run([&](u64, const Entry &e) {
		nfree += work.lost.find(e.data_block) != nullptr;
	});
	for (u64 j = 0; j < nlog; j++) {
		u32 lo, hi;
		for (u32 from = 0; log[j].mask.next_run(from, bs, &lo, &hi); from = hi)
			nadd++;
	}
	const u64 total = work.nslots + nfree + nadd;
	auto *changes = static_cast<MetadataStore::SlotChange *>(
		rb_alloc_large(total * sizeof(MetadataStore::SlotChange), RB_GFP_NOIO));
	if (!changes) {
		LostSectors::put(next.value());
		return Error{-kENOMEM};
	}
	u64 k = 0;
	for (u64 j = 0; j < work.nslots; j++)
		changes[k++] = work.slots[j];
	store_->for_each_lost_run([&](u64 slot, const Entry &e) {
		if (work.lost.find(e.data_block))
			changes[k++] = {slot, Entry{0, 0, EntryState::Free}};
	});
	for (u64 j = 0; j < nlog; j++) {
		u32 lo, hi;
		for (u32 from = 0; log[j].mask.next_run(from, bs, &lo, &hi); from = hi)
			changes[k++] = {MetadataStore::SlotChange::kNewSlot,
					Entry{log[j].block, Entry::run(lo, hi - lo), EntryState::LostSectors}};
	}
	Status st = commit(changes, k);
	rb_free_large(changes);
	if (st.is_error()) {
		LostSectors::put(next.value());
		return st;
	}
	final_table->set_lost(next.value());
	return {};
}

bool RemapTarget::writes_lost_sectors(u64 b, const rc_extent *ext, u32 count) const
{
	const SectorMask *m = lookup_->lost() ? lookup_->lost()->find(b) : nullptr;
	return m && m->overlaps(written_mask(ext, count, b, geo_.block_shift()));
}

bool RemapTarget::rewrite_lost(RangeWork &work, u64 i, const LookupTable *before,
			       const rc_extent *ext, u32 count, int *err)
{
	const u64 b = work.blocks[i];
	const u32 shift = geo_.block_shift(), bs = geo_.block_sectors();
	u32 v;
	if (!before->find(b, &v))
		return false;
	const SectorMask *had = before->lost() ? before->lost()->find(b) : nullptr;
	const SectorMask written = written_mask(ext, count, b, shift);
	const bool whole_lost = v == LookupTable::kLost;
	if (!whole_lost && !(had && had->overlaps(written)))
		return false;

	// The block as it will be: zeros (lost whole) or what its spare block holds, then the
	// extents; the sectors still lost are the old ones the extents do not write.
	const SectorMask still = minus(whole_lost ? all_sectors(bs) : *had, written);
	if (whole_lost) {
		__builtin_memset(copy_buf_, 0, geo_.block_size());
	} else if (!(written == all_sectors(bs))) {
		*err = io_->read(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(v)), copy_buf_,
				 geo_.block_size(), 0);
		if (*err) {
			rb_log(RB_LOG_ERR, "write to salvaged block %llu: its spare block does not read (error %d)",
			       static_cast<unsigned long long>(b), *err);
			return true;
		}
	}
	for (u32 k = 0; k < count; k++) {
		const Part p = part_of(ext[k], b, shift);
		if (!p.empty())
			__builtin_memcpy(copy_buf_ + ((p.lo - (b << shift)) << RC_SECTOR_SHIFT),
					 payload(ext[k], p.lo), (p.hi - p.lo) << RC_SECTOR_SHIFT);
	}
	if ((still.any() || had) && !work.lost.add(b, still, Gfp::Noio)) {
		*err = -kENOMEM;
		return true;
	}
	if (!whole_lost) {
		// Its spare block is healthy: the merged block goes back there (the mapping stays).
		*err = io_->write(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(v)), copy_buf_,
				  geo_.block_size(), 0);
		if (!*err) {
			work.spares[i] = LookupTable::kPending; // "not moved"
			return true;
		}
		rb_log(RB_LOG_WARN, "spare block %u failed a write (error %d): retiring it", v, *err);
		allocator_->mark_bad(SpareBlock(v));
		work.slots[work.nslots++] = {MetadataStore::SlotChange::kNewSlot,
					     Entry{Entry::kBadSpareData, v, EntryState::BadSpare}};
	}
	work.spares[i] = place_block(work, err);
	if (*err)
		return true;
	work.slots[work.nslots++] = {store_->find_slot(b), Entry{b, work.spares[i], EntryState::Remapped}};
	return true;
}

// Reads block work.blocks[i] (mapped to v: kLost, or a spare block with lost sectors) again
// from the data device. A lost block that now reads, in part or whole, moves to a spare block
// with its data; lost sectors of a salvaged block that now read are copied into its spare
// block. Logs the sectors still lost. Returns the block's new spare block, kPending if its
// mapping stays (or on error, with *err), kLost if nothing read.
u32 RemapTarget::reprobe_block(RangeWork &work, u64 i, u32 v, int *err, bool *rescued)
{
	const u64 b = work.blocks[i];
	const u64 data = geo_.data_dev_sector(DataBlock(b));
	const u32 bs = geo_.block_sectors();
	*rescued = false;
	if (v == LookupTable::kLost) {
		SectorMask lost;
		*err = salvage_block(RB_DATA_DEV, data, 0, &lost);
		if (*err || lost.count() == bs)
			return *err ? u32(LookupTable::kPending) : u32(LookupTable::kLost);
		const u32 spare = place_block(work, err);
		if (*err)
			return LookupTable::kPending;
		if (lost.any() && !work.lost.add(b, lost, Gfp::Noio)) {
			allocator_->release(SpareBlock(spare));
			*err = -kENOMEM;
			return LookupTable::kPending;
		}
		work.slots[work.nslots++] = {store_->find_slot(b), Entry{b, spare, EntryState::Remapped}};
		*rescued = !lost.any();
		return spare;
	}

	// Lost sectors of a salvaged block: re-read each logical block that holds some, and
	// write what now reads into the spare block (those sectors are nobody else's to write:
	// writes that touch them wait for the mutex in rewrite()).
	const SectorMask *had = lookup_->lost()->find(b);
	SectorMask still = *had;
	const u32 lbs = max(devs_.data_logical_block, u32(1) << RC_SECTOR_SHIFT);
	const u32 unit = min(lbs, geo_.block_size()) >> RC_SECTOR_SHIFT;
	for (u32 s = 0; s < bs; s += unit) {
		if (!had->touches(s, s + unit))
			continue;
		const u32 bytes = unit << RC_SECTOR_SHIFT;
		int r = io_->read(io_ctx_, RB_DATA_DEV, data + s, copy_buf_, bytes, 0);
		if (r == -kENOMEM) {
			*err = r;
			return LookupTable::kPending;
		}
		if (r)
			continue;
		// The unit's sectors that were not lost hold newer data on the spare block.
		for (u32 t = s; t < s + unit; t++) {
			if (!had->test(t))
				continue;
			r = io_->write(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(v)) + t,
				       copy_buf_ + (static_cast<u64>(t - s) << RC_SECTOR_SHIFT),
				       u32(1) << RC_SECTOR_SHIFT, 0);
			if (!r)
				still.clear(t, t + 1);
		}
	}
	if (!(still == *had) && !work.lost.add(b, still, Gfp::Noio)) {
		*err = -kENOMEM;
		return LookupTable::kPending;
	}
	*rescued = !still.any();
	return LookupTable::kPending;
}

int RemapTarget::do_reprobe(u64 first, u64 count, TextBuffer &reply)
{
	u64 reprobed = 0, rescued = 0, still_lost = 0;
	const u64 end = count > geo_.data_blocks() - first ? geo_.data_blocks() : first + count;
	for (u64 next = first; next < end;) {
		MutexGuard guard(mutex_);
		int r = can_change_mapping("reprobe");
		if (r)
			return r;
		RangeWork work;
		if (!work.alloc(kReprobeBatch))
			return -kENOMEM;
		// The next lost blocks and salvaged blocks of the range.
		u64 n = 0;
		const LostSectors *lost = lookup_->lost();
		lookup_->for_each_from(next, [&](u64 key, u32 v) {
			if (key >= end)
				return false;
			if (v == LookupTable::kLost || (v != LookupTable::kPending && lost && lost->find(key)))
				work.blocks[n++] = key;
			return n < kReprobeBatch;
		});
		if (n == 0)
			break;
		next = work.blocks[n - 1] + 1;

		int err = 0;
		u64 done = 0, batch_rescued = 0, batch_still = 0, moved = 0;
		for (u64 i = 0; i < n; i++) {
			u32 v = 0;
			bool ok = false;
			(void)lookup_->find(work.blocks[i], &v);
			work.spares[i] = reprobe_block(work, i, v, &err, &ok);
			if (err) {
				work.spares[i] = LookupTable::kPending;
				break;
			}
			done++;
			batch_rescued += ok;
			batch_still += !ok;
			moved += work.spares[i] != LookupTable::kPending && work.spares[i] != LookupTable::kLost;
		}
		auto final_table = range_table(lookup_, work, n, [&](u64 i, LookupTable::Change &c) {
			u32 old = 0;
			(void)lookup_->find(work.blocks[i], &old);
			const bool moved_here = work.spares[i] != LookupTable::kPending &&
						work.spares[i] != LookupTable::kLost;
			c.spare = moved_here ? work.spares[i] : old;
		});
		Status st = final_table.is_error() ? Status(final_table.error())
						   : commit_move(work, n, final_table.value());
		if (st.is_error()) { // what was done stays undone: the blocks are as they were
			if (!final_table.is_error())
				LookupTable::free(final_table.value());
			for (u64 i = 0; i < n; i++) {
				if (work.spares[i] != LookupTable::kPending && work.spares[i] != LookupTable::kLost)
					allocator_->release(SpareBlock(work.spares[i]));
			}
			rb_log(RB_LOG_ERR, "reprobe: could not record what it found (error %d)",
			       st.error().code);
			return st.error().code;
		}
		LookupTable::free(publish(final_table.value()));
		lost_ -= moved;
		remapped_ += moved;
		reprobed += done;
		rescued += batch_rescued;
		still_lost += batch_still;
		add_relaxed(&reprobed_, done);
		add_relaxed(&rescued_, batch_rescued);
		if (err) // what read before it is recorded
			return err;
	}
	reply.emit("reprobed=%llu rescued=%llu still_lost=%llu", static_cast<unsigned long long>(reprobed),
		   static_cast<unsigned long long>(rescued), static_cast<unsigned long long>(still_lost));
	return 1;
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
