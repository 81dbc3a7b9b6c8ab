// SPDX-License-Identifier: GPL-2.0
// See monitor.h. The daemon sleeps in poll() on /dev/mapper/control: device-mapper raises its
// global event number on every device event (a remap target's low-water, exhaustion or
// metadata event, a table swap) and on every create, remove and rename, and wakes pollers of
// the control device once DM_DEV_ARM_POLL has recorded the number they saw. On each wake the
// per-device event numbers say which devices changed; only those are read again. No timer, no
// polling loop, one thread for every device, and new or removed devices are seen at once.
#include "monitor.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <linux/dm-ioctl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "dm_text.h"
#include "dmsetup.h"
#include "errors.h"
#include "parse_number.h"
#include "remap_boundary.h"
#include "system.h"

namespace dmremap {
namespace {

uint64_t stat_number(const std::map<std::string, std::string> &stats, const std::string &key)
{
	const auto it = stats.find(key);
	remap::u64 v = 0;
	if (it == stats.end() || !remap::parse_u64(it->second.c_str(), &v))
		throw OperationalError("stats: no number for " + key);
	return v;
}

std::string counts(const DevState &s)
{
	return std::to_string(s.spare_free) + " of " + std::to_string(s.spare_total) +
		" spare blocks free";
}

const char kSpareDeviceFailed[] =
	"spare device failed: no spare block accepts a write; automatic remaps stop until a "
	"resume or a remap message that succeeds";

void lasting_conditions(const DevState &s, std::vector<Event> &ev)
{
	if (s.lost)
		ev.push_back({s.name, "BlocksLost", kErr,
			      std::to_string(s.lost) +
				      " block(s) lost: reads of them fail until "
				      "they are written again"});
	if (s.bad_spare)
		ev.push_back(
			{s.name, "SpareFailed", kErr,
			 std::to_string(s.bad_spare) + " spare block(s) failed and were retired"});
	if (s.spare_total && s.spare_free == 0)
		ev.push_back({s.name, "SpareExhausted", kCrit,
			      "no spare blocks left: further failing blocks cannot be remapped"});
	else if (s.spare_total && s.spare_free <= s.low_water)
		ev.push_back({s.name, "SpareLowWater", kWarning,
			      "spare blocks low: " + counts(s) + " (spare_low_water " +
				      std::to_string(s.low_water) + ")"});
	if (s.spare == "failed")
		ev.push_back({s.name, "SpareDeviceFailed", kCrit, kSpareDeviceFailed});
	if (s.metadata == "failed")
		ev.push_back({s.name, "MetadataFailed", kCrit,
			      "metadata failed: nothing more is written to the spare area and no "
			      "more blocks are remapped until the table is reloaded"});
	else if (s.metadata == "degraded")
		ev.push_back({s.name, "MetadataDegraded", kWarning,
			      "metadata degraded: a damaged copy was found at load time (the next "
			      "commit rewrites it)"});
}

std::string label_value(const std::string &s)
{
	std::string o;
	for (const char c : s) {
		if (c == '\\' || c == '"')
			o += '\\';
		if (c == '\n') {
			o += "\\n";
			continue;
		}
		o += c;
	}
	return o;
}

// ---- the daemon's machinery --------------------------------------------------------------

struct Options {
	std::optional<std::string> program;
	std::optional<std::string> textfile;
	bool journal = false; // sd-daemon "<N>" prefixes instead of "warning: "
};

const char *priority_word(int p)
{
	switch (p) {
	case kCrit:
		return "critical";
	case kErr:
		return "error";
	case kWarning:
		return "warning";
	case kNotice:
		return "notice";
	default:
		return "info";
	}
}

void say(std::ostream &out, const Options &o, int priority, const std::string &text)
{
	if (o.journal)
		out << "<" << priority << ">" << text << "\n";
	else
		out << priority_word(priority) << ": " << text << "\n";
	out.flush();
}

void run_program(std::ostream &out, const Options &o, const Event &e, const DevState *s)
{
	if (!o.program)
		return;
	std::vector<std::pair<std::string, std::string>> vars = {
		{"DMREMAP_EVENT", e.kind},
		{"DMREMAP_DEVICE", e.device},
		{"DMREMAP_PRIORITY", std::to_string(e.priority)},
		{"DMREMAP_MESSAGE", e.message},
	};
	if (s) {
		vars.insert(vars.end(),
			    {{"DMREMAP_REMAPPED", std::to_string(s->remapped)},
			     {"DMREMAP_LOST", std::to_string(s->lost)},
			     {"DMREMAP_SPARE_FREE", std::to_string(s->spare_free)},
			     {"DMREMAP_SPARE_TOTAL", std::to_string(s->spare_total)},
			     {"DMREMAP_BAD_SPARE", std::to_string(s->bad_spare)},
			     {"DMREMAP_METADATA", s->metadata},
			     {"DMREMAP_SPARE", s->spare}});
	}
	for (const auto &[k, v] : vars)
		::setenv(k.c_str(), v.c_str(), 1);
	try {
		const CommandResult r = run_command({*o.program, e.kind, e.device});
		if (r.status != 0)
			say(out, o, kErr,
			    *o.program + " " + e.kind + " " + e.device + " exited with status " +
				    std::to_string(r.status) +
				    (r.err.empty() ? "" : ": " + split_lines(r.err).front()));
	} catch (const std::exception &err) {
		say(out, o, kErr, err.what());
	}
	for (const auto &kv : vars)
		::unsetenv(kv.first.c_str());
}

void report(std::ostream &out, const Options &o, const std::vector<Event> &events,
	    const DevState *s)
{
	for (const Event &e : events) {
		say(out, o, e.priority, e.device + ": " + e.message);
		if (e.priority < kInfo)
			run_program(out, o, e, s);
	}
}

void write_textfile(const Options &o, const std::map<std::string, DevState> &known)
{
	if (!o.textfile)
		return;
	std::vector<DevState> list;
	for (const auto &kv : known)
		list.push_back(kv.second);
	const std::string tmp = *o.textfile + ".tmp." + std::to_string(::getpid());
	{
		std::ofstream f(tmp, std::ios::trunc);
		f << textfile_text(list);
		f.close();
		if (!f)
			throw OperationalError(errno_message(tmp, errno ? errno : EIO));
	}
	if (::rename(tmp.c_str(), o.textfile->c_str()) != 0) {
		const int err = errno;
		::unlink(tmp.c_str());
		throw OperationalError(errno_message(*o.textfile, err));
	}
}

void arm_poll(int control)
{
	struct dm_ioctl io = {};
	io.version[0] = DM_VERSION_MAJOR;
	io.version[1] = 37; // DM_DEV_ARM_POLL appeared in 4.37 (Linux 4.14)
	io.data_size = sizeof(io);
	io.data_start = sizeof(io);
	if (::ioctl(control, DM_DEV_ARM_POLL, &io) != 0)
		throw OperationalError(
			errno_message("DM_DEV_ARM_POLL on /dev/mapper/control", errno));
}

// One look at every device: events for what appeared, changed or went away.
void scan(std::ostream &out, const Options &o, std::map<std::string, DevState> &known)
{
	const auto now = remap_devices();
	for (auto it = known.begin(); it != known.end();) {
		if (now.count(it->first)) {
			++it;
			continue;
		}
		report(out, o, state_events(it->second, std::nullopt), &it->second);
		it = known.erase(it);
	}
	for (const auto &[name, event_nr] : now) {
		const auto had = known.find(name);
		if (had != known.end() && had->second.event_nr == event_nr)
			continue;
		DevState s;
		try {
			s = read_state(name);
		} catch (const std::exception &e) {
			if (!remap_devices().count(name))
				continue; // removed meanwhile: the next wake reports it
			say(out, o, kErr, name + ": " + e.what());
			continue;
		}
		s.event_nr = event_nr;
		const std::optional<DevState> before =
			had == known.end() ? std::nullopt : std::optional<DevState>(had->second);
		report(out, o, state_events(before, s), &s);
		known[name] = s;
	}
}

int daemon(std::ostream &out, const Options &o)
{
	const int control = ::open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (control < 0)
		throw OperationalError(errno_message("/dev/mapper/control", errno));
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, nullptr);
	const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		::close(control);
		throw OperationalError(errno_message("signalfd", errno));
	}
	std::map<std::string, DevState> known;
	say(out, o, kInfo, "monitoring dm-remap devices");
	int status = kExitOk;
	for (;;) {
		try {
			arm_poll(control);
			scan(out, o, known);
			write_textfile(o, known);
		} catch (const std::exception &e) {
			say(out, o, kErr, e.what());
		}
		struct pollfd fds[2] = {{control, POLLIN, 0}, {sfd, POLLIN, 0}};
		if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
			say(out, o, kErr, errno_message("poll", errno));
			status = kExitFailure;
			break;
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			(void)!::read(sfd, &si, sizeof(si));
			say(out, o, kInfo, std::string("stopping on ") + ::strsignal(si.ssi_signo));
			break;
		}
	}
	::close(sfd);
	::close(control);
	sigprocmask(SIG_UNBLOCK, &mask, nullptr);
	return status;
}

} // namespace

