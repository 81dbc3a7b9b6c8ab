// SPDX-License-Identifier: GPL-2.0
// See spare_io.h. These functions are called from the core: they report errors as -errno and
// never throw.
#include "spare_io.h"

#include <cerrno>
#include <cstring>

namespace dmremap {

const rb_io_ops SpareIo::kOps = {
	SpareIo::read, SpareIo::write, SpareIo::drain, SpareIo::release_held, SpareIo::event,
};

bool SpareIo::position(rb_u64 sector, uint64_t *byte) const
{
	if (sector < spare_offset_)
		return false;
	*byte = (sector - spare_offset_ + offset_) * 512;
	return true;
}

int SpareIo::read(void *ctx, rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
		  unsigned /*flags*/)
{
	auto *io = static_cast<SpareIo *>(ctx);
	uint64_t byte;
	if (dev != RB_SPARE_DEV || !io->position(sector, &byte))
		return -EIO; // offline, only the spare area exists
	if (io->hiding_ && sector == io->hidden_) {
		std::memset(buf, 0, bytes);
		return 0;
	}
	return io->dev_.read_at(byte, buf, bytes);
}

int SpareIo::write(void *ctx, rb_device dev, rb_u64 sector, const void *buf, rb_u32 bytes,
		   unsigned int flags)
{
	auto *io = static_cast<SpareIo *>(ctx);
	uint64_t byte;
	if (dev != RB_SPARE_DEV || !io->position(sector, &byte))
		return -EIO;
	int r = (flags & RB_IO_PREFLUSH) ? io->dev_.sync() : 0;
	if (!r)
		r = io->dev_.write_at(byte, buf, bytes);
	if (!r && (flags & RB_IO_FUA))
		r = io->dev_.sync();
	return r;
}

} // namespace dmremap
