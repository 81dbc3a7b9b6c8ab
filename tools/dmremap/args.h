// SPDX-License-Identifier: GPL-2.0
// Command-line parsing for every dmremap command: positional words and long options, either as
// "--name value" or "--name=value", "--" ending the options. Numbers are parsed as strictly as
// the kernel parses table lines and messages (the core's parse_u64): plain decimal only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dmremap {

struct OptionSpec {
	const char *name; // without the leading "--"
	bool takes_value;
};

class Args {
public:
	std::vector<std::string> positional;

	bool has(const std::string &name) const;
	std::optional<std::string> value(const std::string &name) const;
	// The option's value as a number, or `fallback` when it was not given.
	uint64_t number(const std::string &name, uint64_t fallback) const;
	std::optional<uint64_t> number(const std::string &name) const;

	void set_flag(const std::string &name) { flags_.insert(name); }
	void set_value(const std::string &name, const std::string &v) { values_[name] = v; }

private:
	std::set<std::string> flags_;
	std::map<std::string, std::string> values_;
};

// Parses argv[0 .. argc) (the words after the command name) against the command's options;
// --help/-h is always accepted. Throws UsageError for an unknown or repeated option, a missing
// value, or a value given to an option that takes none.
Args parse_args(int argc, char **argv, const std::vector<OptionSpec> &specs);

// Strict decimal (no sign, no spaces, no suffix, no overflow); throws UsageError naming `what`.
uint64_t parse_number(const std::string &what, const std::string &text);

// Throws UsageError unless exactly `count` positional words were given, naming them (usage
// like "<name> <data_dev> <spare_dev>").
void require_positional(const Args &args, size_t count, const char *usage);

} // namespace dmremap
