// SPDX-License-Identifier: GPL-2.0
// The crash-consistency check of dm-remap over a dm-log-writes log: replays the log onto a
// scratch device and, at every flush and every FUA entry (and in torn variants of each, see
// crash_state.h), checks that
//   - the metadata in the spare area loads and passes `dmremap check` (the module's own codec
//     and loader, run offline: the newest valid commit or a valid fallback);
//   - every remap the workload was told had happened before that point is there, and no block
//     the workload was told is unremapped is;
//   - a fresh dm-remap target over the scratch device loads it, lists the same remaps, and
//     every sector of the data reads back as the version last made durable before that point
//     or a later one (stamp.h), and
//   - creating that target changed nothing on the device unless the spare area was empty.
#pragma once

#include <cstdint>
#include <ostream>
#include <set>
#include <string>

namespace lwreplay {

struct CheckConfig {
	std::string log_path;       // the dm-log-writes log device (or an image of it)
	std::string scratch_path;   // a block device at least as large as the logged one
	uint64_t data_sectors = 0;  // dm-remap's data range: sectors 0 .. data_sectors-1
	uint64_t spare_sectors = 0; // its spare range, right after the data range
	uint32_t block_size = 4096;
	std::set<uint64_t> bad_blocks; // data blocks whose writes failed below the log
	unsigned torn = 1;             // torn variants tried per replay point
	uint64_t seed = 1;
	std::string dm_name = "lwreplay-check";
	bool verbose = false;
	size_t max_reports = 30;   // problems printed in full (all are counted)
	uint64_t max_problems = 0; // stop after this many problems (0: check everything)
};

// Runs the check, prints progress, problems and a summary line to out. Returns 0 when every
// state passed, 1 when a problem was found. Throws std::runtime_error when the check cannot
// run (devices that do not open, a malformed log).
int run_check(const CheckConfig &cfg, std::ostream &out);

} // namespace lwreplay
