// SPDX-License-Identifier: GPL-2.0
// Vocabulary every core file uses: fixed-width integers, errno values, move/forward and a few
// arithmetic helpers. The core is freestanding C++: nothing here comes from a standard library.
#pragma once

#include "remap_boundary.h"

namespace remap {

using u8 = rb_u8;
using u16 = rb_u16;
using u32 = rb_u32;
using u64 = rb_u64;
using s32 = rb_s32;
using s64 = rb_s64;
using usize = rb_size_t;

// Linux errno values (identical in the kernel and in Linux userspace); kept as constants so
// the core needs no errno.h. The userspace build checks them against <errno.h>.
enum Errno : int {
	kENOENT = 2,
	kEIO = 5,
	kENOMEM = 12,
	kEBUSY = 16,
	kEEXIST = 17,
	kEINVAL = 22,
	kENOSPC = 28,
	kEROFS = 30,
	kERANGE = 34,
	kENODATA = 61,
	kEOVERFLOW = 75,
	kEBADMSG = 74,
};

template <typename T> struct RemoveReference {
	using Type = T;
};
template <typename T> struct RemoveReference<T &> {
	using Type = T;
};
template <typename T> struct RemoveReference<T &&> {
	using Type = T;
};

template <typename T> constexpr typename RemoveReference<T>::Type &&move(T &&v) noexcept
{
	return static_cast<typename RemoveReference<T>::Type &&>(v);
}

template <typename T> constexpr T &&forward(typename RemoveReference<T>::Type &v) noexcept
{
	return static_cast<T &&>(v);
}

template <typename T> constexpr T &&forward(typename RemoveReference<T>::Type &&v) noexcept
{
	return static_cast<T &&>(v);
}

template <typename T> constexpr const T &min(const T &a, const T &b) { return b < a ? b : a; }
template <typename T> constexpr const T &max(const T &a, const T &b) { return a < b ? b : a; }

constexpr bool is_power_of_two(u64 v) { return v != 0 && (v & (v - 1)) == 0; }

// log2 of a power of two, without libgcc.
constexpr u32 ilog2(u64 v)
{
	u32 r = 0;
	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

// Asks for the cache line holding p without waiting for it: a hint, which never faults, so p
// may point anywhere. One prefetch instruction (no library call), in the kernel as here.
[[gnu::always_inline]] inline void prefetch(const void *p) { __builtin_prefetch(p); }

// a + b, or false if it wraps.
[[nodiscard]] constexpr bool checked_add(u64 a, u64 b, u64 *out)
{
	return !__builtin_add_overflow(a, b, out);
}

[[nodiscard]] constexpr bool checked_mul(u64 a, u64 b, u64 *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

} // namespace remap
