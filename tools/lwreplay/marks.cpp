// SPDX-License-Identifier: GPL-2.0
// See marks.h.
#include "marks.h"

#include <cerrno>
#include <cstring>

#include "log_format.h"

namespace lwreplay {
namespace {

bool starts_with(const std::string &s, const char *prefix)
{
	return s.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

// A decimal u64 from s[*pos..], up to a character in `stops` or the end.
uint64_t number(const std::string &mark, size_t *pos, const char *stops)
{
	const size_t start = *pos;
	uint64_t v = 0;
	while (*pos < mark.size() && mark[*pos] >= '0' && mark[*pos] <= '9') {
		const uint64_t d = static_cast<uint64_t>(mark[*pos] - '0');
		if (v > (UINT64_MAX - d) / 10)
			throw LogError("mark '" + mark + "': number too large");
		v = v * 10 + d;
		(*pos)++;
	}
	const bool at_stop = *pos == mark.size() || (*stops && std::strchr(stops, mark[*pos]));
	if (*pos == start || !at_stop)
		throw LogError("mark '" + mark + "': expected a number at offset " +
			       std::to_string(start));
	return v;
}

} // namespace

void Expectations::absorb(const std::string &mark, const std::set<uint64_t> &bad_blocks)
{
	if (mark == kMarkReady) {
		ready = true;
	} else if (starts_with(mark, kMarkRemap)) {
		size_t pos = std::char_traits<char>::length(kMarkRemap);
		const uint64_t block = number(mark, &pos, "");
		remapped.insert(block);
		not_remapped.erase(block);
	} else if (starts_with(mark, kMarkRemapping)) {
		size_t pos = std::char_traits<char>::length(kMarkRemapping);
		not_remapped.erase(number(mark, &pos, ""));
	} else if (starts_with(mark, kMarkUnremapping)) {
		size_t pos = std::char_traits<char>::length(kMarkUnremapping);
		remapped.erase(number(mark, &pos, ""));
	} else if (starts_with(mark, kMarkUnremapped)) {
		size_t pos = std::char_traits<char>::length(kMarkUnremapped);
		not_remapped.insert(number(mark, &pos, ""));
	} else if (starts_with(mark, kMarkDurable)) {
		size_t pos = std::char_traits<char>::length(kMarkDurable);
		// <b>.<v> pairs separated by commas: number() refuses an empty item, so a
		// trailing comma or an empty list is an error.
		for (;;) {
			const uint64_t block = number(mark, &pos, ".");
			if (pos == mark.size())
				throw LogError("mark '" + mark + "': block " +
					       std::to_string(block) + " without a version");
			pos++; // '.'
			const uint64_t version = number(mark, &pos, ",");
			if (version == 0)
				throw LogError("mark '" + mark + "': version 0");
			uint64_t &d = durable[block];
			if (version > d)
				d = version;
			if (bad_blocks.count(block)) {
				remapped.insert(block);
				not_remapped.erase(block);
			}
			if (pos == mark.size())
				break;
			pos++; // ','
		}
	} else if (starts_with(mark, "lwr-")) {
		throw LogError("unknown workload mark '" + mark + "'");
	}
}

std::vector<std::string> durable_marks(const std::vector<std::pair<uint64_t, uint64_t>> &writes)
{
	std::vector<std::string> marks;
	std::string cur;
	for (const auto &w : writes) {
		const std::string item = std::to_string(w.first) + "." + std::to_string(w.second);
		if (!cur.empty() && cur.size() + 1 + item.size() > kMaxMarkBytes) {
			marks.push_back(cur);
			cur.clear();
		}
		cur += cur.empty() ? std::string(kMarkDurable) + item : "," + item;
	}
	if (!cur.empty())
		marks.push_back(cur);
	return marks;
}

} // namespace lwreplay
