// SPDX-License-Identifier: GPL-2.0
// Encoding and checking superblocks and table blocks; see metadata_codec.h and, for every
// offset below, docs/on-disk-format.rst. Integers go through explicit little-endian byte
// shifts so the bytes are the same whatever the host's byte order and alignment.
#include "metadata_codec.h"

namespace remap {
namespace {

// Superblock field offsets.
constexpr u32 kSbMagic = 0;
constexpr u32 kSbVersion = 8;
constexpr u32 kSbFlags = 12;
constexpr u32 kSbSeq = 16;
constexpr u32 kSbUuid = 24;
constexpr u32 kSbDataOffset = 40;
constexpr u32 kSbDataLen = 48;
constexpr u32 kSbSpareOffset = 56;
constexpr u32 kSbSpareLen = 64;
constexpr u32 kSbBlockSize = 72;
constexpr u32 kSbTableBlocks = 76;
constexpr u32 kSbArea = 80;
constexpr u32 kSbUsedBlocks = 84;
constexpr u32 kSbUsedSlots = 88;
constexpr u32 kSbEntryCount = 96;
constexpr u32 kSbTableCrc = 104;
constexpr u32 kSbReserved = 108;
constexpr u32 kSbCrc = 508;

// Table block header offsets; entries start at Geometry::kTableHeaderBytes.
constexpr u32 kTbMagic = 0;
constexpr u32 kTbSeq = 8;
constexpr u32 kTbUuid = 16;
constexpr u32 kTbArea = 32;
constexpr u32 kTbIndex = 36;
constexpr u32 kTbSlots = 40;
constexpr u32 kTbReserved = 44;
constexpr u32 kTbCrc = 60;

// Entry field offsets.
constexpr u32 kEntData = 0;
constexpr u32 kEntSpare = 8;
constexpr u32 kEntState = 12;

constexpr u32 kMagicBytes = 8;
constexpr u8 kSuperblockMagic[kMagicBytes] = {'D', 'M', 'R', 'E', 'M', 'A', 'P', '1'};
constexpr u8 kTableMagic[kMagicBytes] = {'D', 'M', 'R', 'M', 'T', 'A', 'B', 'L'};
constexpr u8 kZeroCrc[4] = {};

static_assert(kSbReserved + 400 == kSbCrc && kSbCrc + 4 == kSuperblockBytes, "superblock layout");
static_assert(kTbCrc + 4 == Geometry::kTableHeaderBytes, "table header layout");

void put_le32(u8 *p, u32 v)
{
	for (u32 i = 0; i < 4; i++)
		p[i] = static_cast<u8>(v >> (8 * i));
}

void put_le64(u8 *p, u64 v)
{
	for (u32 i = 0; i < 8; i++)
		p[i] = static_cast<u8>(v >> (8 * i));
}

u32 get_le32(const u8 *p)
{
	u32 v = 0;
	for (u32 i = 0; i < 4; i++)
		v |= static_cast<u32>(p[i]) << (8 * i);
	return v;
}

u64 get_le64(const u8 *p)
{
	u64 v = 0;
	for (u32 i = 0; i < 8; i++)
		v |= static_cast<u64>(p[i]) << (8 * i);
	return v;
}

bool bytes_equal(const u8 *a, const u8 *b, u32 len)
{
	for (u32 i = 0; i < len; i++) {
		if (a[i] != b[i])
			return false;
	}
	return true;
}

// The format's checksums are standard CRC32C; the boundary's is the raw kernel one.
u32 crc32c(const u8 *p, u32 len) { return ~rb_crc32c(~0u, p, len); }

// A table block's crc covers the whole block with the crc field read as zero.
u32 table_block_crc(const u8 *block, u32 block_size)
{
	u32 crc = rb_crc32c(~0u, block, kTbCrc);
	crc = rb_crc32c(crc, kZeroCrc, sizeof(kZeroCrc));
	crc = rb_crc32c(crc, block + Geometry::kTableHeaderBytes,
			block_size - Geometry::kTableHeaderBytes);
	return ~crc;
}

// The first problem with one entry (-EINVAL), if any; the cross-entry rules are the loader's.
Status decode_entry(const Geometry &geo, const u8 *p, Entry *e, u32 version)
{
	const u64 data = get_le64(p + kEntData);
	const u32 spare = get_le32(p + kEntSpare);
	const u32 state = get_le32(p + kEntState);

	switch (state) {
	case static_cast<u32>(EntryState::Free):
		if (data || spare)
			return Error::invalid("Free table slot is not all zero");
		break;
	case static_cast<u32>(EntryState::Remapped):
		if (!geo.is_data_block(DataBlock(data)))
			return Error::invalid("Remapped entry has an out-of-range data block");
		if (!geo.is_usable_spare(SpareBlock(spare)))
			return Error::invalid("Remapped entry has an out-of-range spare block");
		break;
	case static_cast<u32>(EntryState::Lost):
		if (!geo.is_data_block(DataBlock(data)))
			return Error::invalid("Lost entry has an out-of-range data block");
		if (spare != Entry::kLostSpare)
			return Error::invalid("Lost entry has a spare block");
		break;
	case static_cast<u32>(EntryState::BadSpare):
		if (data != Entry::kBadSpareData)
			return Error::invalid("Bad-spare entry has a data block");
		if (!geo.is_usable_spare(SpareBlock(spare)))
			return Error::invalid("Bad-spare entry has an out-of-range spare block");
		break;
	case static_cast<u32>(EntryState::LostSectors): {
		if (version < 2)
			return Error::invalid("Table entry has an unknown state");
		const Entry run{data, spare, EntryState::LostSectors};
		if (!geo.is_data_block(DataBlock(data)))
			return Error::invalid("Lost-sectors entry has an out-of-range data block");
		if (run.run_count() == 0 || run.run_first() + run.run_count() > geo.block_sectors())
			return Error::invalid("Lost-sectors entry has a run outside its block");
		break;
	}
	default:
		return Error::invalid("Table entry has an unknown state");
	}
	e->data_block = data;
	e->spare_block = spare;
	e->state = static_cast<EntryState>(state);
	return {};
}

// Where slot i starts in a table block (slot E is the end of the block).
constexpr u32 entry_offset(u32 slot)
{
	return Geometry::kTableHeaderBytes + slot * Geometry::kEntryBytes;
}

void encode_entry(const Entry &e, u8 *p)
{
	// A free slot is all zero on disk whatever stale values the caller left in it.
	if (e.state == EntryState::Free)
		return;
	put_le64(p + kEntData, e.data_block);
	put_le32(p + kEntSpare, e.spare_block);
	put_le32(p + kEntState, static_cast<u32>(e.state));
}

} // namespace

void init_superblock(const Geometry &geo, Superblock *sb)
{
	*sb = Superblock{};
	sb->version = kFormatVersion;
	sb->data_offset = geo.data_offset();
	sb->data_len = geo.data_len();
	sb->spare_offset = geo.spare_offset();
	sb->spare_len = geo.spare_len();
	sb->block_size = geo.block_size();
	sb->table_blocks = geo.table_blocks();
}

void encode_superblock(const Superblock &sb, u8 *block, u32 block_size)
{
	__builtin_memset(block, 0, block_size);
	__builtin_memcpy(block + kSbMagic, kSuperblockMagic, kMagicBytes);
	put_le32(block + kSbVersion, sb.version);
	put_le32(block + kSbFlags, 0);
	put_le64(block + kSbSeq, sb.seq);
	__builtin_memcpy(block + kSbUuid, sb.uuid, kUuidBytes);
	put_le64(block + kSbDataOffset, sb.data_offset);
	put_le64(block + kSbDataLen, sb.data_len);
	put_le64(block + kSbSpareOffset, sb.spare_offset);
	put_le64(block + kSbSpareLen, sb.spare_len);
	put_le32(block + kSbBlockSize, sb.block_size);
	put_le32(block + kSbTableBlocks, sb.table_blocks);
	put_le32(block + kSbArea, sb.area);
	put_le32(block + kSbUsedBlocks, sb.used_blocks);
	put_le64(block + kSbUsedSlots, sb.used_slots);
	put_le64(block + kSbEntryCount, sb.entry_count);
	put_le32(block + kSbTableCrc, sb.table_crc);
	put_le32(block + kSbCrc, crc32c(block, kSbCrc));
}

Status decode_superblock_fields(const u8 *block, Superblock *out)
{
	// Magic and version say how to read the rest, the crc included, so they come first. The
	// crc comes before the fields it protects: a flipped bit is corruption, not a feature.
	if (!bytes_equal(block + kSbMagic, kSuperblockMagic, kMagicBytes))
		return Error::invalid("Superblock has a bad magic");
	const u32 version = get_le32(block + kSbVersion);
	if (version < kOldestFormatVersion || version > kFormatVersion)
		return Error::invalid("Superblock has an unsupported version");
	if (get_le32(block + kSbCrc) != crc32c(block, kSbCrc))
		return Error::invalid("Superblock has a bad checksum");
	if (get_le32(block + kSbFlags) != 0)
		return Error::invalid("Superblock has unknown flags");
	if (!block_is_zero(block + kSbReserved, kSbCrc - kSbReserved))
		return Error::invalid("Superblock has non-zero reserved bytes");

	Superblock sb;
	sb.version = version;
	sb.seq = get_le64(block + kSbSeq);
	__builtin_memcpy(sb.uuid, block + kSbUuid, kUuidBytes);
	sb.data_offset = get_le64(block + kSbDataOffset);
	sb.data_len = get_le64(block + kSbDataLen);
	sb.spare_offset = get_le64(block + kSbSpareOffset);
	sb.spare_len = get_le64(block + kSbSpareLen);
	sb.block_size = get_le32(block + kSbBlockSize);
	sb.table_blocks = get_le32(block + kSbTableBlocks);
	sb.area = get_le32(block + kSbArea);
	sb.used_blocks = get_le32(block + kSbUsedBlocks);
	sb.used_slots = get_le64(block + kSbUsedSlots);
	sb.entry_count = get_le64(block + kSbEntryCount);
	sb.table_crc = get_le32(block + kSbTableCrc);
	*out = sb;
	return {};
}

Status decode_superblock(const Geometry &geo, const u8 *block, Superblock *out)
{
	Superblock sb;
	TRY(decode_superblock_fields(block, &sb));

	if (sb.seq == 0)
		return Error::invalid("Superblock has sequence number 0");
	if (sb.data_offset != geo.data_offset())
		return Error::invalid(
			"Superblock geometry does not match the table line: data_offset");
	// data_len may differ: the data range grew, or shrank above every entry (the loader
	// refuses an entry past its end). The spare area may grow while its table areas keep
	// their size; the first commit records the new lengths.
	if (sb.spare_offset != geo.spare_offset())
		return Error::invalid(
			"Superblock geometry does not match the table line: spare_offset");
	if (sb.spare_len > geo.spare_len())
		return Error::invalid(
			"Superblock geometry does not match the table line: spare_len (the spare area cannot shrink)");
	if (sb.block_size != geo.block_size())
		return Error::invalid(
			"Superblock geometry does not match the table line: block_size");
	if (sb.table_blocks != geo.table_blocks())
		return sb.spare_len < geo.spare_len()
			? Error::invalid(
				  "The spare area cannot grow in place this far: its table areas would have to grow (see \"Growing\" in the admin guide)")
			: Error::invalid(
				  "Superblock geometry does not match the table line: table_blocks");

	if (sb.area >= Geometry::kTableAreas)
		return Error::invalid("Superblock names a table area other than 0 or 1");
	if (sb.used_blocks > geo.table_blocks())
		return Error::invalid("Superblock uses more table blocks than an area has");
	// The used slots fill every used block but the last, and that one is not empty.
	const u64 e = geo.entries_per_table_block();
	if (sb.used_blocks != sb.used_slots / e + (sb.used_slots % e != 0))
		return Error::invalid("Superblock used_slots does not match used_blocks");
	if (sb.entry_count > sb.used_slots)
		return Error::invalid("Superblock counts more entries than used slots");

	*out = sb;
	return {};
}

bool superblock_block_size(const u8 *block, u32 *block_size)
{
	if (!bytes_equal(block + kSbMagic, kSuperblockMagic, kMagicBytes) ||
	    get_le32(block + kSbVersion) < kOldestFormatVersion ||
	    get_le32(block + kSbVersion) > kFormatVersion ||
	    get_le32(block + kSbCrc) != crc32c(block, kSbCrc))
		return false;
	*block_size = get_le32(block + kSbBlockSize);
	return true;
}

bool block_is_zero(const u8 *block, u32 len)
{
	u8 acc = 0;
	for (u32 i = 0; i < len; i++)
		acc |= block[i];
	return acc == 0;
}

u32 slots_in_table_block(const Geometry &geo, u64 used_slots, u32 index)
{
	const u64 e = geo.entries_per_table_block();
	const u64 first = static_cast<u64>(index) * e;
	if (used_slots <= first)
		return 0;
	return static_cast<u32>(min(used_slots - first, e));
}

u32 encode_table_block(const Geometry &geo, const u8 uuid[kUuidBytes], u64 seq, u32 area, u32 index,
		       const Entry *slots, u32 nslots, u8 *block)
{
	const u32 block_size = geo.block_size();
	const u32 n = min(nslots, geo.entries_per_table_block());

	__builtin_memset(block, 0, block_size);
	__builtin_memcpy(block + kTbMagic, kTableMagic, kMagicBytes);
	put_le64(block + kTbSeq, seq);
	__builtin_memcpy(block + kTbUuid, uuid, kUuidBytes);
	put_le32(block + kTbArea, area);
	put_le32(block + kTbIndex, index);
	put_le32(block + kTbSlots, n);
	for (u32 i = 0; i < n; i++)
		encode_entry(slots[i], block + entry_offset(i));
	// The crc field is still zero, as its definition wants.
	const u32 crc = crc32c(block, block_size);
	put_le32(block + kTbCrc, crc);
	return crc;
}

Status decode_table_block(const Geometry &geo, const u8 uuid[kUuidBytes], u64 max_seq, u32 area,
			  u32 index, u32 expected_slots, const u8 *block, Entry *out, u32 *crc_out,
			  u32 version)
{
	const u32 block_size = geo.block_size();
	const u32 e = geo.entries_per_table_block();

	if (!bytes_equal(block + kTbMagic, kTableMagic, kMagicBytes))
		return Error::invalid("Table block has a bad magic");
	const u32 crc = get_le32(block + kTbCrc);
	if (crc != table_block_crc(block, block_size))
		return Error::invalid("Table block has a bad checksum");
	if (!bytes_equal(block + kTbUuid, uuid, kUuidBytes))
		return Error::invalid("Table block uuid does not match the superblock");
	if (get_le32(block + kTbArea) != area)
		return Error::invalid("Table block names the wrong table area");
	if (get_le32(block + kTbIndex) != index)
		return Error::invalid("Table block names the wrong index");
	const u64 seq = get_le64(block + kTbSeq);
	if (seq == 0)
		return Error::invalid("Table block has sequence number 0");
	if (seq > max_seq)
		return Error::invalid("Table block is newer than its superblock");
	const u32 slots = get_le32(block + kTbSlots);
	if (slots > e)
		return Error::invalid("Table block has more slots than a block holds");
	if (slots != expected_slots)
		return Error::invalid("Table block slot count does not match the superblock");
	if (!block_is_zero(block + kTbReserved, kTbCrc - kTbReserved))
		return Error::invalid("Table block has non-zero reserved bytes");
	const u32 used_end = entry_offset(slots);
	if (!block_is_zero(block + used_end, block_size - used_end))
		return Error::invalid("Table block has data after its last slot");

	for (u32 i = 0; i < slots; i++) {
		TRY(decode_entry(geo, block + entry_offset(i), &out[i], version));
	}
	for (u32 i = slots; i < e; i++)
		out[i] = Entry{0, 0, EntryState::Free};
	*crc_out = crc;
	return {};
}

u32 table_crc(const u32 *block_crcs, u32 n)
{
	// Batched so a large table costs a few crc calls per 64 blocks, not one per block.
	u8 buf[256];
	u32 crc = ~0u;
	u32 fill = 0;

	for (u32 i = 0; i < n; i++) {
		put_le32(buf + fill, block_crcs[i]);
		fill += 4;
		if (fill == sizeof(buf)) {
			crc = rb_crc32c(crc, buf, fill);
			fill = 0;
		}
	}
	if (fill)
		crc = rb_crc32c(crc, buf, fill);
	return ~crc;
}

} // namespace remap
