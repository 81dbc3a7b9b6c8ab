// Helpers for tests that drive the table parser with a whole line, as dmsetup would.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "remap_boundary.h"

struct TableLine {
	std::vector<std::string> words;
	std::vector<char *> argv;

	explicit TableLine(const std::string &line)
	{
		std::istringstream in(line);
		for (std::string w; in >> w;)
			words.push_back(w);
		for (auto &w : words)
			argv.push_back(w.data());
	}
	unsigned argc() const { return static_cast<unsigned>(argv.size()); }
};

// A 1 GiB data device with a 64 MiB spare device, 512-byte logical blocks.
inline rc_devices default_devices(rb_u64 target_len = 1u << 20)
{
	rc_devices d{};
	d.target_len = target_len;
	d.data_dev_sectors = 2u << 20;
	d.spare_dev_sectors = 128u << 10;
	d.data_logical_block = 512;
	d.spare_logical_block = 512;
	d.same_device = 0;
	return d;
}

// Parse and check a line; returns the ti->error text, or "" on success.
inline std::string construct(const std::string &line, rc_table *table, const rc_devices &devs)
{
	TableLine tl(line);
	const char *error = nullptr;
	int r = rc_table_parse(tl.argc(), tl.argv.data(), table, &error);
	if (r == 0)
		r = rc_table_check(table, &devs, &error);
	if (r == 0)
		return "";
	EXPECT_EQ(r, -22);
	EXPECT_NE(error, nullptr);
	return error ? error : "(null)";
}
