// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// The I/O path's map() against a reference model: routes, splits, holds, the fast view.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "boundary_user.h"
#include "mem_disk.h"
#include "table_test.h"

#include "engine_rig.h"

// ---------------------------------------------------------------------------------------------
// The I/O path
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, MapPassesCleanRequestsThroughWhole)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	for (u64 s : {0ull, 1ull, 7ull, 8ull, 100ull}) {
		rc_mapping m = map_io(t.get(), s, 2048);
		EXPECT_EQ(m.route, RC_ROUTE_DATA);
		EXPECT_EQ(m.sector, l.data_offset + s);
		EXPECT_EQ(m.sectors, 2048u);
	}
	rc_mapping m = map_io(t.get(), 0, static_cast<u32>(l.target_len()));
	EXPECT_EQ(m.sectors, l.target_len());

	// Remaps elsewhere do not cut a request that touches none of them.
	ASSERT_GE(remap_block(t.get(), l, 500), 0);
	m = map_io(t.get(), 0, static_cast<u32>(500 * l.bs()));
	EXPECT_EQ(m.route, RC_ROUTE_DATA);
	EXPECT_EQ(m.sectors, 500 * l.bs());
	m = map_io(t.get(), 501 * l.bs() + 3, static_cast<u32>(100 * l.bs()));
	EXPECT_EQ(m.route, RC_ROUTE_DATA);
	EXPECT_EQ(m.sector, l.data_offset + 501 * l.bs() + 3);
	EXPECT_EQ(m.sectors, 100 * l.bs());
}

// An empty request (an empty flush) covers nothing, wherever it points: the glue passes the
// returned length to dm_accept_partial_bio(), which must not exceed the bio.
TEST(RemapTarget, MapOfAnEmptyRequestCoversNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	ASSERT_GE(remap_block(t.get(), l, 2), 0);
	for (u64 sector : {0ull, 5ull, 16ull, 19ull, 40ull}) {
		rc_mapping m = map_io(t.get(), sector, 0);
		EXPECT_EQ(m.sectors, 0u) << "map(" << sector << ", 0)";
	}
	rc_mapping m = map_io(t.get(), 0, 0);
	EXPECT_EQ(m.route, RC_ROUTE_DATA);
	EXPECT_EQ(m.sector, l.data_offset);
}

TEST(RemapTarget, MapCutsARequestAtRemappedBlocks)
{
	Rig rig;
	const Layout &l = rig.layout; // 8 sectors a block
	Target t = rig.started();
	ASSERT_TRUE(t);
	const long long s2 = remap_block(t.get(), l, 2);
	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(t.get(), l, 3), kLost);
	const long long s6 = remap_block(t.get(), l, 6);

	// Sectors 13..63: block 1 from offset 5, blocks 2 (spare), 3 (lost), 4-5 clean, 6 (spare),
	// block 7 clean.
	const std::vector<Piece> want = {
		{RC_ROUTE_DATA, l.data_offset + 13, 3},
		{RC_ROUTE_SPARE, l.spare_sector(s2), 8},
		{RC_ROUTE_LOST, 0, 8},
		{RC_ROUTE_DATA, l.data_offset + 32, 16},
		{RC_ROUTE_SPARE, l.spare_sector(s6), 8},
		{RC_ROUTE_DATA, l.data_offset + 56, 7},
	};
	auto got = walk(t.get(), 13, 50);
	EXPECT_TRUE(same_pieces(got, want)) << describe(got) << "\nwant " << describe(want);

	// Inside one remapped block, with an offset.
	got = walk(t.get(), 2 * 8 + 3, 4);
	EXPECT_TRUE(same_pieces(got, {{RC_ROUTE_SPARE, l.spare_sector(s2) + 3, 4}}))
		<< describe(got);
	// Ending inside a remapped block.
	got = walk(t.get(), 9, 10);
	EXPECT_TRUE(same_pieces(
		got,
		{{RC_ROUTE_DATA, l.data_offset + 9, 7}, {RC_ROUTE_SPARE, l.spare_sector(s2), 3}}))
		<< describe(got);
}

