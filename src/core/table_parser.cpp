// SPDX-License-Identifier: GPL-2.0
// Table line grammar:
//   <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#feature args> <arg>...]
// Offsets and lengths are 512-byte sectors. Features: block_size <bytes>, no_auto_remap,
// read_retries <n>, spare_low_water <blocks>, allow_larger_spare_sectors. The feature count
// counts words, as in other dm targets ("2 block_size 8192" is one feature of two words).
#include "parse_number.h"

namespace remap {
namespace {

constexpr unsigned kPositionalArgs = 5;

struct Parse {
	rc_table *table;
	const char **error;

	int fail(const char *message)
	{
		*error = message;
		return -kEINVAL;
	}
};

// One optional feature: its name, how many value words follow it, and how to apply them.
struct FeatureSpec {
	const char *name;
	unsigned values;
	u32 bit;
	int (*apply)(Parse &p, const char *value);
};

int apply_block_size(Parse &p, const char *value)
{
	u32 bytes;
	if (!parse_u32(value, &bytes) || !is_power_of_two(bytes) || bytes < RC_MIN_BLOCK_SIZE ||
	    bytes > RC_MAX_BLOCK_SIZE)
		return p.fail("Invalid block_size: must be a power of two from 512 to 65536");
	p.table->block_size = bytes;
	return 0;
}

int apply_no_auto_remap(Parse &p, const char *)
{
	p.table->auto_remap = 0;
	return 0;
}

int apply_read_retries(Parse &p, const char *value)
{
	u32 n;
	if (!parse_u32(value, &n) || n > RC_MAX_READ_RETRIES)
		return p.fail("Invalid read_retries: must be 0 to 100");
	p.table->read_retries = n;
	return 0;
}

int apply_spare_low_water(Parse &p, const char *value)
{
	u64 blocks;
	if (!parse_u64(value, &blocks))
		return p.fail("Invalid spare_low_water");
	p.table->spare_low_water = blocks;
	return 0;
}

// The flag alone is what it records (in explicit_features); rc_table_check reads it.
int apply_flag(Parse &, const char *) { return 0; }

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

int parse_features(Parse &p, unsigned argc, char **argv)
{
	u32 count;
	if (!parse_u32(argv[0], &count))
		return p.fail("Invalid number of feature arguments");
	if (count != argc - 1)
		return p.fail("Number of feature arguments does not match the table line");

	for (unsigned i = 1; i < argc;) {
		const FeatureSpec *f = find_feature(argv[i]);
		if (!f)
			return p.fail("Unknown feature");
		if (p.table->explicit_features & f->bit)
			return p.fail("Feature given more than once");
		if (argc - i - 1 < f->values)
			return p.fail("Feature is missing its value");
		int r = f->apply(p, f->values ? argv[i + 1] : nullptr);
		if (r)
			return r;
		p.table->explicit_features |= f->bit;
		i += 1 + f->values;
	}
	return 0;
}

// Both ends of [offset, offset + len) in sectors, or false if the end wraps.
bool range_end(u64 offset, u64 len, u64 *end) { return checked_add(offset, len, end); }

bool overlaps(u64 a_start, u64 a_end, u64 b_start, u64 b_end)
{
	return a_start < b_end && b_start < a_end;
}

} // namespace
} // namespace remap

using namespace remap;

extern "C" int rc_table_parse(unsigned int argc, char **argv, struct rc_table *table,
			      const char **error)
{
	Parse p{table, error};

	*table = rc_table{};
	table->block_size = RC_DEFAULT_BLOCK_SIZE;
	table->read_retries = RC_DEFAULT_READ_RETRIES;
	table->auto_remap = 1;

	if (argc < kPositionalArgs)
		return p.fail("Not enough arguments: <data_dev> <data_offset> <spare_dev> "
			      "<spare_offset> <spare_len> [<#features> <feature>...]");

	table->data_path = argv[0];
	if (!parse_u64(argv[1], &table->data_offset))
		return p.fail("Invalid data device offset");
	table->spare_path = argv[2];
	if (!parse_u64(argv[3], &table->spare_offset))
		return p.fail("Invalid spare device offset");
	if (!parse_u64(argv[4], &table->spare_len))
		return p.fail("Invalid spare length");

	if (argc > kPositionalArgs)
		return parse_features(p, argc - kPositionalArgs, argv + kPositionalArgs);
	return 0;
}

extern "C" int rc_table_check(struct rc_table *table, const struct rc_devices *devs,
			      const char **error)
{
	Parse p{table, error};
	const u64 block_sectors = table->block_size >> RC_SECTOR_SHIFT;
	u64 data_end, spare_end;

	// dm stacks the largest logical block size of the devices, and remap has no zone support
	// (dm core would accept a host-aware device and then fail at report_zones).
	if (devs->zoned)
		return p.fail("Zoned devices are not supported: use a conventional data and spare "
			      "device");
	// A larger spare sector would become the dm device's own: an existing disk's 512-byte
	// content (partition tables, file systems, O_DIRECT users) stops working through it.
	if (devs->spare_logical_block > devs->data_logical_block &&
	    !(table->explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS))
		return p.fail(
			"Spare device's logical block size exceeds the data device's: it would "
			"change the exported sector size (feature allow_larger_spare_sectors "
			"accepts that)");
	if (table->block_size < devs->data_logical_block)
		return p.fail("block_size is smaller than the data device's logical block size");
	if (table->block_size < devs->spare_logical_block)
		return p.fail("block_size is smaller than the spare device's logical block size");

	if (devs->target_len == 0 || devs->target_len % block_sectors)
		return p.fail("Target length is not a non-zero multiple of block_size");
	if (table->data_offset % block_sectors)
		return p.fail("Data offset is not aligned to block_size");
	if (!range_end(table->data_offset, devs->target_len, &data_end) ||
	    data_end > devs->data_dev_sectors)
		return p.fail("Data range exceeds the data device");

	if (table->spare_offset % block_sectors)
		return p.fail("Spare offset is not aligned to block_size");
	if (table->spare_len == 0 || table->spare_len % block_sectors)
		return p.fail("Spare length is not a non-zero multiple of block_size");
	if (!range_end(table->spare_offset, table->spare_len, &spare_end) ||
	    spare_end > devs->spare_dev_sectors)
		return p.fail("Spare range exceeds the spare device");
	if (devs->same_device &&
	    overlaps(table->data_offset, data_end, table->spare_offset, spare_end))
		return p.fail("Spare range overlaps the data range");

	const u64 spare_blocks = table->spare_len / block_sectors;
	if (table->explicit_features & RC_FEAT_SPARE_LOW_WATER) {
		if (table->spare_low_water > spare_blocks)
			return p.fail("spare_low_water exceeds the number of spare blocks");
	} else {
		table->spare_low_water = spare_blocks / 10;
	}
	return 0;
}
