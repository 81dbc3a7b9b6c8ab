// SPDX-License-Identifier: GPL-2.0
// See workload.h.
#include "workload.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "crash_state.h"
#include "dm_ioctl.h"
#include "marks.h"
#include "stamp.h"

namespace lwreplay {
namespace {

constexpr uint64_t kMaxRun = 4; // blocks per write

class Workload {
public:
	Workload(const WorkloadConfig &cfg, std::ostream &out) :
	    cfg_(cfg), out_(out), rng_(cfg.seed)
	{
		fd_ = ::open(cfg.device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd_ < 0)
			throw std::runtime_error(cfg.device + ": " + std::strerror(errno));
		void *p = nullptr;
		if (posix_memalign(&p, 4096, kMaxRun * cfg.block_size))
			throw std::runtime_error("out of memory");
		buf_.reset(static_cast<uint8_t *>(p));
		for (uint64_t b : cfg.bad_blocks)
			bad_left_.push_back(b);
	}
	~Workload() { ::close(fd_); }

	int run();

private:
	bool mark(const std::string &text);
	bool write_run(uint64_t first, uint64_t count);
	bool sync();
	bool remap();
	bool unremap();

	struct Free {
		void operator()(uint8_t *p) const { std::free(p); }
	};
	const WorkloadConfig &cfg_;
	std::ostream &out_;
	SplitMix rng_;
	DmControl dm_;
	int fd_ = -1;
	std::unique_ptr<uint8_t, Free> buf_;
	uint64_t version_ = 0;
	std::map<uint64_t, uint64_t> pending_; // written since the last fdatasync: block -> version
	std::vector<uint64_t> bad_left_;       // bad blocks not written yet
	std::vector<uint64_t> remapped_;       // blocks remapped by message and not unremapped
	uint64_t writes_ = 0, syncs_ = 0, remaps_ = 0, unremaps_ = 0, bad_writes_ = 0, marks_ = 0;
};

bool Workload::mark(const std::string &text)
{
	std::string reply;
	const int r = dm_.message(cfg_.log_name, "mark " + text, &reply);
	if (r) {
		out_ << "workload: mark " << text << " on " << cfg_.log_name << ": "
		     << std::strerror(-r) << "\n";
		return false;
	}
	marks_++;
	return true;
}

bool Workload::write_run(uint64_t first, uint64_t count)
{
	const uint32_t per_block = cfg_.block_size / kStampBytes;
	for (uint64_t i = 0; i < count; i++) {
		const uint64_t v = ++version_;
		for (uint32_t s = 0; s < per_block; s++)
			stamp_sector(buf_.get() + i * cfg_.block_size + s * kStampBytes, first + i,
				     s, v);
		pending_[first + i] = v;
		if (cfg_.bad_blocks.count(first + i))
			bad_writes_++;
	}
	const size_t len = count * cfg_.block_size;
	const ssize_t n =
		::pwrite(fd_, buf_.get(), len, static_cast<off_t>(first * cfg_.block_size));
	if (n != static_cast<ssize_t>(len)) {
		out_ << "workload: write of blocks " << first << "+" << count << ": "
		     << (n < 0 ? std::strerror(errno) : "short write") << "\n";
		return false;
	}
	writes_++;
	return true;
}

bool Workload::sync()
{
	if (::fdatasync(fd_) != 0) {
		out_ << "workload: fdatasync: " << std::strerror(errno) << "\n";
		return false;
	}
	syncs_++;
	std::vector<std::pair<uint64_t, uint64_t>> done(pending_.begin(), pending_.end());
	pending_.clear();
	for (const std::string &m : durable_marks(done))
		if (!mark(m))
			return false;
	return true;
}

bool Workload::remap()
{
	const uint64_t b = rng_.below(cfg_.blocks);
	if (cfg_.bad_blocks.count(b) || remapped_.size() >= cfg_.max_remaps ||
	    std::find(remapped_.begin(), remapped_.end(), b) != remapped_.end())
		return true;
	const std::string name = std::to_string(b);
	if (!mark(kMarkRemapping + name))
		return false;
	std::string reply;
	const int r = dm_.message(cfg_.remap_name,
				  "remap " + std::to_string(b * (cfg_.block_size / 512)), &reply);
	if (r) {
		out_ << "workload: remap of block " << b << ": " << std::strerror(-r) << "\n";
		return false;
	}
	remaps_++;
	remapped_.push_back(b);
	return mark(kMarkRemap + name);
}

bool Workload::unremap()
{
	if (remapped_.empty())
		return true;
	const size_t i = rng_.below(remapped_.size());
	const uint64_t b = remapped_[i];
	remapped_.erase(remapped_.begin() + static_cast<long>(i));
	const std::string name = std::to_string(b);
	if (!mark(kMarkUnremapping + name))
		return false;
	std::string reply;
	const int r = dm_.message(cfg_.remap_name,
				  "unremap " + std::to_string(b * (cfg_.block_size / 512)), &reply);
	if (r) {
		out_ << "workload: unremap of block " << b << ": " << std::strerror(-r) << "\n";
		return false;
	}
	unremaps_++;
	return mark(kMarkUnremapped + name);
}

int Workload::run()
{
	if (cfg_.blocks == 0 || cfg_.block_size % kStampBytes)
		throw std::runtime_error(
			"workload: no blocks, or a block size that is not a multiple of 512");
	if (!mark(kMarkReady))
		return 1;
	for (uint64_t op = 0; op < cfg_.ops; op++) {
		// Spread the bad blocks' first writes over the run, so automatic remaps happen
		// between the other operations rather than in a burst.
		if (!bad_left_.empty() && op % (cfg_.ops / (cfg_.bad_blocks.size() + 1) + 1) == 0) {
			const uint64_t b = bad_left_.back();
			bad_left_.pop_back();
			if (!write_run(b, 1))
				return 1;
			continue;
		}
		const uint64_t r = rng_.below(100);
		bool ok;
		if (r < 55) {
			const uint64_t first = rng_.below(cfg_.blocks);
			const uint64_t count =
				std::min<uint64_t>(1 + rng_.below(kMaxRun), cfg_.blocks - first);
			ok = write_run(first, count);
		} else if (r < 80) {
			ok = sync();
		} else if (r < 93) {
			ok = remap();
		} else {
			ok = unremap();
		}
		if (!ok)
			return 1;
	}
	while (!bad_left_.empty()) {
		const uint64_t b = bad_left_.back();
		bad_left_.pop_back();
		if (!write_run(b, 1))
			return 1;
	}
	if (!sync())
		return 1;
	out_ << "lwreplay workload: writes=" << writes_ << " versions=" << version_
	     << " syncs=" << syncs_ << " remaps=" << remaps_ << " unremaps=" << unremaps_
	     << " bad_writes=" << bad_writes_ << " marks=" << marks_ << "\n";
	return 0;
}

} // namespace

int run_workload(const WorkloadConfig &cfg, std::ostream &out)
{
	Workload w(cfg, out);
	return w.run();
}

} // namespace lwreplay
