// SPDX-License-Identifier: GPL-2.0
// dmremap's offline view of a spare area (dump, check, format, and create's pre-flight check).
// Everything goes through the core's codec and MetadataStore, so the tool accepts exactly what
// the module accepts and reports the module's own reasons. The geometry comes from the disk:
// slot 0 sits at the start of the spare range for every block size, slot 1 one block later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device.h"
#include "geometry.h"
#include "metadata_codec.h"

namespace dmremap {

struct SlotReport {
	enum class State {
		Empty,
		Valid,
		Invalid
	};
	State state = State::Empty;
	std::string error;       // Invalid: the codec's reason
	remap::Superblock sb{};  // Valid
	std::string table_error; // Valid: why this slot's own table does not load ("" if it does)
};

struct MetadataReport {
	enum class State {
		Empty,   // no metadata: the module formats the area at the first resume
		Loaded,  // the module would load it (maybe falling back to the older commit)
		Invalid, // the module would refuse it
	};
	std::string path;
	uint64_t offset = 0; // sectors into the device where the spare range starts
	State state = State::Invalid;
	bool have_geometry = false;
	remap::Geometry geo;
	SlotReport slots[2];
	int active_slot = -1; // Loaded: the slot whose commit the module uses
	uint64_t seq = 0;
	bool fell_back = false;
	uint8_t uuid[remap::kUuidBytes] = {};
	std::vector<remap::Entry> entries; // Loaded: the live entries, by data block
	std::vector<std::string> problems; // what makes `check` exit 1
	std::vector<std::string> notes;    // worth knowing, not problems
};

// Reads the spare area at `offset` sectors into dev. Throws OperationalError when the device
// cannot be read or memory runs out; damaged metadata is reported, not thrown.
MetadataReport inspect_spare(const Device &dev, uint64_t offset);

// Whether the module will accept the spare area for this geometry: "" when it is all zero or
// holds valid metadata of exactly this geometry, else the reason it would be refused.
std::string spare_area_problem(const Device &dev, const remap::Geometry &geo);

// Writes empty metadata (seq 1, no entries) for geo at geo.spare_offset() of dev, after zeroing
// the metadata blocks and any stale superblock of another block size. Throws OperationalError.
void format_spare(const Device &dev, const remap::Geometry &geo);

const char *state_name(remap::EntryState state);
std::string uuid_text(const uint8_t *uuid);

std::string dump_text(const MetadataReport &r);
std::string dump_json(const MetadataReport &r);
// One-line verdict and the problems/notes, for `check`.
std::string check_text(const MetadataReport &r);

} // namespace dmremap
