// SPDX-License-Identifier: GPL-2.0
// dmremap monitor: what a dm-remap device's state is, what changed between two looks at it
// (each change an event with a syslog priority), and the Prometheus node-exporter textfile.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dmremap {

struct DevState {
	std::string name;
	uint64_t remapped = 0, lost = 0;
	uint64_t spare_free = 0, spare_total = 0, bad_spare = 0;
	uint64_t read_errors = 0, write_errors = 0;
	uint64_t low_water = 0;   // the table's spare_low_water (or its default)
	std::string metadata;     // ok, degraded, failed
	std::string spare = "ok"; // stats' spare: ok, or failed (no spare block accepts a write)
	uint64_t event_nr = 0;
};

// syslog priorities (sd-daemon(3) prefixes).
enum Priority {
	kCrit = 2,
	kErr = 3,
	kWarning = 4,
	kNotice = 5,
	kInfo = 6
};

struct Event {
	std::string device;
	std::string kind; // BlocksRemapped, BlocksLost, SpareLowWater, ... (dmremap(8) MONITOR)
	int priority = kInfo;
	std::string message;
};

// The events between two looks at one device: `before` absent for a device seen for the first
// time (its lasting conditions are reported), `after` absent for one that is gone.
std::vector<Event> state_events(const std::optional<DevState> &before,
				const std::optional<DevState> &after);

// The state of the dm-remap device `name` from its table and stats (through dmsetup).
DevState read_state(const std::string &name);

// The names of the dm-remap devices with their event numbers.
std::map<std::string, uint64_t> remap_devices();

// Prometheus text exposition of every device.
std::string textfile_text(const std::vector<DevState> &devices);

} // namespace dmremap
