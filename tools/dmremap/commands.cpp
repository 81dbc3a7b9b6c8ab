// SPDX-License-Identifier: GPL-2.0
// See commands.h. Online commands talk to the kernel only through dmsetup; offline commands
// read the spare area through the core's MetadataStore (offline.h).
#include "commands.h"

#include <fstream>
#include <iostream>

#include "badblocks.h"
#include "device.h"
#include "dm_text.h"
#include "dmsetup.h"
#include "errors.h"
#include "json.h"
#include "offline.h"
#include "parse_number.h"
#include "system.h"
#include "table.h"

namespace dmremap {
namespace {

// ---- shared helpers ---------------------------------------------------------------------

uint32_t block_size_option(const Args &a)
{
	const uint64_t bs = a.number("block-size", RC_DEFAULT_BLOCK_SIZE);
	if (bs < RC_MIN_BLOCK_SIZE || bs > RC_MAX_BLOCK_SIZE || (bs & (bs - 1)))
		throw UsageError("--block-size must be a power of two from 512 to 65536, not " +
				 std::to_string(bs));
	return static_cast<uint32_t>(bs);
}

void check_dm_name(const std::string &name)
{
	if (name.empty() || name.size() > 127 || name.find('/') != std::string::npos ||
	    name == "." || name == ".." || name.find_first_of(" \t\n") != std::string::npos)
		throw UsageError("'" + name +
				 "' is not a valid device-mapper name (1 to 127 "
				 "characters, no '/' or whitespace)");
}

// The one remap target of a dm device.
TargetTable remap_target(const std::string &name)
{
	check_dm_name(name);
	const auto lines = split_lines(dmsetup({"table", name}));
	if (lines.size() != 1 || split_words(lines[0]).size() < 3 ||
	    split_words(lines[0])[2] != "remap")
		throw OperationalError(name +
				       " is not a dm-remap device (dmremap handles devices "
				       "with one remap target)");
	return parse_table(lines[0]);
}

TargetStatus remap_status(const std::string &name)
{
	const auto lines = split_lines(dmsetup({"status", name}));
	if (lines.size() != 1)
		throw OperationalError(name + ": expected one status line");
	return parse_status(lines[0]);
}

// Every remapped and lost block, paging through `list` (a page holds whole lines only; the
// next starts after the last block shown).
std::vector<ListEntry> list_all(const std::string &name)
{
	std::vector<ListEntry> all;
	uint64_t next = 0;
	for (;;) {
		const auto page =
			parse_list(dm_message(name, {"list", std::to_string(next), "4096"}));
		if (page.empty())
			return all;
		if (page.front().data_block < next)
			throw OperationalError(name + ": list went backwards");
		all.insert(all.end(), page.begin(), page.end());
		next = page.back().data_block + 1;
		if (next == 0)
			return all; // the last possible block
	}
}

uint32_t list_block_size_option(const Args &a)
{
	const uint64_t bs = a.number("badblocks-block-size", kBadblocksDefaultBlockSize);
	check_list_block_size(bs);
	return static_cast<uint32_t>(bs);
}

void write_json_or_text(std::ostream &out, bool json, const std::string &j, const std::string &t)
{
	out << (json ? j : t);
}

// ---- create / remove ---------------------------------------------------------------------

TableSpec table_spec(const Args &a, const std::string &data, const std::string &spare)
{
	TableSpec spec;
	spec.data_path = data;
	spec.spare_path = spare;
	spec.data_offset = a.number("data-offset", 0);
	spec.data_len = a.number("data-len");
	spec.spare_offset = a.number("spare-offset", 0);
	spec.spare_len = a.number("spare-len");
	if (a.has("block-size"))
		spec.block_size = block_size_option(a);
	spec.no_auto_remap = a.has("no-auto-remap");
	if (auto n = a.number("read-retries")) {
		if (*n > RC_MAX_READ_RETRIES)
			throw UsageError("--read-retries must be 0 to 100");
		spec.read_retries = static_cast<uint32_t>(*n);
	}
	spec.spare_low_water = a.number("spare-low-water");
	spec.allow_larger_spare_sectors = a.has("allow-larger-spare-sectors");
	return spec;
}

DeviceFacts device_facts(const Device &data, const Device &spare)
{
	DeviceFacts f;
	f.data_sectors = data.sectors();
	f.spare_sectors = spare.sectors();
	f.data_logical_block = data.logical_block();
	f.spare_logical_block = spare.logical_block();
	f.same_device = data.identity() == spare.identity();
	f.zoned = data.zoned() || spare.zoned();
	return f;
}

int cmd_create(const Args &a, std::ostream &out)
{
	require_positional(a, 3, "<name> <data_dev> <spare_dev>");
	const std::string &name = a.positional[0];
	check_dm_name(name);
	const TableSpec spec = table_spec(a, a.positional[1], a.positional[2]);
	const Device data(spec.data_path, Device::Mode::ReadOnly);
	const Device spare(spec.spare_path, Device::Mode::ReadOnly);
	for (const Device *d : {&data, &spare}) {
		if (!d->is_block_device())
			throw OperationalError(d->path() +
					       " is not a block device (for an image file, "
					       "attach it with losetup first)");
	}
	const BuiltTable t = build_table(spec, device_facts(data, spare));
	const std::string problem = spare_area_problem(spare, t.geo);
	if (!problem.empty())
		throw OperationalError("the spare area of " + spare.path() +
				       " cannot be used with this table: " + problem +
				       "\n  'dmremap dump " + spare.path() + " --offset " +
				       std::to_string(spec.spare_offset) +
				       "' shows what is there; 'dmremap format' " + "discards it");
	if (a.has("dry-run")) {
		out << t.line << "\n";
		return kExitOk;
	}
	dmsetup({"create", name, "--table", t.line});
	out << "created /dev/mapper/" << name << ": " << t.line << "\n";
	return kExitOk;
}

int cmd_remove(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<name>");
	const std::string &name = a.positional[0];
	remap_target(name); // refuse to remove anything that is not ours
	dmsetup({"remove", name});
	out << "removed " << name << "\n";
	return kExitOk;
}

// ---- status / list -----------------------------------------------------------------------

void table_json(JsonWriter &j, const TargetTable &t)
{
	j.key("table").begin_object();
	j.field("start", t.start).field("length", t.length);
	j.field("data_dev", t.data_dev).field("data_offset", t.data_offset);
	j.field("spare_dev", t.spare_dev).field("spare_offset", t.spare_offset);
	j.field("spare_len", t.spare_len);
	j.key("features").begin_array();
	for (size_t i = 1; i < t.features.size(); i++) // features[0] is their count
		j.value(t.features[i]);
	j.end_array().end_object();
}

void stats_json(JsonWriter &j, const std::map<std::string, std::string> &stats)
{
	j.key("stats").begin_object();
	for (const auto &[key, value] : stats) {
		remap::u64 number;
		if (remap::parse_u64(value.c_str(),
				     &number)) // counters as numbers, metadata=ok as text
			j.field(key, uint64_t{number});
		else
			j.field(key, value);
	}
	j.end_object();
}

std::string status_json(const std::string &name, const TargetTable &t, const TargetStatus &s,
			const std::map<std::string, std::string> &stats)
{
	JsonWriter j;
	j.begin_object().field("name", name);
	table_json(j, t);
	j.key("status").begin_object();
	j.field("block_size", s.block_size).field("remapped", s.remapped).field("lost", s.lost);
	j.field("spare_used", s.spare_used).field("spare_total", s.spare_total);
	j.field("metadata", s.metadata).field("seq", s.seq);
	if (!s.mode.empty())
		j.field("mode", s.mode);
	j.end_object();
	stats_json(j, stats);
	j.end_object();
	return j.str() + "\n";
}

std::string stat(const std::map<std::string, std::string> &stats, const char *key)
{
	auto it = stats.find(key);
	return it == stats.end() ? "?" : it->second;
}

std::string status_text(const std::string &name, const TargetTable &t, const TargetStatus &s,
			const std::map<std::string, std::string> &stats)
{
	std::string o;
	o += name + ": " + std::to_string(s.length) + " sectors, block size " +
		std::to_string(s.block_size) + " bytes\n";
	o += "  data:     " + t.data_dev + " from sector " + std::to_string(t.data_offset) + "\n";
	o += "  spare:    " + t.spare_dev + " sectors " + std::to_string(t.spare_offset) + ".." +
		std::to_string(t.spare_offset + t.spare_len - 1) + "\n";
	o += "  blocks:   " + std::to_string(s.remapped) + " remapped, " + std::to_string(s.lost) +
		" lost\n";
	o += "  spare:    " + std::to_string(s.spare_used) + " used of " +
		std::to_string(s.spare_total) + ", " + stat(stats, "spare_free") + " free, " +
		stat(stats, "bad_spare") + " bad\n";
	o += "  errors:   " + stat(stats, "read_errors") + " read, " + stat(stats, "write_errors") +
		" write; remaps: " + stat(stats, "auto_remaps") + " automatic, " +
		stat(stats, "manual_remaps") + " by message\n";
	o += "  metadata: " + s.metadata + " (seq " + std::to_string(s.seq) + ")\n";
	if (!s.mode.empty())
		o += std::string("  mode:     ") + (s.mode == "ro" ? "read-only" : "read-write") +
			"\n";
	return o;
}

int cmd_status(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<name>");
	const std::string &name = a.positional[0];
	const TargetTable t = remap_target(name);
	const TargetStatus s = remap_status(name);
	const auto stats = parse_stats(dm_message(name, {"stats"}));
	write_json_or_text(out, a.has("json"), status_json(name, t, s, stats),
			   status_text(name, t, s, stats));
	return kExitOk;
}

std::string list_json(const std::string &name, uint64_t block_size,
		      const std::vector<ListEntry> &entries)
{
	JsonWriter j;
	j.begin_object().field("name", name).field("block_size", block_size);
	j.key("entries").begin_array();
	for (const ListEntry &e : entries) {
		j.begin_object();
		j.field("data_block", e.data_block);
		j.field("sector", e.data_block * (block_size / 512));
		j.key("spare_block");
		if (e.spare_block)
			j.value(*e.spare_block);
		else
			j.null();
		j.field("state", e.lost ? "lost" : "remapped");
		if (e.lost_sectors)
			j.field("lost_sectors", e.lost_sectors);
		j.end_object();
	}
	j.end_array().end_object();
	return j.str() + "\n";
}

std::string list_text(const std::vector<ListEntry> &entries)
{
	std::string o;
	for (const ListEntry &e : entries) {
		o += std::to_string(e.data_block) + " " +
			(e.lost ? std::string("- lost")
				: std::to_string(*e.spare_block) + " remapped") +
			(e.lost_sectors ? " lost_sectors=" + std::to_string(e.lost_sectors)
					: std::string()) +
			"\n";
	}
	return o;
}

int cmd_list(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<name>");
	const std::string &name = a.positional[0];
	remap_target(name);
	const TargetStatus s = remap_status(name);
	const auto entries = list_all(name);
	write_json_or_text(out, a.has("json"), list_json(name, s.block_size, entries),
			   list_text(entries));
	return kExitOk;
}

// ---- import / export ---------------------------------------------------------------------

std::vector<uint64_t> read_list(const std::string &file)
{
	if (file == "-")
		return parse_badblocks(std::cin, "stdin");
	std::ifstream in(file);
	if (!in)
		throw OperationalError(errno_message(file, errno));
	return parse_badblocks(in, file);
}

int cmd_import(const Args &a, std::ostream &out)
{
	require_positional(a, 2, "<name> <file>");
	const std::string &name = a.positional[0];
	const uint32_t list_bs = list_block_size_option(a);
	const TargetTable t = remap_target(name);
	const TargetStatus s = remap_status(name);
	const auto numbers = read_list(a.positional[1]);
	const uint64_t origin = a.has("target") ? 0 : t.data_offset;
	const ImportPlan plan = plan_import(numbers, list_bs, static_cast<uint32_t>(s.block_size),
					    origin, t.length);
	if (plan.outside && !a.has("ignore-outside"))
		throw OperationalError(std::to_string(plan.outside) +
				       " listed block(s) lie outside " + name +
				       "'s data range (sectors " + std::to_string(origin) + ".." +
				       std::to_string(origin + t.length - 1) + " of the " +
				       (a.has("target") ? "dm device" : "data device") +
				       "); nothing was imported (--ignore-outside skips them)");
	RemapCounts total;
	uint64_t done = 0;
	for (const BlockRun &run : plan.runs) {
		std::string reply;
		try {
			reply = dm_message(name,
					   {"remap",
					    std::to_string(run.first_block * (s.block_size / 512)),
					    std::to_string(run.count)});
		} catch (const OperationalError &e) {
			throw OperationalError(std::string(e.what()) + "\n  " +
					       std::to_string(done) + " of " +
					       std::to_string(plan.blocks) +
					       " blocks were handled before the failure");
		}
		const RemapCounts c = parse_remap_counts(reply);
		total.remapped += c.remapped;
		total.lost += c.lost;
		total.already += c.already;
		done += run.count;
	}
	out << "imported " << numbers.size() << " listed block(s) into " << plan.blocks
	    << " block(s) of " << s.block_size << " bytes: remapped=" << total.remapped
	    << " lost=" << total.lost << " already=" << total.already;
	if (plan.outside)
		out << " (skipped " << plan.outside << " outside the data range)";
	out << "\n";
	if (total.lost)
		out << "warning: " << total.lost
		    << " block(s) could not be read and are lost: reads "
		    << "of them fail until they are written again\n";
	return kExitOk;
}

int cmd_export(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<name>");
	const std::string &name = a.positional[0];
	const std::string format = a.value("format").value_or("badblocks");
	if (format != "badblocks" && format != "md")
		throw UsageError("--format must be badblocks or md, not '" + format + "'");
	const std::string only = a.value("only").value_or("all");
	if (only != "all" && only != "remapped" && only != "lost")
		throw UsageError("--only must be remapped or lost, not '" + only + "'");
	const uint32_t list_bs = list_block_size_option(a);
	const TargetTable t = remap_target(name);
	const TargetStatus s = remap_status(name);
	std::vector<ListEntry> entries;
	for (const ListEntry &e : list_all(name)) {
		if (only == "all" || (only == "lost") == e.lost)
			entries.push_back(e);
	}
	const uint64_t origin = a.has("target") ? 0 : t.data_offset;
	const auto bs = static_cast<uint32_t>(s.block_size);
	out << (format == "md" ? export_md(entries, bs, origin)
			       : export_badblocks(entries, list_bs, bs, origin));
	return kExitOk;
}

// ---- offline: dump / check / format ------------------------------------------------------

int cmd_dump(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<spare_dev>");
	const uint64_t offset = a.number("offset", 0);
	const Device dev(a.positional[0], Device::Mode::ReadOnly);
	const MetadataReport r = inspect_spare(dev, offset);
	write_json_or_text(out, a.has("json"), dump_json(r), dump_text(r));
	return r.state == MetadataReport::State::Invalid ? kExitFailure : kExitOk;
}

int cmd_check(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<spare_dev>");
	const uint64_t offset = a.number("offset", 0);
	const Device dev(a.positional[0], Device::Mode::ReadOnly);
	const MetadataReport r = inspect_spare(dev, offset);
	write_json_or_text(out, a.has("json"), dump_json(r), check_text(r));
	return r.problems.empty() ? kExitOk : kExitCheckProblems;
}

// What format is about to overwrite, in words.
std::string current_contents(const Device &dev, uint64_t offset)
{
	const MetadataReport r = inspect_spare(dev, offset);
	switch (r.state) {
	case MetadataReport::State::Empty:
		return "an empty (all zero) spare area";
	case MetadataReport::State::Loaded:
		return "dm-remap metadata (seq " + std::to_string(r.seq) + ", " +
			std::to_string(r.entries.size()) + " entries)";
	case MetadataReport::State::Invalid:
		break;
	}
	return "data that is not valid dm-remap metadata";
}

int cmd_format(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<spare_dev>");
	const std::string &spare_path = a.positional[0];
	const auto data_path = a.value("data-dev");
	if (data_path.has_value() == a.has("data-len"))
		throw UsageError("give exactly one of --data-dev and --data-len (the data range's "
				 "length is part of the metadata)");
	const Device spare(spare_path,
			   a.has("yes") ? Device::Mode::Exclusive : Device::Mode::ReadOnly);
	TableSpec spec = table_spec(a, data_path.value_or("<data_dev>"), spare_path);
	DeviceFacts facts;
	if (data_path) {
		const Device data(*data_path, Device::Mode::ReadOnly);
		facts = device_facts(data, spare);
	} else {
		facts = device_facts(spare, spare);
		facts.same_device = false;
		facts.data_sectors = spec.data_offset + *spec.data_len;
	}
	const BuiltTable t = build_table(spec, facts);
	const std::string before = current_contents(spare, spec.spare_offset);
	if (!a.has("yes")) {
		out << spare_path << " holds " << before << " at sector " << spec.spare_offset
		    << ".\nformat would write empty metadata for: " << t.line << "\n";
		throw OperationalError("refusing to format without --yes");
	}
	format_spare(spare, t.geo);
	out << "formatted " << spare_path << " (was: " << before << "): " << t.geo.spare_blocks()
	    << " blocks of " << t.block_size << " bytes, "
	    << t.geo.spare_blocks() - t.geo.first_usable_spare().value()
	    << " for data, seq 1\nmatching table line: " << t.line << "\n";
	return kExitOk;
}

// ---- resize ------------------------------------------------------------------------------

// A block device's size in sectors, by the major:minor a table line names it with.
uint64_t sysfs_sectors(const std::string &dev)
{
	std::ifstream in("/sys/dev/block/" + dev + "/size");
	uint64_t n = 0;
	if (!(in >> n))
		throw OperationalError("cannot read the size of block device " + dev +
				       " from sysfs");
	return n;
}

remap::Geometry resize_geometry(const TargetTable &t, uint64_t data_len, uint64_t spare_len,
				uint32_t block_size)
{
	remap::Geometry g;
	const char *bad = remap::error_text(remap::Geometry::create(
		t.data_offset, data_len, t.spare_offset, spare_len, block_size, &g));
	if (bad)
		throw OperationalError(std::string("the new lengths do not work: ") + bad);
	return g;
}

// Checks a new data and spare length as the module will, and why it would refuse them, then
// reloads the live table with them and resumes.
int cmd_resize(const Args &a, std::ostream &out)
{
	require_positional(a, 1, "<name>");
	const std::string &name = a.positional[0];
	const TargetTable cur = remap_target(name);
	if (!a.has("data-len") && !a.has("spare-len"))
		throw UsageError("resize: give --data-len and/or --spare-len (512-byte sectors)");
	const uint64_t data_len = a.number("data-len").value_or(cur.length);
	const uint64_t spare_len = a.number("spare-len").value_or(cur.spare_len);
	const auto bs = static_cast<uint32_t>(remap_status(name).block_size);
	const uint64_t data_sectors = sysfs_sectors(cur.data_dev);
	if (data_len > data_sectors || cur.data_offset > data_sectors - data_len)
		throw OperationalError("the data device " + cur.data_dev + " has " +
				       std::to_string(data_sectors) + " sectors, too few for " +
				       std::to_string(data_len) + " from sector " +
				       std::to_string(cur.data_offset) + ": grow it first");
	const uint64_t spare_sectors = sysfs_sectors(cur.spare_dev);
	if (spare_len > spare_sectors || cur.spare_offset > spare_sectors - spare_len)
		throw OperationalError("the spare device " + cur.spare_dev + " has " +
				       std::to_string(spare_sectors) + " sectors, too few for " +
				       std::to_string(spare_len) + " from sector " +
				       std::to_string(cur.spare_offset));
	if (spare_len < cur.spare_len)
		throw OperationalError("the spare area cannot shrink (" +
				       std::to_string(cur.spare_len) + " sectors now)");
	const remap::Geometry before = resize_geometry(cur, cur.length, cur.spare_len, bs);
	const remap::Geometry after = resize_geometry(cur, data_len, spare_len, bs);
	if (after.table_blocks() != before.table_blocks()) {
		const uint64_t most =
			(2 +
			 uint64_t{before.table_blocks()} * (before.entries_per_table_block() + 2)) *
			(bs / 512);
		throw OperationalError("the spare area cannot grow in place to " +
				       std::to_string(spare_len) +
				       " sectors: its table areas would have to grow; at most " +
				       std::to_string(most) +
				       " sectors (see \"Growing\" in the dm-remap admin guide)");
	}
	if (data_len < cur.length) {
		const auto entries = list_all(name);
		if (!entries.empty() && entries.back().data_block >= after.data_blocks())
			throw OperationalError(
				"block " + std::to_string(entries.back().data_block) +
				" is remapped or lost: the data range cannot end before sector " +
				std::to_string((entries.back().data_block + 1) * (bs / 512)));
	}
	std::string line = "0 " + std::to_string(data_len) + " remap " + cur.data_dev + " " +
		std::to_string(cur.data_offset) + " " + cur.spare_dev + " " +
		std::to_string(cur.spare_offset) + " " + std::to_string(spare_len);
	for (const std::string &w : cur.features)
		line += " " + w;
	if (a.has("dry-run")) {
		out << line << "\n";
		return kExitOk;
	}
	dmsetup({"reload", name, "--table", line});
	dmsetup({"resume", name});
	out << "resized " << name << ": data " << cur.length << " -> " << data_len
	    << " sectors, spare " << cur.spare_len << " -> " << spare_len << " sectors\n";
	return kExitOk;
}

// ---- the command table -------------------------------------------------------------------

const std::vector<OptionSpec> kTableOptions = {
	{"data-offset", true},  {"data-len", true},        {"spare-offset", true},
	{"spare-len", true},    {"block-size", true},      {"no-auto-remap", false},
	{"read-retries", true}, {"spare-low-water", true}, {"allow-larger-spare-sectors", false},
};

std::vector<OptionSpec> with(std::vector<OptionSpec> a, const std::vector<OptionSpec> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

} // namespace

const std::vector<Command> &commands()
{
	static const std::vector<Command> list = append_system_commands({
		{"create", "create a dm-remap device from a data and a spare device",
		 "Usage: dmremap create <name> <data_dev> <spare_dev> [options]\n"
		 "\n"
		 "Builds the table line (lengths from the device sizes), checks it and the spare\n"
		 "area as the module will, and creates /dev/mapper/<name> with dmsetup.\n"
		 "Offsets and lengths are 512-byte sectors.\n"
		 "\n"
		 "  --data-offset N      first sector of the data range (default 0)\n"
		 "  --data-len N         length of the data range (default: the rest of the device,\n"
		 "                       up to the spare range if it is on the same device)\n"
		 "  --spare-offset N     first sector of the spare range (default 0)\n"
		 "  --spare-len N        length of the spare range (default: the rest of the device)\n"
		 "  --block-size B       remap unit in bytes, a power of two 512..65536 (default 4096)\n"
		 "  --no-auto-remap      pass I/O errors through instead of remapping\n"
		 "  --read-retries N     retries of a failed read, 0..100 (default 2)\n"
		 "  --spare-low-water N  raise a dm event at N free spare blocks (default 10%)\n"
		 "  --allow-larger-spare-sectors\n"
		 "                       accept a spare device whose logical block size exceeds\n"
		 "                       the data device's (the dm device then has the spare's\n"
		 "                       sector size; refused without it)\n"
		 "  --dry-run            print the table line and create nothing\n",
		 with(kTableOptions, {{"dry-run", false}}), cmd_create, false},
		{"remove",
		 "remove a dm-remap device",
		 "Usage: dmremap remove <name>\n"
		 "\n"
		 "Removes the device (only if it is a dm-remap device). The mapping stays in the\n"
		 "spare area: 'dmremap create' with the same options brings it back.\n",
		 {},
		 cmd_remove,
		 false},
		{"resize",
		 "grow a device's data range or spare area online",
		 "Usage: dmremap resize <name> [--data-len N] [--spare-len N] [--dry-run]\n"
		 "\n"
		 "Reloads the live table with the new lengths (512-byte sectors) and resumes, after\n"
		 "the checks the module makes: the devices are long enough (grow the one below\n"
		 "first, e.g. with lvextend), the data range does not end before a remapped or lost\n"
		 "block, and the spare area does not shrink nor grow past what its table areas\n"
		 "describe. Every remap is kept.\n"
		 "\n"
		 "  --data-len N   the new length of the data range (the device's size)\n"
		 "  --spare-len N  the new length of the spare range\n"
		 "  --dry-run      print the new table line and change nothing\n",
		 {{"data-len", true}, {"spare-len", true}, {"dry-run", false}},
		 cmd_resize,
		 false},
		{"status",
		 "show a device's state and counters",
		 "Usage: dmremap status <name> [--json]\n"
		 "\n"
		 "The table, the status line and the stats message of a dm-remap device.\n",
		 {{"json", false}},
		 cmd_status,
		 false},
		{"list",
		 "list remapped and lost blocks",
		 "Usage: dmremap list <name> [--json]\n"
		 "\n"
		 "Every remapped or lost block, ascending, paging through the list message:\n"
		 "'<data_block> <spare_block> remapped' or '<data_block> - lost'.\n",
		 {{"json", false}},
		 cmd_list,
		 false},
		{"import",
		 "remap the blocks of a badblocks(8) list",
		 "Usage: dmremap import <name> <file> [options]\n"
		 "\n"
		 "Remaps every block listed in <file> ('-' for stdin): badblocks(8) output, one\n"
		 "block number per line. The list is checked first; nothing is remapped if a\n"
		 "line is not a number or a block lies outside the data range.\n"
		 "\n"
		 "  --badblocks-block-size B  block size the list was made with (badblocks -b;\n"
		 "                            default 1024, badblocks' own default)\n"
		 "  --target                  numbers count from the start of the dm device, not of\n"
		 "                            the data device\n"
		 "  --ignore-outside          skip blocks outside the data range instead of failing\n",
		 {{"badblocks-block-size", true}, {"target", false}, {"ignore-outside", false}},
		 cmd_import,
		 false},
		{"export",
		 "print the remapped and lost blocks as a bad block list",
		 "Usage: dmremap export <name> [--format badblocks|md] [options]\n"
		 "\n"
		 "  --format badblocks        one block number per line (default)\n"
		 "  --format md               '<sector> <sectors>' ranges, as md's bad_blocks\n"
		 "  --badblocks-block-size B  block size of the badblocks format (default 1024)\n"
		 "  --only remapped|lost      only blocks in that state\n"
		 "  --target                  count from the start of the dm device, not of the\n"
		 "                            data device\n",
		 {{"format", true},
		  {"badblocks-block-size", true},
		  {"only", true},
		  {"target", false}},
		 cmd_export,
		 false},
		{"dump",
		 "show the metadata in a spare area (offline)",
		 "Usage: dmremap dump <spare_dev> [--offset N] [--json]\n"
		 "\n"
		 "Both superblock slots, which one is active, the geometry and the table, read\n"
		 "with the module's own decoder. <spare_dev> may be a device or an image file.\n"
		 "Exit status 1 if the area holds no valid metadata.\n"
		 "\n"
		 "  --offset N  sector where the spare range starts (default 0)\n",
		 {{"offset", true}, {"json", false}},
		 cmd_dump,
		 false},
		{"check",
		 "check the metadata in a spare area (offline, fsck-like)",
		 "Usage: dmremap check <spare_dev> [--offset N] [--json]\n"
		 "\n"
		 "Validates the metadata as the module would load it, and both slots on their own.\n"
		 "Exit status: 0 clean (or an empty area), 1 problems found, 8 operational error,\n"
		 "16 usage error.\n"
		 "\n"
		 "  --offset N  sector where the spare range starts (default 0)\n",
		 {{"offset", true}, {"json", false}},
		 cmd_check,
		 true},
		{"format", "write empty metadata to a spare area (destroys the mapping)",
		 "Usage: dmremap format <spare_dev> (--data-dev DEV | --data-len N) [options] --yes\n"
		 "\n"
		 "Zeroes the metadata and writes an empty commit for the given table geometry.\n"
		 "Any mapping stored there is lost, and with it the data of remapped blocks.\n"
		 "Without --yes, shows what is there and refuses.\n"
		 "\n"
		 "  --data-dev DEV       data device (its size gives the data length)\n"
		 "  --data-len N         data length in sectors instead\n"
		 "  --data-offset N, --spare-offset N, --spare-len N, --block-size B,\n"
		 "  --allow-larger-spare-sectors\n"
		 "                       as for create\n"
		 "  --yes                really format\n",
		 with(kTableOptions, {{"data-dev", true}, {"yes", false}}), cmd_format, false},
	});
	return list;
}

const Command *find_command(const char *name)
{
	for (const Command &c : commands()) {
		if (std::string(name) == c.name)
			return &c;
	}
	return nullptr;
}

namespace {

void global_usage(std::ostream &out)
{
	out << "Usage: dmremap <command> [arguments] (dmremap <command> --help for more)\n\n";
	for (const Command &c : commands()) {
		const size_t len = std::string(c.name).size();
		out << "  " << c.name << std::string(len < 11 ? 12 - len : 1, ' ') << c.summary
		    << "\n";
	}
	out << "\nSee dmremap(8) and the dm-remap admin guide (docs/dm-remap.rst).\n";
}

} // namespace

int run_cli(int argc, char **argv, std::ostream &out, std::ostream &err)
{
	if (argc < 2) {
		global_usage(err);
		return kExitUsage;
	}
	const std::string first = argv[1];
	if (first == "-h" || first == "--help" || first == "help") {
		global_usage(out);
		return kExitOk;
	}
	const Command *cmd = find_command(argv[1]);
	if (!cmd) {
		err << "dmremap: unknown command '" << first << "'\n";
		global_usage(err);
		return kExitUsage;
	}
	const std::string prefix = std::string("dmremap ") + cmd->name + ": ";
	try {
		const Args args = parse_args(argc - 2, argv + 2, cmd->options);
		if (args.has("help")) {
			out << cmd->help;
			return kExitOk;
		}
		return cmd->run(args, out);
	} catch (const UsageError &e) {
		err << prefix << e.what() << "\n(see dmremap " << cmd->name << " --help)\n";
		return cmd->fsck_exit_codes ? kExitCheckUsage : kExitUsage;
	} catch (const OperationalError &e) {
		err << prefix << e.what() << "\n";
		return cmd->fsck_exit_codes ? kExitCheckOperational : kExitFailure;
	} catch (const std::exception &e) {
		err << prefix << e.what() << "\n";
		return cmd->fsck_exit_codes ? kExitCheckOperational : kExitFailure;
	}
}

} // namespace dmremap
