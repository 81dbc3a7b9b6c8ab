// SPDX-License-Identifier: GPL-2.0
// The workload whose log `lwreplay check` replays: stamped writes (stamp.h) to a dm-remap
// device, fdatasync at random moments, remap and unremap messages, and writes to blocks that
// fail below the log so dm-remap remaps them itself; after each acknowledgement, a mark in the
// dm-log-writes log that says what was acknowledged (marks.h). Choices come from a seed.
#pragma once

#include <cstdint>
#include <ostream>
#include <set>
#include <string>

namespace lwreplay {

struct WorkloadConfig {
	std::string device;     // the dm-remap device, e.g. /dev/mapper/rm
	std::string remap_name; // its device-mapper name, for remap/unremap messages
	std::string log_name;   // the dm-log-writes device's name, for marks
	uint32_t block_size = 4096;
	uint64_t blocks = 0;           // data blocks of the dm-remap device
	uint64_t ops = 0;              // operations to run
	uint64_t max_remaps = 0;       // blocks remapped by message at once, at most (spare blocks
				       // are finite; unremapped ones are handed out again)
	std::set<uint64_t> bad_blocks; // blocks whose writes fail below the log: never remapped
				       // or unremapped by message, each written at least once
	uint64_t seed = 1;
};

// Runs the workload, prints a summary line. Returns 0, or 1 when an operation failed (with the
// reason on out). Throws std::runtime_error when the devices cannot be opened.
int run_workload(const WorkloadConfig &cfg, std::ostream &out);

} // namespace lwreplay
