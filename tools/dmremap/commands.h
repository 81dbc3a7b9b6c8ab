// SPDX-License-Identifier: GPL-2.0
// The dmremap commands: each takes its parsed arguments, writes its output to stdout and
// returns the exit status; errors are thrown (errors.h) and reported by main().
#pragma once

#include <ostream>
#include <vector>

#include "args.h"

namespace dmremap {

struct Command {
	const char *name;
	const char *summary; // one line for `dmremap --help`
	const char *help;    // the command's --help text
	std::vector<OptionSpec> options;
	int (*run)(const Args &args, std::ostream &out);
	bool fsck_exit_codes; // usage and operational errors exit 16 and 8, as fsck's do
};

const std::vector<Command> &commands();
const Command *find_command(const char *name);

// main() without the process: dispatches argv[1] (argv[0] is the program), writes output to out
// and errors to err, returns the exit status. Tests call it directly.
int run_cli(int argc, char **argv, std::ostream &out, std::ostream &err);

} // namespace dmremap
