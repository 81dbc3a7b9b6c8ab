// SPDX-License-Identifier: GPL-2.0
// The C boundary's entry points (include/remap_boundary.h): each one line into RemapTarget.
#include "locks.h"
#include "memory.h"
#include "remap_target.h"

using namespace remap;

// struct rc_target is never defined: the C side only holds the pointer.
extern "C" int rc_target_create(const struct rc_table *table, const struct rc_devices *devs,
				const struct rb_io_ops *io, void *io_ctx, struct rc_target **out,
				const char **error)
{
	auto r = RemapTarget::create(*table, *devs, io, io_ctx);
	if (r.is_error())
		return to_boundary(r.error(), error);
	*out = reinterpret_cast<rc_target *>(r.value());
	return 0;
}

static RemapTarget *engine(rc_target *t) { return reinterpret_cast<RemapTarget *>(t); }
static const RemapTarget *engine(const rc_target *t)
{
	return reinterpret_cast<const RemapTarget *>(t);
}

extern "C" void rc_target_destroy(struct rc_target *t) { destroy(engine(t)); }

// preresume: the mapped device is suspended, and I/O to it (reclaim's writeback included) waits
// for this resume, so what it allocates must not wait for I/O.
extern "C" int rc_target_resume(struct rc_target *t)
{
	NoioScope noio;
	return to_errno(engine(t)->resume());
}

extern "C" void rc_target_suspend(struct rc_target *t) { engine(t)->suspend(); }

extern "C" void rc_target_map(const struct rc_target *t, rb_u64 sector, rb_u32 sectors,
			      struct rc_mapping *out)
{
	engine(t)->map(sector, sectors, out);
}

extern "C" const struct rc_io_view *const *rc_target_io_view(const struct rc_target *t)
{
	return engine(t)->io_view();
}

extern "C" int rc_io_view_touches(const struct rc_io_view *v, rb_u64 sector, rb_u32 sectors)
{
	if (sectors == 0)
		return 1;
	// The table lives while the view does: publish_locked() frees a table only after a grace
	// period that follows the publication of the next view.
	const LookupTable *t = static_cast<const LookupTable *>(v->mapping);
	return t->any_in(sector >> v->block_shift, (sector + sectors - 1) >> v->block_shift);
}

// The worker's entry points: the I/O path, on which reclaim must not wait for our own I/O.
extern "C" int rc_target_rewrite(struct rc_target *t, const struct rc_extent *extents, rb_u32 count)
{
	NoioScope noio;
	if (engine(t)->read_only())
		return -kEROFS; // a read-only table writes nothing, not even a retry in place
	int r = engine(t)->rewrite(extents, count);
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_reread(struct rc_target *t, rb_u64 sector, rb_u32 sectors, void *data,
				int error)
{
	NoioScope noio;
	int r = engine(t)->reread(sector, sectors, static_cast<u8 *>(data), error);
	engine(t)->check_spare_events();
	return r;
}

extern "C" int rc_target_auto_remap(const struct rc_target *t) { return engine(t)->auto_remap(); }

extern "C" enum rc_verdict rc_target_failed_io(struct rc_target *t, const struct rc_failed_io *f)
{
	return engine(t)->failed_io(*f);
}

extern "C" void rc_target_count_error(struct rc_target *t, int is_write)
{
	engine(t)->count_error(is_write != 0);
}

extern "C" void rc_target_count_redone_write(struct rc_target *t, rb_u64 ns)
{
	engine(t)->count_redone_write(ns);
}

extern "C" int rc_target_message(struct rc_target *t, unsigned int argc, char **argv, char *result,
				 unsigned int maxlen)
{
	return engine(t)->message(argc, argv, result, maxlen);
}

extern "C" void rc_target_status_info(struct rc_target *t, char *buf, unsigned int maxlen,
				      unsigned int *used)
{
	TextBuffer out(buf, maxlen, used);
	engine(t)->status_info(out);
}
