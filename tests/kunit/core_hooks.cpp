// SPDX-License-Identifier: GPL-2.0
// The C side of the KUnit suites reaches the core's C++ classes through these wrappers
// (tests/kunit/core_hooks.h). Compiled with the same flags as the core in dm-remap.ko.
#include "core_hooks.h"

#include "geometry.h"
#include "message_parser.h"
#include "metadata_codec.h"
#include "spare_allocator.h"

using namespace remap;

// ---- SpareAllocator ----

struct rkt_alloc {
	SpareAllocator a;
};

extern "C" struct rkt_alloc *rkt_alloc_create(rb_u64 total_blocks)
{
	rkt_alloc *h = make<rkt_alloc>(Gfp::Kernel);
	if (!h)
		return nullptr;
	if (h->a.init(total_blocks, Gfp::Kernel).is_error()) {
		destroy(h);
		return nullptr;
	}
	return h;
}

extern "C" void rkt_alloc_destroy(struct rkt_alloc *a) { destroy(a); }
extern "C" void rkt_alloc_reserve(struct rkt_alloc *a, rb_u64 b) { a->a.reserve(SpareBlock(b)); }
extern "C" void rkt_alloc_mark_in_use(struct rkt_alloc *a, rb_u64 b)
{
	a->a.mark_in_use(SpareBlock(b));
}

extern "C" rb_s64 rkt_alloc_get(struct rkt_alloc *a)
{
	Result<SpareBlock> r = a->a.allocate();
	if (r.is_error())
		return r.error().code();
	return static_cast<rb_s64>(r.value().value());
}

extern "C" void rkt_alloc_release(struct rkt_alloc *a, rb_u64 b) { a->a.release(SpareBlock(b)); }
extern "C" void rkt_alloc_free(struct rkt_alloc *a, rb_u64 b) { a->a.free(SpareBlock(b)); }
extern "C" void rkt_alloc_mark_bad(struct rkt_alloc *a, rb_u64 b) { a->a.mark_bad(SpareBlock(b)); }
extern "C" rb_u64 rkt_alloc_available(const struct rkt_alloc *a) { return a->a.available(); }
extern "C" rb_u64 rkt_alloc_reserved(const struct rkt_alloc *a) { return a->a.reserved_blocks(); }
extern "C" int rkt_alloc_is_reserved(const struct rkt_alloc *a, rb_u64 b)
{
	return a->a.is_reserved(SpareBlock(b));
}
extern "C" rb_u64 rkt_alloc_cache_hits(const struct rkt_alloc *a) { return a->a.cache_hits(); }
extern "C" rb_u64 rkt_alloc_cache_misses(const struct rkt_alloc *a) { return a->a.cache_misses(); }

// ---- Geometry and the metadata codec ----

namespace {

const char *make_geometry(const rkt_geometry *g, Geometry *geo)
{
	return remap::error_text(Geometry::create(g->data_offset, g->data_len, g->spare_offset,
						  g->spare_len, g->block_size, geo));
}

// The hooks are only called with geometries rkt_geometry_create accepted.
Geometry geometry_of(const rkt_geometry *g)
{
	Geometry geo;
	const char *err = make_geometry(g, &geo);
	(void)err;
	return geo;
}

EntryState state_of(u32 s) { return static_cast<EntryState>(s); }

} // namespace

extern "C" const char *rkt_geometry_create(struct rkt_geometry *g)
{
	Geometry geo;
	const char *err = make_geometry(g, &geo);
	if (err)
		return err;
	g->spare_blocks = geo.spare_blocks();
	g->entries_per_table_block = geo.entries_per_table_block();
	g->table_blocks = geo.table_blocks();
	g->first_usable_spare = geo.first_usable_spare().value();
	return nullptr;
}

extern "C" void rkt_superblock_encode(const struct rkt_geometry *g, const struct rkt_superblock *in,
				      rb_u8 *block)
{
	const Geometry geo = geometry_of(g);
	Superblock sb;
	init_superblock(geo, &sb);
	sb.seq = in->seq;
	for (u32 i = 0; i < kUuidBytes; i++)
		sb.uuid[i] = in->uuid[i];
	sb.area = in->area;
	sb.used_blocks = in->used_blocks;
	sb.used_slots = in->used_slots;
	sb.entry_count = in->entry_count;
	sb.table_crc = in->table_crc;
	encode_superblock(sb, block, geo.block_size());
}

extern "C" const char *rkt_superblock_decode(const struct rkt_geometry *g, const rb_u8 *block,
					     struct rkt_superblock *out)
{
	const Geometry geo = geometry_of(g);
	Superblock sb;
	const char *err = remap::error_text(decode_superblock(geo, block, &sb));
	if (err)
		return err;
	out->seq = sb.seq;
	for (u32 i = 0; i < kUuidBytes; i++)
		out->uuid[i] = sb.uuid[i];
	out->area = sb.area;
	out->used_blocks = sb.used_blocks;
	out->used_slots = sb.used_slots;
	out->entry_count = sb.entry_count;
	out->table_crc = sb.table_crc;
	return nullptr;
}

extern "C" int rkt_superblock_block_size(const rb_u8 *block, rb_u32 *block_size)
{
	return superblock_block_size(block, block_size);
}

extern "C" rb_u32 rkt_slots_in_table_block(const struct rkt_geometry *g, rb_u64 used_slots,
					   rb_u32 index)
{
	return slots_in_table_block(geometry_of(g), used_slots, index);
}

extern "C" rb_u32 rkt_table_block_encode(const struct rkt_geometry *g, const rb_u8 uuid[16],
					 rb_u64 seq, rb_u32 area, rb_u32 index,
					 const struct rkt_entry *slots, rb_u32 nslots, rb_u8 *block)
{
	const Geometry geo = geometry_of(g);
	Entry *entries = new (Gfp::Kernel) Entry[nslots ? nslots : 1];
	if (!entries)
		return 0;
	for (u32 i = 0; i < nslots; i++)
		entries[i] =
			Entry{slots[i].data_block, slots[i].spare_block, state_of(slots[i].state)};
	const u32 crc = encode_table_block(geo, uuid, seq, area, index, entries, nslots, block);
	delete[] entries;
	return crc;
}

extern "C" const char *rkt_table_block_decode(const struct rkt_geometry *g, const rb_u8 uuid[16],
					      rb_u64 max_seq, rb_u32 area, rb_u32 index,
					      rb_u32 expected_slots, const rb_u8 *block,
					      struct rkt_entry *out, rb_u32 *crc)
{
	const Geometry geo = geometry_of(g);
	const u32 e = geo.entries_per_table_block();
	Entry *entries = new (Gfp::Kernel) Entry[e];
	if (!entries)
		return "out of memory (test hook)";
	const char *err = remap::error_text(decode_table_block(
		geo, uuid, max_seq, area, index, expected_slots, block, entries, crc));
	if (!err) {
		for (u32 i = 0; i < e; i++)
			out[i] = rkt_entry{entries[i].data_block, entries[i].spare_block,
					   static_cast<u32>(entries[i].state)};
	}
	delete[] entries;
	return err;
}

// ---- message parser ----

extern "C" const char *rkt_parse_message(unsigned int argc, char **argv, struct rkt_message *out)
{
	Message m;
	const char *err = remap::error_text(parse_message(argc, argv, &m));
	if (err)
		return err;
	out->verb = static_cast<u32>(m.verb);
	out->nargs = m.nargs;
	out->args[0] = m.args[0];
	out->args[1] = m.args[1];
	return nullptr;
}
