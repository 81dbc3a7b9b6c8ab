// SPDX-License-Identifier: GPL-2.0
// See tab.h.
#include "tab.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sys/stat.h>

#include "errors.h"
#include "parse_number.h"
#include "remap_boundary.h"

namespace dmremap {
namespace {

// A line's problem: thrown inside parse_line, turned into a "file:line: reason" by parse_tab.
struct LineError {
	std::string reason;
};

std::vector<std::string> words_of(const std::string &line)
{
	std::vector<std::string> w;
	size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
			i++;
		size_t j = i;
		while (j < line.size() && line[j] != ' ' && line[j] != '\t')
			j++;
		if (j > i)
			w.push_back(line.substr(i, j - i));
		i = j;
	}
	return w;
}

uint64_t number_of(const std::string &opt, const std::string &text)
{
	remap::u64 v = 0;
	if (text.empty() || !remap::parse_u64(text.c_str(), &v))
		throw LineError{"option " + opt + ": '" + text + "' is not a decimal number"};
	return v;
}

// "90", "90s", "2min", "0" (forever), as systemd's time spans in their simple forms.
uint64_t seconds_of(const std::string &opt, const std::string &text)
{
	static const std::pair<const char *, uint64_t> kUnits[] = {{"min", 60}, {"s", 1}};
	for (const auto &u : kUnits) {
		const std::string suffix = u.first;
		if (text.size() > suffix.size() &&
		    text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
			const uint64_t n =
				number_of(opt, text.substr(0, text.size() - suffix.size()));
			if (n > UINT64_MAX / u.second / 1000)
				throw LineError{"option " + opt + ": '" + text + "' is too long"};
			return n * u.second;
		}
	}
	const uint64_t n = number_of(opt, text);
	if (n > UINT64_MAX / 1000)
		throw LineError{"option " + opt + ": '" + text + "' is too long"};
	return n;
}

void check_device_spec(const char *what, const std::string &spec)
{
	static const char *const kTags[] = {"UUID=", "PARTUUID=", "PARTLABEL=", "LABEL="};
	for (const char *tag : kTags) {
		const std::string t = tag;
		if (spec.compare(0, t.size(), t) == 0) {
			const std::string v = spec.substr(t.size());
			if (v.empty() || v.find('/') != std::string::npos)
				throw LineError{std::string(what) + " device '" + spec + "': " + t +
						" needs a value without '/'"};
			return;
		}
	}
	if (spec.size() < 2 || spec[0] != '/' || spec.back() == '/')
		throw LineError{std::string(what) + " device '" + spec +
				"' is neither an absolute path nor UUID=, PARTUUID=, PARTLABEL= or "
				"LABEL="};
}

void apply_option(TabEntry &e, const std::string &opt, std::map<std::string, bool> &seen)
{
	const size_t eq = opt.find('=');
	std::string key = opt.substr(0, eq);
	const bool has_value = eq != std::string::npos;
	const std::string value = has_value ? opt.substr(eq + 1) : "";
	if (key == "x-systemd.device-timeout")
		key = "device-timeout";
	if (seen[key])
		throw LineError{"option " + key + " is given twice"};
	seen[key] = true;

	static const char *const kFlags[] = {"no_auto_remap", "noauto", "nofail", "initramfs",
					     "readonly"};
	for (const char *f : kFlags) {
		if (key != f)
			continue;
		if (has_value)
			throw LineError{"option " + key + " takes no value"};
		if (key == "no_auto_remap")
			e.no_auto_remap = true;
		else if (key == "noauto")
			e.noauto = true;
		else if (key == "nofail")
			e.nofail = true;
		else if (key == "initramfs")
			e.initramfs = true;
		else
			e.readonly = true;
		return;
	}
	static const char *const kValued[] = {"data_offset",     "data_len",      "spare_offset",
					      "spare_len",       "block_size",    "read_retries",
					      "spare_low_water", "device-timeout"};
	bool known = false;
	for (const char *v : kValued)
		known = known || key == v;
	if (!known)
		throw LineError{"unknown option '" + key + "'"};
	if (!has_value || value.empty())
		throw LineError{"option " + key + " needs a value (" + key + "=...)"};
	if (key == "device-timeout") {
		e.timeout_sec = seconds_of(key, value);
		return;
	}
	const uint64_t n = number_of(key, value);
	if (key == "data_offset") {
		e.data_offset = n;
	} else if (key == "data_len") {
		if (!n)
			throw LineError{"option data_len must not be 0"};
		e.data_len = n;
	} else if (key == "spare_offset") {
		e.spare_offset = n;
	} else if (key == "spare_len") {
		if (!n)
			throw LineError{"option spare_len must not be 0"};
		e.spare_len = n;
	} else if (key == "block_size") {
		if (n < RC_MIN_BLOCK_SIZE || n > RC_MAX_BLOCK_SIZE || (n & (n - 1)))
			throw LineError{"option block_size must be a power of two from 512 to "
					"65536, not " +
					value};
		e.block_size = static_cast<uint32_t>(n);
	} else if (key == "read_retries") {
		if (n > RC_MAX_READ_RETRIES)
			throw LineError{"option read_retries must be 0 to " +
					std::to_string(RC_MAX_READ_RETRIES) + ", not " + value};
		e.read_retries = static_cast<uint32_t>(n);
	} else {
		e.spare_low_water = n;
	}
}

TabEntry parse_line(const std::vector<std::string> &w)
{
	if (w.size() < 3)
		throw LineError{"expected '<name> <data> <spare> [<options>]', found " +
				std::to_string(w.size()) + " field(s)"};
	if (w.size() > 4)
		throw LineError{"expected at most 4 fields, found " + std::to_string(w.size()) +
				" (options are one comma-separated field)"};
	TabEntry e;
	e.name = w[0];
	if (!valid_dm_name(e.name))
		throw LineError{"'" + e.name +
				"' is not a valid device-mapper name (1 to 127 "
				"characters, no '/')"};
	e.data = w[1];
	e.spare = w[2];
	check_device_spec("data", e.data);
	check_device_spec("spare", e.spare);
	if (w.size() == 4 && w[3] != "-" && w[3] != "defaults") {
		std::map<std::string, bool> seen;
		size_t start = 0;
		for (;;) {
			const size_t comma = w[3].find(',', start);
			const std::string opt = w[3].substr(
				start,
				comma == std::string::npos ? std::string::npos : comma - start);
			if (opt.empty())
				throw LineError{"empty option in '" + w[3] + "'"};
			if (opt != "defaults")
				apply_option(e, opt, seen);
			if (comma == std::string::npos)
				break;
			start = comma + 1;
		}
	}
	if (e.noauto && e.initramfs)
		throw LineError{"noauto and initramfs contradict each other"};
	return e;
}

} // namespace

