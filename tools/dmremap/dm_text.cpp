// SPDX-License-Identifier: GPL-2.0
// See dm_text.h.
#include "dm_text.h"

#include <sstream>

#include "errors.h"
#include "parse_number.h"

namespace dmremap {
namespace {

[[noreturn]] void unexpected(const char *what, const std::string &text)
{
	throw OperationalError(std::string("unexpected ") + what + " from dm-remap: '" + text +
			       "'");
}

uint64_t number(const std::string &word, const char *what, const std::string &text)
{
	remap::u64 v;
	if (!remap::parse_u64(word.c_str(), &v))
		unexpected(what, text);
	return v;
}

} // namespace

std::vector<std::string> split_words(const std::string &text)
{
	std::istringstream in(text);
	std::vector<std::string> words;
	for (std::string w; in >> w;)
		words.push_back(w);
	return words;
}

std::vector<std::string> split_lines(const std::string &text)
{
	std::vector<std::string> lines;
	std::istringstream in(text);
	for (std::string l; std::getline(in, l);)
		lines.push_back(l);
	return lines;
}

TargetStatus parse_status(const std::string &line)
{
	const auto w = split_words(line);
	// Fields are only ever appended: a module before `mode` has 9, a later one may have more.
	if (w.size() < 9 || w[2] != "remap")
		unexpected("status", line);
	TargetStatus s;
	s.start = number(w[0], "status", line);
	s.length = number(w[1], "status", line);
	s.block_size = number(w[3], "status", line);
	s.remapped = number(w[4], "status", line);
	s.lost = number(w[5], "status", line);
	const size_t slash = w[6].find('/');
	if (slash == std::string::npos)
		unexpected("status", line);
	s.spare_used = number(w[6].substr(0, slash), "status", line);
	s.spare_total = number(w[6].substr(slash + 1), "status", line);
	s.metadata = w[7];
	s.seq = number(w[8], "status", line);
	if (w.size() > 9) {
		if (w[9] != "rw" && w[9] != "ro")
			unexpected("status", line);
		s.mode = w[9];
	}
	return s;
}

TargetTable parse_table(const std::string &line)
{
	const auto w = split_words(line);
	if (w.size() < 8 || w[2] != "remap")
		unexpected("table", line);
	TargetTable t;
	t.start = number(w[0], "table", line);
	t.length = number(w[1], "table", line);
	t.data_dev = w[3];
	t.data_offset = number(w[4], "table", line);
	t.spare_dev = w[5];
	t.spare_offset = number(w[6], "table", line);
	t.spare_len = number(w[7], "table", line);
	t.features.assign(w.begin() + 8, w.end());
	return t;
}

std::vector<ListEntry> parse_list(const std::string &reply)
{
	std::vector<ListEntry> entries;
	for (const auto &line : split_lines(reply)) {
		const auto w = split_words(line);
		if (w.empty())
			continue;
		if (w.size() != 3 && w.size() != 4)
			unexpected("list line", line);
		ListEntry e;
		e.data_block = number(w[0], "list line", line);
		if (w[2] == "lost" && w[1] == "-" && w.size() == 3) {
			e.lost = true;
		} else if (w[2] == "remapped") {
			e.spare_block = number(w[1], "list line", line);
		} else {
			unexpected("list line", line);
		}
		// A salvaged block: "<block> <spare> remapped lost_sectors=<n>".
		const std::string key = "lost_sectors=";
		if (w.size() == 4) {
			if (w[3].compare(0, key.size(), key) != 0)
				unexpected("list line", line);
			e.lost_sectors = number(w[3].substr(key.size()), "list line", line);
			if (e.lost_sectors == 0)
				unexpected("list line", line);
		}
		entries.push_back(e);
	}
	return entries;
}

std::map<std::string, std::string> parse_stats(const std::string &reply)
{
	std::map<std::string, std::string> stats;
	for (const auto &word : split_words(reply)) {
		const size_t eq = word.find('=');
		if (eq == 0 || eq == std::string::npos)
			unexpected("stats", reply);
		stats[word.substr(0, eq)] = word.substr(eq + 1);
	}
	return stats;
}

RemapCounts parse_remap_counts(const std::string &reply)
{
	const auto stats = parse_stats(reply);
	RemapCounts c;
	const std::pair<const char *, uint64_t *> fields[] = {
		{"remapped", &c.remapped}, {"lost", &c.lost}, {"already", &c.already}};
	if (stats.size() != 3)
		unexpected("remap reply", reply);
	for (const auto &[name, out] : fields) {
		auto it = stats.find(name);
		if (it == stats.end())
			unexpected("remap reply", reply);
		*out = number(it->second, "remap reply", reply);
	}
	return c;
}

} // namespace dmremap
