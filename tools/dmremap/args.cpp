// SPDX-License-Identifier: GPL-2.0
// See args.h.
#include "args.h"

#include <cstring>

#include "errors.h"
#include "parse_number.h"

namespace dmremap {
namespace {

const OptionSpec *find_spec(const std::vector<OptionSpec> &specs, const std::string &name)
{
	for (const OptionSpec &s : specs) {
		if (name == s.name)
			return &s;
	}
	return nullptr;
}

} // namespace

bool Args::has(const std::string &name) const { return flags_.count(name) || values_.count(name); }

std::optional<std::string> Args::value(const std::string &name) const
{
	auto it = values_.find(name);
	if (it == values_.end())
		return std::nullopt;
	return it->second;
}

std::optional<uint64_t> Args::number(const std::string &name) const
{
	auto v = value(name);
	if (!v)
		return std::nullopt;
	return parse_number("--" + name, *v);
}

uint64_t Args::number(const std::string &name, uint64_t fallback) const
{
	return number(name).value_or(fallback);
}

uint64_t parse_number(const std::string &what, const std::string &text)
{
	remap::u64 v;
	if (!remap::parse_u64(text.c_str(), &v))
		throw UsageError(what + ": '" + text + "' is not a plain decimal number");
	return v;
}

Args parse_args(int argc, char **argv, const std::vector<OptionSpec> &specs)
{
	Args args;
	bool options_done = false;
	for (int i = 0; i < argc; i++) {
		const std::string word = argv[i];
		if (options_done || word.size() < 2 || word[0] != '-') {
			args.positional.push_back(word);
			continue;
		}
		if (word == "--") {
			options_done = true;
			continue;
		}
		if (word == "-h" || word == "--help") {
			args.set_flag("help");
			continue;
		}
		if (word.compare(0, 2, "--") != 0)
			throw UsageError("unknown option " + word);
		const size_t eq = word.find('=');
		const std::string name = word.substr(2, eq == std::string::npos ? eq : eq - 2);
		const OptionSpec *spec = find_spec(specs, name);
		if (!spec)
			throw UsageError("unknown option --" + name);
		if (args.has(name))
			throw UsageError("option --" + name + " given twice");
		if (!spec->takes_value) {
			if (eq != std::string::npos)
				throw UsageError("option --" + name + " takes no value");
			args.set_flag(name);
			continue;
		}
		if (eq != std::string::npos) {
			args.set_value(name, word.substr(eq + 1));
		} else {
			if (i + 1 >= argc)
				throw UsageError("option --" + name + " needs a value");
			args.set_value(name, argv[++i]);
		}
	}
	return args;
}

void require_positional(const Args &args, size_t count, const char *usage)
{
	if (args.positional.size() < count)
		throw UsageError(std::string("missing arguments: expected ") + usage);
	if (args.positional.size() > count)
		throw UsageError("unexpected argument '" + args.positional[count] + "': expected " +
				 usage);
}

std::string errno_message(const std::string &what, int err)
{
	return what + ": " + std::strerror(err);
}

} // namespace dmremap
