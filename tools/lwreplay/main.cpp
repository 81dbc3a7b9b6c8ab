// SPDX-License-Identifier: GPL-2.0
// lwreplay: reads and replays dm-log-writes logs, and checks dm-remap's crash consistency at
// every flush and FUA point of one (see README.md).
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "checker.h"
#include "crash_state.h"
#include "device.h"
#include "log_format.h"
#include "workload.h"

namespace {

using namespace lwreplay;

constexpr const char *kUsage =
	"Usage:\n"
	"  lwreplay dump <log_dev>\n"
	"      One line per log entry: index, flags, then sector+count (512-byte sectors) and\n"
	"      data@<byte offset of the data in the log>, or the mark's text.\n"
	"  lwreplay replay <log_dev> <dev> [--to <entry> | --to-mark <text>]\n"
	"      Writes the logged device as of entry <entry> (inclusive), or of the first mark\n"
	"      <text>, or of the end of the log, onto <dev> (which must start out zero).\n"
	"  lwreplay workload --device <dev> --remap-name <dm> --log-name <dm> --blocks <n>\n"
	"                    --ops <n> [--block-size <bytes>] [--max-remaps <n>] [--bad <b,b,..>]\n"
	"                    [--seed <n>]\n"
	"      Stamped writes, fdatasyncs, remap and unremap messages to dm-remap device <dev>,\n"
	"      each acknowledgement followed by a mark in the dm-log-writes log below it.\n"
	"      --max-remaps (default 64) bounds the blocks remapped by message at once.\n"
	"  lwreplay check --log <log_dev> --scratch <dev> --data-sectors <n> --spare-sectors <n>\n"
	"                 [--block-size <bytes>] [--bad <b,b,..>] [--torn <n>] [--seed <n>]\n"
	"                 [--name <dm>] [--max-problems <n>] [--verbose]\n"
	"      Replays the workload's log onto <dev> and checks dm-remap at every flush and FUA\n"
	"      entry, and <n> (default 1) torn variants of each, through a dm-remap device <dm>\n"
	"      (default lwreplay-check). --max-problems stops after <n> problems. Exit 0: every\n"
	"      state passed; 1: problems (printed); 2: usage; 3: the check could not run.\n";

struct Usage : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// --key value options, and positional arguments.
struct Options {
	std::map<std::string, std::string> values;
	std::set<std::string> flags;
	std::vector<std::string> positional;

	bool has(const std::string &k) const { return values.count(k) != 0; }
	std::string get(const std::string &k) const
	{
		const auto it = values.find(k);
		if (it == values.end())
			throw Usage("--" + k + " is required");
		return it->second;
	}
	uint64_t number(const std::string &k, uint64_t def, bool required = false) const
	{
		if (!has(k)) {
			if (required)
				throw Usage("--" + k + " is required");
			return def;
		}
		return parse_number(get(k), "--" + k);
	}
	static uint64_t parse_number(const std::string &s, const std::string &what)
	{
		if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos ||
		    s.size() > 19)
			throw Usage(what + ": '" + s + "' is not a decimal number");
		return std::stoull(s);
	}
};

Options parse(int argc, char **argv, const std::set<std::string> &valued,
	      const std::set<std::string> &flags)
{
	Options o;
	for (int i = 2; i < argc; i++) {
		const std::string a = argv[i];
		if (a.rfind("--", 0) != 0) {
			o.positional.push_back(a);
			continue;
		}
		const std::string k = a.substr(2);
		if (flags.count(k)) {
			o.flags.insert(k);
		} else if (valued.count(k)) {
			if (i + 1 >= argc)
				throw Usage(a + " needs a value");
			o.values[k] = argv[++i];
		} else {
			throw Usage("unknown option " + a);
		}
	}
	return o;
}

std::set<uint64_t> block_list(const std::string &s)
{
	std::set<uint64_t> out;
	size_t pos = 0;
	while (pos < s.size()) {
		const size_t comma = s.find(',', pos);
		const std::string item =
			s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
		out.insert(Options::parse_number(item, "--bad"));
		if (comma == std::string::npos)
			break;
		pos = comma + 1;
	}
	return out;
}

LogReader open_log(const dmremap::Device &log)
{
	return LogReader(
		[&log](uint64_t off, void *buf, size_t len) { return log.read_at(off, buf, len); },
		log.bytes());
}

