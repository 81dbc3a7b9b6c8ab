// A pair of in-memory block devices behind rb_io_ops, with a volatile write cache: a write is
// durable only after a flush (or REQ_PREFLUSH on a later write) or with FUA. crash() keeps
// what was durable, optionally plus some of the rest, possibly torn at 512-byte granularity.
#pragma once

#include <array>
#include <cstring>
#include <functional>
#include <random>
#include <unordered_map>
#include <vector>

#include "boundary_user.h"
#include "remap_boundary.h"

class MemDisk {
public:
	struct Write {
		int dev;
		rb_u64 sector;
		std::vector<unsigned char> data;
		unsigned flags = 0; // RB_IO_*, as the engine issued it
	};

	MemDisk(rb_u64 data_sectors, rb_u64 spare_sectors) : size_{data_sectors, spare_sectors} {}

	const rb_io_ops *ops() const { return &kOps; }
	void *ctx() { return this; }

	// The nth write from now fails (and, if crash_at_failure, nothing after it happens).
	int fail_write_in = -1;
	int fail_read_in = -1;
	int fail_error = -5;
	// Called when a write is about to be issued; returning false fails it.
	std::function<bool(const Write &)> write_filter;
	// Called for each read (device, first sector); returning false fails it.
	std::function<bool(int, rb_u64)> read_filter;
	// Called first for each read (device, first sector, flags), before the disk is touched:
	// a non-zero return fails the read with that errno. It may block (a slow device).
	std::function<int(int, rb_u64, unsigned)> read_hook;
	rb_u32 read_bytes = 0; // the size of the read read_hook is called for
	// Called for each write before it happens: a non-zero return fails it with that errno.
	std::function<int(const Write &)> write_hook;
	// Every drain the engine asked for, and a hook called with it (from inside
	// publish_locked()).
	struct Drain {
		rb_u32 generation;
		rb_u64 sector, sectors;
	};
	std::vector<Drain> drain_log;
	std::function<void(const Drain &)> drain_hook;
	// Sectors that never read, as on a disk with bad sectors: a read overlapping one fails.
	struct Range {
		int dev;
		rb_u64 lo, hi;
	};
	std::vector<Range> unreadable;
	// The next read fails, and so does every later read of its sectors (unreadable gets its
	// range): a block that does not read at any size, not one read that failed once.
	void fail_next_read_for_good()
	{
		fail_read_in = 0;
		fail_read_sticks_ = true;
	}
	int writes = 0;
	// Logical block size of each device (RB_DATA_DEV, RB_SPARE_DEV): a read or write that is
	// shorter than it, not a multiple of it or not aligned to it fails with -EINVAL, as a
	// driver refuses it, and is counted in misaligned_io.
	rb_u32 logical_block[2] = {512, 512};
	int misaligned_io = 0;
	int drains = 0;
	int events = 0; // dm events raised (spare blocks low / exhausted)

	// Direct access for tests (as if by dd): reads see and writes change the current image
	// and the durable one alike.
	void poke(int dev, rb_u64 byte_offset, const void *src, size_t len)
	{
		for (size_t i = 0; i < len; i++) {
			rb_u64 b = byte_offset + i;
			sector(current_[dev], b / 512)[b % 512] =
				static_cast<const unsigned char *>(src)[i];
			sector(durable_[dev], b / 512)[b % 512] =
				static_cast<const unsigned char *>(src)[i];
		}
	}
	unsigned char peek(int dev, rb_u64 byte_offset)
	{
		return sector(current_[dev], byte_offset / 512)[byte_offset % 512];
	}

