// SPDX-License-Identifier: GPL-2.0
// Message verbs and their arguments; see message_parser.h.
#include "message_parser.h"

#include "parse_number.h"

namespace remap {
namespace {

struct VerbSpec {
	const char *name;
	Verb verb;
	u32 min_args;
	u32 max_args;
	const char *usage; // the error for a wrong argument count
};

constexpr VerbSpec kVerbs[] = {
	{"remap", Verb::Remap, 1, 2, "Usage: remap <sector> [<count>]"},
	{"unremap", Verb::Unremap, 1, 1, "Usage: unremap <sector>"},
	{"list", Verb::List, 0, 2, "Usage: list [<first_block> [<max>]]"},
	{"stats", Verb::Stats, 0, 0, "Usage: stats"},
	{"clear_stats", Verb::ClearStats, 0, 0, "Usage: clear_stats"},
	{"help", Verb::Help, 0, 0, "Usage: help"},
	{"reprobe", Verb::Reprobe, 0, 2, "Usage: reprobe [<sector> [<count>]]"},
};

} // namespace

const char kMessageHelp[] =
	"remap <sector> [<count>] | unremap <sector> | list [<first_block> [<max>]] | "
	"stats | clear_stats | help | reprobe [<sector> [<count>]]";

Status parse_message(unsigned argc, char **argv, Message *out)
{
	if (argc == 0)
		return Error::invalid("Empty message");
	const VerbSpec *spec = nullptr;
	for (const VerbSpec &v : kVerbs) {
		if (equals_ignore_case(argv[0], v.name)) {
			spec = &v;
			break;
		}
	}
	if (!spec)
		return Error::invalid("Unknown message verb (try 'help')");

	const unsigned nargs = argc - 1;
	if (nargs < spec->min_args || nargs > spec->max_args)
		return Error::invalid(spec->usage);

	*out = Message{spec->verb, nargs, {0, 0}};
	for (unsigned i = 0; i < nargs; i++) {
		if (!parse_u64(argv[1 + i], &out->args[i]))
			return Error::invalid(
				"Invalid number: digits only, no sign, at most 18446744073709551615");
	}
	return {};
}

} // namespace remap
