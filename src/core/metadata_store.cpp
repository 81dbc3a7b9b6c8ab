// SPDX-License-Identifier: GPL-2.0
// Loading and committing the persistent mapping; see metadata_store.h and
// docs/on-disk-format.rst.
#include "metadata_store.h"

#include "memory.h"
#include "sort.h"

namespace remap {

MetadataStore::PackedSlot MetadataStore::PackedSlot::pack(const Entry &e)
{
	if (e.state == EntryState::Free)
		return PackedSlot{0, 0, 0};
	if (e.state == EntryState::LostSectors)
		return PackedSlot{static_cast<u32>(e.data_block),
				  static_cast<u32>(e.data_block >> 32) | kLostRunTag,
				  e.spare_block};
	return PackedSlot{static_cast<u32>(e.data_block), static_cast<u32>(e.data_block >> 32),
			  e.spare_block};
}

Entry MetadataStore::PackedSlot::unpack() const
{
	const u64 data = u64(data_hi) << 32 | data_lo;
	if (spare == 0)
		return Entry{0, 0, EntryState::Free};
	if (is_lost_run())
		return Entry{data & ~(u64(kLostRunTag) << 32), spare, EntryState::LostSectors};
	if (spare == Entry::kLostSpare)
		return Entry{data, spare, EntryState::Lost};
	return Entry{data, spare,
		     data == Entry::kBadSpareData ? EntryState::BadSpare : EntryState::Remapped};
}

MetadataStore::~MetadataStore()
{
	for (u64 p = 0; pages_ && p * kSlotsPerPage < slots_capacity_; p++)
		rb_free_large(pages_[p]);
	rb_free_large(pages_);
	rb_free_large(block_entries_);
	rb_free_large(block_crcs_[0]);
	rb_free_large(block_crcs_[1]);
	rb_free_large(block_buf_);
	rb_free_large(undo_);
	LookupTable::free(loaded_lookup_);
}

Status MetadataStore::alloc_working_memory(Gfp gfp)
{
	const auto g = static_cast<rb_gfp>(gfp);
	const u32 t = geo_.table_blocks();
	TRY(slot_in_use_.init(geo_.table_slots(), gfp));
	for (u32 a = 0; a < 2; a++) {
		TRY(dirty_[a].init(t, gfp));
		block_crcs_[a] = static_cast<u32 *>(rb_alloc_large(t * sizeof(u32), g));
		if (!block_crcs_[a])
			return Error::no_memory("Cannot allocate memory for the metadata");
	}
	block_buf_ = static_cast<u8 *>(rb_alloc_large(geo_.block_size(), g));
	block_entries_ = static_cast<Entry *>(
		rb_alloc_large(geo_.entries_per_table_block() * sizeof(Entry), g));
	const u64 pages = (geo_.table_slots() + kSlotsPerPage - 1) / kSlotsPerPage;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of page pointers
	pages_ = static_cast<PackedSlot **>(rb_alloc_large(pages * sizeof(PackedSlot *), g));
	if (!block_buf_ || !block_entries_ || !pages_)
		return Error::no_memory("Cannot allocate memory for the metadata");
	return {};
}

// Makes room for at least `capacity` slots: the pages up to the one holding the last of
// them (zero-filled, so free). A failure keeps the pages allocated so far.
Status MetadataStore::reserve_slots(u64 capacity, Gfp gfp)
{
	if (capacity > geo_.table_slots())
		return Error::from_errno(-kENOSPC, "Metadata table is full");
	while (slots_capacity_ < capacity) {
		auto *page = static_cast<PackedSlot *>(
			rb_alloc_large(kPageBytes, static_cast<rb_gfp>(gfp)));
		if (!page)
			return Error::no_memory("Cannot allocate memory for the metadata");
		pages_[slots_capacity_ / kSlotsPerPage] = page;
		slots_capacity_ += kSlotsPerPage;
	}
	return {};
}

u32 MetadataStore::used_blocks() const
{
	const u64 e = geo_.entries_per_table_block();
	return static_cast<u32>((used_slots_ + e - 1) / e);
}

void MetadataStore::mark_dirty(u64 slot)
{
	const u64 block = slot / geo_.entries_per_table_block();
	dirty_[0].set(block);
	dirty_[1].set(block);
}

u64 MetadataStore::find_slot(u64 data_block) const
{
	if (data_block == Entry::kBadSpareData)
		return SlotChange::kNewSlot; // the marker of bad spare blocks, never a live entry's
	const PackedSlot want = PackedSlot::pack(Entry{data_block, 1, EntryState::Remapped});
	for (u64 i = 0; i < used_slots_; i++) {
		const PackedSlot &s = page_slot(i);
		// A live entry of that block (free slots are all zero, bad spares have data ~0).
		if (s.data_lo == want.data_lo && s.data_hi == want.data_hi && s.spare != 0)
			return i;
	}
	return SlotChange::kNewSlot;
}

u64 MetadataStore::bytes() const
{
	const u64 pages = (geo_.table_slots() + kSlotsPerPage - 1) / kSlotsPerPage;
	return slots_capacity_ / kSlotsPerPage * rb_alloc_large_bytes(kPageBytes) +
		// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of page pointers
		rb_alloc_large_bytes(pages * sizeof(PackedSlot *)) + slot_in_use_.bytes() +
		dirty_[0].bytes() + dirty_[1].bytes() +
		2 * rb_alloc_large_bytes(geo_.table_blocks() * sizeof(u32)) +
		rb_alloc_large_bytes(geo_.block_size()) +
		rb_alloc_large_bytes(geo_.entries_per_table_block() * sizeof(Entry));
}

Result<LookupTable *> MetadataStore::build_lookup(Gfp gfp) const
{
	u64 n = 0;
	for (u64 i = 0; i < used_slots_; i++) {
		const EntryState state = slot(i).state;
		n += state == EntryState::Remapped || state == EntryState::Lost;
	}
	Array<u64> keys;
	Array<u32> values;
	if (!keys.alloc(n ? n : 1, gfp) || !values.alloc(n ? n : 1, gfp))
		return Error::no_memory("Cannot allocate memory for the metadata");
	u64 j = 0;
	for (u64 i = 0; i < used_slots_; i++) {
		const Entry e = slot(i);
		if (e.state != EntryState::Remapped && e.state != EntryState::Lost)
			continue;
		keys[j] = e.data_block;
		values[j++] = e.state == EntryState::Lost ? LookupTable::kLost : e.spare_block;
	}
	auto r = LookupTable::build(keys.data(), values.data(), n, gfp);
	if (r.is_error())
		return r;
	auto lost = build_lost_set(r.value(), gfp);
	if (lost.is_error()) {
		LookupTable::free(r.value());
		return lost.error();
	}
	r.value()->set_lost(lost.value());
	return r;
}

// The LostSectors entries as a set, checked against the table of Remapped and Lost entries:
// every run in a remapped block, no sector twice. -EINVAL if not, -ENOMEM.
Result<LostSectors *> MetadataStore::build_lost_set(const LookupTable *table, Gfp gfp) const
{
	u64 n = 0;
	for_each_lost_run([&](u64, const Entry &) { n++; });
	if (n == 0)
		return static_cast<LostSectors *>(nullptr);
	Array<u64> keys;
	Array<u32> runs;
	Array<LostSectors::Change> changes;
	Status err = keys.alloc(n, gfp) && runs.alloc(n, gfp) && changes.alloc(n, gfp)
		? Status()
		: Error::no_memory("Cannot allocate memory to load the metadata");
	u64 j = 0, m = 0;
	if (!err.is_error()) {
		for_each_lost_run([&](u64, const Entry &e) {
			keys[j] = e.data_block;
			runs[j++] = e.spare_block;
		});
		sort_pairs(keys.data(), runs.data(), n);
	}
	for (u64 i = 0; i < n && !err.is_error(); i++) {
		u32 v;
		if (!table->find(keys[i], &v) || v == LookupTable::kLost ||
		    v == LookupTable::kMoving) {
			err = Error::invalid(
				"Metadata has lost sectors outside a remapped block or twice");
			break;
		}
		if (m == 0 || changes[m - 1].block != keys[i])
			changes[m++] = LostSectors::Change{keys[i], {}};
		const Entry e{keys[i], runs[i], EntryState::LostSectors};
		SectorMask run{};
		run.set(e.run_first(), e.run_first() + e.run_count());
		if (run.overlaps(changes[m - 1].mask))
			err = Error::invalid(
				"Metadata has lost sectors outside a remapped block or twice");
		for (u32 k = 0; k < SectorMask::kWords; k++)
			changes[m - 1].mask.w[k] |= run.w[k];
	}
	LostSectors *set = nullptr;
	if (!err.is_error()) {
		auto r = LostSectors::apply(nullptr, changes.data(), m, gfp);
		if (r.is_error())
			err = r.error();
		else
			set = r.value();
	}
	if (err.is_error())
		return err.error();
	return set;
}

// Checks that span entries: entry_count, and no data or spare block twice. Builds the
// lookup table on the way (a duplicate data block is what makes that fail).
Status MetadataStore::check_entries(u64 expected_count, Gfp gfp)
{
	Bitmap spare_seen;
	if (spare_seen.init(geo_.spare_blocks(), gfp).is_error())
		return Error::from_errno(-kENOMEM, "Cannot allocate memory to check the metadata");
	u64 count = 0;
	for (u64 i = 0; i < used_slots_; i++) {
		const Entry e = slot(i);
		if (e.state == EntryState::Free)
			continue;
		count++;
		if (e.state == EntryState::Lost || e.state == EntryState::LostSectors)
			continue;
		if (spare_seen.test(e.spare_block))
			return Error::invalid("Metadata maps two entries to the same spare block");
		spare_seen.set(e.spare_block);
	}
	if (count != expected_count)
		return Error::invalid("Metadata entry count does not match its table");

	auto r = build_lookup(gfp);
	if (r.is_error()) {
		return r.error().code() == -kENOMEM
			? Error::from_errno(-kENOMEM, "Cannot allocate memory to load the metadata")
			: Error::invalid(
				  "Metadata maps the same data block twice, or has lost sectors outside a remapped block or twice");
	}
	LookupTable::free(loaded_lookup_);
	loaded_lookup_ = r.value();
	return {};
}

namespace {
// One object, so that load() can tell this refusal by its address.
const char kShrinkRefused[] =
	"The data range cannot shrink: a remapped or lost block lies past its new end";
} // namespace

// Whether table block i (in block_buf_), which this geometry refused, is valid for the data
// range the superblock was committed with: the table line shortened the data range past an
// entry.
bool MetadataStore::shrunk_past_entries(const Superblock &sb, u32 i)
{
	Geometry committed;
	if (sb.data_len <= geo_.data_len() ||
	    Geometry::create(geo_.data_offset(), sb.data_len, geo_.spare_offset(), geo_.spare_len(),
			     geo_.block_size(), &committed)
		    .is_error())
		return false;
	u32 crc;
	return !decode_table_block(committed, sb.uuid, sb.seq, sb.area, i,
				   slots_in_table_block(committed, sb.used_slots, i), block_buf_,
				   block_entries_, &crc, sb.version)
			.is_error();
}

// The table line's lengths may differ from the loaded commit's (online growth): say so.
void MetadataStore::log_resize(const Superblock &sb) const
{
	if (sb.data_len == geo_.data_len() && sb.spare_len == geo_.spare_len())
		return;
	rb_log(RB_LOG_INFO,
	       "lengths changed since the last commit: data %llu -> %llu sectors, spare %llu -> %llu (recorded at the next commit)",
	       static_cast<unsigned long long>(sb.data_len),
	       static_cast<unsigned long long>(geo_.data_len()),
	       static_cast<unsigned long long>(sb.spare_len),
	       static_cast<unsigned long long>(geo_.spare_len()));
}

Status MetadataStore::load_area(const Superblock &sb, Gfp gfp)
{
	const u64 e = geo_.entries_per_table_block();
	used_slots_ = 0;
	// decode_superblock() bounded used_blocks by T. Slot pages are allocated as each block
	// validates: a superblock that only claims a full table costs one block read, not the
	// memory of T blocks of slots.
	for (u32 i = 0; i < sb.used_blocks; i++) {
		const u64 sector = geo_.spare_dev_sector(geo_.table_block(sb.area, i));
		if (io_->read(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0))
			return Error::from_errno(-kEIO, "Cannot read the metadata table");
		Status decoded =
			decode_table_block(geo_, sb.uuid, sb.seq, sb.area, i,
					   slots_in_table_block(geo_, sb.used_slots, i), block_buf_,
					   block_entries_, &block_crcs_[sb.area][i], sb.version);
		if (decoded.is_error())
			return shrunk_past_entries(sb, i) ? Error::invalid(kShrinkRefused)
							  : decoded.error();
		if (reserve_slots(u64(i + 1) * e, gfp).is_error())
			return Error::from_errno(-kENOMEM,
						 "Cannot allocate memory to load the metadata");
		for (u64 k = 0; k < e; k++)
			set_slot(i * e + k, block_entries_[k]);
	}
	if (table_crc(block_crcs_[sb.area], sb.used_blocks) != sb.table_crc)
		return Error::invalid("Metadata table does not match its superblock's checksum");
	used_slots_ = sb.used_slots;
	return check_entries(sb.entry_count, gfp);
}

Status MetadataStore::load(Gfp gfp)
{
	if (geo_.block_size() < io_block_)
		return Error::invalid(
			"block_size is smaller than the spare device's logical block size");
	if (alloc_working_memory(gfp).is_error())
		return Error::from_errno(-kENOMEM, "Cannot allocate memory for the metadata");

	Superblock sb[2];
	const char *why[2];
	bool zero[2];
	for (u32 s = 0; s < 2; s++) {
		const u64 sector = geo_.spare_dev_sector(geo_.superblock_block(s));
		if (io_->read(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0))
			return Error::from_errno(-kEIO, "Cannot read the metadata superblocks");
		zero[s] = block_is_zero(block_buf_, geo_.block_size());
		why[s] = zero[s] ? "Superblock slot is empty"
				 : error_text(decode_superblock(geo_, block_buf_, &sb[s]));
	}

	load_saw_seq_ = newest_seq(sb, why);
	if (zero[0] && zero[1]) {
		// No metadata: fresh only if the area passes the fresh area rule; the first commit
		// (at resume) formats it.
		TRY(check_fresh(gfp));
		seq_ = 0;
		version_ = kFormatVersion;
		area_ = 1;
		used_slots_ = entry_count_ = 0;
		rb_random_bytes(uuid_, sizeof(uuid_));
		return {};
	}

	// A slot that is neither valid nor empty is worth a warning, and makes whatever loads a
	// fallback.
	const char *first_problem = nullptr;
	for (u32 s = 0; s < 2; s++) {
		if (why[s] && !zero[s]) {
			rb_log(RB_LOG_WARN, "metadata superblock slot %u is invalid: %s", s,
			       why[s]);
			if (!first_problem)
				first_problem = why[s];
		}
	}
	// Newest valid slot first.
	u32 order[2] = {0, 1};
	if (!why[1] && (why[0] || sb[1].seq > sb[0].seq)) {
		order[0] = 1;
		order[1] = 0;
	}
	for (u32 k = 0; k < 2; k++) {
		const u32 s = order[k];
		if (why[s])
			continue;
		Status loaded = load_area(sb[s], gfp);
		if (loaded.is_error() && loaded.error().code() != -kEINVAL)
			return loaded; // out of memory or unreadable: not a reason to load an older commit
		// Nor is a table line that cuts off an entry: the older commit has fewer of them.
		if (loaded.is_error() && loaded.error().message() == kShrinkRefused)
			return loaded;
		if (loaded.is_error()) {
			rb_log(RB_LOG_WARN, "metadata superblock slot %u (seq %llu): %s", s,
			       sb[s].seq, loaded.error().message());
			if (!first_problem)
				first_problem = loaded.error().message();
			continue;
		}
		if (first_problem) {
			rb_log(RB_LOG_WARN, "using the older metadata in slot %u (seq %llu)", s,
			       sb[s].seq);
			fell_back_ = true;
		}
		log_resize(sb[s]);
		seq_ = sb[s].seq;
		version_ = sb[s].version;
		area_ = sb[s].area;
		entry_count_ = sb[s].entry_count;
		for (u32 i = 0; i < kUuidBytes; i++)
			uuid_[i] = sb[s].uuid[i];
		for (u64 i = 0; i < used_slots_; i++) {
			if (page_slot(i).spare != 0)
				slot_in_use_.set(i);
		}
		// What the other area holds is unknown: rewrite all of it on the next commit.
		for (u32 i = 0; i < geo_.table_blocks(); i++)
			dirty_[1 - area_].set(i);
		return {};
	}
	return Error::invalid(formatted_with_other_block_size()
				      ? "Metadata was formatted with another block_size"
				      : first_problem);
}

// Slot 0 is at the same place for every block size, slot 1 is not: an area whose newest
// superblock is in slot 1 looks corrupt under the wrong block_size. Probe for that, with reads
// of one logical block of the spare device at offsets aligned to it: block sizes below it
// cannot have been used on this device, and the others' slot 1 is aligned to it.
bool MetadataStore::formatted_with_other_block_size()
{
	const u64 read_sectors = io_block_ >> RC_SECTOR_SHIFT;
	for (u32 bs = io_block_; bs <= RC_MAX_BLOCK_SIZE; bs <<= 1) {
		const u64 rel = bs >> RC_SECTOR_SHIFT;
		if (bs == geo_.block_size() || rel + read_sectors > geo_.spare_len())
			continue;
		u32 found;
		if (io_->read(io_ctx_, RB_SPARE_DEV, geo_.spare_offset() + rel, block_buf_,
			      io_block_, 0) == 0 &&
		    superblock_block_size(block_buf_, &found) && found == bs)
			return true;
	}
	return false;
}

u64 fresh_area_bytes(const Geometry &geo)
{
	const u64 metadata = geo.first_usable_spare().value() * geo.block_size();
	const u64 wanted = max(metadata + kFreshBeyondBytes, u64{kFreshMinBytes});
	return min(min(geo.spare_len() << RC_SECTOR_SHIFT, wanted), u64{kFreshCapBytes});
}

// Both superblock blocks read as zero: the rest of the fresh area must too (see
// fresh_area_bytes()), in reads of up to 64 KiB, whole blocks, so aligned like all others.
Status MetadataStore::check_fresh(Gfp gfp)
{
	const u64 end = fresh_area_bytes(geo_);
	const u64 chunk = max(u64{geo_.block_size()}, u64{RC_MAX_BLOCK_SIZE});
	u8 *buf = static_cast<u8 *>(rb_alloc_large(chunk, static_cast<rb_gfp>(gfp)));
	if (!buf)
		return Error::from_errno(-kENOMEM,
					 "Cannot allocate memory to check the spare area");
	Status bad;
	const u32 bs = geo_.block_size();
	for (u64 done = 2 * u64{bs}; done < end && !bad.is_error();) {
		u32 n = static_cast<u32>(min(chunk, end - done));
		const u64 sector = geo_.spare_offset() + (done >> RC_SECTOR_SHIFT);
		int r = io_->read(io_ctx_, RB_SPARE_DEV, sector, buf, n, 0);
		if (r == -kENOMEM) {
			bad = Error::from_errno(-kENOMEM,
						"Cannot allocate memory to check the spare area");
			break;
		}
		if (r) {
			// A bad spot in the spare: a block that does not read holds nothing anyone can
			// lose, and the allocator retires it at its first failed write. Only the block
			// that failed is skipped; the next one is checked again on its own.
			n = bs;
			r = io_->read(io_ctx_, RB_SPARE_DEV, sector, buf, n, RB_IO_FAILFAST);
			if (r == -kENOMEM) {
				bad = Error::from_errno(
					-kENOMEM, "Cannot allocate memory to check the spare area");
				break;
			}
			if (r) {
				done += n;
				continue;
			}
		}
		if (!block_is_zero(buf, n))
			bad = Error::invalid(
				formatted_with_other_block_size()
					? "Metadata was formatted with another block_size"
					: "Spare area holds data but no dm-remap metadata: run "
					  "'dmremap format' (or zero the area) if it may be "
					  "overwritten");
		done += n;
	}
	rb_free_large(buf);
	return bad;
}

LookupTable *MetadataStore::take_loaded_lookup()
{
	LookupTable *t = loaded_lookup_;
	loaded_lookup_ = nullptr;
	return t;
}

Result<bool> MetadataStore::disk_unchanged()
{
	u64 newest = 0;
	bool any = false, zero = true;
	for (u32 s = 0; s < 2; s++) {
		const u64 sector = geo_.spare_dev_sector(geo_.superblock_block(s));
		if (io_->read(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0))
			return Error::io("Cannot read the metadata superblocks");
		zero = zero && block_is_zero(block_buf_, geo_.block_size());
		Superblock sb;
		if (!decode_superblock(geo_, block_buf_, &sb).is_error()) {
			newest = any ? max(newest, sb.seq) : sb.seq;
			any = true;
		}
	}
	// A fresh area is unchanged only while its superblocks are still zero: anything else
	// written there since load() must go through load()'s checks again, not be formatted over.
	if (seq_ == 0)
		return zero;
	return any && newest == seq_;
}

u64 MetadataStore::newest_seq(const Superblock *sb, const char *const *why)
{
	u64 newest = 0;
	for (u32 s = 0; s < 2; s++) {
		if (!why[s])
			newest = max(newest, sb[s].seq);
	}
	return newest;
}

Result<bool> MetadataStore::changed_since_load()
{
	Superblock sb[2];
	const char *why[2];
	for (u32 s = 0; s < 2; s++) {
		const u64 sector = geo_.spare_dev_sector(geo_.superblock_block(s));
		if (io_->read(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0))
			return Error::io("Cannot read the metadata superblocks");
		why[s] = block_is_zero(block_buf_, geo_.block_size())
			? "empty"
			: error_text(decode_superblock(geo_, block_buf_, &sb[s]));
	}
	return newest_seq(sb, why) != load_saw_seq_;
}

Status MetadataStore::write_area(u32 area, u64 seq)
{
	const u64 e = geo_.entries_per_table_block();
	const u32 blocks = used_blocks();
	for (u32 i = 0; i < blocks; i++) {
		if (!dirty_[area].test(i))
			continue;
		const u32 n = slots_in_table_block(geo_, used_slots_, i);
		for (u32 k = 0; k < n; k++)
			block_entries_[k] = slot(i * e + k);
		block_crcs_[area][i] = encode_table_block(geo_, uuid_, seq, area, i, block_entries_,
							  n, block_buf_);
		const u64 sector = geo_.spare_dev_sector(geo_.table_block(area, i));
		int r = io_->write(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0);
		if (r)
			return Error::from_errno(r, "Cannot write the metadata table");
	}

	Superblock sb;
	init_superblock(geo_, &sb);
	sb.seq = seq;
	for (u32 i = 0; i < kUuidBytes; i++)
		sb.uuid[i] = uuid_[i];
	sb.area = area;
	sb.used_blocks = blocks;
	sb.used_slots = used_slots_;
	sb.entry_count = entry_count_;
	sb.table_crc = table_crc(block_crcs_[area], blocks);
	encode_superblock(sb, block_buf_, geo_.block_size());
	// The preflush makes the table blocks (and any data copied for this commit) durable
	// before the superblock that names them; FUA makes the superblock itself durable.
	const u64 sector = geo_.spare_dev_sector(geo_.superblock_block(static_cast<u32>(seq % 2)));
	int r = io_->write(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(),
			   RB_IO_PREFLUSH | RB_IO_FUA);
	return r ? Status(Error::from_errno(r, "Cannot write the metadata superblock")) : Status();
}

Status MetadataStore::commit(const SlotChange *changes, u64 count, Gfp gfp)
{
	if (!block_buf_)
		return Error::invalid("Metadata committed before it was loaded");

	u64 inserts = 0;
	for (u64 i = 0; i < count; i++)
		inserts += changes[i].slot == SlotChange::kNewSlot;
	// New entries take the lowest free slots, so the high-water mark grows by at most that.
	if (inserts > geo_.table_slots() - entry_count_)
		return Error::from_errno(-kENOSPC, "Metadata table is full");
	const u64 want = min(used_slots_ + inserts, geo_.table_slots());
	TRY(reserve_slots(want, gfp));
	Undo *const undo = count && count <= undo_capacity_
		? undo_
		: static_cast<Undo *>(rb_alloc_large((count ? count : 1) * sizeof(Undo),
						     static_cast<rb_gfp>(gfp)));
	if (!undo)
		return Error::no_memory("Cannot allocate memory for the metadata");

	const u64 old_used_slots = used_slots_;
	const u64 old_entry_count = entry_count_;
	if (used_slots_)
		mark_dirty(used_slots_ - 1); // the last block's slot count may change
	u64 cursor = 0;
	for (u64 i = 0; i < count; i++) {
		u64 slot = changes[i].slot;
		if (slot == SlotChange::kNewSlot) {
			slot = slot_in_use_.find_next_zero(cursor);
			cursor = slot + 1;
		}
		undo[i] =
			Undo{slot,
			     slot < used_slots_ ? this->slot(slot) : Entry{0, 0, EntryState::Free}};
		const bool was_used = undo[i].old.state != EntryState::Free;
		const bool now_used = changes[i].entry.state != EntryState::Free;
		set_slot(slot, changes[i].entry);
		if (now_used)
			slot_in_use_.set(slot);
		else
			slot_in_use_.clear(slot);
		entry_count_ = entry_count_ - was_used + now_used;
		for (u64 s = used_slots_; s < slot; s++)
			set_slot(s, Entry{0, 0, EntryState::Free});
		used_slots_ = max(used_slots_, slot + 1);
		mark_dirty(slot);
	}

	const u32 area = 1 - area_;
	Status written = write_area(area, seq_ + 1);
	if (written.is_error()) {
		for (u64 i = count; i-- > 0;) {
			set_slot(undo[i].slot, undo[i].old);
			if (undo[i].old.state != EntryState::Free)
				slot_in_use_.set(undo[i].slot);
			else
				slot_in_use_.clear(undo[i].slot);
		}
		used_slots_ = old_used_slots;
		entry_count_ = old_entry_count;
		if (undo != undo_)
			rb_free_large(undo);
		return written;
	}
	if (undo != undo_)
		rb_free_large(undo);
	for (u32 i = 0; i < geo_.table_blocks(); i++)
		dirty_[area].clear(i);
	seq_++;
	area_ = area;
	if (version_ != kFormatVersion) {
		version_ = kFormatVersion;
		restamp_older_slot();
	}
	return {};
}

Status MetadataStore::prepare_commit(u64 max_changes, u64 max_inserts, Gfp gfp)
{
	TRY(reserve_slots(min(used_slots_ + max_inserts, geo_.table_slots()), gfp));
	if (max_changes > undo_capacity_) {
		auto *undo = static_cast<Undo *>(
			rb_alloc_large(max_changes * sizeof(Undo), static_cast<rb_gfp>(gfp)));
		if (!undo)
			return Error::no_memory("Cannot allocate memory for the metadata");
		rb_free_large(undo_);
		undo_ = undo;
		undo_capacity_ = max_changes;
	}
	return {};
}

// After the commit that upgraded an older format: the other slot still says the old version,
// and a reader of that version would fall back to it (one commit behind) rather than refuse
// the area. Stamp it with the new version, its content unchanged (it names the area this
// commit did not touch), so old readers refuse both slots. A failure only leaves that slot as
// it was: the commit stands.
void MetadataStore::restamp_older_slot()
{
	const u64 sector =
		geo_.spare_dev_sector(geo_.superblock_block(static_cast<u32>((seq_ + 1) % 2)));
	Superblock sb;
	if (io_->read(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), 0) ||
	    decode_superblock(geo_, block_buf_, &sb).is_error() || sb.version == kFormatVersion ||
	    sb.seq >= seq_)
		return;
	sb.version = kFormatVersion;
	encode_superblock(sb, block_buf_, geo_.block_size());
	if (io_->write(io_ctx_, RB_SPARE_DEV, sector, block_buf_, geo_.block_size(), RB_IO_FUA))
		rb_log(RB_LOG_WARN, "could not stamp the older metadata superblock with version %u",
		       kFormatVersion);
}

} // namespace remap
