// SPDX-License-Identifier: GPL-2.0
// dmremap activate / deactivate: the lines of dmremaptab(5) brought up and down, one at a time
// or all of them, each with the same checks as `dmremap create`.
#include <ctime>
#include <set>

#include "device.h"
#include "dm_text.h"
#include "dmsetup.h"
#include "errors.h"
#include "offline.h"
#include "system.h"
#include "tab.h"

namespace dmremap {
namespace {

Tab load_tab(const Args &a) { return read_tab(a.value("tab").value_or(default_tab_path())); }

void warn_problems(const Tab &tab, std::ostream &out)
{
	for (const std::string &p : tab.problems)
		out << "warning: " << p << "\n";
}

// The names of every dm device and, for each, whether its table is one remap target.
std::set<std::string> dm_names()
{
	std::set<std::string> names;
	const std::string text = dmsetup({"info", "-c", "--noheadings", "-o", "name"});
	for (const std::string &line : split_lines(text)) {
		const auto w = split_words(line);
		if (w.size() == 1)
			names.insert(w[0]);
	}
	return names;
}

bool is_remap(const std::string &name)
{
	const auto lines = split_lines(dmsetup({"table", name}));
	return lines.size() == 1 && split_words(lines[0]).size() >= 3 &&
		split_words(lines[0])[2] == "remap";
}

// Waits up to `wait_sec` (checking every 200 ms) for both members to appear.
std::pair<std::string, std::string> find_members(const TabEntry &e, uint64_t wait_sec)
{
	const std::time_t deadline = std::time(nullptr) + static_cast<std::time_t>(wait_sec);
	for (;;) {
		const auto data = resolve_member(e, false);
		const auto spare = resolve_member(e, true);
		if (data && spare)
			return {*data, *spare};
		if (std::time(nullptr) >= deadline) {
			std::string missing;
			if (!data)
				missing = "data device " + e.data;
			if (!spare)
				missing += (missing.empty() ? "" : " and ") +
					std::string("spare device ") + e.spare;
			throw OperationalError(
				missing + " not found" +
				(wait_sec ? " after waiting " + std::to_string(wait_sec) + " s"
					  : ""));
		}
		const struct timespec ts = {0, 200 * 1000 * 1000};
		::nanosleep(&ts, nullptr);
	}
}

// The dmsetup arguments that create e's device (after every check create makes).
std::vector<std::string> create_words(const TabEntry &e, const std::string &data_path,
				      const std::string &spare_path, bool dry_run)
{
	const Device data(data_path, Device::Mode::ReadOnly);
	const Device spare(spare_path, Device::Mode::ReadOnly);
	if (!dry_run) {
		for (const Device *d : {&data, &spare}) {
			if (!d->is_block_device())
				throw OperationalError(d->path() + " is not a block device");
		}
	}
	DeviceFacts f;
	f.data_sectors = data.sectors();
	f.spare_sectors = spare.sectors();
	f.data_logical_block = data.logical_block();
	f.spare_logical_block = spare.logical_block();
	f.same_device = data.identity() == spare.identity();
	const BuiltTable t = build_table(e.spec(data_path, spare_path), f);
	const std::string problem = spare_area_problem(spare, t.geo);
	if (!problem.empty())
		throw OperationalError("the spare area of " + spare_path +
				       " cannot be used with this line: " + problem +
				       " ('dmremap dump " + spare_path + " --offset " +
				       std::to_string(e.spare_offset) + "' shows what is there)");
	std::vector<std::string> words = {"create", e.name, "--uuid", "DMREMAP-" + e.name};
	if (e.readonly)
		words.push_back("--readonly");
	words.insert(words.end(), {"--table", t.line});
	return words;
}

// Activates one entry; returns false (with the reason in out) when it failed.
bool activate_one(const TabEntry &e, const std::set<std::string> &active, uint64_t wait_sec,
		  bool dry_run, std::ostream &out)
{
	try {
		if (active.count(e.name)) {
			if (!is_remap(e.name))
				throw OperationalError(
					"a device-mapper device of that name exists and "
					"is not a dm-remap device");
			out << e.name << ": already active\n";
			return true;
		}
		const auto [data_path, spare_path] = find_members(e, wait_sec);
		const auto words = create_words(e, data_path, spare_path, dry_run);
		if (dry_run) {
			out << "dmsetup";
			for (const std::string &w : words)
				out << " "
				    << (w.find(' ') != std::string::npos ? "'" + w + "'" : w);
			out << "\n";
			return true;
		}
		dmsetup(words);
		// Have udev look at the members again, so the rule claims them now rather than at
		// their next event (best effort: without udev there is nothing to claim for).
		try {
			run_command(
				{"udevadm", "trigger", "--action=change", data_path, spare_path});
		} catch (const std::exception &) {
		}
		out << e.name << ": activated /dev/mapper/" << e.name << ": " << words.back()
		    << "\n";
		return true;
	} catch (const std::exception &err) {
		out << e.where() << ": " << e.name << ": " << err.what() << "\n";
		return false;
	}
}

// The entries a command names: one by name, or --all (without noauto), or --initramfs.
std::vector<const TabEntry *> selected(const Args &a, const Tab &tab, const std::string &file)
{
	const bool all = a.has("all"), initramfs = a.has("initramfs");
	if ((all || initramfs) != a.positional.empty() || (all && initramfs) ||
	    a.positional.size() > 1)
		throw UsageError("give one <name>, --all or --initramfs");
	std::vector<const TabEntry *> out;
	if (!a.positional.empty()) {
		const TabEntry *e = tab.find(a.positional[0]);
		if (!e) {
			std::string why = "no valid line for '" + a.positional[0] + "' in " + file;
			for (const std::string &p : tab.problems)
				why += "\n  " + p;
			throw OperationalError(why);
		}
		out.push_back(e);
		return out;
	}
	for (const TabEntry &e : tab.entries) {
		if (initramfs ? e.initramfs : !e.noauto)
			out.push_back(&e);
	}
	return out;
}

} // namespace

int cmd_activate(const Args &a, std::ostream &out)
{
	const std::string file = a.value("tab").value_or(default_tab_path());
	const Tab tab = load_tab(a);
	const auto chosen = selected(a, tab, file);
	if (a.positional.empty())
		warn_problems(tab, out);
	const std::optional<uint64_t> wait = a.number("wait");
	const bool dry_run = a.has("dry-run");
	const std::set<std::string> active = dry_run ? std::set<std::string>() : dm_names();
	size_t failed = 0;
	for (const TabEntry *e : chosen) {
		if (!activate_one(*e, active, wait.value_or(e->timeout_sec), dry_run, out))
			failed++;
	}
	if (failed)
		throw OperationalError(std::to_string(failed) + " of " +
				       std::to_string(chosen.size()) + " device(s) not activated");
	if (!tab.problems.empty() && a.positional.empty())
		return kExitFailure; // the good lines are up; the skipped ones still need fixing
	return kExitOk;
}

int cmd_deactivate(const Args &a, std::ostream &out)
{
	const std::string file = a.value("tab").value_or(default_tab_path());
	const Tab tab = load_tab(a);
	const auto chosen = selected(a, tab, file);
	if (a.positional.empty())
		warn_problems(tab, out);
	const std::set<std::string> active = dm_names();
	size_t failed = 0;
	for (auto it = chosen.rbegin(); it != chosen.rend(); ++it) {
		const TabEntry &e = **it;
		try {
			if (!active.count(e.name)) {
				out << e.name << ": not active\n";
				continue;
			}
			if (!is_remap(e.name))
				throw OperationalError("not a dm-remap device; left alone");
			dmsetup({"remove", e.name});
			out << e.name << ": deactivated\n";
		} catch (const std::exception &err) {
			out << e.where() << ": " << e.name << ": " << err.what() << "\n";
			failed++;
		}
	}
	if (failed)
		throw OperationalError(std::to_string(failed) + " of " +
				       std::to_string(chosen.size()) +
				       " device(s) not deactivated");
	return kExitOk;
}

std::vector<Command> append_system_commands(std::vector<Command> list)
{
	list.push_back(
		{"activate",
		 "create the devices of /etc/dmremaptab",
		 "Usage: dmremap activate <name> | --all | --initramfs [options]\n"
		 "\n"
		 "Creates the dm-remap device of a dmremaptab(5) line with the checks of\n"
		 "'dmremap create'; --all activates every line without noauto, --initramfs\n"
		 "every line with initramfs. A device that is already active is left as it is.\n"
		 "Malformed lines are reported with file:line and skipped; with --all or\n"
		 "--initramfs they make the exit status 1 after the good lines are up.\n"
		 "\n"
		 "  --tab FILE   the table to read (default $DMREMAP_TAB or /etc/dmremaptab)\n"
		 "  --wait SEC   wait up to SEC seconds for the devices to appear (default: the\n"
		 "               line's device-timeout)\n"
		 "  --dry-run    print the dmsetup command and create nothing\n",
		 {{"all", false},
		  {"initramfs", false},
		  {"tab", true},
		  {"wait", true},
		  {"dry-run", false}},
		 cmd_activate,
		 false});
	list.push_back(
		{"deactivate",
		 "remove the devices of /etc/dmremaptab",
		 "Usage: dmremap deactivate <name> | --all | --initramfs [--tab FILE]\n"
		 "\n"
		 "Removes the dm-remap device of a dmremaptab(5) line (the mapping stays in the\n"
		 "spare area); --all removes every line without noauto, in reverse order.\n"
		 "A device that is not active is reported and skipped.\n"
		 "\n"
		 "  --tab FILE   the table to read (default $DMREMAP_TAB or /etc/dmremaptab)\n",
		 {{"all", false}, {"initramfs", false}, {"tab", true}},
		 cmd_deactivate,
		 false});
	list.push_back(
		{"udev-probe",
		 "tell udev whether a device is a dm-remap member (for the rule)",
		 "Usage: dmremap udev-probe <devnode> [--links LINKS] [--tab FILE]\n"
		 "\n"
		 "Run by 61-dmremap.rules for each block device, with udev's properties of it in\n"
		 "the environment. For the data or spare member of a dmremaptab(5) line, or a\n"
		 "device with dm-remap metadata at its first sector, prints the properties that\n"
		 "claim it: DMREMAP_MEMBER, DMREMAP_NAME, SYSTEMD_READY=0, UDISKS_IGNORE=1 and\n"
		 "empty ID_FS_* values. Prints nothing for any other device.\n"
		 "\n"
		 "  --links LINKS        the device's links so far (udev's $links)\n"
		 "  --tab FILE           the table to read (default $DMREMAP_TAB or /etc/dmremaptab)\n"
		 "  --no-metadata-probe  match the table only; do not read the device\n",
		 {{"links", true}, {"tab", true}, {"no-metadata-probe", false}},
		 cmd_udev_probe,
		 false});
	list.push_back(
		{"monitor",
		 "report dm-remap events to the journal, a program and a textfile",
		 "Usage: dmremap monitor [--oneshot] [--program PROG] [--textfile FILE]\n"
		 "\n"
		 "Waits for the dm events of every dm-remap device (poll on /dev/mapper/control,\n"
		 "no timer) and reports each change with a syslog priority: BlocksRemapped\n"
		 "(warning), BlocksLost, SpareFailed (error), SpareLowWater (warning),\n"
		 "SpareExhausted, MetadataFailed (critical), MetadataDegraded (warning),\n"
		 "IoErrors, MetadataOk, DeviceRemoved (notice), DeviceAppeared (info). Devices\n"
		 "created or removed meanwhile are picked up. Stops cleanly on SIGTERM/SIGINT.\n"
		 "Lines carry sd-daemon <N> prefixes when stdout is the journal.\n"
		 "\n"
		 "  --oneshot        report every device's lasting conditions once and exit (cron)\n"
		 "  --program PROG   run 'PROG <event> <device>' for every event above info, with\n"
		 "                   DMREMAP_EVENT, _DEVICE, _PRIORITY, _MESSAGE, _REMAPPED, _LOST,\n"
		 "                   _SPARE_FREE, _SPARE_TOTAL, _BAD_SPARE, _METADATA set\n"
		 "  --textfile FILE  keep a Prometheus node-exporter textfile (written atomically)\n"
		 "  --journal        always use the <N> priority prefixes\n",
		 {{"oneshot", false}, {"program", true}, {"textfile", true}, {"journal", false}},
		 cmd_monitor,
		 false});
	return list;
}

} // namespace dmremap
