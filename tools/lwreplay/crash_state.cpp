// SPDX-License-Identifier: GPL-2.0
// See crash_state.h.
#include "crash_state.h"

#include <cstring>
#include <string>

namespace lwreplay {

uint64_t SplitMix::next()
{
	uint64_t z = (x_ += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

CrashStates::CrashStates(uint64_t sectors) :
    sectors_(sectors), image_(sectors * kSector, 0), dirty_(sectors, false)
{}

void CrashStates::apply(const LogEntry &e)
{
	if (window_closed_) {
		window_.clear();
		floor_.clear();
		window_closed_ = false;
	}
	newest_ = e.index;
	if (e.changes_device()) {
		if (e.sector > sectors_ || e.nr_sectors > sectors_ - e.sector)
			throw LogError("log entry " + std::to_string(e.index) + " writes sectors " +
				       std::to_string(e.sector) + "+" +
				       std::to_string(e.nr_sectors) + ", past the end of the " +
				       std::to_string(sectors_) + "-sector device");
		WindowWrite w{e.index, e.is_fua(), e.sector, e.nr_sectors, {}};
		if (e.is_discard())
			w.data.assign(e.nr_sectors * kSector, 0);
		else
			w.data = e.data;
		for (uint64_t s = e.sector; s < e.sector + e.nr_sectors; s++) {
			if (!floor_.count(s))
				floor_.emplace(
					s, std::vector<uint8_t>(sector(s), sector(s) + kSector));
			dirty_[s] = true;
		}
		std::memcpy(&image_[e.sector * kSector], w.data.data(), w.data.size());
		window_.push_back(std::move(w));
	}
	// Everything logged before a flush entry was on the media when the flush completed: the
	// entry after it starts a new window. (A flush entry's own data, written with PREFLUSH,
	// belongs to the window it closes: it may be torn by a cut during that flush.)
	if (e.is_flush())
		window_closed_ = true;
}

std::vector<std::pair<uint64_t, uint64_t>> CrashStates::take_dirty()
{
	std::vector<std::pair<uint64_t, uint64_t>> runs;
	for (uint64_t s = 0; s < sectors_; s++) {
		if (!dirty_[s])
			continue;
		dirty_[s] = false;
		if (!runs.empty() && runs.back().second == s)
			runs.back().second = s + 1;
		else
			runs.emplace_back(s, s + 1);
	}
	return runs;
}

void CrashStates::mark_dirty(uint64_t first, uint64_t count)
{
	for (uint64_t s = first; s < first + count && s < sectors_; s++)
		dirty_[s] = true;
}

std::vector<CrashStates::Override> CrashStates::torn_variant(uint64_t seed) const
{
	SplitMix rng(seed);
	// Each write since the last flush landed whole, not at all, or sector by sector; a FUA
	// write that completed before the newest entry always landed whole.
	enum class Fate {
		Whole,
		None,
		Torn
	};
	std::vector<Fate> fate(window_.size());
	for (size_t i = 0; i < window_.size(); i++) {
		const bool durable = window_[i].fua && window_[i].index < newest_;
		fate[i] = durable ? Fate::Whole : static_cast<Fate>(rng.below(3));
	}
	// Per sector: the last write (in log order) that landed there, or the floor. Iterating the
	// window backwards finds it first.
	std::map<uint64_t, const uint8_t *> chosen;
	std::map<uint64_t, bool> decided;
	for (size_t i = window_.size(); i-- > 0;) {
		const WindowWrite &w = window_[i];
		for (uint64_t k = 0; k < w.nr_sectors; k++) {
			const uint64_t s = w.sector + k;
			const bool landed = fate[i] == Fate::Whole ||
				(fate[i] == Fate::Torn && rng.below(2) == 0);
			if (!landed || decided[s])
				continue;
			decided[s] = true;
			chosen[s] = &w.data[k * kSector];
		}
	}
	std::vector<Override> out;
	for (const auto &f : floor_) {
		const auto it = chosen.find(f.first);
		const uint8_t *data = it == chosen.end() ? f.second.data() : it->second;
		if (std::memcmp(data, sector(f.first), kSector) != 0)
			out.push_back({f.first, data});
	}
	return out;
}

} // namespace lwreplay
