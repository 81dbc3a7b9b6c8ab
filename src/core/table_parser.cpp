// SPDX-License-Identifier: GPL-2.0
// Table line grammar:
//   <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#feature args> <arg>...]
// Offsets and lengths are 512-byte sectors. Features: block_size <bytes>, no_auto_remap,
// read_retries <n>, spare_low_water <blocks>, allow_larger_spare_sectors. The feature count
// counts words, as in other dm targets ("2 block_size 8192" is one feature of two words).
#include "parse_number.h"
#include "result.h"

namespace remap {
namespace {

constexpr unsigned kPositionalArgs = 5;

// One optional feature: its name, how many value words follow it, and how to apply them.
struct FeatureSpec {
	const char *name;
	unsigned values;
	u32 bit;
	Status (*apply)(rc_table *table, const char *value);
};

Status apply_block_size(rc_table *table, const char *value)
{
	u32 bytes;
	if (!parse_u32(value, &bytes) || !is_power_of_two(bytes) || bytes < RC_MIN_BLOCK_SIZE ||
	    bytes > RC_MAX_BLOCK_SIZE)
		return Error::invalid(
			"Invalid block_size: must be a power of two from 512 to 65536");
	table->block_size = bytes;
	return {};
}

Status apply_no_auto_remap(rc_table *table, const char *)
{
	table->auto_remap = 0;
	return {};
}

Status apply_read_retries(rc_table *table, const char *value)
{
	u32 n;
	if (!parse_u32(value, &n) || n > RC_MAX_READ_RETRIES)
		return Error::invalid("Invalid read_retries: must be 0 to 100");
	table->read_retries = n;
	return {};
}

Status apply_spare_low_water(rc_table *table, const char *value)
{
	u64 blocks;
	if (!parse_u64(value, &blocks))
		return Error::invalid("Invalid spare_low_water");
	table->spare_low_water = blocks;
	return {};
}

// The flag alone is what it records (in explicit_features); rc_table_check reads it.
Status apply_flag(rc_table *, const char *) { return {}; }

constexpr FeatureSpec kFeatures[] = {
	{"block_size", 1, RC_FEAT_BLOCK_SIZE, apply_block_size},
	{"no_auto_remap", 0, RC_FEAT_NO_AUTO_REMAP, apply_no_auto_remap},
	{"read_retries", 1, RC_FEAT_READ_RETRIES, apply_read_retries},
	{"spare_low_water", 1, RC_FEAT_SPARE_LOW_WATER, apply_spare_low_water},
	{"allow_larger_spare_sectors", 0, RC_FEAT_ALLOW_LARGER_SPARE_SECTORS, apply_flag},
};

const FeatureSpec *find_feature(const char *name)
{
	for (const FeatureSpec &f : kFeatures) {
		if (equals_ignore_case(name, f.name))
			return &f;
	}
	return nullptr;
}

Status parse_features(rc_table *table, unsigned argc, char **argv)
{
	u32 count;
	if (!parse_u32(argv[0], &count))
		return Error::invalid("Invalid number of feature arguments");
	if (count != argc - 1)
		return Error::invalid("Number of feature arguments does not match the table line");

	for (unsigned i = 1; i < argc;) {
		const FeatureSpec *f = find_feature(argv[i]);
		if (!f)
			return Error::invalid("Unknown feature");
		if (table->explicit_features & f->bit)
			return Error::invalid("Feature given more than once");
		if (argc - i - 1 < f->values)
			return Error::invalid("Feature is missing its value");
		TRY(f->apply(table, f->values ? argv[i + 1] : nullptr));
		table->explicit_features |= f->bit;
		i += 1 + f->values;
	}
	return {};
}

// Both ends of [offset, offset + len) in sectors, or false if the end wraps.
bool range_end(u64 offset, u64 len, u64 *end) { return checked_add(offset, len, end); }

bool overlaps(u64 a_start, u64 a_end, u64 b_start, u64 b_end)
{
	return a_start < b_end && b_start < a_end;
}

Status parse_table(unsigned argc, char **argv, rc_table *table)
{
	*table = rc_table{};
	table->block_size = RC_DEFAULT_BLOCK_SIZE;
	table->read_retries = RC_DEFAULT_READ_RETRIES;
	table->auto_remap = 1;

	if (argc < kPositionalArgs)
		return Error::invalid("Not enough arguments: <data_dev> <data_offset> <spare_dev> "
				      "<spare_offset> <spare_len> [<#features> <feature>...]");

	table->data_path = argv[0];
	if (!parse_u64(argv[1], &table->data_offset))
		return Error::invalid("Invalid data device offset");
	table->spare_path = argv[2];
	if (!parse_u64(argv[3], &table->spare_offset))
		return Error::invalid("Invalid spare device offset");
	if (!parse_u64(argv[4], &table->spare_len))
		return Error::invalid("Invalid spare length");

	if (argc > kPositionalArgs)
		return parse_features(table, argc - kPositionalArgs, argv + kPositionalArgs);
	return {};
}

Status check_table(rc_table *table, const rc_devices *devs)
{
	const u64 block_sectors = table->block_size >> RC_SECTOR_SHIFT;
	u64 data_end, spare_end;

	// dm stacks the largest logical block size of the devices, and remap has no zone support
	// (dm core would accept a host-aware device and then fail at report_zones).
	if (devs->zoned)
		return Error::invalid(
			"Zoned devices are not supported: use a conventional data and spare "
			"device");
	// A larger spare sector would become the dm device's own: an existing disk's 512-byte
	// content (partition tables, file systems, O_DIRECT users) stops working through it.
	if (devs->spare_logical_block > devs->data_logical_block &&
	    !(table->explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS))
		return Error::invalid(
			"Spare device's logical block size exceeds the data device's: it would "
			"change the exported sector size (feature allow_larger_spare_sectors "
			"accepts that)");
	if (table->block_size < devs->data_logical_block)
		return Error::invalid(
			"block_size is smaller than the data device's logical block size");
	if (table->block_size < devs->spare_logical_block)
		return Error::invalid(
			"block_size is smaller than the spare device's logical block size");

	if (devs->target_len == 0 || devs->target_len % block_sectors)
		return Error::invalid("Target length is not a non-zero multiple of block_size");
	if (table->data_offset % block_sectors)
		return Error::invalid("Data offset is not aligned to block_size");
	if (!range_end(table->data_offset, devs->target_len, &data_end) ||
	    data_end > devs->data_dev_sectors)
		return Error::invalid("Data range exceeds the data device");

	if (table->spare_offset % block_sectors)
		return Error::invalid("Spare offset is not aligned to block_size");
	if (table->spare_len == 0 || table->spare_len % block_sectors)
		return Error::invalid("Spare length is not a non-zero multiple of block_size");
	if (!range_end(table->spare_offset, table->spare_len, &spare_end) ||
	    spare_end > devs->spare_dev_sectors)
		return Error::invalid("Spare range exceeds the spare device");
	if (devs->same_device &&
	    overlaps(table->data_offset, data_end, table->spare_offset, spare_end))
		return Error::invalid("Spare range overlaps the data range");

	const u64 spare_blocks = table->spare_len / block_sectors;
	if (table->explicit_features & RC_FEAT_SPARE_LOW_WATER) {
		if (table->spare_low_water > spare_blocks)
			return Error::invalid("spare_low_water exceeds the number of spare blocks");
	} else {
		table->spare_low_water = spare_blocks / 10;
	}
	return {};
}

} // namespace
} // namespace remap

using namespace remap;

extern "C" int rc_table_parse(unsigned int argc, char **argv, struct rc_table *table,
			      const char **error)
{
	return to_boundary(parse_table(argc, argv, table), error);
}

extern "C" int rc_table_check(struct rc_table *table, const struct rc_devices *devs,
			      const char **error)
{
	return to_boundary(check_table(table, devs), error);
}
