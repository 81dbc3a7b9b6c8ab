// SPDX-License-Identifier: GPL-2.0
// See badblocks.h.
#include "badblocks.h"

#include <algorithm>
#include <set>

#include "errors.h"
#include "parse_number.h"

namespace dmremap {
namespace {

std::string trim(const std::string &s)
{
	const size_t b = s.find_first_not_of(" \t\r");
	if (b == std::string::npos)
		return "";
	return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

uint32_t block_shift(uint32_t block_size)
{
	uint32_t shift = 0;
	while ((512u << shift) < block_size)
		shift++;
	return shift;
}

std::vector<BlockRun> runs_of(const std::set<uint64_t> &blocks)
{
	std::vector<BlockRun> runs;
	for (const uint64_t b : blocks) {
		if (!runs.empty() && runs.back().first_block + runs.back().count == b &&
		    runs.back().count < kMaxRunBlocks)
			runs.back().count++;
		else
			runs.push_back({b, 1});
	}
	return runs;
}

// Device sector ranges [start, end) of the entries' blocks, ascending.
std::vector<std::pair<uint64_t, uint64_t>> entry_ranges(const std::vector<ListEntry> &entries,
							uint32_t block_size, uint64_t origin)
{
	const uint64_t sectors = block_size / 512;
	std::vector<std::pair<uint64_t, uint64_t>> ranges;
	for (const ListEntry &e : entries) {
		const uint64_t start = origin + e.data_block * sectors;
		ranges.push_back({start, start + sectors});
	}
	std::sort(ranges.begin(), ranges.end());
	return ranges;
}

} // namespace

void check_list_block_size(uint64_t bytes)
{
	if (bytes < 512 || bytes > (1u << 20) || (bytes & (bytes - 1)))
		throw UsageError(
			"the bad block list's block size must be a power of two from 512 to "
			"1048576 bytes, not " +
			std::to_string(bytes));
}

std::vector<uint64_t> parse_badblocks(std::istream &in, const std::string &source)
{
	std::vector<uint64_t> numbers;
	std::string line;
	for (uint64_t n = 1; std::getline(in, line); n++) {
		const std::string word = trim(line);
		if (word.empty())
			continue;
		remap::u64 v;
		if (!remap::parse_u64(word.c_str(), &v))
			throw OperationalError(source + ":" + std::to_string(n) + ": '" + word +
					       "' is not a block number; nothing was imported");
		numbers.push_back(v);
	}
	if (in.bad())
		throw OperationalError(source + ": read error");
	return numbers;
}

ImportPlan plan_import(const std::vector<uint64_t> &numbers, uint32_t list_block_size,
		       uint32_t block_size, uint64_t origin, uint64_t target_sectors)
{
	const uint64_t list_sectors = list_block_size / 512;
	const uint32_t shift = block_shift(block_size);
	std::set<uint64_t> blocks;
	ImportPlan plan;
	for (const uint64_t n : numbers) {
		// The listed block's sectors relative to the target, clipped to the data range.
		if (n > (UINT64_MAX - list_sectors) / list_sectors) {
			plan.outside++;
			continue;
		}
		const uint64_t start = n * list_sectors;
		const uint64_t end = start + list_sectors;
		const uint64_t lo = std::max(start, origin);
		const uint64_t hi = std::min(end, origin + target_sectors);
		if (lo >= hi) {
			plan.outside++;
			continue;
		}
		for (uint64_t b = (lo - origin) >> shift; b <= (hi - origin - 1) >> shift; b++)
			blocks.insert(b);
	}
	plan.blocks = blocks.size();
	plan.runs = runs_of(blocks);
	return plan;
}

std::string export_badblocks(const std::vector<ListEntry> &entries, uint32_t list_block_size,
			     uint32_t block_size, uint64_t origin)
{
	const uint64_t list_sectors = list_block_size / 512;
	std::string out;
	bool any = false;
	uint64_t last = 0;
	for (const auto &[start, end] : entry_ranges(entries, block_size, origin)) {
		for (uint64_t n = start / list_sectors; n <= (end - 1) / list_sectors; n++) {
			if (any && n <= last)
				continue;
			out += std::to_string(n) + "\n";
			last = n;
			any = true;
		}
	}
	return out;
}

std::string export_md(const std::vector<ListEntry> &entries, uint32_t block_size, uint64_t origin)
{
	std::vector<std::pair<uint64_t, uint64_t>> merged;
	for (const auto &r : entry_ranges(entries, block_size, origin)) {
		if (!merged.empty() && merged.back().second == r.first)
			merged.back().second = r.second;
		else
			merged.push_back(r);
	}
	std::string out;
	for (const auto &[start, end] : merged)
		out += std::to_string(start) + " " + std::to_string(end - start) + "\n";
	return out;
}

} // namespace dmremap
