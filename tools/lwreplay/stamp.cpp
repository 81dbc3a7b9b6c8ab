// SPDX-License-Identifier: GPL-2.0
// See stamp.h. Layout of a stamped sector (little-endian):
//   0 "LWSTAMP1", 8 block (u64), 16 version (u64), 24 index (u32), 28..507 filler derived from
//   (block, version, index), 508 CRC32C of bytes 0..507 (standard form: seed and final ~0).
#include "stamp.h"

#include "log_format.h"

#include <cstring>
#include <isa-l/crc.h>

namespace lwreplay {
namespace {

constexpr char kMagic[8] = {'L', 'W', 'S', 'T', 'A', 'M', 'P', '1'};
constexpr uint32_t kCrcOffset = kStampBytes - 4;

void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t crc_of(const uint8_t *p)
{
	return ~crc32_iscsi(const_cast<uint8_t *>(p), kCrcOffset, 0xffffffffu);
}

} // namespace

void stamp_sector(uint8_t *out, uint64_t block, uint32_t index, uint64_t version)
{
	std::memcpy(out, kMagic, sizeof(kMagic));
	put64(out + 8, block);
	put64(out + 16, version);
	for (int i = 0; i < 4; i++)
		out[24 + i] = static_cast<uint8_t>(index >> (8 * i));
	// The filler differs between any two (block, version, index): a sector copied whole to
	// the wrong place still reads as itself, but a sector put together from two writes fails
	// its CRC.
	uint64_t x = block * 0x9e3779b97f4a7c15ull ^ version * 0xbf58476d1ce4e5b9ull ^ index;
	for (uint32_t off = 28; off < kCrcOffset; off++) {
		x ^= x >> 31;
		x *= 0x94d049bb133111ebull;
		out[off] = static_cast<uint8_t>(x >> 56);
	}
	const uint32_t crc = crc_of(out);
	for (int i = 0; i < 4; i++)
		out[kCrcOffset + i] = static_cast<uint8_t>(crc >> (8 * i));
}

Stamp read_stamp(const uint8_t *in)
{
	Stamp s;
	bool zero = true;
	for (uint32_t i = 0; i < kStampBytes && zero; i++)
		zero = in[i] == 0;
	if (zero) {
		s.kind = Stamp::Kind::Zero;
		return s;
	}
	uint32_t crc = 0;
	for (int i = 3; i >= 0; i--)
		crc = (crc << 8) | in[kCrcOffset + i];
	if (std::memcmp(in, kMagic, sizeof(kMagic)) != 0 || crc != crc_of(in))
		return s;
	s.block = le64(in + 8);
	s.version = le64(in + 16);
	s.index = static_cast<uint32_t>(in[24]) | static_cast<uint32_t>(in[25]) << 8 |
		static_cast<uint32_t>(in[26]) << 16 | static_cast<uint32_t>(in[27]) << 24;
	s.kind = s.version == 0 ? Stamp::Kind::Garbage : Stamp::Kind::Valid;
	return s;
}

} // namespace lwreplay
