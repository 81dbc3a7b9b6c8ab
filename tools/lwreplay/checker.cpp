// SPDX-License-Identifier: GPL-2.0
// See checker.h.
//
// Writes that failed below the log: dm-log-writes logs a write when it completes without
// looking at its status (normal_end_io()), so the data of a write that the error layer under
// it failed is in the log and the replay puts it on the failed sectors. That models a failed
// write that reached the media anyway, one of the outcomes a real disk can produce; the
// checker's demands stay sound: the only writes that can fail there are dm-remap's writes to
// bad blocks, whose callers are not acknowledged until the block is remapped and the data is
// in the spare area, so a replay point shows such a block's failed location only while the
// write is unacknowledged (where any later version is allowed) or never again (it is
// remapped). What the replay cannot show is a failed write that garbled its sectors; that
// destroys data no layer above the disk could have kept, and is not checked.
#include "checker.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "crash_state.h"
#include "device.h"
#include "dm_ioctl.h"
#include "errors.h"
#include "log_format.h"
#include "marks.h"
#include "offline.h"
#include "stamp.h"

namespace lwreplay {
namespace {

// An O_DIRECT file descriptor with an aligned bounce buffer: the checker's writes to the
// scratch device must reach it before the kernel target reads it with bios, and its reads
// must see what that target wrote, so nothing goes through the page cache.
class DirectDev {
public:
	DirectDev(const std::string &path, int flags) : path_(path)
	{
		fd_ = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC);
		if (fd_ < 0)
			throw std::runtime_error(path + ": " + std::strerror(errno));
		void *p = nullptr;
		if (posix_memalign(&p, 4096, kBuf))
			throw std::runtime_error("out of memory");
		buf_.reset(static_cast<uint8_t *>(p));
	}
	~DirectDev() { ::close(fd_); }
	DirectDev(const DirectDev &) = delete;
	DirectDev &operator=(const DirectDev &) = delete;

	// Reads [sector, sector + count) into out; 0 or a negative errno.
	int read(uint64_t sector, uint64_t count, uint8_t *out)
	{
		while (count) {
			const uint64_t n = std::min<uint64_t>(count, kBuf / kSector);
			const ssize_t r = ::pread(fd_, buf_.get(), n * kSector,
						  static_cast<off_t>(sector * kSector));
			if (r < 0 && errno == EINTR)
				continue;
			if (r != static_cast<ssize_t>(n * kSector))
				return r < 0 ? -errno : -EIO;
			std::memcpy(out, buf_.get(), n * kSector);
			out += n * kSector;
			sector += n;
			count -= n;
		}
		return 0;
	}
	int write(uint64_t sector, uint64_t count, const uint8_t *in)
	{
		while (count) {
			const uint64_t n = std::min<uint64_t>(count, kBuf / kSector);
			std::memcpy(buf_.get(), in, n * kSector);
			const ssize_t r = ::pwrite(fd_, buf_.get(), n * kSector,
						   static_cast<off_t>(sector * kSector));
			if (r < 0 && errno == EINTR)
				continue;
			if (r != static_cast<ssize_t>(n * kSector))
				return r < 0 ? -errno : -EIO;
			in += n * kSector;
			sector += n;
			count -= n;
		}
		return 0;
	}
	const std::string &path() const { return path_; }

private:
	struct Free {
		void operator()(uint8_t *p) const { std::free(p); }
	};
	static constexpr size_t kBuf = 1 << 20;
	std::string path_;
	int fd_ = -1;
	std::unique_ptr<uint8_t, Free> buf_;
};

uint64_t sectors_of(const std::string &path)
{
	const dmremap::Device dev(path, dmremap::Device::Mode::ReadOnly);
	return dev.sectors();
}

class Checker {
public:
	Checker(const CheckConfig &cfg, std::ostream &out) :
	    cfg_(cfg), out_(out), device_sectors_(cfg.data_sectors + cfg.spare_sectors),
	    states_(device_sectors_), scratch_(cfg.scratch_path, O_RDWR),
	    expected_(device_sectors_ * kSector), readback_(device_sectors_ * kSector)
	{
		if (cfg.block_size < kSector || cfg.block_size % kSector ||
		    cfg.data_sectors % (cfg.block_size / kSector))
			throw std::runtime_error("the data range is not a whole number of blocks");
		if (sectors_of(cfg.scratch_path) < device_sectors_)
			throw std::runtime_error(cfg.scratch_path + " is smaller than the " +
						 std::to_string(device_sectors_) +
						 " sectors replayed");
		table_ = cfg.scratch_path + " 0 " + cfg.scratch_path + " " +
			std::to_string(cfg.data_sectors) + " " + std::to_string(cfg.spare_sectors);
		if (cfg.block_size != 4096)
			table_ += " 2 block_size " + std::to_string(cfg.block_size);
		// The scratch device starts as the logged device did: all zero.
		states_.mark_dirty(0, device_sectors_);
	}

