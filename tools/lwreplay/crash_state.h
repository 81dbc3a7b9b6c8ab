// SPDX-License-Identifier: GPL-2.0
// The states a power cut can leave the logged device in, built from the log entry by entry.
//
// The replayed image after entry i is the device as if every logged write up to i reached the
// media in log order. dm-log-writes logs a write only once a later flush has completed (or
// once it completes, for FUA), so at every flush and FUA entry that prefix is a state a power
// cut could leave behind.
//
// A cut that lands while a flush is still in progress can leave less: the writes since the
// previous flush sit in the drive's volatile cache and reach the media in any order, each
// whole, in part or not at all, in units of 512-byte sectors. torn_variant() builds such a
// state for the newest entry: the image as of the last completed flush, plus, for every
// sector written since, either nothing or one of those writes (the last of the ones that
// "landed"). A FUA write that completed before the newest entry is durable and always lands.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "log_format.h"

namespace lwreplay {

constexpr uint32_t kSector = 512;

class CrashStates {
public:
	// A device of `sectors` 512-byte sectors, all zero before the first entry (the log must
	// start from a zeroed device: dm-log-writes records changes, not contents).
	explicit CrashStates(uint64_t sectors);

	uint64_t sectors() const { return sectors_; }

	// Applies the next entry in log order. Throws LogError for a write past the device's end.
	// Discarded sectors become zero (what brd and null_blk return after a discard).
	void apply(const LogEntry &e);

	// The prefix state: the device after every entry applied so far.
	const uint8_t *sector(uint64_t s) const { return &image_[s * kSector]; }
	const std::vector<uint8_t> &image() const { return image_; }

	// Sectors of the image changed since the last take_dirty(), as sorted, merged
	// [first, end) runs, for copying the image to a scratch device incrementally.
	std::vector<std::pair<uint64_t, uint64_t>> take_dirty();
	// Marks sectors whose copy on the scratch device no longer matches the image.
	void mark_dirty(uint64_t first, uint64_t count);

	// The sectors a power cut during the newest entry could leave differently from the prefix
	// state, with their contents, for a seed (the same seed gives the same state). Empty when
	// the writes since the last flush left nothing in doubt.
	struct Override {
		uint64_t sector;
		const uint8_t *data; // kSector bytes, valid until the next apply()
	};
	std::vector<Override> torn_variant(uint64_t seed) const;

	// Writes since the last completed flush (the ones torn_variant() plays with).
	size_t window_entries() const { return window_.size(); }

private:
	struct WindowWrite {
		uint64_t index;
		bool fua; // durable once an entry after it is logged
		uint64_t sector;
		uint64_t nr_sectors;
		std::vector<uint8_t> data; // zeros for a discard
	};

	uint64_t sectors_;
	std::vector<uint8_t> image_;
	std::vector<bool> dirty_;
	// Writes since the last flush entry, and the contents their sectors had at that flush.
	std::vector<WindowWrite> window_;
	std::map<uint64_t, std::vector<uint8_t>> floor_;
	bool window_closed_ = false; // the newest entry was a flush: the next one opens a window
	uint64_t newest_ = 0;        // index of the newest entry applied
};

// A small, fast, reproducible generator (splitmix64) for choices that must repeat from a seed.
class SplitMix {
public:
	explicit SplitMix(uint64_t seed) : x_(seed) {}
	uint64_t next();
	uint64_t below(uint64_t n) { return next() % n; }

private:
	uint64_t x_;
};

} // namespace lwreplay
