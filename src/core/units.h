// SPDX-License-Identifier: GPL-2.0
// Distinct types for distinct units: a 512-byte sector, a block of the data range and a block of
// the spare range are never interchangeable plain integers. Conversions go through Geometry.
// Arithmetic keeps the unit: an index plus or minus a count (a plain u64: that many units) is
// an index of the same unit, and the distance between two indexes is a count; indexes of two
// units never meet in one expression.
#pragma once

#include "base.h"

namespace remap {

template <typename Tag> class Index {
public:
	constexpr Index() = default;
	constexpr explicit Index(u64 v) : v_(v) {}
	constexpr u64 value() const { return v_; }

	constexpr bool operator==(Index o) const { return v_ == o.v_; }
	constexpr bool operator!=(Index o) const { return v_ != o.v_; }
	constexpr bool operator<(Index o) const { return v_ < o.v_; }
	constexpr bool operator<=(Index o) const { return v_ <= o.v_; }
	constexpr bool operator>(Index o) const { return v_ > o.v_; }
	constexpr bool operator>=(Index o) const { return v_ >= o.v_; }

	constexpr Index operator+(u64 n) const { return Index(v_ + n); }
	constexpr Index operator-(u64 n) const { return Index(v_ - n); }
	// How many units from o up to this one (o <= *this).
	constexpr u64 operator-(Index o) const { return v_ - o.v_; }
	constexpr Index &operator+=(u64 n)
	{
		v_ += n;
		return *this;
	}
	constexpr Index &operator-=(u64 n)
	{
		v_ -= n;
		return *this;
	}
	constexpr Index &operator++()
	{
		v_++;
		return *this;
	}
	constexpr Index operator++(int)
	{
		const Index old = *this;
		v_++;
		return old;
	}

private:
	u64 v_ = 0;
};

using Sector = Index<struct SectorTag>;         // 512 bytes, relative to the target start
using DataBlock = Index<struct DataBlockTag>;   // block_size bytes, relative to data_offset
using SpareBlock = Index<struct SpareBlockTag>; // block_size bytes, relative to spare_offset

} // namespace remap