	int run();

private:
	void check_state(const LogEntry &e, const std::vector<CrashStates::Override> &torn,
			 uint64_t torn_seed);
	void problem(const LogEntry &e, bool torn, uint64_t seed, const std::string &what);
	void sync_scratch();
	std::string verify_data(const std::string &node);
	std::string compare_lists(const std::string &node_name, const dmremap::MetadataReport &r);

	const CheckConfig &cfg_;
	std::ostream &out_;
	uint64_t device_sectors_;
	CrashStates states_;
	DirectDev scratch_;
	DmControl dm_;
	Expectations exp_;
	std::string table_;
	std::string node_;              // the check device's node while it exists
	std::vector<uint8_t> expected_; // the state under check (image plus torn overrides)
	std::vector<uint8_t> readback_;
	size_t problems_ = 0;
	uint64_t states_checked_ = 0, points_ = 0, flush_points_ = 0, fua_points_ = 0;
	uint64_t torn_checked_ = 0, torn_same_ = 0, empty_states_ = 0, fallbacks_ = 0;
	uint64_t sectors_verified_ = 0, max_required_remaps_ = 0, max_durable_blocks_ = 0;
	// Where the time goes, per phase of check_state() (seconds).
	double t_write_ = 0, t_inspect_ = 0, t_create_ = 0, t_list_ = 0, t_read_ = 0,
	       t_readback_ = 0;
};

using Clock = std::chrono::steady_clock;

// Adds the seconds since *t to *acc and restarts *t.
void lap(Clock::time_point *t, double *acc)
{
	const Clock::time_point now = Clock::now();
	*acc += std::chrono::duration<double>(now - *t).count();
	*t = now;
}

void Checker::problem(const LogEntry &e, bool torn, uint64_t seed, const std::string &what)
{
	if (problems_++ < cfg_.max_reports) {
		out_ << "PROBLEM at entry " << e.index << " (" << flag_names(e.flags) << ")";
		if (torn)
			out_ << ", torn variant seed " << seed;
		out_ << ": " << what << "\n";
	}
}

void Checker::sync_scratch()
{
	for (const auto &run : states_.take_dirty()) {
		const int r = scratch_.write(run.first, run.second - run.first,
					     states_.sector(run.first));
		if (r)
			throw std::runtime_error(scratch_.path() + ": write: " + std::strerror(-r));
	}
}

// Every sector of the data range, read through the fresh target, against the expectations.
std::string Checker::verify_data(const std::string &node)
{
	DirectDev dev(node, O_RDONLY);
	const uint64_t per_block = cfg_.block_size / kSector;
	std::vector<uint8_t> data(cfg_.data_sectors * kSector);
	int r = dev.read(0, cfg_.data_sectors, data.data());
	if (r)
		return "reading the data through " + node + ": " + std::strerror(-r);
	std::ostringstream bad;
	size_t nbad = 0;
	for (uint64_t s = 0; s < cfg_.data_sectors; s++) {
		const uint64_t block = s / per_block;
		const uint32_t index = static_cast<uint32_t>(s % per_block);
		const auto d = exp_.durable.find(block);
		const uint64_t need = d == exp_.durable.end() ? 0 : d->second;
		const Stamp st = read_stamp(&data[s * kSector]);
		std::string why;
		if (st.kind == Stamp::Kind::Garbage)
			why = "neither zero nor a valid stamp";
		else if (st.kind == Stamp::Kind::Zero && need)
			why = "zero, but version " + std::to_string(need) + " was durable";
		else if (st.kind == Stamp::Kind::Valid && (st.block != block || st.index != index))
			why = "holds sector " + std::to_string(st.index) + " of block " +
				std::to_string(st.block) + " (version " +
				std::to_string(st.version) + ")";
		else if (st.kind == Stamp::Kind::Valid && st.version < need)
			why = "version " + std::to_string(st.version) +
				", older than the durable " + std::to_string(need);
		if (why.empty())
			continue;
		if (nbad++ < 4)
			bad << (nbad > 1 ? "; " : "") << "block " << block << " sector " << index
			    << ": " << why;
	}
	sectors_verified_ += cfg_.data_sectors;
	if (nbad)
		bad << " (" << nbad << " bad sectors in all)";
	return bad.str();
}

// The fresh target's `list` against the entries the offline loader found.
std::string Checker::compare_lists(const std::string &name, const dmremap::MetadataReport &r)
{
	std::string want;
	for (const remap::Entry &e : r.entries) {
		if (e.state == remap::EntryState::Remapped)
			want += std::to_string(e.data_block) + " " + std::to_string(e.spare_block) +
				" remapped\n";
		else if (e.state == remap::EntryState::Lost)
			want += std::to_string(e.data_block) + " - lost\n";
	}
	std::string got;
	uint64_t first = 0;
	for (;;) {
		std::string page;
		const int rc = dm_.message(name, "list " + std::to_string(first), &page);
		if (rc)
			return std::string("list message: ") + std::strerror(-rc);
		if (page.empty())
			break;
		if (page.back() != '\n')
			page += '\n';
		got += page;
		const size_t last = page.rfind('\n', page.size() - 2);
		const std::string line = page.substr(last == std::string::npos ? 0 : last + 1);
		first = std::strtoull(line.c_str(), nullptr, 10) + 1;
	}
	if (got == want)
		return "";
	return "the fresh target lists\n" + got + "but the spare area holds\n" + want;
}

void Checker::check_state(const LogEntry &e, const std::vector<CrashStates::Override> &torn,
			  uint64_t seed)
{
	const bool is_torn = !torn.empty();
	Clock::time_point t = Clock::now();
	sync_scratch();
	for (const auto &o : torn) {
		const int r = scratch_.write(o.sector, 1, o.data);
		if (r)
			throw std::runtime_error(scratch_.path() + ": write: " + std::strerror(-r));
		states_.mark_dirty(o.sector, 1); // the next state starts from the image again
	}
	states_checked_++;
	lap(&t, &t_write_);

	// 1. The offline loader and `dmremap check`.
	dmremap::MetadataReport rep;
	{
		const dmremap::Device dev(cfg_.scratch_path, dmremap::Device::Mode::ReadOnly);
		rep = dmremap::inspect_spare(dev, cfg_.data_sectors);
	}
	lap(&t, &t_inspect_);
	const bool empty = rep.state == dmremap::MetadataReport::State::Empty;
	if (empty)
		empty_states_++;
	if (rep.fell_back)
		fallbacks_++;
	if (!rep.problems.empty() || rep.state == dmremap::MetadataReport::State::Invalid)
		problem(e, is_torn, seed, "dmremap check: " + dmremap::check_text(rep));
	else if (empty && exp_.ready)
		problem(e, is_torn, seed, "the spare area is empty after dm-remap was created");

	// 2. Remaps the workload was told about.
	std::map<uint64_t, remap::EntryState> state;
	for (const remap::Entry &en : rep.entries)
		if (en.state == remap::EntryState::Remapped || en.state == remap::EntryState::Lost)
			state[en.data_block] = en.state;
	for (uint64_t b : exp_.remapped) {
		const auto it = state.find(b);
		if (it == state.end() || it->second != remap::EntryState::Remapped)
			problem(e, is_torn, seed,
				"block " + std::to_string(b) +
					" was acknowledged as remapped but is " +
					(it == state.end() ? "not remapped" : "lost"));
	}
	for (uint64_t b : exp_.not_remapped)
		if (state.count(b))
			problem(e, is_torn, seed,
				"block " + std::to_string(b) +
					" was acknowledged as unremapped but is still in the "
					"table");
	max_required_remaps_ = std::max<uint64_t>(max_required_remaps_, exp_.remapped.size());
	max_durable_blocks_ = std::max<uint64_t>(max_durable_blocks_, exp_.durable.size());

	// 3. A fresh target over the state: it loads, lists the same remaps, reads the data. Each
	// state gets a new device: a reload of a live device would (rightly) take the live
	// table's mapping over without reading the area, which this checker rewrites under it.
	std::string err;
	if (!node_.empty()) {
		const int r = dm_.remove(cfg_.dm_name);
		if (r)
			throw std::runtime_error("cannot remove " + cfg_.dm_name + ": " +
						 std::strerror(-r));
		node_.clear();
	}
	node_ = dm_.create(cfg_.dm_name, cfg_.data_sectors, "remap", table_, &err);
	const bool loaded = !node_.empty();
	lap(&t, &t_create_);
	if (!loaded) {
		problem(e, is_torn, seed, "a fresh dm-remap does not load: " + err);
		// Whatever is left of the device (suspended, or holding the table that failed)
		// goes; the next state creates it again.
		if (!node_.empty() && dm_.remove(cfg_.dm_name) == 0)
			node_.clear();
	} else {
		if (!empty) {
			const std::string diff = compare_lists(cfg_.dm_name, rep);
			if (!diff.empty())
				problem(e, is_torn, seed, diff);
		}
		lap(&t, &t_list_);
		const std::string bad = verify_data(node_);
		if (!bad.empty())
			problem(e, is_torn, seed, bad);
		lap(&t, &t_read_);
	}

	// 4. Loading must not have written anything, except the format of an empty spare area.
	std::memcpy(expected_.data(), states_.image().data(), expected_.size());
	for (const auto &o : torn)
		std::memcpy(&expected_[o.sector * kSector], o.data, kSector);
	const int r = scratch_.read(0, device_sectors_, readback_.data());
	if (r)
		throw std::runtime_error(scratch_.path() + ": read: " + std::strerror(-r));
	uint64_t changed = 0, first = 0, data_changed = 0;
	for (uint64_t s = 0; s < device_sectors_; s++) {
		if (std::memcmp(&expected_[s * kSector], &readback_[s * kSector], kSector) == 0)
			continue;
		if (!changed++)
			first = s;
		if (s < cfg_.data_sectors)
			data_changed++;
		states_.mark_dirty(s, 1);
	}
	lap(&t, &t_readback_);
	if (data_changed || (changed && !empty))
		problem(e, is_torn, seed,
			"creating and reading the fresh target wrote " + std::to_string(changed) +
				" sectors (" + std::to_string(data_changed) +
				" in the data range), the first at sector " +
				std::to_string(first));
}

int Checker::run()
{
	const auto t0 = std::chrono::steady_clock::now();
	const dmremap::Device log(cfg_.log_path, dmremap::Device::Mode::ReadOnly);
	LogReader reader(
		[&log](uint64_t off, void *buf, size_t len) { return log.read_at(off, buf, len); },
		log.bytes());
	out_ << "log " << cfg_.log_path << ": " << reader.entry_count() << " entries, sector size "
	     << reader.sector_size() << "\n";
	LogEntry e;
	std::string last_mark;
	uint64_t entries = 0, writes = 0;
	while (reader.next(&e)) {
		entries++;
		if (e.is_mark()) {
			exp_.absorb(e.mark, cfg_.bad_blocks);
			last_mark = e.mark;
			continue;
		}
		last_mark.clear();
		if (e.changes_device())
			writes++;
		states_.apply(e);
		if (!e.is_replay_point())
			continue;
		points_++;
		if (e.is_flush())
			flush_points_++;
		else
			fua_points_++;
		check_state(e, {}, 0);
		for (unsigned k = 0; k < cfg_.torn; k++) {
			const uint64_t seed = cfg_.seed * 0x100000001b3ull ^ (e.index << 8 | k);
			const auto torn = states_.torn_variant(seed);
			if (torn.empty()) {
				torn_same_++;
				continue;
			}
			torn_checked_++;
			check_state(e, torn, seed);
		}
		if (cfg_.max_problems && problems_ >= cfg_.max_problems) {
			out_ << "stopping after " << problems_ << " problem(s) (--max-problems)\n";
			break;
		}
		if (cfg_.verbose)
			out_ << "entry " << e.index << " " << flag_names(e.flags) << ": checked, "
			     << states_.window_entries() << " writes in the window\n";
	}
	if (!node_.empty()) {
		const int r = dm_.remove(cfg_.dm_name);
		if (r)
			throw std::runtime_error("cannot remove " + cfg_.dm_name + ": " +
						 std::strerror(-r));
		node_.clear();
	}
	const bool stopped = cfg_.max_problems && problems_ >= cfg_.max_problems;
	if (!stopped && last_mark != kEndMark)
		throw LogError(
			"the log does not end with dm-log-writes' end mark: it is incomplete "
			"(remove the log-writes device first; check its status for "
			"logging_disabled)");
	if (!stopped && !exp_.ready)
		throw LogError("the log has no " + std::string(kMarkReady) +
			       " mark: it was not written by `lwreplay workload`");
	const double secs =
		std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	if (problems_ > cfg_.max_reports)
		out_ << "(" << problems_ - cfg_.max_reports << " more problems not shown)\n";
	out_ << "lwreplay check: entries=" << entries << " writes=" << writes
	     << " points=" << points_ << " flush=" << flush_points_ << " fua=" << fua_points_
	     << " torn=" << torn_checked_ << " torn_no_doubt=" << torn_same_
	     << " states=" << states_checked_ << " empty_states=" << empty_states_
	     << " fallbacks=" << fallbacks_ << " durable_blocks=" << max_durable_blocks_
	     << " required_remaps=" << max_required_remaps_
	     << " sectors_verified=" << sectors_verified_ << " problems=" << problems_
	     << " seconds=" << static_cast<uint64_t>(secs + 0.5) << "\n";
	out_ << "time per phase (s): write " << t_write_ << ", dmremap check " << t_inspect_
	     << ", load " << t_create_ << ", list " << t_list_ << ", read and verify " << t_read_
	     << ", read back " << t_readback_ << "\n";
	return problems_ ? 1 : 0;
}

} // namespace

int run_check(const CheckConfig &cfg, std::ostream &out)
{
	Checker c(cfg, out);
	return c.run();
}

} // namespace lwreplay