TableSpec TabEntry::spec(const std::string &data_path, const std::string &spare_path) const
{
	TableSpec s;
	s.data_path = data_path;
	s.spare_path = spare_path;
	s.data_offset = data_offset;
	s.data_len = data_len;
	s.spare_offset = spare_offset;
	s.spare_len = spare_len;
	s.block_size = block_size;
	s.no_auto_remap = no_auto_remap;
	s.read_retries = read_retries;
	s.spare_low_water = spare_low_water;
	return s;
}

const TabEntry *Tab::find(const std::string &name) const
{
	for (const TabEntry &e : entries) {
		if (e.name == name)
			return &e;
	}
	return nullptr;
}

bool valid_dm_name(const std::string &name)
{
	if (name.empty() || name.size() > 127 || name == "." || name == "..")
		return false;
	for (const char c : name) {
		if (c == '/' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

Tab parse_tab(std::istream &in, const std::string &file)
{
	Tab tab;
	std::string line;
	unsigned n = 0;
	while (std::getline(in, line)) {
		n++;
		if (!line.empty() && line.back() == '\r')
			line.pop_back();
		const auto w = words_of(line);
		if (w.empty() || w[0][0] == '#')
			continue;
		const std::string where = file + ":" + std::to_string(n);
		try {
			TabEntry e = parse_line(w);
			if (const TabEntry *first = tab.find(e.name))
				throw LineError{"'" + e.name + "' is already defined at " +
						first->where()};
			e.file = file;
			e.line = n;
			tab.entries.push_back(e);
		} catch (const LineError &err) {
			tab.problems.push_back(where + ": " + err.reason + "; line skipped");
		}
	}
	return tab;
}

Tab read_tab(const std::string &path)
{
	std::ifstream in(path);
	if (!in) {
		if (errno == ENOENT)
			return Tab{};
		throw OperationalError(errno_message(path, errno));
	}
	Tab t = parse_tab(in, path);
	if (in.bad())
		throw OperationalError(errno_message(path, EIO));
	return t;
}

std::string default_tab_path()
{
	const char *env = std::getenv("DMREMAP_TAB");
	return env && *env ? env : "/etc/dmremaptab";
}

std::optional<std::string> resolve_member(const TabEntry &e, bool spare, const std::string &dev)
{
	struct stat st;
	const std::string claimed = dev + "/disk/dmremap/" + e.name + (spare ? "/spare" : "/data");
	if (::stat(claimed.c_str(), &st) == 0)
		return claimed;
	const std::string &spec = spare ? e.spare : e.data;
	static const std::pair<const char *, const char *> kLinks[] = {
		{"UUID=", "by-uuid"},
		{"PARTUUID=", "by-partuuid"},
		{"PARTLABEL=", "by-partlabel"},
		{"LABEL=", "by-label"},
	};
	std::string path = spec;
	for (const auto &l : kLinks) {
		const std::string tag = l.first;
		if (spec.compare(0, tag.size(), tag) == 0) {
			std::string v = spec.substr(tag.size());
			if (tag == "PARTUUID=") // udev writes partition UUIDs in lower case
				for (char &c : v)
					c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a'
										   : c);
			path = dev + "/disk/" + l.second + "/" + v;
		}
	}
	if (path.compare(0, 5, "/dev/") == 0 && dev != "/dev")
		path = dev + path.substr(4);
	if (::stat(path.c_str(), &st) != 0)
		return std::nullopt;
	return path;
}

} // namespace dmremap
