// SPDX-License-Identifier: GPL-2.0
// The registry of claimed areas; see registry.h. A plain list: a host has a handful of remap
// tables, and it is only walked by constructors, destructors and first resumes.
#include "registry.h"

namespace remap {

namespace {

// Constant-initialized (no constructor runs): the list of registered claims.
AreaClaim *claims GUARDED_BY(global_lock) = nullptr;

bool overlaps(u64 dev_a, u64 off_a, u64 len_a, u64 dev_b, u64 off_b, u64 len_b)
{
	return dev_a == dev_b && off_a < off_b + len_b && off_b < off_a + len_a;
}

bool spare_overlaps(const AreaClaim &c, const AreaClaim &o)
{
	return overlaps(c.spare_dev, c.spare_offset, c.spare_len, o.spare_dev, o.spare_offset,
			o.spare_len) ||
		overlaps(c.spare_dev, c.spare_offset, c.spare_len, o.data_dev, o.data_offset,
			 o.data_len);
}

bool data_overlaps(const AreaClaim &c, const AreaClaim &o)
{
	return overlaps(c.data_dev, c.data_offset, c.data_len, o.data_dev, o.data_offset,
			o.data_len) ||
		overlaps(c.data_dev, c.data_offset, c.data_len, o.spare_dev, o.spare_offset,
			 o.spare_len);
}

} // namespace

bool AreaClaim::same_area(const AreaClaim &o) const
{
	return data_dev == o.data_dev && data_offset == o.data_offset && spare_dev == o.spare_dev &&
		spare_offset == o.spare_offset && block_size == o.block_size;
}

namespace registry {

Status add(AreaClaim *c)
{
	global_assert_held();
	for (const AreaClaim *o = claims; o; o = o->next) {
		const bool spare = spare_overlaps(*c, *o);
		if (!spare && !data_overlaps(*c, *o))
			continue;
		if (o->owner != c->owner)
			return Error::busy(spare ? "Spare area is in use by another device"
						 : "Data range is in use by another remap device");
		if (!c->same_area(*o))
			return Error::invalid(
				"A reload must keep the live table's devices, offsets and block_size");
	}
	c->next = claims;
	claims = c;
	c->registered = true;
	c->live = false;
	c->orphaned = false;
	return {};
}

void remove(AreaClaim *c)
{
	global_assert_held();
	if (!c->registered)
		return;
	for (AreaClaim *o = claims; c->live && o; o = o->next) {
		if (o != c && !o->live && o->owner == c->owner && c->same_area(*o))
			o->orphaned = true;
	}
	for (AreaClaim **p = &claims; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	c->next = nullptr;
	c->registered = false;
	c->live = false;
}

AreaClaim *live_sibling(const AreaClaim *c)
{
	global_assert_held();
	for (AreaClaim *o = claims; o; o = o->next) {
		if (o != c && o->live && o->owner == c->owner && c->same_area(*o))
			return o;
	}
	return nullptr;
}

} // namespace registry
} // namespace remap
