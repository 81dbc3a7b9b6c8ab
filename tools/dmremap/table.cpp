// SPDX-License-Identifier: GPL-2.0
// See table.h.
#include "table.h"

#include "errors.h"

namespace dmremap {
namespace {

uint64_t round_down(uint64_t v, uint64_t unit) { return v / unit * unit; }

// A length left to the devices: the rest of the device after the offset, but on a shared
// device only up to the other range if that starts later.
uint64_t default_len(uint64_t offset, uint64_t dev_sectors, bool same_device, uint64_t other_offset,
		     uint64_t unit, const char *what)
{
	if (offset >= dev_sectors)
		throw UsageError(std::string(what) + " offset " + std::to_string(offset) +
				 " is at or past the end of the device (" +
				 std::to_string(dev_sectors) + " sectors)");
	uint64_t end = dev_sectors;
	if (same_device && other_offset > offset)
		end = other_offset;
	const uint64_t len = round_down(end - offset, unit);
	if (len == 0)
		throw UsageError(std::string("no room for the ") + what + " range after offset " +
				 std::to_string(offset) + " (block size " +
				 std::to_string(unit * 512) + " bytes)");
	return len;
}

std::string join(const std::vector<std::string> &words)
{
	std::string out;
	for (const auto &w : words)
		out += " " + w;
	return out;
}

void check_with_module_rules(const BuiltTable &t, const std::vector<std::string> &args,
			     const DeviceFacts &devs)
{
	std::vector<char *> argv;
	for (const auto &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	rc_table table;
	const char *error = nullptr;
	if (rc_table_parse(static_cast<unsigned>(argv.size()), argv.data(), &table, &error))
		throw UsageError(std::string("invalid table: ") + error);
	rc_devices d{};
	d.target_len = t.data_len;
	d.data_dev_sectors = devs.data_sectors;
	d.spare_dev_sectors = devs.spare_sectors;
	d.data_logical_block = devs.data_logical_block;
	d.spare_logical_block = devs.spare_logical_block;
	d.same_device = devs.same_device;
	d.zoned = devs.zoned;
	if (rc_table_check(&table, &d, &error))
		throw UsageError(std::string("invalid table: ") + error);
}

} // namespace

std::vector<std::string> feature_words(const TableSpec &spec)
{
	std::vector<std::string> words;
	if (spec.block_size)
		words.insert(words.end(), {"block_size", std::to_string(*spec.block_size)});
	if (spec.no_auto_remap)
		words.push_back("no_auto_remap");
	if (spec.read_retries)
		words.insert(words.end(), {"read_retries", std::to_string(*spec.read_retries)});
	if (spec.spare_low_water)
		words.insert(words.end(),
			     {"spare_low_water", std::to_string(*spec.spare_low_water)});
	if (spec.allow_larger_spare_sectors)
		words.push_back("allow_larger_spare_sectors");
	if (!words.empty())
		words.insert(words.begin(), std::to_string(words.size()));
	return words;
}

BuiltTable build_table(const TableSpec &spec, const DeviceFacts &devs)
{
	for (const std::string *path : {&spec.data_path, &spec.spare_path}) {
		if (path->empty() || path->find_first_of(" \t\n") != std::string::npos)
			throw UsageError("device path '" + *path +
					 "' is empty or contains whitespace");
	}
	if (devs.spare_logical_block > devs.data_logical_block && !spec.allow_larger_spare_sectors)
		throw UsageError(
			"the spare device's logical block size (" +
			std::to_string(devs.spare_logical_block) +
			" bytes) exceeds the data device's (" +
			std::to_string(devs.data_logical_block) +
			" bytes): the dm device would have " +
			std::to_string(devs.spare_logical_block) +
			"-byte sectors, and what the data " + "device holds for " +
			std::to_string(devs.data_logical_block) +
			"-byte sectors (partition tables, file systems) would stop working through it; " +
			"--allow-larger-spare-sectors accepts that");
	BuiltTable t;
	t.block_size = spec.block_size.value_or(RC_DEFAULT_BLOCK_SIZE);
	const uint64_t unit = t.block_size >= 512 ? t.block_size / 512 : 1;
	t.data_len = spec.data_len ? *spec.data_len
				   : default_len(spec.data_offset, devs.data_sectors,
						 devs.same_device, spec.spare_offset, unit, "data");
	t.spare_len = spec.spare_len
		? *spec.spare_len
		: default_len(spec.spare_offset, devs.spare_sectors, devs.same_device,
			      spec.data_offset, unit, "spare");

	std::vector<std::string> args = {spec.data_path, std::to_string(spec.data_offset),
					 spec.spare_path, std::to_string(spec.spare_offset),
					 std::to_string(t.spare_len)};
	const auto features = feature_words(spec);
	args.insert(args.end(), features.begin(), features.end());
	check_with_module_rules(t, args, devs);
	const char *bad = remap::error_text(remap::Geometry::create(spec.data_offset, t.data_len,
								    spec.spare_offset, t.spare_len,
								    t.block_size, &t.geo));
	if (bad)
		throw UsageError(std::string("invalid table: ") + bad);
	t.line = "0 " + std::to_string(t.data_len) + " remap" + join(args);
	return t;
}

} // namespace dmremap
