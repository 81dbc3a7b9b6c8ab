// SPDX-License-Identifier: GPL-2.0
// The table line `dmremap create` loads: sizes filled in from the devices, then checked by the
// module's own parser and checker (rc_table_parse, rc_table_check, Geometry::create) so that a
// bad line is refused here with the module's reason instead of a bare "Invalid argument".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "geometry.h"

namespace dmremap {

// What the admin asked for; unset lengths come from the devices.
struct TableSpec {
	std::string data_path;
	std::string spare_path;
	uint64_t data_offset = 0;
	std::optional<uint64_t> data_len; // sectors; default: the rest of the data device
	uint64_t spare_offset = 0;
	std::optional<uint64_t> spare_len; // sectors; default: the rest of the spare device
	std::optional<uint32_t> block_size;
	bool no_auto_remap = false;
	std::optional<uint32_t> read_retries;
	std::optional<uint64_t> spare_low_water;
	bool allow_larger_spare_sectors = false; // the feature word of that name
};

// What the devices are.
struct DeviceFacts {
	uint64_t data_sectors = 0;
	uint64_t spare_sectors = 0;
	uint32_t data_logical_block = 512;
	uint32_t spare_logical_block = 512;
	bool same_device = false;
	bool zoned = false; // either device
};

struct BuiltTable {
	uint64_t data_len = 0; // sectors: the target length
	uint64_t spare_len = 0;
	uint32_t block_size = RC_DEFAULT_BLOCK_SIZE;
	std::string line; // "0 <len> remap <data> <offset> <spare> <offset> <len> [features]"
	remap::Geometry geo;
};

// Resolves the defaults and checks the line as the module will. Throws UsageError for
// option values that cannot work (with the module's message).
BuiltTable build_table(const TableSpec &spec, const DeviceFacts &devs);

// The feature words of the line ("2 block_size 8192 no_auto_remap" style, "" for none).
std::vector<std::string> feature_words(const TableSpec &spec);

} // namespace dmremap