std::vector<Event> state_events(const std::optional<DevState> &before,
				const std::optional<DevState> &after)
{
	std::vector<Event> ev;
	if (!after) {
		if (before)
			ev.push_back({before->name, "DeviceRemoved", kNotice, "removed"});
		return ev;
	}
	const DevState &s = *after;
	if (!before) {
		ev.push_back({s.name, "DeviceAppeared", kInfo,
			      "monitoring: " + std::to_string(s.remapped) + " remapped, " +
				      std::to_string(s.lost) + " lost, " + counts(s) + ", " +
				      std::to_string(s.bad_spare) + " bad, metadata " +
				      s.metadata});
		lasting_conditions(s, ev);
		return ev;
	}
	const DevState &b = *before;
	if (s.remapped > b.remapped)
		ev.push_back({s.name, "BlocksRemapped", kWarning,
			      std::to_string(s.remapped - b.remapped) +
				      " more block(s) remapped (" + std::to_string(s.remapped) +
				      " in all); " + counts(s)});
	if (s.lost > b.lost)
		ev.push_back({s.name, "BlocksLost", kErr,
			      std::to_string(s.lost - b.lost) + " more block(s) lost (" +
				      std::to_string(s.lost) +
				      " in all): reads of them fail until "
				      "they are written again"});
	if (s.bad_spare > b.bad_spare)
		ev.push_back({s.name, "SpareFailed", kErr,
			      std::to_string(s.bad_spare - b.bad_spare) +
				      " more spare block(s) failed and were retired (" +
				      std::to_string(s.bad_spare) + " in all)"});
	if (s.spare_total && s.spare_free == 0 && b.spare_free > 0)
		ev.push_back({s.name, "SpareExhausted", kCrit,
			      "no spare blocks left: further failing blocks cannot be remapped"});
	else if (s.spare_total && s.spare_free <= s.low_water && b.spare_free > b.low_water)
		ev.push_back({s.name, "SpareLowWater", kWarning,
			      "spare blocks low: " + counts(s) + " (spare_low_water " +
				      std::to_string(s.low_water) + ")"});
	if (s.read_errors > b.read_errors || s.write_errors > b.write_errors)
		ev.push_back(
			{s.name, "IoErrors", kNotice,
			 std::to_string(s.read_errors - std::min(s.read_errors, b.read_errors)) +
				 " more read and " +
				 std::to_string(s.write_errors -
						std::min(s.write_errors, b.write_errors)) +
				 " more write error(s) on the devices"});
	if (s.spare != b.spare) {
		if (s.spare == "failed")
			ev.push_back({s.name, "SpareDeviceFailed", kCrit, kSpareDeviceFailed});
		else
			ev.push_back({s.name, "SpareDeviceOk", kNotice,
				      "spare device " + s.spare + " (was " + b.spare + ")"});
	}
	if (s.metadata != b.metadata) {
		if (s.metadata == "failed")
			ev.push_back(
				{s.name, "MetadataFailed", kCrit,
				 "metadata failed: nothing more is written to the spare area "
				 "and no more blocks are remapped until the table is reloaded"});
		else if (s.metadata == "degraded")
			ev.push_back({s.name, "MetadataDegraded", kWarning,
				      "metadata degraded: a damaged copy was found at load time"});
		else
			ev.push_back({s.name, "MetadataOk", kNotice,
				      "metadata " + s.metadata + " (was " + b.metadata + ")"});
	}
	return ev;
}

