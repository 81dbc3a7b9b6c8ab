// SPDX-License-Identifier: GPL-2.0
// Bad block lists in and out: badblocks(8) output (one block number per line, in units of its
// -b block size, 1024 bytes by default) and md's bad block list ("<sector> <length>" per line,
// as in /sys/block/mdX/md/dev-*/bad_blocks). Numbers count from the start of the data device
// by default (where badblocks was run), or from the start of the dm device.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "dm_text.h"

namespace dmremap {

constexpr uint32_t kBadblocksDefaultBlockSize = 1024; // badblocks(8) without -b

// The numbers in a badblocks(8) list. Blank lines are skipped; anything else that is not a
// plain decimal number is an error naming source:line (nothing is imported then).
std::vector<uint64_t> parse_badblocks(std::istream &in, const std::string &source);

// Consecutive blocks of the dm device: one `remap <sector> <count>` message each.
struct BlockRun {
	uint64_t first_block;
	uint64_t count;
};

struct ImportPlan {
	std::vector<BlockRun> runs; // ascending, at most kMaxRunBlocks each
	uint64_t blocks = 0;        // dm-remap blocks the runs cover
	uint64_t outside = 0;       // listed blocks entirely outside the data range
};

constexpr uint64_t kMaxRunBlocks = 65536; // the `remap` message's largest count

// origin: the device sector the list's block 0 starts at, relative to the target (the data
// offset when the list is of the data device, 0 when it is of the dm device).
ImportPlan plan_import(const std::vector<uint64_t> &numbers, uint32_t list_block_size,
		       uint32_t block_size, uint64_t origin, uint64_t target_sectors);

// Every list block that overlaps an entry's block, ascending, once each.
std::string export_badblocks(const std::vector<ListEntry> &entries, uint32_t list_block_size,
			     uint32_t block_size, uint64_t origin);
// "<sector> <sectors>" ranges, adjacent blocks merged.
std::string export_md(const std::vector<ListEntry> &entries, uint32_t block_size, uint64_t origin);

// A list block size must be a power of two from 512 bytes to 1 MiB; throws UsageError.
void check_list_block_size(uint64_t bytes);

} // namespace dmremap
