// SPDX-License-Identifier: GPL-2.0
// Running dmsetup(8): exec with an argument vector (no shell, so names and paths are never
// re-parsed), stdout and stderr captured. DMREMAP_DMSETUP names another binary (for tests).
#pragma once

#include <string>
#include <vector>

namespace dmremap {

struct CommandResult {
	int status = -1; // exit status, or 128 + signal
	std::string out;
	std::string err;
};

// Throws OperationalError if the program cannot be started.
CommandResult run_command(const std::vector<std::string> &argv);

// dmsetup with these arguments; its stdout on success, else throws OperationalError with
// dmsetup's own error text.
std::string dmsetup(const std::vector<std::string> &args);

// `dmsetup message <name> 0 -- <words...>`: the reply text without the trailing newline.
std::string dm_message(const std::string &name, const std::vector<std::string> &words);

} // namespace dmremap