	// Power cut: what survives is the durable image, plus each unflushed write with
	// probability keep_chance, each 512-byte sector of it independently if torn.
	void crash(std::mt19937_64 *rng = nullptr, unsigned keep_chance_pct = 0, bool torn = false)
	{
		for (const Write &w : volatile_) {
			if (!rng || (*rng)() % 100 >= keep_chance_pct)
				continue;
			for (size_t off = 0; off < w.data.size(); off += 512) {
				if (torn && (*rng)() % 2)
					continue;
				std::memcpy(sector(durable_[w.dev], w.sector + off / 512).data(),
					    &w.data[off], 512);
			}
		}
		volatile_.clear();
		current_[0] = durable_[0];
		current_[1] = durable_[1];
	}

private:
	static int do_read(void *ctx, rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
			   unsigned flags)
	{
		rb_user_might_sleep("an rb_io_ops read"); // submit_bio_wait() in the kernel
		auto *d = static_cast<MemDisk *>(ctx);
		if (d->misaligned(dev, sector, bytes))
			return -22;
		if (d->read_hook) {
			d->read_bytes = bytes;
			if (int r = d->read_hook(dev, sector, flags))
				return r;
		}
		if (d->fail_read_in >= 0 && d->fail_read_in-- == 0) {
			if (d->fail_read_sticks_)
				d->unreadable.push_back({dev, sector, sector + bytes / 512});
			d->fail_read_sticks_ = false;
			return d->fail_error;
		}
		if (d->read_filter && !d->read_filter(dev, sector))
			return d->fail_error;
		for (const Range &r : d->unreadable) {
			if (r.dev == dev && sector < r.hi && sector + bytes / 512 > r.lo)
				return d->fail_error;
		}
		if (sector + bytes / 512 > d->size_[dev])
			return -5;
		for (rb_u32 i = 0; i < bytes / 512; i++)
			std::memcpy(static_cast<unsigned char *>(buf) + i * 512,
				    d->sector(d->current_[dev], sector + i).data(), 512);
		return 0;
	}

	static int do_write(void *ctx, rb_device dev, rb_u64 sector, const void *buf, rb_u32 bytes,
			    unsigned flags)
	{
		rb_user_might_sleep("an rb_io_ops write");
		auto *d = static_cast<MemDisk *>(ctx);
		if (d->misaligned(dev, sector, bytes))
			return -22;
		if (sector + bytes / 512 > d->size_[dev])
			return -5;
		Write w{dev, sector,
			std::vector<unsigned char>(static_cast<const unsigned char *>(buf),
						   static_cast<const unsigned char *>(buf) + bytes),
			flags};
		if (d->fail_write_in >= 0 && d->fail_write_in-- == 0)
			return d->fail_error;
		if (d->write_filter && !d->write_filter(w))
			return d->fail_error;
		if (d->write_hook) {
			if (int r = d->write_hook(w))
				return r;
		}
		d->writes++;
		if (flags & RB_IO_PREFLUSH)
			d->flush_all();
		d->store(d->current_[dev], w);
		if (flags & RB_IO_FUA)
			d->store(d->durable_[dev], w);
		else
			d->volatile_.push_back(std::move(w));
		return 0;
	}

	bool misaligned(int dev, rb_u64 sector, rb_u32 bytes)
	{
		const rb_u32 lbs = logical_block[dev];
		if (bytes >= lbs && bytes % lbs == 0 && sector * 512 % lbs == 0)
			return false;
		misaligned_io++;
		return true;
	}

	void flush_all()
	{
		for (const Write &w : volatile_)
			store(durable_[w.dev], w);
		volatile_.clear();
	}

	using Image = std::unordered_map<rb_u64, std::array<unsigned char, 512>>;

	// Sectors never written read as zero; storage is only spent on written ones.
	static std::array<unsigned char, 512> &sector(Image &img, rb_u64 s)
	{
		auto it = img.find(s);
		if (it == img.end())
			it = img.emplace(s, std::array<unsigned char, 512>{}).first;
		return it->second;
	}

	void store(Image &img, const Write &w)
	{
		for (size_t off = 0; off < w.data.size(); off += 512)
			std::memcpy(sector(img, w.sector + off / 512).data(), &w.data[off], 512);
	}

	static void do_drain(void *ctx, rb_u32 generation, rb_u64 sector, rb_u64 sectors)
	{
		rb_user_might_sleep("rb_io_ops.drain"); // usleep_range() in the glue
		auto *d = static_cast<MemDisk *>(ctx);
		d->drains++;
		d->drain_log.push_back(Drain{generation, sector, sectors});
		if (d->drain_hook)
			d->drain_hook(d->drain_log.back());
	}
	static void do_release(void *) { rb_user_might_sleep("rb_io_ops.release_held"); }
	static void do_event(void *ctx)
	{
		rb_user_might_sleep("rb_io_ops.event"); // dm_table_event() takes a mutex
		static_cast<MemDisk *>(ctx)->events++;
	}

	static constexpr rb_io_ops kOps = {do_read, do_write, do_drain, do_release, do_event};

	bool fail_read_sticks_ = false;
	rb_u64 size_[2];
	Image durable_[2];
	Image current_[2];
	std::vector<Write> volatile_;
};
