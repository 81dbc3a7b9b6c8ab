// SPDX-License-Identifier: GPL-2.0
// The module-wide registry of the areas remap tables claim. A table registers its data range
// and spare area from its constructor to its destructor, under the mapped device it belongs
// to. That is how a reloaded table finds the live table of its own device (and takes its
// state over at its first resume, without reading the disk), and how a table of another
// device over the same area is refused. Everything here runs under GlobalGuard.
#pragma once

#include "result.h"
#include "thread_annotations.h"

namespace remap {

// The module-wide lock (rb_global_lock()) as the thread-safety analysis names it. Only a name:
// it is declared and never defined (the lock itself lives in the platform), so nothing may
// take its address or read it; GlobalGuard takes the real lock.
class CAPABILITY("mutex") GlobalLock {
public:
	GlobalLock(const GlobalLock &) = delete;
	GlobalLock &operator=(const GlobalLock &) = delete;
};
// NOLINTNEXTLINE(bugprone-dynamic-static-initializers): declared for the analysis only, never defined
extern GlobalLock global_lock;

// rb_global_assert_held(), for the analysis too.
inline void global_assert_held() ASSERT_CAPABILITY(global_lock) { rb_global_assert_held(); }

// What one table claims. Device ids and the owner come from the glue (dev_t, the mapped
// device); a claim with any of them 0 (unknown, as in tests of the engine alone) is never
// registered.
struct AreaClaim {
	u64 owner = 0;
	u64 data_dev = 0, data_offset = 0, data_len = 0; // sectors
	u64 spare_dev = 0, spare_offset = 0, spare_len = 0;
	u32 block_size = 0;
	void *instance = nullptr; // the table's engine
	// The fields above are set before the claim is registered and never change after; the
	// ones below change while it is registered, under the global lock.
	// This table's engine holds the device's mapping: it has been resumed, and no newer
	// table of the device has taken the mapping over since.
	bool live GUARDED_BY(global_lock) = false;
	bool registered GUARDED_BY(global_lock) = false;
	// A live claim of the same device and area was removed while this one was not live
	// yet: its mapping is on disk only.
	bool orphaned GUARDED_BY(global_lock) = false;
	AreaClaim *next GUARDED_BY(global_lock) = nullptr;

	bool registrable() const { return owner && data_dev && spare_dev; }
	// The same devices, offsets and block_size: tables of one device over one area, which a
	// reload may grow (data_len, spare_len) but not move.
	bool same_area(const AreaClaim &o) const;
};

// The module-wide lock (rb_global_lock()); taken before any engine's mutex.
class SCOPED_CAPABILITY GlobalGuard {
public:
	GlobalGuard() ACQUIRE(global_lock) { rb_global_lock(); }
	~GlobalGuard() RELEASE() { rb_global_unlock(); }
	GlobalGuard(const GlobalGuard &) = delete;
	GlobalGuard &operator=(const GlobalGuard &) = delete;
};

namespace registry {

// All three are called with the global lock held (GlobalGuard); they assert it too.
// Registers c (registrable), or fails with a text for ti->error when another claim forbids
// it: one of another device overlapping it (-EBUSY), or one of the same device overlapping it
// with other devices, offsets or block_size (-EINVAL).
Status add(AreaClaim *c) REQUIRES(global_lock);
// Unregisters c if it was registered.
void remove(AreaClaim *c) REQUIRES(global_lock);
// The claim of another table of c's device over the same geometry that holds the mapping.
AreaClaim *live_sibling(const AreaClaim *c) REQUIRES(global_lock);

} // namespace registry
} // namespace remap
