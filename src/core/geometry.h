// SPDX-License-Identifier: GPL-2.0
// A target's layout in blocks, derived from its table line: the spare range's split into
// superblocks, two table areas and usable spare blocks (docs/on-disk-format.rst), and the one
// place where sectors, data blocks and spare blocks are converted into one another.
#pragma once

#include "result.h"
#include "units.h"

namespace remap {

class Geometry {
public:
	// Sizes fixed by the on-disk format.
	enum : u32 {
		kSuperblockSlots = 2
	};
	enum : u32 {
		kTableAreas = 2
	};
	enum : u32 {
		kTableHeaderBytes = 64
	};
	enum : u32 {
		kEntryBytes = 16
	};
	// Spare block numbers are 32-bit on disk and 0xffffffff marks a lost block.
	enum : u64 {
		kMaxSpareBlocks = 0xfffffffeull
	};
	// Two superblocks, one block per table area (T = 1 while S <= E + 4) and one spare.
	enum : u64 {
		kMinSpareBlocks = u64{kSuperblockSlots} + u64{kTableAreas} + 1
	};

	// All zero and unusable (E = 0, no blocks): storage for create() to fill. Nothing may be
	// computed from a Geometry that create() did not accept.
	Geometry() = default;

	// Lengths and offsets in 512-byte sectors, block_size in bytes. Fails with -EINVAL and a
	// text naming the problem (suitable for ti->error); *out is set only on success.
	static Status create(u64 data_offset, u64 data_len, u64 spare_offset, u64 spare_len,
			     u32 block_size, Geometry *out);
	static Status from_table(const rc_table &table, u64 target_len, Geometry *out);

	// E: the entries one table block holds.
	static constexpr u32 entries_for(u32 block_size)
	{
		return (block_size - kTableHeaderBytes) / kEntryBytes;
	}
	// T: the smallest table area that can describe every spare block left after the two
	// superblocks and two such areas, i.e. ceil((S - 2) / (E + 2)). S must be at least 2.
	static constexpr u64 table_blocks_for(u64 spare_blocks, u32 entries)
	{
		const u64 n = spare_blocks - kSuperblockSlots;
		const u64 d = static_cast<u64>(entries) + kTableAreas;
		return n / d + (n % d != 0);
	}
	// Whether S blocks hold the metadata and at least one spare block to hand out. (The
	// first test only keeps S - 2 from wrapping: below five blocks nothing fits anyway.)
	static constexpr bool holds_metadata(u64 spare_blocks, u32 entries)
	{
		if (spare_blocks < kMinSpareBlocks)
			return false;
		const u64 metadata =
			kSuperblockSlots + kTableAreas * table_blocks_for(spare_blocks, entries);
		return spare_blocks >= metadata + 1;
	}

	u64 data_offset() const { return data_offset_; }
	u64 data_len() const { return data_len_; }
	u64 spare_offset() const { return spare_offset_; }
	u64 spare_len() const { return spare_len_; }
	u32 block_size() const { return block_size_; }
	u32 block_sectors() const { return 1u << block_shift_; }
	// log2(block_sectors): sectors to blocks and back are shifts.
	u32 block_shift() const { return block_shift_; }
	u64 data_blocks() const { return data_blocks_; }
	u64 spare_blocks() const { return spare_blocks_; }
	u32 entries_per_table_block() const { return entries_; }
	u32 table_blocks() const { return table_blocks_; }
	// Slots both table areas can hold: T * E.
	u64 table_slots() const { return static_cast<u64>(table_blocks_) * entries_; }

	SpareBlock superblock_block(u32 slot) const { return SpareBlock(slot); }
	SpareBlock table_block(u32 area, u32 index) const
	{
		const u64 area_start = kSuperblockSlots + static_cast<u64>(area) * table_blocks_;
		return SpareBlock(area_start + index);
	}
	// 2 + 2T: everything below is metadata.
	SpareBlock first_usable_spare() const
	{
		return SpareBlock(kSuperblockSlots + static_cast<u64>(kTableAreas) * table_blocks_);
	}
	bool is_data_block(DataBlock b) const { return b.value() < data_blocks_; }
	// A spare block that may hold remapped data (not metadata, inside the range).
	bool is_usable_spare(SpareBlock b) const
	{
		return b >= first_usable_spare() && b.value() < spare_blocks_;
	}

	// Target sectors (relative to the target start) and data blocks.
	DataBlock data_block(Sector s) const { return DataBlock(s.value() >> block_shift_); }
	u32 offset_in_block(Sector s) const
	{
		return static_cast<u32>(s.value() & (block_sectors() - 1));
	}
	Sector first_sector(DataBlock b) const { return Sector(b.value() << block_shift_); }
	// The sector just past block b.
	Sector end_sector(DataBlock b) const { return first_sector(b + 1); }
	// The last block of the sectors [s, s + sectors), sectors >= 1.
	DataBlock last_block(Sector s, u64 sectors) const { return data_block(s + (sectors - 1)); }
	// How many blocks the sectors [s, s + sectors) touch, sectors >= 1.
	u64 blocks_touched(Sector s, u64 sectors) const
	{
		return last_block(s, sectors) - data_block(s) + 1;
	}
	// n blocks, in sectors.
	u64 sectors_of(u64 blocks) const { return blocks << block_shift_; }

	// Absolute sectors on the devices. The arguments must be in range (is_data_block(),
	// s < data_len, b < spare_blocks); create() made sure the ends do not wrap.
	u64 data_dev_sector(Sector s) const { return data_offset_ + s.value(); }
	u64 data_dev_sector(DataBlock b) const
	{
		return data_offset_ + (b.value() << block_shift_);
	}
	u64 spare_dev_sector(SpareBlock b) const
	{
		return spare_offset_ + (b.value() << block_shift_);
	}

private:
	u64 data_offset_ = 0;
	u64 data_len_ = 0;
	u64 spare_offset_ = 0;
	u64 spare_len_ = 0;
	u64 data_blocks_ = 0;
	u64 spare_blocks_ = 0;
	u32 block_size_ = 0;
	u32 block_shift_ = 0;
	u32 entries_ = 0;
	u32 table_blocks_ = 0;
};

} // namespace remap
