// SPDX-License-Identifier: GPL-2.0
// The persistent mapping: the authoritative table of entry slots, loading it (newest valid
// superblock, falling back to the older one) and committing changes with the two-slot
// protocol of docs/on-disk-format.rst. Not thread-safe: the owner serializes calls.
#pragma once

#include "bitmap.h"
#include "lookup_table.h"
#include "metadata_codec.h"

namespace remap {

// The "fresh area" rule (docs/on-disk-format.rst), one rule for the module and dmremap: a spare
// area with no dm-remap superblock counts as empty, and is formatted, only if its first
// fresh_area_bytes() bytes read as zero: both superblock blocks, both table areas and the
// kFreshBeyondBytes after them, at least kFreshMinBytes, at most kFreshCapBytes (a huge area
// is checked in its first 8 MiB), never past the spare range. Anything else is refused:
// 'dmremap format' (or zeroing the area) makes it usable.
enum : u64 {
	kFreshBeyondBytes = 64ull << 10,
	kFreshMinBytes = 1ull << 20,
	kFreshCapBytes = 8ull << 20,
};
u64 fresh_area_bytes(const Geometry &geo);

class MetadataStore {
public:
	// One change to one slot. slot == kNewSlot takes the lowest free slot; an entry with
	// state Free empties the slot.
	struct SlotChange {
		enum : u64 {
			kNewSlot = ~0ull
		};
		u64 slot;
		Entry entry;
	};

	// io_block: the spare device's logical block size. Every read and write is a multiple
	// of it (and at least 512 bytes) at an offset aligned to it; the table guarantees that
	// block_size is at least that (load() refuses a geometry that is not).
	MetadataStore(const Geometry &geo, const rb_io_ops *io, void *io_ctx,
		      u32 io_block = RC_MIN_BLOCK_SIZE) :
	    geo_(geo),
	    io_(io), io_ctx_(io_ctx), io_block_(max(io_block, u32{RC_MIN_BLOCK_SIZE}))
	{}
	~MetadataStore();
	MetadataStore(const MetadataStore &) = delete;
	MetadataStore &operator=(const MetadataStore &) = delete;

	// Reads and validates the metadata (fresh() tells whether the area had no metadata and
	// passed the fresh area rule). Fails with -EINVAL if the metadata is invalid, -ENOMEM or
	// -EIO for want of memory or a readable device, with a text for ti->error; details go to
	// the log. Memory for slots grows as table blocks validate.
	Status load(Gfp gfp);
	bool fresh() const { return seq_ == 0; }
	// load() found a damaged superblock or table (and so may have used the older slot).
	bool fell_back() const { return fell_back_; }
	u64 seq() const { return seq_; }
	// The format version of the newest commit on disk (kFormatVersion once this store has
	// committed; an older one until a loaded older area is upgraded by the first commit).
	u32 version() const { return version_; }
	const u8 *uuid() const { return uuid_; }
	// Whether the newest superblock on disk is still the one this store committed or loaded
	// (false if another table's instance committed in between).
	[[nodiscard]] Result<bool> disk_unchanged();
	// Whether the newest valid superblock on disk is no longer the one the last load() saw
	// first: another table committed while it read (its result may mix two commits, or have
	// fallen back for that reason alone). Reads both superblocks.
	[[nodiscard]] Result<bool> changed_since_load();

	// Makes this store do its I/O through another table's context: a reloaded table takes
	// the store of the table it replaces over, and that table's context dies with it.
	void rebind(const rb_io_ops *io, void *io_ctx)
	{
		io_ = io;
		io_ctx_ = io_ctx;
	}

	// Writes the changes as one commit. On failure nothing in memory changes and the disk
	// still holds the previous commit. Allocation happens before any I/O.
	[[nodiscard]] Status commit(const SlotChange *changes, u64 count, Gfp gfp);
	// Allocates now what a commit() of up to max_changes changes (max_inserts of them new
	// entries) needs, so that such a commit allocates nothing: for a caller that holds I/O
	// while it prepares the commit. (Whether the table has room is commit()'s to say.)
	[[nodiscard]] Status prepare_commit(u64 max_changes, u64 max_inserts, Gfp gfp);

