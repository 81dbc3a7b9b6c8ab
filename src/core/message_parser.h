// SPDX-License-Identifier: GPL-2.0
// `dmsetup message` grammar: a case-insensitive verb and strictly parsed numbers. Parsing
// decides nothing about the device; range checks happen where the geometry is known.
#pragma once

#include "result.h"

namespace remap {

enum class Verb : u8 {
	Remap,      // remap <sector> [<count>]
	Unremap,    // unremap <sector>
	List,       // list [<first_block> [<max>]]
	Stats,      // stats
	ClearStats, // clear_stats
	Help,       // help
	Reprobe,    // reprobe [<sector> [<count>]]
};

struct Message {
	Verb verb;
	u32 nargs; // numbers given after the verb
	u64 args[2];
};

// Parses argv (argv[0] is the verb). Fails with -EINVAL and a text that names the problem
// (the caller logs it).
Status parse_message(unsigned argc, char **argv, Message *out);

// One line per verb, for `help`.
extern const char kMessageHelp[]; // NOLINT(bugprone-dynamic-static-initializers): a literal

} // namespace remap
