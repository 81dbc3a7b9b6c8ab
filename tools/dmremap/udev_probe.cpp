// SPDX-License-Identifier: GPL-2.0
// dmremap udev-probe: run by 61-dmremap.rules (IMPORT{program}) for every block device; tells
// udev whether the device is the data or spare member of a dm-remap device, so the rule can
// claim it (SYSTEMD_READY=0, UDISKS_IGNORE=1, no file-system identity), as multipath claims its
// path devices. A member is one a dmremaptab(5) line names, matched on what udev already knows
// of the device (its node and links, ID_FS_UUID/LABEL and ID_PART_ENTRY_UUID/NAME, imported
// by 60-persistent-storage.rules), or one that holds dm-remap metadata at its first sector.
#include <cstdlib>
#include <limits.h>
#include <stdlib.h>

#include "device.h"
#include "dm_text.h"
#include "errors.h"
#include "offline.h"
#include "system.h"
#include "tab.h"

namespace dmremap {
namespace {

std::string env(const char *name)
{
	const char *v = std::getenv(name);
	return v ? v : "";
}

bool same_ignore_case(const std::string &a, const std::string &b)
{
	if (a.size() != b.size())
		return false;
	for (size_t i = 0; i < a.size(); i++) {
		auto low = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
		if (low(a[i]) != low(b[i]))
			return false;
	}
	return true;
}

std::string real(const std::string &path)
{
	char buf[PATH_MAX];
	return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// Whether the device udev is processing is the one `spec` names.
bool matches(const std::string &spec, const std::string &devnode,
	     const std::vector<std::string> &links)
{
	const auto tagged = [&](const char *tag, const char *prop, bool ignore_case) -> int {
		const std::string t = tag;
		if (spec.compare(0, t.size(), t) != 0)
			return -1;
		const std::string v = spec.substr(t.size()), have = env(prop);
		return !have.empty() && (ignore_case ? same_ignore_case(v, have) : v == have);
	};
	for (const auto &[tag, prop, ic] :
	     {std::make_tuple("UUID=", "ID_FS_UUID", true),
	      std::make_tuple("LABEL=", "ID_FS_LABEL", false),
	      std::make_tuple("PARTUUID=", "ID_PART_ENTRY_UUID", true),
	      std::make_tuple("PARTLABEL=", "ID_PART_ENTRY_NAME", false)}) {
		const int m = tagged(tag, prop, ic);
		if (m >= 0)
			return m == 1;
	}
	if (spec == devnode)
		return true;
	for (const std::string &l : links) {
		if (spec == l || spec == "/dev/" + l)
			return true;
	}
	const std::string r = real(spec);
	return !r.empty() && r == real(devnode);
}

} // namespace

int cmd_udev_probe(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<devnode>");
	const std::string &devnode = a.positional[0];
	std::vector<std::string> links = split_words(a.value("links").value_or(""));
	for (const std::string &l : split_words(env("DEVLINKS")))
		links.push_back(l);
	const std::string dm_uuid = env("DM_UUID"), dm_name = env("DM_NAME");
	if (dm_uuid.compare(0, 8, "DMREMAP-") == 0)
		return kExitOk; // the dm-remap device itself
	std::string role, name;
	const Tab tab = read_tab(a.value("tab").value_or(default_tab_path()));
	// A partition of a claimed disk: the rule imported the disk's DMREMAP_MEMBER.
	if (env("DEVTYPE") == "partition" && !env("DMREMAP_MEMBER").empty())
		role = env("DMREMAP_MEMBER");
	for (const TabEntry &e : tab.entries) {
		if (!role.empty())
			break;
		if (dm_name == e.name)
			continue; // made by `dmremap create` under the line's name: the device itself
		if (matches(e.data, devnode, links))
			role = "data";
		else if (matches(e.spare, devnode, links))
			role = "spare";
		if (!role.empty()) {
			name = e.name;
			break;
		}
	}
	if (role.empty() && !a.has("no-metadata-probe")) {
		try {
			const Device dev(devnode, Device::Mode::ReadOnly);
			if (inspect_spare(dev, 0).state == MetadataReport::State::Loaded)
				role = "spare";
		} catch (const std::exception &) {
			// unreadable (no medium, gone): not recognised, not claimed
		}
	}
	if (role.empty())
		return kExitOk;
	out << "DMREMAP_MEMBER=" << role << "\n";
	if (!name.empty())
		out << "DMREMAP_NAME=" << name << "\n";
	out << "SYSTEMD_READY=0\nUDISKS_IGNORE=1\n";
	// The links the rule gives the device instead of those it has so far: without the ones
	// 60-persistent-storage.rules made from the file system (by-uuid, by-label), which belong
	// to the dm-remap device, and with the member link. (udev 252 has no SYMLINK-=.)
	std::string kept;
	for (const std::string &l : split_words(a.value("links").value_or(""))) {
		if (l.compare(0, 13, "disk/by-uuid/") != 0 &&
		    l.compare(0, 14, "disk/by-label/") != 0)
			kept += (kept.empty() ? "" : " ") + l;
	}
	if (!name.empty())
		kept += (kept.empty() ? "" : " ") + ("disk/dmremap/" + name + "/" + role);
	out << "DMREMAP_LINKS=" << kept << "\n";
	for (const char *k :
	     {"ID_FS_TYPE", "ID_FS_USAGE", "ID_FS_VERSION", "ID_FS_UUID", "ID_FS_UUID_ENC",
	      "ID_FS_UUID_SUB", "ID_FS_UUID_SUB_ENC", "ID_FS_LABEL", "ID_FS_LABEL_ENC"})
		out << k << "=\n";
	return kExitOk;
}

} // namespace dmremap