int cmd_dump(const Options &o)
{
	if (o.positional.size() != 1)
		throw Usage("dump takes one log device");
	const dmremap::Device log(o.positional[0], dmremap::Device::Mode::ReadOnly);
	LogReader reader = open_log(log);
	std::cout << "# " << reader.entry_count() << " entries, log sector size "
		  << reader.sector_size() << "\n";
	LogEntry e;
	while (reader.next(&e)) {
		std::cout << e.index << " " << flag_names(e.flags);
		if (e.is_mark())
			std::cout << " " << e.mark << "\n";
		else
			std::cout << " " << e.sector << "+" << e.nr_sectors
				  << (e.data.empty() ? ""
						     : " data@" + std::to_string(e.data_offset))
				  << "\n";
	}
	return 0;
}

int cmd_replay(const Options &o)
{
	if (o.positional.size() != 2)
		throw Usage("replay takes a log device and a target device");
	if (o.has("to") && o.has("to-mark"))
		throw Usage("--to and --to-mark exclude each other");
	const dmremap::Device log(o.positional[0], dmremap::Device::Mode::ReadOnly);
	const dmremap::Device dev(o.positional[1], dmremap::Device::Mode::ReadWrite);
	LogReader reader = open_log(log);
	const uint64_t to = o.number("to", UINT64_MAX);
	if (o.has("to") && to >= reader.entry_count())
		throw std::runtime_error("the log has only " +
					 std::to_string(reader.entry_count()) + " entries (0 .. " +
					 std::to_string(reader.entry_count() - 1) + ")");
	CrashStates states(dev.sectors());
	LogEntry e;
	bool found = !o.has("to-mark");
	uint64_t applied = 0;
	while (reader.next(&e)) {
		if (e.is_mark() && o.has("to-mark") && e.mark == o.get("to-mark")) {
			found = true;
			break;
		}
		states.apply(e);
		applied++;
		if (e.index == to)
			break;
	}
	if (!found)
		throw std::runtime_error("no mark '" + o.get("to-mark") + "' in the log");
	for (const auto &run : states.take_dirty()) {
		const int r = dev.write_at(run.first * kSector, states.sector(run.first),
					   (run.second - run.first) * kSector);
		if (r)
			throw std::runtime_error(dev.path() + ": write: " + std::strerror(-r));
	}
	const int r = dev.sync();
	if (r)
		throw std::runtime_error(dev.path() + ": fdatasync: " + std::strerror(-r));
	std::cout << "replayed " << applied << " entries onto " << dev.path() << "\n";
	return 0;
}

int cmd_workload(const Options &o)
{
	WorkloadConfig c;
	c.device = o.get("device");
	c.remap_name = o.get("remap-name");
	c.log_name = o.get("log-name");
	c.blocks = o.number("blocks", 0, true);
	c.ops = o.number("ops", 0, true);
	c.block_size = static_cast<uint32_t>(o.number("block-size", 4096));
	c.max_remaps = o.number("max-remaps", 64);
	c.seed = o.number("seed", 1);
	if (o.has("bad"))
		c.bad_blocks = block_list(o.get("bad"));
	return run_workload(c, std::cout);
}

int cmd_check(const Options &o)
{
	CheckConfig c;
	c.log_path = o.get("log");
	c.scratch_path = o.get("scratch");
	c.data_sectors = o.number("data-sectors", 0, true);
	c.spare_sectors = o.number("spare-sectors", 0, true);
	c.block_size = static_cast<uint32_t>(o.number("block-size", 4096));
	c.torn = static_cast<unsigned>(o.number("torn", 1));
	c.seed = o.number("seed", 1);
	if (o.has("name"))
		c.dm_name = o.get("name");
	if (o.has("bad"))
		c.bad_blocks = block_list(o.get("bad"));
	c.verbose = o.flags.count("verbose") != 0;
	c.max_problems = o.number("max-problems", 0);
	return run_check(c, std::cout);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
		(argc < 2 ? std::cerr : std::cout) << kUsage;
		return argc < 2 ? 2 : 0;
	}
	const std::string cmd = argv[1];
	try {
		if (cmd == "dump")
			return cmd_dump(parse(argc, argv, {}, {}));
		if (cmd == "replay")
			return cmd_replay(parse(argc, argv, {"to", "to-mark"}, {}));
		if (cmd == "workload")
			return cmd_workload(
				parse(argc, argv,
				      {"device", "remap-name", "log-name", "blocks", "ops",
				       "block-size", "max-remaps", "bad", "seed"},
				      {}));
		if (cmd == "check")
			return cmd_check(
				parse(argc, argv,
				      {"log", "scratch", "data-sectors", "spare-sectors",
				       "block-size", "bad", "torn", "seed", "name", "max-problems"},
				      {"verbose"}));
		throw Usage("unknown command '" + cmd + "'");
	} catch (const Usage &u) {
		std::cerr << "lwreplay: " << u.what() << "\n" << kUsage;
		return 2;
	} catch (const std::exception &ex) {
		std::cerr << "lwreplay: " << ex.what() << "\n";
		return 3;
	}
}