// The glue's fast path: the view's first block is the lowest block with an entry (remapped,
// lost or moving), follows every published mapping, and sends past the lookup exactly the
// requests that end below it.
TEST(RemapTarget, ViewSummarizesEachPublishedMapping)
{
	Rig rig;
	const Layout &l = rig.layout; // 8 sectors a block
	const u64 bs = l.bs();
	Target t = rig.create();
	ASSERT_TRUE(t);
	const rc_io_view *const *slot = rc_target_io_view(t.get());
	ASSERT_NE(*slot, nullptr) << "published before the first resume";
	EXPECT_EQ(io_view(t.get())->first_block, RC_NO_BLOCK);
	EXPECT_EQ(io_view(t.get())->first_sector, RC_NO_BLOCK);
	ASSERT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(rc_target_io_view(t.get()), slot);
	EXPECT_EQ(io_view(t.get())->block_shift, 3u);
	EXPECT_EQ(io_view(t.get())->generation, map_io(t.get(), 0, 1).generation);
	EXPECT_TRUE(rc_io_view_clean(io_view(t.get()), l.target_len() - 1, 1));

	ASSERT_GE(remap_block(t.get(), l, 40), 0);
	const rc_io_view *v = io_view(t.get());
	EXPECT_EQ(v->first_block, 40u);
	EXPECT_EQ(v->first_sector, 40 * bs);
	EXPECT_EQ(v->generation, map_io(t.get(), 0, 1).generation);
	EXPECT_TRUE(rc_io_view_clean(v, 0, static_cast<u32>(40 * bs)));
	EXPECT_TRUE(rc_io_view_clean(v, 39 * bs + 7, 1));
	EXPECT_FALSE(rc_io_view_clean(v, 39 * bs + 7, 2));
	EXPECT_FALSE(rc_io_view_clean(v, 41 * bs, 1))
		<< "above the first entry: the lookup decides";
	rb_rcu_read_lock();
	EXPECT_FALSE(rc_io_view_touches(v, 41 * bs, 1)) << "above the only entry: none touched";
	EXPECT_FALSE(rc_io_view_touches(v, 41 * bs, static_cast<u32>(1000 * bs)));
	EXPECT_FALSE(rc_io_view_touches(v, 0, static_cast<u32>(40 * bs)));
	EXPECT_TRUE(rc_io_view_touches(v, 40 * bs + 7, 1));
	EXPECT_TRUE(rc_io_view_touches(v, 39 * bs + 7, 2));
	EXPECT_TRUE(rc_io_view_touches(v, 0, static_cast<u32>(41 * bs)));
	EXPECT_TRUE(rc_io_view_touches(v, 41 * bs, 0)) << "an empty request: ask the lookup";
	rb_rcu_read_unlock();

	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(t.get(), l, 12), kLost);
	rig.disk.fail_read_in = -1;
	EXPECT_EQ(io_view(t.get())->first_block, 12u) << "a lost block counts";

	// A block being moved counts while it moves, and the view of that moment is its own.
	u32 moving_generation = 0;
	rig.disk.write_filter = [&](const MemDisk::Write &) {
		EXPECT_EQ(io_view(t.get())->first_block, 5u);
		moving_generation = io_view(t.get())->generation;
		EXPECT_EQ(moving_generation, map_io(t.get(), 5 * bs, 1).generation);
		return true;
	};
	ASSERT_GE(remap_block(t.get(), l, 5), 0);
	rig.disk.write_filter = nullptr;
	EXPECT_EQ(io_view(t.get())->first_block, 5u);
	EXPECT_GT(io_view(t.get())->generation, moving_generation);

	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(5 * bs)).rc, 0);
	EXPECT_EQ(io_view(t.get())->first_block, 12u);
	EXPECT_EQ(io_view(t.get())->generation, map_io(t.get(), 0, 1).generation);
}

// The property: after random remaps (adjacent ones, lost ones), every piece of every random
// request lands where the reference model says, and the pieces are exactly the expected cut.
TEST(RemapTarget, MapAgreesWithAReferenceModel)
{
	struct Case {
		u32 block_size;
		u64 data_offset, data_blocks, spare_offset, spare_blocks;
	};
	for (const Case &c : {Case{512, 8, 4096, 3, 400}, Case{4096, 64, 2048, 128, 300},
			      Case{65536, 128, 256, 256, 100}}) {
		SCOPED_TRACE("block_size " + std::to_string(c.block_size));
		Layout l;
		l.block_size = c.block_size;
		l.data_offset = c.data_offset;
		l.data_blocks = c.data_blocks;
		l.spare_offset = c.spare_offset;
		l.spare_blocks = c.spare_blocks;
		Rig rig(l);
		Target t = rig.started();
		ASSERT_TRUE(t);
		std::mt19937_64 rng(c.block_size);
		Mapping model;
		const u64 want = std::min<u64>(l.spare_total() - 2, 150);
		while (model.size() < want) {
			u64 b = rng() % l.data_blocks;
			const u64 run =
				rng() % 4 == 0 ? 1 + rng() % 4 : 1; // adjacent remapped blocks
			for (u64 k = 0; k < run && b + k < l.data_blocks && model.size() < want;
			     k++) {
				if (model.count(b + k))
					continue;
				if (rng() % 6 == 0)
					rig.disk.fail_next_read_for_good();
				model[b + k] = remap_block(t.get(), l, b + k, rng());
				rig.disk.fail_read_in = -1;
			}
		}
		ASSERT_EQ(list_all(t.get()), model);

		u32 gen0 = 0;
		walk(t.get(), 0, 1, &gen0);
		int bad = 0;
		for (int i = 0; i < 20000 && bad < 5; i++) {
			const u64 sector = rng() % l.target_len();
			const u64 max_len =
				std::min<u64>(l.target_len() - sector, rng() % 3 ? 24 * l.bs() : 8);
			const u32 sectors = static_cast<u32>(1 + rng() % max_len);
			u32 gen = 0;
			auto got = walk(t.get(), sector, sectors, &gen);
			auto exp = expected_pieces(l, model, sector, sectors);
			EXPECT_EQ(gen, gen0);
			if (!same_pieces(got, exp)) {
				bad++;
				ADD_FAILURE() << "request " << sector << "+" << sectors << "\n got "
					      << describe(got) << "\nwant " << describe(exp);
			}
		}
	}
}