DevState read_state(const std::string &name)
{
	const auto lines = split_lines(dmsetup({"table", name}));
	if (lines.size() != 1)
		throw OperationalError("expected one table line");
	const TargetTable t = parse_table(lines[0]);
	DevState s;
	s.name = name;
	const auto stats = parse_stats(dm_message(name, {"stats"}));
	s.remapped = stat_number(stats, "remapped");
	s.lost = stat_number(stats, "lost");
	s.spare_free = stat_number(stats, "spare_free");
	s.spare_total = stat_number(stats, "spare_total");
	s.bad_spare = stat_number(stats, "bad_spare");
	s.read_errors = stat_number(stats, "read_errors");
	s.write_errors = stat_number(stats, "write_errors");
	const auto m = stats.find("metadata");
	s.metadata = m == stats.end() ? "unknown" : m->second;
	const auto sp = stats.find("spare"); // absent before the spare state was added
	if (sp != stats.end())
		s.spare = sp->second;
	// spare_low_water from the features, else the module's default: a tenth of the spare
	// range's blocks.
	uint64_t block_size = RC_DEFAULT_BLOCK_SIZE;
	std::optional<uint64_t> low_water;
	for (size_t i = 1; i + 1 < t.features.size(); i++) {
		remap::u64 v = 0;
		if (!remap::parse_u64(t.features[i + 1].c_str(), &v))
			continue;
		if (t.features[i] == "block_size")
			block_size = v;
		else if (t.features[i] == "spare_low_water")
			low_water = v;
	}
	s.low_water = low_water.value_or(t.spare_len / (block_size / 512) / 10);
	return s;
}