	u64 used_slots() const { return used_slots_; }
	u64 entry_count() const { return entry_count_; }
	Entry slot(u64 i) const { return page_slot(i).unpack(); }
	// The slot holding data_block's Remapped or Lost entry, or kNewSlot. Linear: for the rare
	// updates of an entry.
	u64 find_slot(u64 data_block) const;
	// Calls fn(slot, entry) for every LostSectors entry. Linear, as find_slot().
	template <typename Fn> void for_each_lost_run(Fn fn) const
	{
		for (u64 i = 0; i < used_slots_; i++) {
			if (page_slot(i).is_lost_run())
				fn(i, page_slot(i).unpack());
		}
	}
	// The lookup table for the entries load() found (Remapped and Lost, with the LostSectors
	// entries as its lost set); the caller owns it.
	[[nodiscard]] LookupTable *take_loaded_lookup();
	// The lookup table for the current entries (and their lost set); the caller owns it.
	// -EINVAL if two entries map one data block, or LostSectors entries overlap or name a
	// block that is not remapped.
	[[nodiscard]] Result<LookupTable *> build_lookup(Gfp gfp) const;
	// Memory held (slot pages, bitmaps, per-block checksums, buffers), each allocation
	// counted as the size class it occupies (rb_alloc_large_bytes()).
	u64 bytes() const;

private:
	// A slot in memory: an Entry without its state, which the fields imply for every valid
	// entry (free: all zero; lost: spare kLostSpare; bad spare: data kBadSpareData; else
	// remapped, whose spare block is never 0, a superblock). 12 bytes instead of 16, in
	// pages of kSlotsPerPage allocated as the table grows: no slack beyond the last page and
	// no copying. A LostSectors entry has its run in spare and bit 63 of the data block set
	// (data blocks stay below 2^55; the bad-spare marker ~0 is told apart first).
	struct PackedSlot {
		enum : u32 {
			kLostRunTag = 0x80000000u
		};
		u32 data_lo, data_hi, spare;
		static PackedSlot pack(const Entry &e);
		Entry unpack() const;
		bool is_lost_run() const
		{
			return (data_hi & kLostRunTag) && data_hi != 0xffffffffu && spare != 0;
		}
	};
	enum : u64 {
		kPageBytes = 4096,
		kSlotsPerPage = kPageBytes / sizeof(PackedSlot)
	};
	PackedSlot &page_slot(u64 i) { return pages_[i / kSlotsPerPage][i % kSlotsPerPage]; }
	const PackedSlot &page_slot(u64 i) const
	{
		return pages_[i / kSlotsPerPage][i % kSlotsPerPage];
	}
	void set_slot(u64 i, const Entry &e) { page_slot(i) = PackedSlot::pack(e); }

	struct Undo {
		u64 slot;
		Entry old;
	};

	Status load_area(const Superblock &sb, Gfp gfp);
	bool shrunk_past_entries(const Superblock &sb, u32 i);
	void log_resize(const Superblock &sb) const;
	bool formatted_with_other_block_size();
	Status check_fresh(Gfp gfp);
	static u64 newest_seq(const Superblock *sb, const char *const *why);
	Status check_entries(u64 expected_count, Gfp gfp);
	[[nodiscard]] Result<LostSectors *> build_lost_set(const LookupTable *table, Gfp gfp) const;
	[[nodiscard]] Status alloc_working_memory(Gfp gfp);
	[[nodiscard]] Status reserve_slots(u64 capacity, Gfp gfp);
	[[nodiscard]] Status write_area(u32 area, u64 seq);
	void restamp_older_slot();
	void mark_dirty(u64 slot);
	u32 used_blocks() const;

	const Geometry geo_;
	const rb_io_ops *io_;
	void *io_ctx_;
	const u32 io_block_; // the spare device's logical block size (>= 512)

	u64 seq_ = 0;                  // of the newest commit on disk, 0 when fresh
	u32 version_ = kFormatVersion; // of that commit
	u32 area_ = 1; // the area that commit names; a fresh store's first commit uses 0
	bool fell_back_ = false;
	u64 load_saw_seq_ = 0; // the newest valid superblock's seq when load() began, 0 if none
	u8 uuid_[kUuidBytes] = {};

	PackedSlot **pages_ = nullptr;   // one pointer per page of table_slots(); slots_capacity_
	u64 slots_capacity_ = 0;         // slots in the pages allocated; used_slots_ meaningful
	Entry *block_entries_ = nullptr; // one table block's entries, for the codec
	u64 used_slots_ = 0;
	u64 entry_count_ = 0;
	Bitmap slot_in_use_;      // one bit per possible slot (T * E)
	Bitmap dirty_[2];         // per area: table blocks that differ from what the area holds
	u32 *block_crcs_[2] = {}; // per area: crc of each table block as written there
	u8 *block_buf_ = nullptr; // one block, for encoding and reading
	Undo *undo_ = nullptr;    // prepare_commit()'s undo array, of undo_capacity_ entries
	u64 undo_capacity_ = 0;
	LookupTable *loaded_lookup_ = nullptr;
};

} // namespace remap
