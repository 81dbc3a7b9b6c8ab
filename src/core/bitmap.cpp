// SPDX-License-Identifier: GPL-2.0
// Bitmap storage; see bitmap.h.
#include "bitmap.h"

namespace remap {

Status Bitmap::init(u64 bits, Gfp gfp)
{
	u64 words = bits / kWordBits + (bits % kWordBits ? 1 : 0);
	u64 bytes;
	if (!checked_mul(words ? words : 1, sizeof(unsigned long), &bytes))
		return Error::no_memory("Cannot allocate a bitmap");
	auto *mem = static_cast<unsigned long *>(rb_alloc_large(bytes, static_cast<rb_gfp>(gfp)));
	if (!mem)
		return Error::no_memory("Cannot allocate a bitmap");
	rb_free_large(words_);
	words_ = mem;
	bits_ = bits;
	return {};
}

} // namespace remap
