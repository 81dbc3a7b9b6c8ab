// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Fault handling through the C API the glue's worker uses (rc_target_rewrite/reread).

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

// ---- fault handling through the C API the glue's worker uses ----

TEST(RemapTargetFaults, FailedWriteIsRetriedThenRemappedWithItsData)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> data(2 * l.block_size);
	for (u64 i = 0; i < data.size(); i++)
		data[i] = pattern(20 + i / l.block_size, i % l.block_size, 5);

	// A write that works on the retry needs no remap.
	ASSERT_EQ(rewrite_one(t.get(), 20 * l.bs(), static_cast<u32>(2 * l.bs()), data.data()), 0);
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 0u);
	EXPECT_TRUE(rig.data_holds(20, 5));
	EXPECT_TRUE(rig.data_holds(21, 5));

	// Block 21 keeps failing on the data device: it moves, with the written data.
	const u64 bad_lo = l.data_offset + 21 * l.bs(), bad_hi = bad_lo + l.bs();
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_DATA_DEV && w.sector < bad_hi &&
			 w.sector + w.data.size() / 512 > bad_lo);
	};
	ASSERT_EQ(rewrite_one(t.get(), 20 * l.bs(), static_cast<u32>(2 * l.bs()), data.data()), 0);
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 1u);
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
	Mapping m = list_all(t.get());
	ASSERT_EQ(m.count(21), 1u);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(m[21]), 21, 5));
	rc_mapping r = map_io(t.get(), 21 * l.bs(), static_cast<u32>(l.bs()));
	EXPECT_EQ(r.route, RC_ROUTE_SPARE);

	// A partial write to a moved block whose spare fails too: the spare is retired, the
	// block moves again, and the rest of the block is kept.
	const u64 sp = static_cast<u64>(m[21]);
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_SPARE_DEV && w.sector == l.spare_sector(sp) + 1);
	};
	std::vector<unsigned char> part(512, 0xab);
	ASSERT_EQ(rewrite_one(t.get(), 21 * l.bs() + 1, 1, part.data()), 0);
	EXPECT_EQ(stat(t.get(), "bad_spare"), 1u);
	m = list_all(t.get());
	ASSERT_NE(static_cast<u64>(m[21]), sp);
	const u64 nsp = static_cast<u64>(m[21]);
	for (u64 i = 0; i < l.block_size; i++) {
		const unsigned char want = (i >= 512 && i < 1024) ? 0xab : pattern(21, i, 5);
		ASSERT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(nsp) + i), want) << i;
	}
	rig.disk.write_filter = nullptr;
}

TEST(RemapTargetFaults, FailedWriteThatCannotBeRemappedFailsAndChangesNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> data(l.block_size, 7);
	rig.disk.write_filter = [](const MemDisk::Write &) { return false; }; // nothing writes
	EXPECT_NE(rewrite_one(t.get(), 30 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	rig.disk.write_filter = nullptr;
	EXPECT_EQ(stat(t.get(), "remapped"), 0u);
	EXPECT_EQ(list_text(t.get()), "");
}

TEST(RemapTargetFaults, ConcurrentFailedWritesShareOneCommit)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(52, 3);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 s0 = seq(t.get());
	// Blocks 50..52 fail every write on the data device.
	const u64 bad_lo = l.data_offset + 50 * l.bs(), bad_hi = bad_lo + 3 * l.bs();
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_DATA_DEV && w.sector < bad_hi &&
			 w.sector + w.data.size() / 512 > bad_lo);
	};
	// Three failed writes: block 50 whole, block 51 whole, and one sector of 52 (the rest
	// of 52 is kept); a fourth, later one overwrites sector 0 of block 50.
	std::vector<unsigned char> a(l.block_size, 0xa1), b(l.block_size, 0xb2), c(512, 0xc3),
		d(512, 0xd4);
	const rc_extent ext[] = {
		{50 * l.bs(), static_cast<u32>(l.bs()), 0, a.data()},
		{51 * l.bs(), static_cast<u32>(l.bs()), 0, b.data()},
		{52 * l.bs() + 2, 1, 0, c.data()},
		{50 * l.bs(), 1, 0, d.data()},
	};
	ASSERT_EQ(rc_target_rewrite(t.get(), ext, 4), 0);
	rig.disk.write_filter = nullptr;
	EXPECT_EQ(seq(t.get()), s0 + 1) << "one commit for all of them";
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 3u);
	Mapping m = list_all(t.get());
	ASSERT_EQ(m.size(), 3u);
	for (u64 i = 0; i < l.block_size; i++) {
		ASSERT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(static_cast<u64>(m[50])) + i),
			  i < 512 ? 0xd4 : 0xa1)
			<< i;
		ASSERT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(static_cast<u64>(m[51])) + i),
			  0xb2)
			<< i;
		const bool written = i >= 1024 && i < 1536;
		ASSERT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(static_cast<u64>(m[52])) + i),
			  written ? 0xc3 : pattern(52, i, 3))
			<< i;
	}
}