// While a block moves, its I/O is held (and only its I/O) until the commit has landed; the
// new mapping is published with a new generation and drained.
TEST(RemapTarget, IoToABlockInTransitIsHeldUntilTheCommitLands)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 block = 9, bs = l.bs();
	const u32 gen0 = map_io(t.get(), 0, 1).generation;
	const int drains0 = rig.disk.drains;

	int calls = 0, superblock_calls = 0;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		calls++;
		superblock_calls += l.is_superblock(w);
		EXPECT_EQ(map_io(t.get(), block * bs + 1, 2).route, RC_ROUTE_HOLD);
		EXPECT_EQ(map_io(t.get(), (block + 1) * bs, 1).route, RC_ROUTE_DATA);
		auto got = walk(t.get(), block * bs - 2, static_cast<u32>(bs + 4));
		EXPECT_TRUE(same_pieces(got,
					{{RC_ROUTE_DATA, l.data_offset + block * bs - 2, 2},
					 {RC_ROUTE_HOLD, 0, static_cast<u32>(bs)},
					 {RC_ROUTE_DATA, l.data_offset + (block + 1) * bs, 2}}))
			<< describe(got);
		EXPECT_EQ(list_text(t.get()), std::to_string(block) + " - moving\n");
		return true;
	};
	const long long s = remap_block(t.get(), l, block);
	EXPECT_GE(calls, 3) << "spare data, table block, superblock";
	EXPECT_EQ(superblock_calls, 1);
	rc_mapping m = map_io(t.get(), block * bs, 1);
	EXPECT_EQ(m.route, RC_ROUTE_SPARE);
	EXPECT_EQ(m.sector, l.spare_sector(s));
	EXPECT_GT(m.generation, gen0);
	EXPECT_GT(rig.disk.drains, drains0);

	// The same for unremap's copy-back and commit.
	calls = superblock_calls = 0;
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(block * bs)).rc, 0);
	EXPECT_GE(calls, 3) << "copy-back, table block, superblock";
	rig.disk.write_filter = nullptr;
	EXPECT_EQ(map_io(t.get(), block * bs, 1).route, RC_ROUTE_DATA);
	EXPECT_EQ(list_text(t.get()), "");
}

// Readers on another thread only ever see a whole mapping: every piece is a valid route, and
// the lookup tables they read are never freed under them (ASan).
TEST(RemapTarget, ConcurrentReadersSeeConsistentMappings)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 bs = l.bs(), span = 32;
	std::atomic<bool> stop{false};
	std::atomic<int> errors{0};
	std::atomic<long> lookups{0};
	std::thread reader([&] {
		std::mt19937_64 rng(9);
		while (!stop.load()) {
			const u64 sector = rng() % (span * bs);
			u32 left = static_cast<u32>(1 + rng() % (4 * bs));
			for (u64 cur = sector; left;) {
				rc_mapping m = map_io(t.get(), cur, left);
				bool ok = m.sectors >= 1 && m.sectors <= left;
				if (m.route == RC_ROUTE_DATA)
					ok = ok && m.sector == l.data_offset + cur;
				else if (m.route == RC_ROUTE_SPARE)
					ok = ok && m.sector >= l.spare_sector(l.first_usable()) &&
						m.sector < l.spare_sector(l.spare_blocks) &&
						(m.sector - l.spare_offset) % bs == cur % bs;
				else
					ok = ok &&
						(m.route == RC_ROUTE_LOST ||
						 m.route == RC_ROUTE_HOLD);
				if (m.route != RC_ROUTE_DATA)
					ok = ok && cur / bs == (cur + m.sectors - 1) / bs;
				if (!ok) {
					errors++;
					break;
				}
				cur += m.sectors;
				left -= m.sectors;
			}
			lookups++;
			if (lookups % 64 == 0)
				std::this_thread::yield();
		}
	});
	while (lookups.load() == 0) // on a loaded machine the reader may start late
		std::this_thread::yield();
	std::mt19937_64 rng(4);
	for (int i = 0; i < 150; i++) {
		const u64 b = rng() % span;
		if (rng() % 2)
			EXPECT_EQ(msg(t.get(), "remap " + std::to_string(b * bs)).rc, 1);
		else
			EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(b * bs)).rc, 0);
	}
	stop = true;
	reader.join();
	EXPECT_EQ(errors.load(), 0);
	EXPECT_GT(lookups.load(), 0);
}
