// SPDX-License-Identifier: GPL-2.0
// The core's rb_io_ops on a Device, so that dmremap reads and writes metadata through the very
// MetadataStore the module uses. Sectors the core asks for are absolute on the spare device as
// the superblock records them; `offset` says where the spare range starts in this device or
// image, so a copy of a spare area made with dd reads the same as the original.
#pragma once

#include <cstdint>

#include "device.h"
#include "remap_boundary.h"

namespace dmremap {

class SpareIo {
public:
	// offset: sectors into dev where the spare range starts; spare_offset: the geometry's.
	SpareIo(const Device &dev, uint64_t offset, uint64_t spare_offset) :
	    dev_(dev), offset_(offset), spare_offset_(spare_offset)
	{}

	const rb_io_ops *ops() const { return &kOps; }
	void *ctx() { return this; }

	// Reads that start at this (absolute) sector return zeros: a superblock slot hidden this
	// way lets the store load the other slot's commit on its own.
	void hide(uint64_t sector)
	{
		hidden_ = sector;
		hiding_ = true;
	}

private:
	static int read(void *ctx, rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
			unsigned flags);
	static int write(void *ctx, rb_device dev, rb_u64 sector, const void *buf, rb_u32 bytes,
			 unsigned int flags);
	static void drain(void *, rb_u32, rb_u64, rb_u64) {}
	static void release_held(void *) {}
	static void event(void *) {}
	// Byte position in dev_ of an absolute spare-device sector, or false if before the range.
	bool position(rb_u64 sector, uint64_t *byte) const;

	static const rb_io_ops kOps;

	const Device &dev_;
	uint64_t offset_;
	uint64_t spare_offset_;
	uint64_t hidden_ = 0;
	bool hiding_ = false;
};

} // namespace dmremap
