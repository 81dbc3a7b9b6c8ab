// SPDX-License-Identifier: GPL-2.0
// /etc/dmremaptab (dmremaptab(5)): one dm-remap device a line, "<name> <data> <spare>
// [<options>]", read by `dmremap activate`/`deactivate`, dmremap-generator, the udev probe and
// the initramfs script. A malformed line is reported as "file:line: reason" and skipped as a
// whole: an entry is either complete and checked or absent.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "table.h"

namespace dmremap {

struct TabEntry {
	std::string file;
	unsigned line = 0;
	std::string name;
	std::string data; // as written: a path, UUID=, PARTUUID=, PARTLABEL= or LABEL=
	std::string spare;
	// The table line's options (build_table fills in what is unset from the devices).
	uint64_t data_offset = 0;
	std::optional<uint64_t> data_len;
	uint64_t spare_offset = 0;
	std::optional<uint64_t> spare_len;
	std::optional<uint32_t> block_size;
	std::optional<uint32_t> read_retries;
	std::optional<uint64_t> spare_low_water;
	bool no_auto_remap = false;
	// How and when it is activated.
	bool noauto = false;       // not at boot, not by `activate --all`
	bool nofail = false;       // the boot does not depend on it
	bool initramfs = false;    // activated in the initramfs (root on dm-remap)
	bool readonly = false;     // the dm device is created read-only
	uint64_t timeout_sec = 90; // how long to wait for the devices (0: forever)

	std::string where() const { return file + ":" + std::to_string(line); }
	// The table options as a TableSpec for these device paths.
	TableSpec spec(const std::string &data_path, const std::string &spare_path) const;
};

struct Tab {
	std::vector<TabEntry> entries;
	std::vector<std::string> problems; // "file:line: reason", each a skipped line

	const TabEntry *find(const std::string &name) const;
};

// Parses the text; `file` names it in the problems.
Tab parse_tab(std::istream &in, const std::string &file);
// Reads a file; a missing file is an empty table, an unreadable one throws OperationalError.
Tab read_tab(const std::string &path);
// $DMREMAP_TAB, or /etc/dmremaptab.
std::string default_tab_path();

// A device-mapper name dmremap accepts: 1 to 127 characters, no '/', no whitespace, not "."
// or "..".
bool valid_dm_name(const std::string &name);

// Where a device spec points now, under `dev` ("/dev", another root for tests): the member link
// the udev rule made (<dev>/disk/dmremap/<name>/<role>), else the spec's own /dev/disk link
// (UUID= by-uuid, PARTUUID= by-partuuid, PARTLABEL= by-partlabel, LABEL= by-label) or path.
// nullopt when nothing is there (yet).
std::optional<std::string> resolve_member(const TabEntry &e, bool spare,
					  const std::string &dev = "/dev");

} // namespace dmremap
