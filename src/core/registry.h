// SPDX-License-Identifier: GPL-2.0
// The module-wide registry of the areas remap tables claim. A table registers its data range
// and spare area from its constructor to its destructor, under the mapped device it belongs
// to. That is how a reloaded table finds the live table of its own device (and takes its
// state over at its first resume, without reading the disk), and how a table of another
// device over the same area is refused. Everything here runs under GlobalGuard.
#pragma once

#include "base.h"

namespace remap {

// What one table claims. Device ids and the owner come from the glue (dev_t, the mapped
// device); a claim with any of them 0 (unknown, as in tests of the engine alone) is never
// registered.
struct AreaClaim {
	u64 owner = 0;
	u64 data_dev = 0, data_offset = 0, data_len = 0; // sectors
	u64 spare_dev = 0, spare_offset = 0, spare_len = 0;
	u32 block_size = 0;
	void *instance = nullptr; // the table's engine
	// This table's engine holds the device's mapping: it has been resumed, and no newer
	// table of the device has taken the mapping over since.
	bool live = false;
	bool registered = false;
	// A live claim of the same device and geometry was removed while this one was not live
	// yet: its mapping is on disk only.
	bool orphaned = false;
	AreaClaim *next = nullptr;

	bool registrable() const { return owner && data_dev && spare_dev; }
	bool same_geometry(const AreaClaim &o) const;
};

// The module-wide lock (rb_global_lock()); taken before any engine's mutex.
class GlobalGuard {
public:
	GlobalGuard() { rb_global_lock(); }
	~GlobalGuard() { rb_global_unlock(); }
	GlobalGuard(const GlobalGuard &) = delete;
	GlobalGuard &operator=(const GlobalGuard &) = delete;
};

namespace registry {

// All three are called with the global lock held (GlobalGuard); they assert it.
// Registers c (registrable), or returns a literal for ti->error and sets *err when another
// claim forbids it: one of another device overlapping it (-EBUSY), or one of the same device
// overlapping it with another geometry (-EINVAL).
[[nodiscard]] const char *add(AreaClaim *c, int *err);
// Unregisters c if it was registered.
void remove(AreaClaim *c);
// The claim of another table of c's device over the same geometry that holds the mapping.
AreaClaim *live_sibling(const AreaClaim *c);

} // namespace registry
} // namespace remap
