// SPDX-License-Identifier: GPL-2.0
// Appending formatted text to a caller's fixed buffer with dm's DMEMIT rules: never overrun,
// always NUL-terminated, and once something did not fit nothing more is written (so a reader
// never sees a later field where a cut one should be).
#pragma once

#include "base.h"

namespace remap {

class TextBuffer {
public:
	TextBuffer(char *buf, unsigned maxlen, unsigned *used) :
	    buf_(buf), maxlen_(maxlen), used_(used)
	{}

	void emit(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		if (*used_ >= maxlen_)
			return;
		const unsigned room = maxlen_ - *used_;
		__builtin_va_list args;
		__builtin_va_start(args, fmt);
		int n = rb_vsnprintf(buf_ + *used_, room, fmt, args);
		__builtin_va_end(args);
		if (n < 0 || static_cast<unsigned>(n) >= room)
			*used_ = maxlen_; // cut: mark full
		else
			*used_ += static_cast<unsigned>(n);
	}

	// All of it or nothing: for line-by-line replies that must never end in a cut line.
	// Returns false (and leaves the buffer as it was) if it does not fit.
	bool emit_whole(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		if (*used_ >= maxlen_)
			return false;
		const unsigned room = maxlen_ - *used_;
		__builtin_va_list args;
		__builtin_va_start(args, fmt);
		int n = rb_vsnprintf(buf_ + *used_, room, fmt, args);
		__builtin_va_end(args);
		if (n < 0 || static_cast<unsigned>(n) >= room) {
			buf_[*used_] = '\0';
			return false;
		}
		*used_ += static_cast<unsigned>(n);
		return true;
	}

	bool full() const { return *used_ >= maxlen_; }

private:
	char *buf_;
	unsigned maxlen_;
	unsigned *used_;
};

} // namespace remap
