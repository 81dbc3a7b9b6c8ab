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
		return words_ ? rb_alloc_large_bytes((words ? words : 1) * sizeof(unsigned long))
			      : 0;
	}
	bool test(u64 bit) const { return (words_[bit / kWordBits] >> (bit % kWordBits)) & 1; }
	void set(u64 bit) { words_[bit / kWordBits] |= 1ul << (bit % kWordBits); }
	void clear(u64 bit) { words_[bit / kWordBits] &= ~(1ul << (bit % kWordBits)); }
	// The first clear bit at or after from, or size() if there is none.
	u64 find_next_zero(u64 from) const { return find_next_zero(from, bits_); }
	// The first clear bit in [from, end), or end if there is none. end <= size().
	u64 find_next_zero(u64 from, u64 end) const
	{
		return rb_find_next_zero_bit(words_, static_cast<unsigned long>(end),
					     static_cast<unsigned long>(from));
	}
	// Sets the clear bits of the word that holds bit `from`, from `from` on (below size()),
	// lowest first and at most max of them, with one store; their numbers go to out. Returns
	// how many: at least one when `from` is clear and max > 0. *next = where a search for more
	// clear bits goes on: past the last one set, or the next word (may exceed size()).
	// Inline: on a nearly full bitmap a refill calls it for nearly every block it takes.
	u32 take_zeros_in_word(u64 from, u32 max, u64 *out, u64 *next);

private:
	enum : u64 {
		kWordBits = 8 * sizeof(unsigned long)
	};
	unsigned long *words_ = nullptr;
	u64 bits_ = 0;
};

inline u32 Bitmap::take_zeros_in_word(u64 from, u32 max, u64 *out, u64 *next)
{
	const u64 w = from / kWordBits;
	const u64 base = w * kWordBits;
	unsigned long zeros = ~words_[w] & (~0ul << (from % kWordBits));
	// The last word's bits past size() are clear but are no blocks.
	if (bits_ - base < kWordBits)
		zeros &= (1ul << (bits_ - base)) - 1;
	if (zeros == ~0ul && max >= kWordBits) {
		// A wholly free word (a fresh part of the bitmap): no bit to look for.
		for (u32 i = 0; i < kWordBits; i++)
			out[i] = base + i;
		words_[w] = ~0ul;
		*next = base + kWordBits;
		return kWordBits;
	}
	const unsigned long found = zeros;
	u32 n = 0;
	while (zeros && n < max) {
		out[n++] = base + static_cast<u64>(__builtin_ctzl(zeros));
		zeros &= zeros - 1; // the lowest one taken
	}
	words_[w] |= found ^ zeros;
	*next = !zeros ? base + kWordBits : n ? out[n - 1] + 1 : from;
	return n;
}

} // namespace remap
