// SPDX-License-Identifier: GPL-2.0
// A fixed-size bitmap in the kernel's layout (unsigned long words), so the search can be the
// kernel's find_next_zero_bit through the boundary.
#pragma once

#include "result.h"

namespace remap {

class Bitmap {
public:
	Bitmap() = default;
	~Bitmap() { rb_free_large(words_); }
	Bitmap(const Bitmap &) = delete;
	Bitmap &operator=(const Bitmap &) = delete;

	// All bits clear. May sleep.
	[[nodiscard]] Status init(u64 bits, Gfp gfp);

	u64 size() const { return bits_; }
	// Memory held, as the size class of its allocation (0 before init()).
	u64 bytes() const
	{
		const u64 words = bits_ / kWordBits + (bits_ % kWordBits ? 1 : 0);
		return words_ ? rb_alloc_large_bytes((words ? words : 1) * sizeof(unsigned long)) : 0;
	}
	bool test(u64 bit) const { return (words_[bit / kWordBits] >> (bit % kWordBits)) & 1; }
	void set(u64 bit) { words_[bit / kWordBits] |= 1ul << (bit % kWordBits); }
	void clear(u64 bit) { words_[bit / kWordBits] &= ~(1ul << (bit % kWordBits)); }
	// The first clear bit at or after from, or size() if there is none.
	u64 find_next_zero(u64 from) const
	{
		return rb_find_next_zero_bit(words_, static_cast<unsigned long>(bits_),
					     static_cast<unsigned long>(from));
	}

private:
	enum : u64 { kWordBits = 8 * sizeof(unsigned long) };
	unsigned long *words_ = nullptr;
	u64 bits_ = 0;
};

} // namespace remap
