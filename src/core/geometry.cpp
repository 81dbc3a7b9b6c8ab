// SPDX-License-Identifier: GPL-2.0
// Deriving a Geometry from the table line; see geometry.h. The table parser has already
// rejected bad lines with friendlier context, but a Geometry checks everything it relies on so
// that it is never inconsistent, whoever made it (the fuzzers and tools build their own).
#include "geometry.h"

namespace remap {

Status Geometry::create(u64 data_offset, u64 data_len, u64 spare_offset, u64 spare_len,
			u32 block_size, Geometry *out)
{
	u64 end;

	if (!is_power_of_two(block_size) || block_size < RC_MIN_BLOCK_SIZE ||
	    block_size > RC_MAX_BLOCK_SIZE)
		return Error::invalid(
			"Invalid block_size: must be a power of two from 512 to 65536");
	const u32 shift = ilog2(block_size) - RC_SECTOR_SHIFT;
	const u64 mask = (1ull << shift) - 1;

	if (data_len == 0 || (data_len & mask))
		return Error::invalid("Target length is not a non-zero multiple of block_size");
	if (data_offset & mask)
		return Error::invalid("Data offset is not aligned to block_size");
	if (!checked_add(data_offset, data_len, &end))
		return Error::invalid("Data range does not fit in 64-bit sector numbers");
	if (spare_offset & mask)
		return Error::invalid("Spare offset is not aligned to block_size");
	if (spare_len == 0 || (spare_len & mask))
		return Error::invalid("Spare length is not a non-zero multiple of block_size");
	if (!checked_add(spare_offset, spare_len, &end))
		return Error::invalid("Spare range does not fit in 64-bit sector numbers");

	const u64 spare_blocks = spare_len >> shift;
	const u32 entries = entries_for(block_size);
	if (spare_blocks > kMaxSpareBlocks)
		return Error::invalid("Spare range too large: at most 4294967294 blocks");
	if (!holds_metadata(spare_blocks, entries))
		return Error::invalid("Spare area too small for the metadata and one spare block");

	Geometry g;
	g.data_offset_ = data_offset;
	g.data_len_ = data_len;
	g.spare_offset_ = spare_offset;
	g.spare_len_ = spare_len;
	g.data_blocks_ = data_len >> shift;
	g.spare_blocks_ = spare_blocks;
	g.block_size_ = block_size;
	g.block_shift_ = shift;
	g.entries_ = entries;
	// At most S / (E + 2) + 1 with S < 2^32: it fits.
	g.table_blocks_ = static_cast<u32>(table_blocks_for(spare_blocks, entries));
	*out = g;
	return {};
}

Status Geometry::from_table(const rc_table &table, u64 target_len, Geometry *out)
{
	return create(table.data_offset, target_len, table.spare_offset, table.spare_len,
		      table.block_size, out);
}

} // namespace remap
