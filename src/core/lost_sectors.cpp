// SPDX-License-Identifier: GPL-2.0
// Sets of lost sectors; see lost_sectors.h.
#include "lost_sectors.h"

#include "memory.h"
#include "sort.h"

namespace remap {
namespace {

// Bits set in v, without libgcc's __popcountdi2.
u32 popcount64(u64 v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return static_cast<u32>((v * 0x0101010101010101ull) >> 56);
}

// Bits [lo, hi) of word k (of 64 sectors each) as a mask.
u64 word_bits(u32 k, u32 lo, u32 hi)
{
	const u32 base = k * 64;
	if (hi <= base || lo >= base + 64)
		return 0;
	const u32 a = lo > base ? lo - base : 0;
	const u32 b = hi < base + 64 ? hi - base : 64;
	const u64 upto_b = b == 64 ? ~0ull : (1ull << b) - 1;
	return upto_b & ~((1ull << a) - 1);
}

} // namespace

bool SectorMask::any() const
{
	u64 acc = 0;
	for (u32 k = 0; k < kWords; k++)
		acc |= w[k];
	return acc != 0;
}

u32 SectorMask::count() const
{
	u32 n = 0;
	for (u32 k = 0; k < kWords; k++)
		n += popcount64(w[k]);
	return n;
}

bool SectorMask::touches(u32 lo, u32 hi) const
{
	for (u32 k = 0; k < kWords; k++) {
		if (w[k] & word_bits(k, lo, hi))
			return true;
	}
	return false;
}

void SectorMask::set(u32 lo, u32 hi)
{
	for (u32 k = 0; k < kWords; k++)
		w[k] |= word_bits(k, lo, hi);
}

void SectorMask::clear(u32 lo, u32 hi)
{
	for (u32 k = 0; k < kWords; k++)
		w[k] &= ~word_bits(k, lo, hi);
}

bool SectorMask::overlaps(const SectorMask &o) const
{
	for (u32 k = 0; k < kWords; k++) {
		if (w[k] & o.w[k])
			return true;
	}
	return false;
}

bool SectorMask::operator==(const SectorMask &o) const
{
	for (u32 k = 0; k < kWords; k++) {
		if (w[k] != o.w[k])
			return false;
	}
	return true;
}

bool SectorMask::next_run(u32 from, u32 limit, u32 *lo, u32 *hi) const
{
	u32 i = from;
	while (i < limit && !test(i))
		i++;
	if (i >= limit)
		return false;
	*lo = i;
	while (i < limit && test(i))
		i++;
	*hi = i;
	return true;
}

u64 LostSectors::lower_bound(u64 block) const { return lower_bound_in(blocks_, count_, block); }

u64 LostSectors::bytes() const { return rb_alloc_large_bytes(alloc_bytes_); }

LostSectors *LostSectors::get(const LostSectors *s)
{
	auto *m = const_cast<LostSectors *>(s);
	if (m)
		m->refs_++;
	return m;
}

void LostSectors::put(const LostSectors *s)
{
	auto *m = const_cast<LostSectors *>(s);
	if (m && --m->refs_ == 0) {
		m->~LostSectors();
		rb_free_large(m);
	}
}

u64 LostSectors::merge(const LostSectors *old, const Change *changes, u64 count, LostSectors *out)
{
	const u64 old_n = old ? old->count_ : 0;
	u64 i = 0, j = 0, k = 0, sectors = 0;
	while (i < old_n || j < count) {
		u64 block;
		const SectorMask *mask;
		if (j == count || (i < old_n && old->blocks_[i] < changes[j].block)) {
			block = old->blocks_[i];
			mask = &old->masks_[i++];
		} else {
			if (i < old_n && old->blocks_[i] == changes[j].block)
				i++; // replaced
			block = changes[j].block;
			mask = &changes[j++].mask;
		}
		if (!mask->any())
			continue;
		if (out) {
			out->blocks_[k] = block;
			out->masks_[k] = *mask;
			sectors += mask->count();
		}
		k++;
	}
	if (out) {
		out->count_ = k;
		out->sectors_ = sectors;
	}
	return k;
}

LostSectors *LostSectors::reserve(u64 capacity, Gfp gfp)
{
	const u64 n = capacity ? capacity : 1;
	const u64 bytes = sizeof(LostSectors) + n * (sizeof(u64) + sizeof(SectorMask));
	void *mem = rb_alloc_large(bytes, static_cast<rb_gfp>(gfp));
	if (!mem)
		return nullptr;
	auto *out = new (mem, place) LostSectors();
	out->alloc_bytes_ = bytes;
	out->capacity_ = n;
	out->masks_ = reinterpret_cast<SectorMask *>(out + 1);
	out->blocks_ = reinterpret_cast<u64 *>(out->masks_ + n);
	return out;
}

bool LostSectors::assign(const LostSectors *old, const Change *changes, u64 count)
{
	count_ = 0;
	sectors_ = 0;
	if (merge(old, changes, count, nullptr) > capacity_)
		return false;
	merge(old, changes, count, this);
	return true;
}

Result<LostSectors *> LostSectors::apply(const LostSectors *old, const Change *changes, u64 count,
					 Gfp gfp)
{
	const u64 n = merge(old, changes, count, nullptr);
	if (n == 0)
		return static_cast<LostSectors *>(nullptr);
	LostSectors *out = reserve(n, gfp);
	if (!out)
		return Error::no_memory("Cannot allocate the lost-sector set");
	merge(old, changes, count, out);
	return out;
}

LostLog::~LostLog() { rb_free_large(changes_); }

bool LostLog::reserve(u64 blocks, Gfp gfp)
{
	if (blocks <= capacity_)
		return true;
	auto *grown = static_cast<LostSectors::Change *>(
		rb_alloc_large(blocks * sizeof(LostSectors::Change), static_cast<rb_gfp>(gfp)));
	if (!grown)
		return false;
	if (count_)
		__builtin_memcpy(grown, changes_, count_ * sizeof(LostSectors::Change));
	rb_free_large(changes_);
	changes_ = grown;
	capacity_ = blocks;
	return true;
}

bool LostLog::add(u64 block, const SectorMask &mask, Gfp gfp)
{
	const bool after_last = count_ == 0 || changes_[count_ - 1].block < block;
	if (!after_last) {
		auto *c = const_cast<SectorMask *>(find(block));
		if (c) {
			*c = mask;
			return true;
		}
	}
	if (count_ == capacity_ && !reserve(capacity_ ? 2 * capacity_ : 16, gfp))
		return false;
	changes_[count_++] = LostSectors::Change{block, mask};
	ascending_ = ascending_ && after_last;
	return true;
}

const SectorMask *LostLog::find(u64 block) const
{
	if (!ascending_) {
		for (u64 i = 0; i < count_; i++) {
			if (changes_[i].block == block)
				return &changes_[i].mask;
		}
		return nullptr;
	}
	u64 lo = 0, hi = count_;
	while (lo < hi) {
		const u64 mid = lo + (hi - lo) / 2;
		if (changes_[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < count_ && changes_[lo].block == block ? &changes_[lo].mask : nullptr;
}

LostSectors::Change *LostLog::sorted()
{
	if (ascending_)
		return changes_;
	ascending_ = true;
	// Nearly sorted already: blocks are logged in the order of the change.
	insertion_sort(changes_, count_, [](const LostSectors::Change &c) { return c.block; });
	return changes_;
}

} // namespace remap
