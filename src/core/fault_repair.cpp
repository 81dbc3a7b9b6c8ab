// SPDX-License-Identifier: GPL-2.0
// The failed-I/O policy: the verdict on a failed bio (the error taxonomy of fault_policy.h),
// and the worker's repairs, rewrite() and reread(). Retries and probes run without the
// engine mutex, through retry_buf_ (the glue's worker is single-threaded per target); only
// the blocks that then move or are marked lost are held, one mapping change at a time, each
// with the mutex for its own few blocks' I/O and commit.
#include "fault_policy.h"
#include "mapping_change.h"
#include "memory.h"
#include "relaxed.h"
#include "sort.h"
#include "warn.h"

namespace remap {

namespace {

// Times a repair starts over when the mapping changed under its retries (a message moved a
// block meanwhile); after that the I/O fails with its own error and nothing is changed.
constexpr u32 kMaxPasses = 3;

// The part of extent e inside block b, as target sectors [lo, hi) (empty if none), and where
// it starts in the block (sectors from the block's first one).
struct Part {
	u64 lo, hi;
	u64 at;
	bool empty() const { return lo >= hi; }
};
Part part_of(const rc_extent &e, u64 b, const Geometry &geo)
{
	const Sector first = geo.first_sector(DataBlock(b));
	const u64 lo = max(e.sector, first.value());
	return {lo, min(e.sector + e.sectors, geo.end_sector(DataBlock(b)).value()),
		lo - first.value()};
}

const u8 *payload(const rc_extent &e, u64 sector)
{
	return static_cast<const u8 *>(e.data) + ((sector - e.sector) << RC_SECTOR_SHIFT);
}

// Whether the extents together write all of block b.
bool written_whole(const rc_extent *ext, u32 count, u64 b, const Geometry &geo)
{
	u64 covered = geo.first_sector(DataBlock(b)).value();
	const u64 end = geo.end_sector(DataBlock(b)).value();
	for (bool progress = true; progress && covered < end;) {
		progress = false;
		for (u32 i = 0; i < count; i++) {
			const Part p = part_of(ext[i], b, geo);
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

} // namespace

rc_verdict RemapTarget::failed_io(const rc_failed_io &f)
{
	count_error((f.flags & RC_FAILED_WRITE) != 0);
	if (f.flags & RC_FAILED_READAHEAD) {
		// Speculative and failfast in the block layer: it fails on conditions a demand
		// read would retry through. Nothing is retried, moved or marked.
		stats_.readahead_errors.add();
		return RC_VERDICT_PASS;
	}
	switch (classify_error(f.error)) {
	case ErrorClass::Medium:
		stats_.medium_errors.add();
		break;
	case ErrorClass::MaybeMedium:
		break;
	case ErrorClass::Path:
		stats_.transient_errors.add();
		return RC_VERDICT_PASS;
	case ErrorClass::NoSpace:
		stats_.nospc_errors.add();
		return RC_VERDICT_PASS;
	case ErrorClass::NotSupported:
		return RC_VERDICT_PASS;
	}
	return can_repair() ? RC_VERDICT_REDO : RC_VERDICT_PASS;
}

bool RemapTarget::find_now(u64 block, u32 *value) const
{
	RcuReadGuard rcu;
	return rcu_read(&lookup_)->find(block, value);
}

u32 RemapTarget::generation_now() const
{
	RcuReadGuard rcu;
	return rcu_read(&lookup_)->generation();
}

// A block is pending only while a mapping change holds the mutex: waits for it to end.
void RemapTarget::wait_for_change() { MutexGuard guard(mutex_); }

int RemapTarget::read_where(rb_device dev, u64 dev_sector, u8 *buf, unsigned flags)
{
	return io_->read(io_ctx_, dev, dev_sector, buf, geo_.block_size(), flags);
}

void RemapTarget::count_outage()
{
	stats_.outages.add();
	rb_log(RB_LOG_WARN,
	       "the device does not answer: an outage, not a bad block; nothing marked or moved");
}

void RemapTarget::spare_device_failed(int error)
{
	if (__atomic_exchange_n(&spare_failed_, true, __ATOMIC_RELAXED))
		return;
	rb_log(RB_LOG_ERR,
	       "no spare block accepted a write (error %d): the spare device failed; automatic remaps stop until a resume or a remap message that succeeds",
	       error);
	if (io_->event)
		io_->event(io_ctx_); // `dmsetup wait` wakes up to spare=failed
}

// The probe: the data device answers if one of two data blocks outside the failing ones reads
// (skipping remapped ones): the block half the device away (an outage fails it, damage near
// the failing blocks does not), else the first block of the device (whatever else fails, a
// device that is there reads it). The spare device answers if one of the two superblock
// slots reads. A medium error is an answer too.
bool RemapTarget::device_answers(rb_device dev, u64 first_block, u64 end_block, u8 *buf)
{
	for (u32 k = 0; k < 2; k++) {
		u64 sector;
		if (dev == RB_SPARE_DEV) {
			sector = geo_.spare_dev_sector(geo_.superblock_block(k));
		} else {
			const u64 nb = geo_.data_blocks();
			u64 b = k ? 0 : (first_block + nb / 2) % nb;
			{
				RcuReadGuard rcu;
				const LookupTable *t = rcu_read(&lookup_);
				u32 v;
				// Up to 8 blocks on: not a failing one, and not remapped (bad there).
				for (u32 step = 0; step < 8; step++) {
					if (!(b >= first_block && b < end_block) && !t->find(b, &v))
						break;
					b = (b + 1) % nb;
				}
			}
			if (b >= first_block && b < end_block)
				continue; // a device of a few blocks, all of them failing
			sector = geo_.data_dev_sector(DataBlock(b));
		}
		const int r = read_where(dev, sector, buf, RB_IO_FAILFAST);
		if (r == 0 || r == -kENODATA)
			return true;
	}
	return false;
}

// The one place where a read error costs a whole block: block i of a held change does not
// read at all (salvage_or_mark_locked() found no sector that reads) and the medium is at fault.
void RemapTarget::mark_unreadable_locked(MappingChange &change, u64 i)
{
	rb_log(RB_LOG_WARN, "block %llu does not read: lost whole", change.block(i));
	change.set_lost(i);
}

int RemapTarget::move_or_mark_locked(MappingChange &change, u64 i, int read_error)
{
	if (!read_error)
		return change.place(i, copy_buf_);
	return salvage_or_mark_locked(change, i); // what reads moves; the rest is lost
}

// Writes that failed on the device they were routed to, or that need a home because their
// block is lost. Retries each block's part where it belongs (before allocating anything);
// an error of the path, out of space or not supported, or a data device that does not
// answer, fails the write with nothing changed. The blocks whose medium failed (and lost
// blocks written whole) move to new spare blocks holding the written data, up to
// MappingChange::kMaxBlocks in one commit. Returns 0 once every extent is durable under the
// same rules as a plain write, else an error (and then nothing was acknowledged).
int RemapTarget::rewrite(const rc_extent *ext, u32 count)
{
	if (count == 0)
		return -kEIO;
	for (u32 i = 0; i < count; i++) {
		if (ext[i].sectors == 0 || ext[i].sector > geo_.data_len() ||
		    ext[i].sectors > geo_.data_len() - ext[i].sector)
			return -kEINVAL;
	}
	if (!table_.auto_remap || table_.read_only)
		return -kEIO;
	for (u32 pass = 0; pass < kMaxPasses; pass++) {
		const int r = rewrite_pass(ext, count);
		if (r != kRestart)
			return r;
	}
	return -kEIO;
}

// What step 1 of a rewrite pass found: the blocks that need a new home (ascending once
// sorted), the last error a retry returned and whether that error asks to probe the device.
struct RemapTarget::RewritePlan {
	Array<u64> need; // allocated at the first block that fails
	u64 n = 0;
	int last_err = -kEIO;
	bool probe_data = false, probe_spare = false;

	[[nodiscard]] bool add(u64 b, const rc_extent *ext, u32 count, const Geometry &geo)
	{
		if (!need) {
			u64 total = 0;
			for (u32 k = 0; k < count; k++)
				total += geo.blocks_touched(Sector(ext[k].sector), ext[k].sectors);
			if (!need.alloc_zeroed(total, Gfp::Noio))
				return false;
		}
		need[n++] = b;
		return true;
	}
	bool has(u64 b) const { return need && contains(need.data(), n, b); }
};

int RemapTarget::rewrite_pass(const rc_extent *ext, u32 count)
{
	const u32 gen0 = generation_now();

	// 1. Retry each extent's part of each block where the mapping puts it now, without the
	//    mutex. Collect the blocks that need a new home; a block already collected is
	//    written whole in step 3, this extent's part included.
	RewritePlan plan;
	const int r = retry_in_place(ext, count, plan);
	if (r)
		return r;
	if (plan.n == 0)
		return generation_now() == gen0 ? 0 : kRestart;
	if (!can_repair())
		return plan.last_err;
	// 2. An error the medium may not be at fault for moves nothing while the device as a
	//    whole does not answer.
	// A batch moves a few hundred blocks at most.
	insertion_sort(plan.need.data(), plan.n, [](u64 b) { return b; });
	const u64 lo = plan.need[0], hi = plan.need[plan.n - 1] + 1;
	if ((plan.probe_data && !device_answers(RB_DATA_DEV, lo, hi, retry_buf_)) ||
	    (plan.probe_spare && !device_answers(RB_SPARE_DEV, 0, 0, retry_buf_))) {
		count_outage();
		return plan.last_err;
	}

	// 3. A chunk at a time: hold the blocks, let what is in flight to them finish (so the
	//    rest of a partly written block is read after every write that raced with this one),
	//    and move each with its written data.
	u32 expected = gen0;
	u64 moved = 0;
	for (u64 k = 0; k < plan.n;) {
		MutexGuard guard(mutex_);
		if (lookup_->generation() != expected)
			return kRestart;
		if (metadata_ == MetadataState::Failed || !can_repair())
			return plan.last_err;
		Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
		if (!change)
			return -kENOMEM;
		for (; k < plan.n && change->add(plan.need[k]); k++) {
		}
		const int err = move_written_locked(*change, ext, count);
		if (err)
			return err;
		moved += change->count();
		stats_.auto_remaps.add(change->count());
		expected = lookup_->generation();
	}
	rb_log(RB_LOG_WARN, "remapped %llu block(s) after %u failed write(s) at sector %llu", moved,
	       count, ext[0].sector);
	return 0;
}

// Step 1 of a rewrite pass: each extent's part of each block written again where the mapping
// puts it now (failfast, without the mutex); plan collects the blocks that still fail and the
// lost ones. 0, kRestart when a block is being moved, or the error of a retry that is not
// the medium's (the write fails with it).
int RemapTarget::retry_in_place(const rc_extent *ext, u32 count, RewritePlan &plan)
{
	for (u32 i = 0; i < count; i++) {
		const rc_extent &e = ext[i];
		const DataBlock last = geo_.last_block(Sector(e.sector), e.sectors);
		for (u64 b = geo_.data_block(Sector(e.sector)).value(); b <= last.value(); b++) {
			if (plan.has(b))
				continue;
			u32 v = 0;
			const bool mapped = find_now(b, &v);
			if (mapped && v == LookupTable::kMoving) {
				wait_for_change();
				return kRestart;
			}
			bool lost_sectors = false;
			if (mapped && v != LookupTable::kLost) {
				RcuReadGuard rcu;
				lost_sectors =
					writes_lost_sectors(rcu_read(&lookup_), b, ext, count);
			}
			// A lost block, or one with lost sectors, gets a home or is merged in step 3
			// (rewrite_lost_locked()): what the extents do not write stays lost.
			if (!mapped || (v != LookupTable::kLost && !lost_sectors)) {
				const int r = retry_part(e, b, mapped, v);
				if (!r)
					continue;
				if (!repairable(classify_error(r))) {
					rb_log(RB_LOG_ERR,
					       "write to block %llu failed again (error %d): not the medium; it fails",
					       b, r);
					return r;
				}
				plan.last_err = r;
				if (r != -kENODATA)
					(mapped ? plan.probe_spare : plan.probe_data) = true;
			}
			if (!plan.add(b, ext, count, geo_))
				return -kENOMEM;
		}
	}
	return 0;
}

// Extent e's part of block b written again where it is now: its spare block v if mapped,
// else the data device. Failfast, and with FUA if the write had it.
int RemapTarget::retry_part(const rc_extent &e, u64 b, bool mapped, u32 v)
{
	const Part p = part_of(e, b, geo_);
	const u64 dev_sector =
		mapped ? geo_.spare_dev_sector(SpareBlock(v)) + p.at : geo_.data_offset() + p.lo;
	return io_->write(io_ctx_, mapped ? RB_SPARE_DEV : RB_DATA_DEV, dev_sector,
			  payload(e, p.lo), static_cast<u32>((p.hi - p.lo) << RC_SECTOR_SHIFT),
			  (e.flags & RB_IO_FUA) | RB_IO_FAILFAST);
}

// Step 3 of a rewrite pass for one chunk (mutex held): prepare, hold, give each block its new
// home with the written data (the rest of a partly written block read from where it was),
// commit. 0 once committed; else the error, with every change rolled back.
int RemapTarget::move_written_locked(MappingChange &change, const rc_extent *ext, u32 count)
{
	Status st = change.prepare(MappingChange::kSpares);
	if (st.is_error())
		return st.error().code();
	change.hold();
	int err = 0;
	for (u64 i = 0; i < change.count() && !err; i++) {
		const u64 b = change.block(i);
		u32 v;
		const bool on_spare = change.was_mapped(i, &v) && v != LookupTable::kLost;
		if (writes_lost_locked(change, i, ext, count)) {
			err = rewrite_lost_locked(change, i, ext, count);
			continue;
		}
		if (!written_whole(ext, count, b, geo_)) { // keep the rest of the block
			err = read_where(on_spare ? RB_SPARE_DEV : RB_DATA_DEV,
					 on_spare ? geo_.spare_dev_sector(SpareBlock(v))
						  : geo_.data_dev_sector(DataBlock(b)),
					 copy_buf_, 0);
			if (err) {
				rb_log(RB_LOG_ERR,
				       "write to block %llu failed and the rest of the block does not read",
				       b);
				break;
			}
		}
		for (u32 x = 0; x < count; x++) {
			const Part p = part_of(ext[x], b, geo_);
			if (!p.empty())
				__builtin_memcpy(copy_buf_ + (p.at << RC_SECTOR_SHIFT),
						 payload(ext[x], p.lo),
						 (p.hi - p.lo) << RC_SECTOR_SHIFT);
		}
		if (on_spare)
			change.retire_old(i); // its spare block failed the write
		err = move_or_mark_locked(change, i, 0);
	}
	if (err) {
		change.roll_back(); // nothing retired stays retired in memory only
		rb_log(RB_LOG_ERR, "could not remap a failed write (error %d): it fails", err);
		return err;
	}
	st = change.commit(); // all or nothing
	if (st.is_error() || !change.committed()) {
		err = st.is_error() ? st.error().code() : -kEIO;
		rb_log(RB_LOG_ERR, "could not remap a failed write (error %d): it fails", err);
		return err;
	}
	return 0;
}

namespace {

// What the retries found out about one block of a failed read.
enum class Found : u8 {
	Fine,    // read alone at once (or never needed a retry): not the failing one
	Weak,    // failed its first read alone and read on a later one
	Failing, // failed every retry so far
	Unknown, // not read alone yet (read_retries 1: its only retry is under the hold)
	Lost,    // lost already: fails without being read
};

} // namespace

// The one line a failed read that changed the mapping logs: what became of its blocks, the
// parts that are not zero only (salvage and mark_unreadable_locked() logged each block already).
void RemapTarget::log_reread(u64 sector, u64 moved, u64 salvaged, u64 salvaged_lost, u64 lost)
{
	char line[160];
	u32 n = 0;
	auto room = [&]() { return n < sizeof(line) ? sizeof(line) - n : 0; };
	auto advance = [&](int w) { n += w > 0 ? static_cast<u32>(w) : 0; };
	line[0] = '\0';
	if (moved)
		advance(rb_snprintf(line + n, room(), "%llu weak block(s) moved", moved));
	if (salvaged && room())
		advance(rb_snprintf(
			line + n, room(), "%s%llu block(s) salvaged (%llu of %llu sectors lost)",
			n ? ", " : "", salvaged, salvaged_lost, salvaged * geo_.block_sectors()));
	if (lost && room())
		advance(rb_snprintf(line + n, room(), "%s%llu block(s) lost whole", n ? ", " : "",
				    lost));
	rb_log(RB_LOG_WARN, "read error at sector %llu: %s", sector, line);
}

// A read of [sector, sector + sectors) failed where it was routed with error. A failing block
// is read 1 + read_retries times in all, counting the failed read: alone read_retries - 1
// times without the mutex (with RB_IO_FAILFAST), the last time held, so that a write that
// raced with the retries is never undone. A block that fails its first read alone and then
// reads is weak: it moves to a new spare block with its data. One that never reads is marked
// lost (mark_unreadable_locked()) only if the medium is at fault: a medium error, or an I/O error
// while the rest of the device still answers (device_answers()). A retry failing with an
// error of the path, or a device that does not answer, is an outage: nothing is marked or
// moved. Fills buf and returns 0 if every block read in the end; else a negative errno (the
// glue fails the read with its original status). data covers [sector, sector + sectors).
int RemapTarget::reread(u64 sector, u32 sectors, u8 *buf, int error)
{
	if (sectors == 0 || sector >= geo_.data_len() || sectors > geo_.data_len() - sector) {
		rb_log(RB_LOG_ERR, "reread of sectors %llu+%u outside the data range refused",
		       sector, sectors);
		return -kEINVAL;
	}
	const int fail = error < 0 ? error : -kEIO;
	if (!repairable(classify_error(fail)) || table_.read_retries == 0)
		return fail; // nothing to retry: the read fails as it did
	for (u32 pass = 0; pass < kMaxPasses; pass++) {
		const int r = reread_pass(sector, sectors, buf, fail);
		if (r != kRestart)
			return r;
	}
	return fail;
}

// A failed read's pass: its range, the caller's buffer, what step 1 found of each block and
// what step 3 did.
struct RemapTarget::RereadPlan {
	RereadPlan(u64 s, u32 sectors, u8 *b, int f, const Geometry &g) :
	    sector(s), end(s + sectors), first(g.data_block(Sector(s)).value()),
	    count(g.blocks_touched(Sector(s), sectors)), buf(b), fail(f), geo(g)
	{}
	const u64 sector, end, first, count;
	u8 *const buf;
	const int fail;
	const Geometry &geo;
	Array<Found> found; // allocated at the first block that fails
	u64 unread = 0, suspects = 0;
	bool outage = false, probe_data = false, probe_spare = false;
	u64 moved = 0, salvaged = 0, salvaged_lost = 0, lost = 0;

	// Block b's part of the read, copied from a whole block read into from.
	void into_buf(u64 b, const u8 *from) const
	{
		const u64 first_of_b = geo.first_sector(DataBlock(b)).value();
		const u64 lo = max(sector, first_of_b);
		const u64 hi = min(end, geo.end_sector(DataBlock(b)).value());
		__builtin_memcpy(buf + ((lo - sector) << RC_SECTOR_SHIFT),
				 from + ((lo - first_of_b) << RC_SECTOR_SHIFT),
				 (hi - lo) << RC_SECTOR_SHIFT);
	}
	[[nodiscard]] bool mark(u64 i, Found f)
	{
		if (!found && !found.alloc_zeroed(count, Gfp::Noio))
			return false;
		found[i] = f;
		return true;
	}
};

int RemapTarget::reread_pass(u64 sector, u32 sectors, u8 *buf, int fail)
{
	RereadPlan plan(sector, sectors, buf, fail, geo_);
	const u32 gen0 = generation_now();

	// 1. Without the mutex: read every block alone, retry the failing ones.
	const int r = read_alone(plan);
	if (r)
		return r;
	if (plan.outage) {
		count_outage();
		return fail;
	}
	if (generation_now() != gen0)
		return kRestart;
	if (plan.suspects == 0 || !can_repair())
		return plan.unread ? fail : 0;
	// 2. Without the mutex: an I/O error that is not a medium error marks nothing while the
	//    device as a whole does not answer either.
	if ((plan.probe_data &&
	     !device_answers(RB_DATA_DEV, plan.first, plan.first + plan.count, retry_buf_)) ||
	    (plan.probe_spare && !device_answers(RB_SPARE_DEV, 0, 0, retry_buf_))) {
		count_outage();
		return plan.unread ? fail : 0;
	}

	// 3. Each suspect block alone: hold it (and only it), read it once more, move or mark it.
	u32 expected = gen0;
	for (u64 i = 0; i < plan.count && !plan.outage; i++) {
		const Found f = plan.found[i];
		if (f == Found::Fine || f == Found::Lost)
			continue;
		MutexGuard guard(mutex_);
		if (lookup_->generation() != expected)
			return kRestart;
		if (metadata_ == MetadataState::Failed || !can_repair())
			break;
		if (!reread_held_locked(plan, i))
			break; // no memory, or the commit failed: the read fails as it did
		expected = lookup_->generation();
	}
	if (plan.outage)
		count_outage();
	if (plan.moved + plan.salvaged)
		stats_.auto_remaps.add(plan.moved + plan.salvaged);
	if (plan.moved || plan.salvaged || plan.lost)
		log_reread(sector, plan.moved, plan.salvaged, plan.salvaged_lost, plan.lost);
	return plan.unread ? fail : 0;
}

// Step 1 of a reread pass: every block of the range read alone where it is now, failfast and
// without the mutex; a failing one read read_retries - 1 times in all here. 0, kRestart when a
// block is being moved, or plan.fail when there is no memory to go on with.
int RemapTarget::read_alone(RereadPlan &plan)
{
	const u32 alone = table_.read_retries - 1; // retries without the mutex
	for (u64 i = 0; i < plan.count && !plan.outage; i++) {
		const u64 b = plan.first + i;
		u32 v = 0;
		const bool mapped = find_now(b, &v);
		if (mapped && v == LookupTable::kMoving) {
			wait_for_change();
			return kRestart;
		}
		if (mapped && v == LookupTable::kLost) {
			plan.unread++;
			if (!plan.mark(i, Found::Lost))
				return plan.fail;
			continue;
		}
		const rb_device dev = mapped ? RB_SPARE_DEV : RB_DATA_DEV;
		const u64 dev_sector = mapped ? geo_.spare_dev_sector(SpareBlock(v))
					      : geo_.data_dev_sector(DataBlock(b));
		int r = alone ? read_where(dev, dev_sector, retry_buf_, RB_IO_FAILFAST) : -kEIO;
		if (alone && !r) {
			plan.into_buf(b, retry_buf_);
			continue;
		}
		Found f = alone ? Found::Failing : Found::Unknown;
		if (!plan.mark(i, f))
			return plan.fail;
		// The device said the medium failed: for the failed read as a whole, or this block.
		bool medium = plan.fail == -kENODATA;
		r = retry_alone(dev, dev_sector, r, alone, &medium, &plan.outage);
		if (r == -kENOMEM)
			return plan.fail; // says nothing about the disk: nothing marked
		if (!r && f == Found::Failing) {
			f = Found::Weak;
			plan.into_buf(b, retry_buf_);
		} else {
			plan.unread++;
		}
		plan.found[i] = f;
		plan.suspects++;
		(mapped ? plan.probe_spare : plan.probe_data) |= f != Found::Weak && !medium;
	}
	return 0;
}

// The retries of one block read alone (r: how its first read alone ended), up to `alone`
// reads in all, into retry_buf_. Returns how the last one ended; *medium if one said the
// medium failed, *outage if one failed in a way that is the path's, not the medium's.
int RemapTarget::retry_alone(rb_device dev, u64 dev_sector, int r, u32 alone, bool *medium,
			     bool *outage)
{
	for (u32 k = 1; k <= alone; k++) {
		if (k > 1)
			r = read_where(dev, dev_sector, retry_buf_, RB_IO_FAILFAST);
		if (!r || r == -kENOMEM)
			break;
		if (!repairable(classify_error(r))) {
			*outage = true; // the path failed: not the medium's doing
			break;
		}
		*medium |= r == -kENODATA;
	}
	return r;
}

// Step 3 of a reread pass for block i of the range (mutex held): hold it, read it once more
// and move it, salvage it or mark it lost, and commit; or leave it where it is if it read
// (or read before). False when the pass must stop: no memory or a failed commit.
bool RemapTarget::reread_held_locked(RereadPlan &plan, u64 i)
{
	const Found f = plan.found[i];
	const u64 b = plan.first + i;
	Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
	if (!change || !change->add(b) ||
	    change->prepare(MappingChange::kSpares | MappingChange::kSparesIfAny).is_error())
		return false;
	change->hold();
	u32 v;
	const bool on_spare = change->was_mapped(0, &v) && v != LookupTable::kLost;
	const int r = read_where(on_spare ? RB_SPARE_DEV : RB_DATA_DEV,
				 on_spare ? geo_.spare_dev_sector(SpareBlock(v))
					  : geo_.data_dev_sector(DataBlock(b)),
				 copy_buf_, RB_IO_FAILFAST);
	int err = 0;
	if (!r) {
		if (f != Found::Weak) {
			plan.into_buf(b, copy_buf_);
			plan.unread--;
		}
		if (f == Found::Unknown) {
			change->roll_back(); // read alone at once: not the failing block
		} else {
			if (on_spare)
				change->retire_old(0); // the spare block it lived in failed a read
			err = move_or_mark_locked(*change, 0, 0);
		}
	} else if (r == -kENOMEM || f == Found::Weak) {
		change->roll_back(); // it read before: it stays where it is
	} else if (!repairable(classify_error(r))) {
		change->roll_back();
		plan.outage = true;
	} else {
		if (on_spare)
			change->retire_old(0);
		err = move_or_mark_locked(*change, 0, r);
	}
	if (err || !(change->moved(0) || change->lost(0))) {
		change->roll_back(); // nothing retired stays retired in memory only
		return true;
	}
	// What the commit records: moved whole, salvaged (moved with lost sectors) or lost whole.
	const SectorMask *holes = change->logged_lost(0);
	const u32 nholes = holes ? holes->count() : 0;
	if (change->commit().is_error() || !change->committed())
		return false; // rolled back: the read fails as it did
	if (change->lost(0)) {
		plan.lost++;
	} else if (nholes) {
		plan.salvaged++;
		plan.salvaged_lost += nholes;
	} else {
		plan.moved++;
	}
	return true;
}

// ---------------------------------------------------------------------------------------------
// Sub-block salvage and lost data. A block that does not read whole is read again at the
// device's logical block size; what reads goes to a spare block (zeros in the holes) and the
// sectors that did not are recorded as LostSectors entries, published with the lookup table
// (MappingChange::log_lost()). Reads that touch them fail, writes revive them, `reprobe`
// tries them again.

namespace {

// Sectors of block b written by the extents, as a mask.
SectorMask written_mask(const rc_extent *ext, u32 count, u64 b, const Geometry &geo)
{
	SectorMask m{};
	for (u32 i = 0; i < count; i++) {
		const Part p = part_of(ext[i], b, geo);
		if (!p.empty())
			m.set(static_cast<u32>(p.at), static_cast<u32>(p.at + (p.hi - p.lo)));
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

} // namespace

// Bisection: a range that reads whole is done; one that fails is read again as two halves,
// and one of kSalvageScanUnits units or fewer unit by unit (where bisecting would cost more
// failing reads than it saves). Breadth first, so that the reads spent rescue the most
// sectors when the bound runs out: kSalvageFailures failing reads, or one per unit in a
// block of fewer units; a range not read by then is lost (pending: reprobe reads it again).
int RemapTarget::salvage_block(rb_device dev, u64 dev_sector, unsigned flags, u8 *buf,
			       SectorMask *lost, bool whole_failed)
{
	const u32 lbs = dev == RB_DATA_DEV ? devs_.data_logical_block : devs_.spare_logical_block;
	const u32 unit =
		min(max(lbs, u32(1) << RC_SECTOR_SHIFT), geo_.block_size()) >> RC_SECTOR_SHIFT;
	const u32 bs = geo_.block_sectors();
	const u32 max_failures = min(u32{kSalvageFailures}, bs / unit);
	u32 failures = 0;
	// Reads [lo, hi): 0, 1 if it failed (counted), or -ENOMEM.
	auto read = [&](u32 lo, u32 hi) {
		const int r = io_->read(io_ctx_, dev, dev_sector + lo,
					buf + (static_cast<u64>(lo) << RC_SECTOR_SHIFT),
					(hi - lo) << RC_SECTOR_SHIFT, flags);
		if (r == -kENOMEM || !r)
			return r;
		failures++;
		return 1;
	};
	*lost = SectorMask{};
	if (!whole_failed) {
		const int r = io_->read(io_ctx_, dev, dev_sector, buf, geo_.block_size(), flags);
		if (!r || r == -kENOMEM)
			return r;
	}
	// The failing ranges not read further yet, in the order they failed.
	struct Range {
		u32 lo, hi;
	} failing[kSalvageFailures + 1];
	u32 head = 0, tail = 0;
	failing[tail++] = {0, bs};
	while (head < tail) {
		const Range f = failing[head++];
		if (f.hi - f.lo <= unit) {
			lost->set(f.lo, f.hi);
			continue;
		}
		if (f.hi - f.lo <= kSalvageScanUnits * unit) {
			for (u32 s = f.lo; s < f.hi; s += unit) {
				const int r = failures < max_failures ? read(s, s + unit) : 1;
				if (r < 0)
					return r;
				if (r)
					lost->set(s, s + unit); // failed, or not read: pending
			}
			continue;
		}
		const u32 mid = f.lo + (f.hi - f.lo) / 2;
		const Range halves[2] = {{f.lo, mid}, {mid, f.hi}};
		for (const Range &h : halves) {
			if (failures == max_failures) {
				lost->set(h.lo, h.hi); // not read: pending, as a unit that failed
				continue;
			}
			const int r = read(h.lo, h.hi);
			if (r < 0)
				return r;
			if (r)
				failing[tail++] = h;
		}
	}
	u32 lo, hi;
	for (u32 from = 0; lost->next_run(from, bs, &lo, &hi); from = hi)
		__builtin_memset(buf + (static_cast<u64>(lo) << RC_SECTOR_SHIFT), 0,
				 static_cast<u64>(hi - lo) << RC_SECTOR_SHIFT);
	return 0;
}

int RemapTarget::salvage_or_mark_locked(MappingChange &change, u64 i)
{
	const u64 b = change.block(i);
	u32 v;
	const bool on_spare = change.was_mapped(i, &v) && v != LookupTable::kLost;
	SectorMask lost;
	int err = salvage_block(on_spare ? RB_SPARE_DEV : RB_DATA_DEV,
				on_spare ? geo_.spare_dev_sector(SpareBlock(v))
					 : geo_.data_dev_sector(DataBlock(b)),
				RB_IO_FAILFAST, copy_buf_, &lost, true);
	if (err)
		return err; // no memory says nothing about the disk
	const SectorMask *had = on_spare && lookup_->lost() ? lookup_->lost()->find(b) : nullptr;
	if (had) { // read from its spare block, where those sectors read as zeros
		for (u32 k = 0; k < SectorMask::kWords; k++)
			lost.w[k] |= had->w[k];
	}
	if (lost.count() == geo_.block_sectors()) {
		mark_unreadable_locked(change, i); // the commit drops lost sectors it had
		return 0;
	}
	if ((lost.any() || had) && !change.log_lost(i, lost))
		return -kENOMEM;
	err = change.place(i, copy_buf_);
	if (!err && lost.any())
		rb_log(RB_LOG_WARN, "block %llu salvaged to spare block %u: %u of %u sectors lost",
		       b, change.spare(i), lost.count(), geo_.block_sectors());
	return err;
}

bool RemapTarget::writes_lost_sectors(const LookupTable *t, u64 b, const rc_extent *ext,
				      u32 count) const
{
	const SectorMask *m = t->lost() ? t->lost()->find(b) : nullptr;
	return m && m->overlaps(written_mask(ext, count, b, geo_));
}

bool RemapTarget::writes_lost_locked(MappingChange &change, u64 i, const rc_extent *ext,
				     u32 count) const
{
	u32 v;
	if (!change.was_mapped(i, &v))
		return false;
	return v == LookupTable::kLost || writes_lost_sectors(lookup_, change.block(i), ext, count);
}

int RemapTarget::rewrite_lost_locked(MappingChange &change, u64 i, const rc_extent *ext, u32 count)
{
	const u64 b = change.block(i);
	const u32 bs = geo_.block_sectors();
	u32 v;
	if (REMAP_WARN_ON(!change.was_mapped(i, &v))) // writes_lost_locked() said it was
		return -kEINVAL;
	const bool whole_lost = v == LookupTable::kLost;
	const SectorMask *had = !whole_lost && lookup_->lost() ? lookup_->lost()->find(b) : nullptr;
	const SectorMask written = written_mask(ext, count, b, geo_);
	if (REMAP_WARN_ON(!whole_lost && !had)) // writes_lost_locked() found its lost sectors
		return -kEINVAL;

	// The block as it will be: zeros (lost whole) or what its spare block holds, then the
	// extents; the sectors still lost are the old ones the extents do not write.
	const SectorMask still = minus(whole_lost ? all_sectors(bs) : *had, written);
	if (whole_lost) {
		__builtin_memset(copy_buf_, 0, geo_.block_size());
	} else if (!(written == all_sectors(bs))) {
		const int err = read_where(RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(v)),
					   copy_buf_, 0);
		if (err) {
			rb_log(RB_LOG_ERR,
			       "write to salvaged block %llu: its spare block does not read (error %d)",
			       b, err);
			return err;
		}
	}
	for (u32 k = 0; k < count; k++) {
		const Part p = part_of(ext[k], b, geo_);
		if (!p.empty())
			__builtin_memcpy(copy_buf_ + (p.at << RC_SECTOR_SHIFT),
					 payload(ext[k], p.lo), (p.hi - p.lo) << RC_SECTOR_SHIFT);
	}
	if ((still.any() || had) && !change.log_lost(i, still))
		return -kENOMEM;
	if (!whole_lost) {
		// Its spare block is healthy: the merged block goes back there (the mapping stays).
		const int err =
			io_->write(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(v)),
				   copy_buf_, geo_.block_size(), 0);
		if (!err || !repairable(classify_error(err)))
			return err;
		rb_log(RB_LOG_WARN, "spare block %u failed a write (error %d): retiring it", v,
		       err);
		change.retire_old(i);
	}
	return change.place(i, copy_buf_);
}

bool RemapTarget::lost_now_locked(u64 b) const
{
	u32 v;
	return lookup_->find(b, &v) && (v == LookupTable::kLost || has_lost_sectors_locked(b));
}

// The lost sectors m of a salvaged block (data device sector data, spare block spare) that
// now read are copied into its spare block; *still gets those that do not. They are nobody
// else's to write: the block is held, and writes that touch them wait for the hold.
int RemapTarget::rescue_sectors_locked(u64 data, u32 spare, const SectorMask &m, SectorMask *still)
{
	const u32 bs = geo_.block_sectors();
	const u32 lbs = max(devs_.data_logical_block, u32(1) << RC_SECTOR_SHIFT);
	const u32 unit = min(lbs, geo_.block_size()) >> RC_SECTOR_SHIFT;
	const u64 to = geo_.spare_dev_sector(SpareBlock(spare));
	*still = m;
	for (u32 s = 0; s < bs; s += unit) {
		if (!m.touches(s, s + unit))
			continue;
		int r = io_->read(io_ctx_, RB_DATA_DEV, data + s, copy_buf_,
				  unit << RC_SECTOR_SHIFT, 0);
		if (r == -kENOMEM)
			return r;
		if (r)
			continue;
		// The unit's sectors that were not lost hold newer data on the spare block.
		for (u32 t = s; t < s + unit; t++) {
			const u8 *from = copy_buf_ + (static_cast<u64>(t - s) << RC_SECTOR_SHIFT);
			if (m.test(t) &&
			    !io_->write(io_ctx_, RB_SPARE_DEV, to + t, from,
					u32(1) << RC_SECTOR_SHIFT, 0))
				still->clear(t, t + 1);
		}
	}
	return 0;
}

// `reprobe`: reads lost blocks and the lost sectors of salvaged blocks of [first, first +
// count) again, without the mutex and without holding anything; only the blocks of which
// something now reads are then held (MappingChange::kMaxBlocks at a time, with the mutex),
// read once more and committed: a lost block that now reads, in part or whole, moves to a
// spare block with its data; lost sectors of a salvaged block that now read are copied into
// its spare block.
// The lost and salvaged blocks reprobe takes on at once (within a span of kMaxBlocks blocks:
// what a hold drains), with what each had lost and whether it reads now, at least in part.
struct RemapTarget::ReprobeBatch {
	u64 blocks[MappingChange::kMaxBlocks];
	SectorMask had[MappingChange::kMaxBlocks];
	bool better[MappingChange::kMaxBlocks];
	u64 n = 0, nbetter = 0;
};

int RemapTarget::do_reprobe(u64 first, u64 count, TextBuffer &reply)
{
	u64 reprobed = 0, rescued = 0, still_lost = 0;
	const u64 end = count > geo_.data_blocks() - first ? geo_.data_blocks() : first + count;
	Array<u8> probe;
	if (!probe.alloc_zeroed(geo_.block_size(), Gfp::Noio))
		return -kENOMEM;
	ReprobeBatch at;
	for (u64 next = first; next < end;) {
		// 1. The next lost and salvaged blocks of the range, with what each has lost.
		int r = next_lost(next, end, at);
		if (r)
			return r;
		if (at.n == 0)
			break;
		next = at.blocks[at.n - 1] + 1;

		// 2. Without the mutex: which of them read now, at least in part.
		r = probe_lost(at, probe.data());
		if (r)
			return r;
		reprobed += at.n;
		still_lost += at.n - at.nbetter;
		stats_.reprobed.add(at.n - at.nbetter);
		if (at.nbetter == 0)
			continue;

		// 3. With the mutex: hold those, read them once more and commit what now reads.
		u64 batch_rescued = 0;
		r = rescue_batch(at, &batch_rescued);
		if (r)
			return r;
		rescued += batch_rescued;
		still_lost += at.nbetter - batch_rescued;
		stats_.reprobed.add(at.nbetter);
		stats_.rescued.add(batch_rescued);
	}
	reply.emit("reprobed=%llu rescued=%llu still_lost=%llu", reprobed, rescued, still_lost);
	return 1;
}

// Reprobe's step 1: the lost and salvaged blocks from block next on (below end), into at.
int RemapTarget::next_lost(u64 next, u64 end, ReprobeBatch &at)
{
	const u64 kSpan = MappingChange::kMaxBlocks;
	const u32 bs = geo_.block_sectors();
	MutexGuard guard(mutex_);
	const int r = to_errno(can_change_mapping_locked("reprobe")); // first: lookup_ may be stale
	if (r)
		return r;
	const LostSectors *lost = lookup_->lost();
	u64 n = 0;
	lookup_->for_each_from(next, [&](u64 key, u32 v) {
		if (key >= end || (n && key - at.blocks[0] >= kSpan))
			return false;
		const SectorMask *m = lost && v != LookupTable::kMoving ? lost->find(key) : nullptr;
		if (v == LookupTable::kLost || m) {
			at.blocks[n] = key;
			at.had[n++] = m ? *m : all_sectors(bs);
		}
		return n < MappingChange::kMaxBlocks;
	});
	at.n = n;
	return 0;
}

// Reprobe's step 2, without the mutex: reads what each block of at has lost, a logical block
// of the data device at a time, until one reads (at.better).
int RemapTarget::probe_lost(ReprobeBatch &at, u8 *probe)
{
	const u32 bs = geo_.block_sectors();
	const u32 lbs = max(devs_.data_logical_block, u32(1) << RC_SECTOR_SHIFT);
	const u32 unit = min(lbs, geo_.block_size()) >> RC_SECTOR_SHIFT;
	at.nbetter = 0;
	for (u64 i = 0; i < at.n; i++) {
		const u64 data = geo_.data_dev_sector(DataBlock(at.blocks[i]));
		at.better[i] = false;
		for (u32 s = 0; s < bs && !at.better[i]; s += unit) {
			if (!at.had[i].touches(s, s + unit))
				continue;
			const int r = io_->read(io_ctx_, RB_DATA_DEV, data + s, probe,
						unit << RC_SECTOR_SHIFT, 0);
			if (r == -kENOMEM)
				return r;
			at.better[i] = r == 0;
		}
		at.nbetter += at.better[i];
	}
	return 0;
}

// Reprobe's step 3: holds the blocks of at that read in part, reads them once more and
// commits what now reads; *rescued counts the blocks with nothing lost any more.
int RemapTarget::rescue_batch(const ReprobeBatch &at, u64 *rescued)
{
	MutexGuard guard(mutex_);
	int err = to_errno(can_change_mapping_locked("reprobe"));
	if (err)
		return err;
	Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
	if (!change)
		return -kENOMEM;
	// A block written whole since the probe (the write revived it) has nothing lost any
	// more: it counts as rescued, which is what rescued says, and is not held.
	u64 written = 0;
	for (u64 i = 0; i < at.n; i++) {
		if (at.better[i] && !lost_now_locked(at.blocks[i]))
			written++;
		else if (at.better[i])
			(void)change->add(at.blocks[i]);
	}
	*rescued = written;
	if (change->count() == 0)
		return 0;
	Status st = change->prepare(MappingChange::kSpares | MappingChange::kSparesIfAny);
	if (st.is_error())
		return st.error().code();
	change->hold();
	for (u64 i = 0; i < change->count() && !err; i++)
		err = rescue_block_locked(*change, i, rescued);
	if (err) {
		change->roll_back(); // the blocks are as they were
		rb_log(RB_LOG_ERR, "reprobe: could not record what it found (error %d)", err);
		return err;
	}
	st = change->commit(); // nothing found (all Kept): rolled back, not an error
	if (st.is_error()) {
		rb_log(RB_LOG_ERR, "reprobe: could not record what it found (error %d)",
		       st.error().code());
		return st.error().code();
	}
	refresh_snapshot_locked();
	return 0;
}

// Block i of a held reprobe change read once more: a lost one salvaged and placed, a
// salvaged one's lost sectors that read copied in (rescue_sectors_locked()); *rescued counts it when
// nothing of it is lost any more.
int RemapTarget::rescue_block_locked(MappingChange &change, u64 i, u64 *rescued)
{
	const u32 bs = geo_.block_sectors();
	const u64 b = change.block(i);
	const u64 data = geo_.data_dev_sector(DataBlock(b));
	u32 v;
	if (!change.was_mapped(i, &v))
		return 0; // as it was at the check above, under the same mutex
	SectorMask lost;
	if (v == LookupTable::kLost) {
		int err = salvage_block(RB_DATA_DEV, data, 0, copy_buf_, &lost, false);
		if (err || lost.count() == bs)
			return err;
		if (lost.any() && !change.log_lost(i, lost))
			return -kENOMEM;
		err = change.place(i, copy_buf_);
		*rescued += !err && !lost.any();
		return err;
	}
	const SectorMask *m = lookup_->lost() ? lookup_->lost()->find(b) : nullptr;
	if (!m)
		return 0; // as it was at the check above
	const int err = rescue_sectors_locked(data, v, *m, &lost);
	if (err || lost == *m)
		return err;
	if (!change.log_lost(i, lost))
		return -kENOMEM;
	*rescued += !lost.any();
	return 0;
}

} // namespace remap
