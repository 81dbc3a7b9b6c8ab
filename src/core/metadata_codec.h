// SPDX-License-Identifier: GPL-2.0
// The on-disk metadata format (docs/on-disk-format.rst) as pure functions: superblocks and
// table blocks to and from bytes, with every check that one block can make on its own. No I/O
// and no allocation; the loader adds the checks that span blocks (duplicates, entry_count).
#pragma once

#include "geometry.h"

namespace remap {

// The version a commit writes, and the oldest one a load accepts (version 1 has no
// lost-sectors entries; the first commit rewrites it as version 2).
constexpr u32 kFormatVersion = 2;
constexpr u32 kOldestFormatVersion = 1;
// Only this much of a superblock block is meaningful (512-byte write atomicity).
constexpr u32 kSuperblockBytes = 512;
constexpr u32 kUuidBytes = 16;

enum class EntryState : u8 {
	Free = 0,
	Remapped = 1,
	Lost = 2,
	BadSpare = 3,
	LostSectors = 4, // version 2: a run of unreadable sectors inside a remapped block
};

// One table slot. A free slot's other fields are ignored when encoding (it is written as zero).
// A LostSectors entry keeps its run where the others keep the spare block: the first 512-byte
// sector within the block in the low 16 bits, the count in the high 16 (bytes 8-9 and 10-11
// on disk).
struct Entry {
	enum : u32 {
		kLostSpare = 0xffffffffu
	}; // spare_block of a Lost entry
	enum : u64 {
		kBadSpareData = ~0ull
	}; // data_block of a BadSpare entry

	u64 data_block;
	u32 spare_block;
	EntryState state;

	static constexpr u32 run(u32 first, u32 count) { return first | count << 16; }
	u32 run_first() const { return spare_block & 0xffffu; }
	u32 run_count() const { return spare_block >> 16; }
};

// Every field of a superblock except the constants (magic, version, flags, crc).
struct Superblock {
	u32 version; // kOldestFormatVersion .. kFormatVersion; init_superblock() sets the newest
	u64 seq;
	u8 uuid[kUuidBytes];
	u64 data_offset;  // sectors
	u64 data_len;     // sectors
	u64 spare_offset; // sectors
	u64 spare_len;    // sectors
	u32 block_size;   // bytes
	u32 table_blocks; // T
	u32 area;         // 0 or 1
	u32 used_blocks;  // ceil(used_slots / E)
	u64 used_slots;
	u64 entry_count;
	u32 table_crc;
};

// A superblock of this geometry with everything else zero.
void init_superblock(const Geometry &geo, Superblock *sb);

// Writes a whole block (block_size >= 512): the superblock, then zero to the end.
void encode_superblock(const Superblock &sb, u8 *block, u32 block_size);

// Reads the first 512 bytes of block. Succeeds if they hold a valid superblock for this
// geometry, else fails with -EINVAL and a text naming the first problem found. *out is only
// meaningful on success.
Status decode_superblock(const Geometry &geo, const u8 *block, Superblock *out);

// The checks of decode_superblock() that need no geometry (magic, version, crc, flags,
// reserved bytes) and the fields as stored. For tools that learn the geometry from the disk
// (dmremap dump/check): they must still decode_superblock() with the Geometry made from it.
Status decode_superblock_fields(const u8 *block, Superblock *out);

// Whether the first 512 bytes of block are an intact superblock of any geometry, and if so
// its block_size: to tell an admin that the area was formatted with another block size.
bool superblock_block_size(const u8 *block, u32 *block_size);

bool block_is_zero(const u8 *block, u32 len);

// How many slots table block `index` of an area holding used_slots slots must declare: E in
// every used block but the last, which has the remainder (1 .. E); 0 past the used blocks.
u32 slots_in_table_block(const Geometry &geo, u64 used_slots, u32 index);

// Writes a whole table block (block_size bytes) holding slots[0 .. nslots) and returns its
// crc, for table_crc(). nslots must be at most E; more are not written.
u32 encode_table_block(const Geometry &geo, const u8 uuid[kUuidBytes], u64 seq, u32 area, u32 index,
		       const Entry *slots, u32 nslots, u8 *block);

// Checks a table block read from table_block(area, index) against its superblock (uuid,
// seq at most max_seq, expected_slots from slots_in_table_block()) and every entry on its
// own, by the rules of the superblock's format version (a version 1 table has no
// LostSectors entries). On success fills out[0 .. E) (slots past the declared ones as
// free) and sets *crc_out; otherwise fails with -EINVAL and a text naming the first
// problem.
Status decode_table_block(const Geometry &geo, const u8 uuid[kUuidBytes], u64 max_seq, u32 area,
			  u32 index, u32 expected_slots, const u8 *block, Entry *out, u32 *crc_out,
			  u32 version = kFormatVersion);

// The superblock's table_crc: CRC32C over the block crcs as 4 little-endian bytes each.
u32 table_crc(const u32 *block_crcs, u32 n);

} // namespace remap