TEST(RemapTargetFaults, RetriedFuaWriteIsDurableAfterAPowerCut)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> x(l.block_size, 0x5a), y(l.block_size, 0xa5);
	// Block 70 fails on the data device: it moves, made durable by the commit.
	const u64 bad_lo = l.data_offset + 70 * l.bs();
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_DATA_DEV && w.sector == bad_lo);
	};
	const rc_extent moved{70 * l.bs(), static_cast<u32>(l.bs()), RB_IO_FUA, x.data()};
	ASSERT_EQ(rc_target_rewrite(t.get(), &moved, 1), 0);
	rig.disk.write_filter = nullptr;
	// Block 71's error does not repeat: it is retried in place, with FUA as it was sent (no
	// later commit whose flush could make it durable).
	const rc_extent in_place{71 * l.bs(), static_cast<u32>(l.bs()), RB_IO_FUA, y.data()};
	ASSERT_EQ(rc_target_rewrite(t.get(), &in_place, 1), 0);
	t.reset();
	rig.disk.crash(); // nothing that was not flushed or FUA survives
	Target again = rig.create();
	ASSERT_TRUE(again);
	Mapping m = list_all(again.get());
	ASSERT_EQ(m.count(70), 1u);
	for (u64 i = 0; i < l.block_size; i++) {
		ASSERT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(static_cast<u64>(m[70])) + i),
			  0x5a)
			<< i;
		ASSERT_EQ(rig.disk.peek(RB_DATA_DEV, l.data_byte(71) + i), 0xa5) << i;
	}
}

TEST(RemapTargetFaults, BatchWithABadExtentFailsWholeAndEachAloneGetsItsVerdict)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	// Block 60 is salvaged with sectors 0-4 lost, then its spare block stops reading (a
	// partial write into its lost sectors must merge with it, and cannot); block 61 fails
	// every write.
	const u64 lost_lo = l.data_offset + 60 * l.bs(), bad_lo = l.data_offset + 61 * l.bs();
	std::vector<unsigned char> buf(l.block_size);
	rig.disk.read_filter = [&](int dev, u64 sector) {
		return !(dev == RB_DATA_DEV && sector >= lost_lo && sector < lost_lo + 5);
	};
	ASSERT_NE(rc_target_reread(t.get(), 60 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -5),
		  0);
	ASSERT_EQ(stat(t.get(), "lost_sectors"), 5u);
	const Mapping m = list_all(t.get());
	ASSERT_EQ(m.count(60), 1u);
	ASSERT_GE(m.at(60), 0);
	const u64 spare_lo = l.spare_sector(static_cast<u64>(m.at(60)));
	rig.disk.read_filter = [&](int dev, u64 sector) {
		return !(dev == RB_SPARE_DEV && sector >= spare_lo && sector < spare_lo + l.bs());
	};
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_DATA_DEV && w.sector < bad_lo + l.bs() &&
			 w.sector + w.data.size() / 512 > bad_lo);
	};
	const u64 s0 = seq(t.get());
	const std::string list0 = list_text(t.get());
	EXPECT_EQ(list0, "60 " + std::to_string(m.at(60)) + " remapped lost_sectors=5\n");
	std::vector<unsigned char> half(l.block_size / 2, 0x11), whole(l.block_size, 0x22);
	const rc_extent ext[] = {
		{60 * l.bs(), static_cast<u32>(l.bs() / 2), 0, half.data()}, // into lost sectors
		{61 * l.bs(), static_cast<u32>(l.bs()), 0, whole.data()},
	};
	EXPECT_EQ(rc_target_rewrite(t.get(), ext, 2), -kEIO);
	EXPECT_EQ(seq(t.get()), s0) << "nothing committed";
	EXPECT_EQ(list_text(t.get()), list0);
	EXPECT_NE(rc_target_rewrite(t.get(), &ext[0], 1), 0);
	EXPECT_EQ(rc_target_rewrite(t.get(), &ext[1], 1), 0);
	EXPECT_EQ(stat(t.get(), "remapped"), 2u);
	// Two halves in one batch write the salvaged block whole: nothing of it is lost any more.
	const rc_extent halves[] = {
		{60 * l.bs() + l.bs() / 2, static_cast<u32>(l.bs() / 2), 0, half.data()},
		{60 * l.bs(), static_cast<u32>(l.bs() / 2), 0, half.data()},
	};
	EXPECT_EQ(rc_target_rewrite(t.get(), halves, 2), 0);
	rig.disk.write_filter = nullptr;
	rig.disk.read_filter = nullptr;
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(stat(t.get(), "remapped"), 2u);
	// Extents outside the target are refused.
	const rc_extent outside{l.data_blocks * l.bs() - 1, 2, 0, whole.data()};
	EXPECT_EQ(rc_target_rewrite(t.get(), &outside, 1), -kEINVAL);
}

