// SPDX-License-Identifier: GPL-2.0
// Self-identifying data for crash checks: every 512-byte sector the workload writes names the
// data block it belongs to, its place in that block and the version (a number the workload
// never reuses), with a CRC32C over the whole sector. A checker that reads a sector back knows
// exactly which write it came from, so it can tell "the last version that was flushed, or a
// later one" from a stale, misplaced or torn-inside-a-sector one.
#pragma once

#include <cstdint>

namespace lwreplay {

constexpr uint32_t kStampBytes = 512;

// Fills 512 bytes at out with version `version` of sector `index` of data block `block`.
// Versions start at 1; version 0 means "never written" and reads as all zeros.
void stamp_sector(uint8_t *out, uint64_t block, uint32_t index, uint64_t version);

struct Stamp {
	enum class Kind {
		Zero,
		Valid,
		Garbage
	};
	Kind kind = Kind::Garbage;
	uint64_t block = 0;
	uint32_t index = 0;
	uint64_t version = 0;
};

// What the 512 bytes at in hold: all zero, a valid stamp, or anything else.
Stamp read_stamp(const uint8_t *in);

} // namespace lwreplay