std::map<std::string, uint64_t> remap_devices()
{
	std::map<std::string, uint64_t> all, remap;
	for (const std::string &line : split_lines(dmsetup(
		     {"info", "-c", "--noheadings", "-o", "name,events", "--separator", " "}))) {
		const auto w = split_words(line);
		remap::u64 v = 0;
		if (w.size() == 2 && remap::parse_u64(w[1].c_str(), &v))
			all[w[0]] = v;
	}
	for (const std::string &line : split_lines(dmsetup({"ls", "--target", "remap"}))) {
		const auto w = split_words(line);
		if (!w.empty() && all.count(w[0]))
			remap[w[0]] = all[w[0]];
	}
	return remap;
}

std::string textfile_text(const std::vector<DevState> &devices)
{
	struct Metric {
		const char *name, *type, *help;
		uint64_t (*get)(const DevState &);
	};
	static const Metric kMetrics[] = {
		{"dmremap_remapped_blocks", "gauge", "Data blocks remapped to the spare area.",
		 [](const DevState &s) { return s.remapped; }},
		{"dmremap_lost_blocks", "gauge", "Data blocks lost (unreadable until rewritten).",
		 [](const DevState &s) { return s.lost; }},
		{"dmremap_spare_free_blocks", "gauge", "Free spare blocks.",
		 [](const DevState &s) { return s.spare_free; }},
		{"dmremap_spare_total_blocks", "gauge", "Spare blocks that can hold data.",
		 [](const DevState &s) { return s.spare_total; }},
		{"dmremap_spare_bad_blocks", "gauge", "Spare blocks retired after a write error.",
		 [](const DevState &s) { return s.bad_spare; }},
		{"dmremap_spare_low_water_blocks", "gauge", "The spare_low_water of the table.",
		 [](const DevState &s) { return s.low_water; }},
		{"dmremap_read_errors_total", "counter",
		 "Failed reads seen since the table was loaded.",
		 [](const DevState &s) { return s.read_errors; }},
		{"dmremap_write_errors_total", "counter",
		 "Failed writes seen since the table was loaded.",
		 [](const DevState &s) { return s.write_errors; }},
		{"dmremap_metadata_ok", "gauge",
		 "1 when the metadata is ok, 0 when degraded or failed.",
		 [](const DevState &s) { return uint64_t(s.metadata == "ok"); }},
		{"dmremap_spare_ok", "gauge",
		 "1 when the spare device accepts writes, 0 when it failed.",
		 [](const DevState &s) { return uint64_t(s.spare == "ok"); }},
	};
	std::string t;
	for (const Metric &m : kMetrics) {
		t += std::string("# HELP ") + m.name + " " + m.help + "\n";
		t += std::string("# TYPE ") + m.name + " " + m.type + "\n";
		for (const DevState &s : devices)
			t += std::string(m.name) + "{device=\"" + label_value(s.name) + "\"} " +
				std::to_string(m.get(s)) + "\n";
	}
	return t;
}

int cmd_monitor(const Args &a, std::ostream &out)
{
	Options o;
	o.program = a.value("program");
	o.textfile = a.value("textfile");
	const char *js = std::getenv("JOURNAL_STREAM");
	o.journal = a.has("journal") || (js && *js);
	if (!a.positional.empty())
		throw UsageError("monitor takes no positional arguments");
	if (!a.has("oneshot"))
		return daemon(out, o);
	std::map<std::string, DevState> known;
	int status = kExitOk;
	for (const auto &[name, event_nr] : remap_devices()) {
		try {
			DevState s = read_state(name);
			s.event_nr = event_nr;
			report(out, o, state_events(std::nullopt, s), &s);
			known[name] = s;
		} catch (const std::exception &e) {
			say(out, o, kErr, name + ": " + e.what());
			status = kExitFailure;
		}
	}
	write_textfile(o, known);
	return status;
}

} // namespace dmremap