// A failed read whose retries cannot even be issued (no memory) says nothing about the disk:
// the read fails, but the block is neither lost nor moved, and nothing is committed.
TEST(RemapTargetFaults, RetryWithoutMemoryMarksNothingLost)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(50, 4);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> buf(l.block_size);
	const u64 s0 = seq(t.get());
	const u64 lo = l.data_offset + 50 * l.bs();
	rig.disk.fail_error = -kENOMEM;
	rig.disk.read_filter = [&](int dev, u64 sector) {
		return !(dev == RB_DATA_DEV && sector >= lo && sector < lo + l.bs());
	};
	EXPECT_NE(rc_target_reread(t.get(), 50 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -5),
		  0);
	rig.disk.read_filter = nullptr;
	rig.disk.fail_error = -5;
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(seq(t.get()), s0) << "nothing to commit";
	EXPECT_EQ(map_io(t.get(), 50 * l.bs(), 1).route, RC_ROUTE_DATA);
	// With memory, the same block reads again and its data is intact.
	ASSERT_EQ(rc_target_reread(t.get(), 50 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -5),
		  0);
	for (u64 i = 0; i < buf.size(); i++)
		ASSERT_EQ(buf[i], pattern(50, i, 4)) << i;
}

TEST(RemapTargetFaults, WeakBlockMovesUnreadableBlockIsLost)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(40, 9);
	rig.fill_data(41, 9);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> buf(2 * l.block_size);

	// Block 40 fails its first read and then reads: weak, moved, and the read succeeds.
	rig.disk.fail_read_in = 0;
	ASSERT_EQ(rc_target_reread(t.get(), 40 * l.bs(), static_cast<u32>(2 * l.bs()), buf.data(),
				   -5),
		  0);
	for (u64 i = 0; i < buf.size(); i++)
		ASSERT_EQ(buf[i], pattern(40 + i / l.block_size, i % l.block_size, 9)) << i;
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 1u);
	Mapping m = list_all(t.get());
	ASSERT_EQ(m.size(), 1u);
	ASSERT_EQ(m.count(40), 1u);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(m[40]), 40, 9));

	// Block 41 never reads: the read fails, the block is lost, and that is persisted.
	const u64 lo = l.data_offset + 41 * l.bs();
	rig.disk.fail_read_in = -1;
	rig.disk.read_filter = [&](int dev, u64 sector) {
		return !(dev == RB_DATA_DEV && sector >= lo && sector < lo + l.bs());
	};
	EXPECT_NE(rc_target_reread(t.get(), 41 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -5),
		  0);
	rig.disk.read_filter = nullptr;
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
	t.reset();
	Target again = rig.create();
	EXPECT_NE(list_text(again.get()).find("41 - lost\n"), std::string::npos);
}

TEST(RemapTargetFaults, LowWaterAndExhaustionRaiseOneEventEach)
{
	Layout l;
	l.spare_blocks = 20; // a handful of usable spare blocks
	Rig rig(l);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 total = l.spare_total();
	const u64 low = l.spare_blocks / 10; // the default spare_low_water: 10% of the spare range
	u64 b = 0;
	for (; b < total - low - 1; b++)
		ASSERT_EQ(msg(t.get(), "remap " + std::to_string(b * l.bs())).rc, 1);
	EXPECT_EQ(rig.disk.events, 0) << "above the low-water mark";
	ASSERT_EQ(msg(t.get(), "remap " + std::to_string(b++ * l.bs())).rc, 1);
	EXPECT_EQ(rig.disk.events, 1) << "free blocks reached spare_low_water";
	while (stat(t.get(), "spare_free") > 0)
		ASSERT_EQ(msg(t.get(), "remap " + std::to_string(b++ * l.bs())).rc, 1);
	EXPECT_EQ(rig.disk.events, 2) << "none left";
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(b * l.bs())).rc, -kENOSPC);
	EXPECT_EQ(rig.disk.events, 2) << "no repeat while nothing changes";
	// Freeing blocks re-arms the events.
	for (u64 i = 0; i < low + 2; i++)
		ASSERT_EQ(msg(t.get(), "unremap " + std::to_string(i * l.bs())).rc, 0);
	ASSERT_EQ(msg(t.get(), "remap " + std::to_string(b * l.bs())).rc, 1);
	EXPECT_EQ(rig.disk.events, 2);
	ASSERT_EQ(msg(t.get(), "remap " + std::to_string((b + 1) * l.bs())).rc, 1);
	EXPECT_EQ(rig.disk.events, 3) << "low water crossed again";
}
