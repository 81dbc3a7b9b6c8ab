// SPDX-License-Identifier: GPL-2.0
// The target's messages (`remap`, `unremap`, `list`, `stats`, `clear_stats`, `reprobe`, `help`):
// parsed by message_parser, answered here; reprobe's work is in fault_repair.cpp.
#include "fault_policy.h"
#include "mapping_change.h"
#include "memory.h"
#include "message_parser.h"
#include "relaxed.h"
#include "remap_target.h"

namespace remap {

namespace {

// Blocks one remap message may move: bounds the memory and the time its I/O is held.
constexpr u32 kMaxRemapRange = 65536;

// Whether a message's sector lies beyond the data: then the message is rejected, and logged.
bool beyond_end(const Geometry &geo, u64 sector)
{
	if (sector < geo.data_len())
		return false;
	rb_log(RB_LOG_ERR,
	       "message rejected: sector %llu is beyond the end of the device (%llu sectors)",
	       sector, geo.data_len());
	return true;
}

} // namespace

// The one-block reply of `remap`: "<block> <spare block>" or "<block> lost".
void RemapTarget::emit_place(TextBuffer &reply, u64 block, u32 place)
{
	if (place == LookupTable::kLost)
		reply.emit("%llu lost", block);
	else
		reply.emit("%llu %u", block, place);
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
			       blk, r);
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
Status RemapTarget::do_remap(DataBlock first, u64 count, bool range_reply, TextBuffer &reply)
{
	const u64 f = first.value(), end = f + count;
	u64 done = 0, lost = 0, already = 0;
	u32 place = 0; // block f's, for the one-block reply
	Status err;
	for (u64 b = f; b < end && !err.is_error();) {
		MutexGuard guard(mutex_);
		// First: while suspended, lookup_ may be stale.
		err = can_change_mapping_locked("remap");
		if (err.is_error())
			break;
		u32 v;
		if (!range_reply && lookup_->find(f, &v)) { // already remapped: nothing to do
			emit_place(reply, f, v);
			return {};
		}
		Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
		if (!change) {
			err = Error::no_memory("Cannot allocate memory for a mapping change");
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
			err = st;
			break;
		}
		if (change->count() < wanted) {
			rb_log(RB_LOG_ERR, "remap: no spare blocks left: %llu more blocks can move",
			       change->count());
			err = Error::from_errno(-kENOSPC,
						"No spare blocks left"); // after this chunk
		}
		change->hold();
		const int chunk_err = copy_to_spares_locked(*change);
		if (chunk_err) {
			change->roll_back();
			err = Error::from_errno(
				chunk_err, "A block does not read and the device is not answering");
			break;
		}
		st = change->commit();
		if (st.is_error() || !change->committed()) {
			err = st.is_error() ? st : Status(Error::io("The commit failed"));
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
		stats_.manual_remaps.add(chunk_done);
	}
	if (err.is_error())
		return err;
	if (!range_reply) {
		emit_place(reply, f, place);
	} else {
		reply.emit("remapped=%llu lost=%llu already=%llu", done - lost, lost, already);
	}
	return {};
}

Status RemapTarget::do_unremap(DataBlock block)
{
	MutexGuard guard(mutex_);
	const u64 b = block.value();
	TRY(can_change_mapping_locked("unremap")); // first: while suspended, lookup_ may be stale
	u32 spare;
	if (!lookup_->find(b, &spare))
		return {}; // not remapped: nothing to do
	if (spare == LookupTable::kLost) {
		rb_log(RB_LOG_ERR,
		       "unremap: block %llu is lost: there is no data to copy back; write the block instead",
		       b);
		return Error::invalid("The block is lost: there is no data to copy back");
	}
	if (has_lost_sectors_locked(b)) {
		rb_log(RB_LOG_ERR,
		       "unremap: block %llu has lost sectors: write them or reprobe first", b);
		return Error::invalid("The block has lost sectors");
	}

	Own<MappingChange> change(make<MappingChange>(Gfp::Noio, *this));
	if (!change)
		return Error::no_memory("Cannot allocate memory for a mapping change");
	(void)change->add(b);
	TRY(change->prepare(MappingChange::kRemove));
	change->hold();
	int r = io_->read(io_ctx_, RB_SPARE_DEV, geo_.spare_dev_sector(SpareBlock(spare)),
			  copy_buf_, geo_.block_size(), 0);
	if (!r)
		r = io_->write(io_ctx_, RB_DATA_DEV, geo_.data_dev_sector(block), copy_buf_,
			       geo_.block_size(), RB_IO_FUA);
	Status st;
	if (!r) {
		change->set_removed(0);
		st = change->commit();
		if (!st.is_error() && !change->committed())
			st = Error::io("The commit failed");
	} else {
		change->roll_back();
		st = Error::from_errno(r, "The block does not copy back to the data device");
	}
	if (st.is_error())
		rb_log(RB_LOG_ERR, "unremap: block %llu stays remapped (error %d)", b,
		       st.error().code());
	return st;
}

void RemapTarget::do_list(u64 first, u64 max, TextBuffer &reply) const
{
	RcuReadGuard rcu;
	const LookupTable *t = rcu_read(&lookup_);
	t->for_each_from(first, [&](u64 key, u32 v) {
		if (!max--)
			return false;
		if (v == LookupTable::kLost)
			return reply.emit_whole("%llu - lost\n", key);
		if (v == LookupTable::kMoving)
			return reply.emit_whole("%llu - moving\n", key);
		const SectorMask *m = t->lost() ? t->lost()->find(key) : nullptr;
		if (m) // a salvaged block: the sectors that did not read
			return reply.emit_whole("%llu %u remapped lost_sectors=%u\n", key, v,
						m->count());
		return reply.emit_whole("%llu %u remapped\n", key,
					v); // a full buffer ends the page
	});
}

int RemapTarget::message(unsigned argc, char **argv, char *result, unsigned maxlen)
{
	Message m;
	Status parsed = parse_message(argc, argv, &m);
	if (parsed.is_error()) {
		rb_log(RB_LOG_ERR, "message rejected: %s", parsed.error().message());
		return parsed.error().code();
	}
	unsigned used = 0;
	TextBuffer reply(result, maxlen, &used);
	if (maxlen)
		result[0] = '\0';

	if (m.verb == Verb::Remap || m.verb == Verb::Unremap) {
		if (beyond_end(geo_, m.args[0]))
			return -kEINVAL;
		const DataBlock block = geo_.data_block(Sector(m.args[0]));
		if (m.verb == Verb::Unremap) {
			const int r = to_errno(do_unremap(block));
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
		const Status r = do_remap(block, count, m.nargs > 1, reply);
		check_spare_events();
		return r.is_error() ? r.error().code() : 1; // 1: the reply holds text
	}
	if (m.verb == Verb::Reprobe) {
		u64 first = 0, count = geo_.data_blocks();
		if (m.nargs > 0) {
			if (beyond_end(geo_, m.args[0]))
				return -kEINVAL;
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
		stats_.clear();
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
