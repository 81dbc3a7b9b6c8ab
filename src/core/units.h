// SPDX-License-Identifier: GPL-2.0
// Distinct types for distinct units: a 512-byte sector, a block of the data range and a block of
// the spare range are never interchangeable plain integers. Conversions go through Geometry.
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

private:
	u64 v_ = 0;
};

using Sector = Index<struct SectorTag>;         // 512 bytes, relative to the target start
using DataBlock = Index<struct DataBlockTag>;   // block_size bytes, relative to data_offset
using SpareBlock = Index<struct SpareBlockTag>; // block_size bytes, relative to spare_offset

} // namespace remap
