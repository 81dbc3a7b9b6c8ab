// SPDX-License-Identifier: GPL-2.0
// The text dm-remap gives dmsetup (docs/dm-remap.rst: status, table, list, stats and remap
// replies), parsed strictly: anything unexpected is an error, never a silently wrong number.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dmremap {

// "<start> <len> remap <block_size> <remapped> <lost> <used>/<total> <metadata> <seq>"
struct TargetStatus {
	uint64_t start = 0, length = 0;
	uint64_t block_size = 0;
	uint64_t remapped = 0, lost = 0, spare_used = 0, spare_total = 0;
	std::string metadata;
	uint64_t seq = 0;
	std::string mode; // "rw" or "ro"; empty from a module that does not say
};

// "<start> <len> remap <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [...]"
struct TargetTable {
	uint64_t start = 0, length = 0;
	std::string data_dev;
	uint64_t data_offset = 0;
	std::string spare_dev;
	uint64_t spare_offset = 0, spare_len = 0;
	std::vector<std::string> features; // the words after spare_len, count included
};

// One line of a `list` reply: "<data_block> <spare_block> remapped" or "<data_block> - lost".
struct ListEntry {
	uint64_t data_block = 0;
	std::optional<uint64_t> spare_block; // none when lost
	bool lost = false;
	uint64_t lost_sectors = 0; // a salvaged block's sectors that did not read (remapped only)
};

struct RemapCounts {
	uint64_t remapped = 0, lost = 0, already = 0;
};

// Each throws OperationalError quoting the text that did not parse.
TargetStatus parse_status(const std::string &line);
TargetTable parse_table(const std::string &line);
std::vector<ListEntry> parse_list(const std::string &reply);
std::map<std::string, std::string> parse_stats(const std::string &reply);
RemapCounts parse_remap_counts(const std::string &reply);

// Splits on whitespace.
std::vector<std::string> split_words(const std::string &text);
// Splits into lines without the newlines; a trailing newline adds no empty line.
std::vector<std::string> split_lines(const std::string &text);

} // namespace dmremap
