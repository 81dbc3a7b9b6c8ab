// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Commit, spare-write and metadata failures, spare exhaustion, and a second table on one disk.

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
// Failures
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, CommitFailureFailsTheMetadataAndKeepsTheLastGoodCommit)
{
	for (const char *which : {"table block", "superblock"}) {
		SCOPED_TRACE(which);
		Rig rig;
		const Layout &l = rig.layout;
		Target t = rig.started();
		ASSERT_TRUE(t);
		const long long s1 = remap_block(t.get(), l, 1);
		ASSERT_GE(s1, 0);
		const std::string before = list_text(t.get());
		const u64 seq0 = seq(t.get());

		rig.disk.fail_error = -kEREMOTEIO;
		const bool superblock = std::string(which) == "superblock";
		bool failed = false;
		rig.disk.write_filter = [&](const MemDisk::Write &w) {
			if (superblock ? l.is_superblock(w) : l.is_table_block(w)) {
				failed = true;
				return false;
			}
			return true;
		};
		const int events = rig.disk.events;
		Reply r = msg(t.get(), "remap " + std::to_string(2 * l.bs()));
		rig.disk.write_filter = nullptr;
		EXPECT_TRUE(failed);
		EXPECT_EQ(rig.disk.events, events + 1) << "a dm event for metadata=failed";
		EXPECT_EQ(r.rc, -kEREMOTEIO);
		EXPECT_EQ(list_text(t.get()), before);
		EXPECT_EQ(map_io(t.get(), 2 * l.bs(), 1).route, RC_ROUTE_DATA);
		EXPECT_EQ(metadata_state(t.get()), "failed");
		EXPECT_EQ(seq(t.get()), seq0);
		EXPECT_EQ(stat(t.get(), "remapped"), 1u);
		EXPECT_EQ(stat(t.get(), "spare_used"), 1u);
		EXPECT_EQ(status_info(t.get()),
			  "4096 1 0 1/96 failed " + std::to_string(seq0) + " rw");

		// Nothing more is written: every change fails with -EIO.
		const int writes = rig.disk.writes;
		EXPECT_EQ(msg(t.get(), "remap " + std::to_string(2 * l.bs())).rc, -kEIO);
		EXPECT_EQ(msg(t.get(), "remap " + std::to_string(3 * l.bs())).rc, -kEIO);
		rig.disk.fail_read_in = 0;
		EXPECT_EQ(msg(t.get(), "remap " + std::to_string(4 * l.bs())).rc, -kEIO);
		rig.disk.fail_read_in = -1;
		EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(1 * l.bs())).rc, -kEIO);
		EXPECT_EQ(rig.disk.writes, writes);
		EXPECT_EQ(list_text(t.get()), before);
		// Not even a suspend/resume cycle of the same table clears it.
		rc_target_suspend(t.get());
		EXPECT_EQ(rc_target_resume(t.get()), 0);
		EXPECT_EQ(metadata_state(t.get()), "failed");
		EXPECT_EQ(msg(t.get(), "remap " + std::to_string(3 * l.bs())).rc, -kEIO);
		EXPECT_EQ(rig.disk.writes, writes);

		// A new table (a reload) loads the last good commit, also after a power cut.
		rc_target_suspend(t.get());
		rig.disk.crash();
		Target fresh = rig.create();
		ASSERT_TRUE(fresh);
		EXPECT_EQ(list_text(fresh.get()), before);
		EXPECT_EQ(seq(fresh.get()), seq0);
		EXPECT_EQ(metadata_state(fresh.get()), "ok");
		ASSERT_EQ(rc_target_resume(fresh.get()), 0);
		const long long s2 = remap_block(fresh.get(), l, 2);
		EXPECT_GE(s2, 0);
		EXPECT_NE(s2, s1);
		EXPECT_EQ(seq(fresh.get()), seq0 + 1);
	}
}

TEST(RemapTarget, FormatFailureAtResumeIsReported)
{
	Rig rig;
	Target t = rig.create();
	ASSERT_TRUE(t);
	rig.disk.fail_write_in = 0;
	const int events = rig.disk.events;
	// Resumed in failed mode (a failed preresume would leave the device suspended).
	EXPECT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(metadata_state(t.get()), "failed");
	EXPECT_GT(rig.disk.events, events);
	EXPECT_EQ(msg(t.get(), "remap 8").rc < 0, true);
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(rc_target_resume(again.get()), 0);
	EXPECT_EQ(seq(again.get()), 1u);
}

TEST(RemapTarget, DegradedAfterFallingBackUntilTheNextCommit)
{
	// The newest commit (seq 2) has its superblock in slot 0 and its table in area 1, which
	// starts at spare block 2 + T = 3. Damage either: the older commit (seq 1, empty) loads.
	for (const char *what : {"superblock", "table block"}) {
		SCOPED_TRACE(what);
		Rig rig;
		const Layout &l = rig.layout;
		ASSERT_EQ(l.table_blocks(), 1u);
		Target t = rig.started();
		ASSERT_TRUE(t);
		ASSERT_GE(remap_block(t.get(), l, 1), 0);
		ASSERT_EQ(seq(t.get()), 2u);
		t.reset();
		const unsigned char junk = 0x5a;
		const bool superblock = std::string(what) == "superblock";
		rig.disk.poke(RB_SPARE_DEV,
			      l.spare_byte(superblock ? 0 : 2 + l.table_blocks()) + 300, &junk, 1);
		Target d = rig.create();
		ASSERT_TRUE(d);
		EXPECT_EQ(metadata_state(d.get()), "degraded");
		EXPECT_EQ(seq(d.get()), 1u);
		EXPECT_EQ(list_text(d.get()), "");
		EXPECT_NE(status_info(d.get()).find(" degraded 1"), std::string::npos)
			<< status_info(d.get());
		ASSERT_EQ(rc_target_resume(d.get()), 0);
		EXPECT_EQ(metadata_state(d.get()), "degraded");
		EXPECT_EQ(seq(d.get()), 1u);
		ASSERT_GE(remap_block(d.get(), l, 3), 0);
		EXPECT_EQ(metadata_state(d.get()), "ok");
		EXPECT_EQ(seq(d.get()), 2u);
		const std::string listed = list_text(d.get());
		EXPECT_EQ(listed.rfind("3 ", 0), 0u) << listed;
		d.reset();
		Target again = rig.create();
		ASSERT_TRUE(again);
		EXPECT_EQ(metadata_state(again.get()), "ok");
		EXPECT_EQ(seq(again.get()), 2u);
		EXPECT_EQ(list_text(again.get()), listed);
	}
}

TEST(RemapTarget, SpareExhaustionReturnsEnospcAndNeverHandsOutABlockTwice)
{
	Layout l;
	l.block_size = 512; // E = 28, S = 10: T = 1, spare blocks 4..9
	l.data_offset = 8;
	l.data_blocks = 64;
	l.spare_offset = 3;
	l.spare_blocks = 10;
	ASSERT_EQ(l.first_usable(), 4u);
	Rig rig(l);
	for (u64 b = 0; b < 64; b++)
		rig.fill_data(b, 6);
	Target t = rig.started();
	ASSERT_TRUE(t);
	EXPECT_EQ(stat(t.get(), "spare_total"), 6u);

	u64 b = 0;
	for (;; b++) {
		ASSERT_LT(b, 64u);
		Reply r = msg(t.get(), "remap " + std::to_string(b));
		if (r.rc == -kENOSPC)
			break;
		ASSERT_EQ(r.rc, 1) << "block " << b;
	}
	EXPECT_EQ(b, 6u);
	auto st = stats(t.get());
	EXPECT_EQ(st["spare_free"], "0");
	EXPECT_EQ(st["spare_used"], "6");
	EXPECT_EQ(st["remapped"], "6");
	EXPECT_EQ(st["metadata"], "ok") << "running out of spares is not a metadata failure";
	EXPECT_EQ(st["seq"], "7") << "the refused remap committed something";
	Mapping m = list_all(t.get());
	EXPECT_EQ(m.count(6), 0u);
	std::set<long long> spares;
	for (auto &e : m) {
		EXPECT_GE(e.second, 4);
		EXPECT_LT(e.second, 10);
		spares.insert(e.second);
		EXPECT_TRUE(rig.spare_holds(e.second, e.first, 6));
	}
	EXPECT_EQ(spares.size(), 6u) << "a spare block handed out twice";
	EXPECT_EQ(map_io(t.get(), 6, 1).route, RC_ROUTE_DATA);

	// A lost block needs no spare.
	rig.disk.fail_next_read_for_good();
	EXPECT_EQ(remap_block(t.get(), l, 20), kLost);
	// A freed block is handed out again.
	const long long freed = m[3];
	EXPECT_EQ(msg(t.get(), "unremap 3").rc, 0);
	EXPECT_EQ(stat(t.get(), "spare_free"), 1u);
	EXPECT_EQ(remap_block(t.get(), l, 6), freed);
	EXPECT_TRUE(rig.spare_holds(freed, 6, 6));
	EXPECT_EQ(msg(t.get(), "remap 7").rc, -kENOSPC);
}

TEST(RemapTarget, RepeatedExhaustionAcrossTheAllocatorCache)
{
	Layout l;
	l.spare_blocks = 200; // 196 usable: more than a cache refill of 64
	l.data_blocks = 1024;
	Rig rig(l);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::mt19937_64 rng(8);
	Mapping model;
	for (int round = 0; round < 3; round++) {
		for (u64 b = 0;; b++) {
			ASSERT_LT(b, l.data_blocks);
			if (model.count(b))
				continue;
			Reply r = msg(t.get(), "remap " + std::to_string(b * l.bs()));
			if (r.rc == -kENOSPC)
				break;
			ASSERT_EQ(r.rc, 1);
			model[b] = std::stoll(r.text.substr(r.text.find(' ') + 1));
		}
		EXPECT_EQ(model.size(), l.spare_total());
		EXPECT_EQ(stat(t.get(), "spare_free"), 0u);
		Mapping listed = list_all(t.get());
		EXPECT_EQ(listed, model);
		std::set<long long> spares;
		for (auto &e : listed)
			spares.insert(e.second);
		EXPECT_EQ(spares.size(), model.size()) << "a spare block handed out twice";
		EXPECT_GE(*spares.begin(), static_cast<long long>(l.first_usable()));
		EXPECT_LT(*spares.rbegin(), static_cast<long long>(l.spare_blocks));
		// Free a random half.
		for (auto it = model.begin(); it != model.end();) {
			if (rng() % 2) {
				ASSERT_EQ(msg(t.get(),
					      "unremap " + std::to_string(it->first * l.bs()))
						  .rc,
					  0);
				it = model.erase(it);
			} else {
				++it;
			}
		}
		EXPECT_EQ(stat(t.get(), "spare_free"), l.spare_total() - model.size());
	}
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(list_all(again.get()), model);
	EXPECT_EQ(stat(again.get(), "spare_free"), l.spare_total() - model.size());
}

// Lost blocks take table slots but no spares; when the slots run out, remap fails cleanly.
TEST(RemapTarget, FullTableSlotsFailARemapWithoutFailingTheMetadata)
{
	Layout l;
	l.block_size = 512; // 28 slots, 6 spare blocks
	l.data_offset = 0;
	l.data_blocks = 64;
	l.spare_offset = 0;
	l.spare_blocks = 10;
	Rig rig(l);
	Target t = rig.started();
	ASSERT_TRUE(t);
	for (u64 b = 0; b < 28; b++) {
		rig.disk.fail_next_read_for_good();
		ASSERT_EQ(remap_block(t.get(), l, b), kLost);
	}
	const std::string before = list_text(t.get());
	const u64 seq0 = seq(t.get());
	rig.disk.fail_read_in = 0;
	Reply r = msg(t.get(), "remap 28");
	rig.disk.fail_read_in = -1;
	EXPECT_EQ(r.rc, -kENOSPC);
	r = msg(t.get(), "remap 29");
	EXPECT_EQ(r.rc, -kENOSPC);
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(metadata_state(t.get()), "ok");
	EXPECT_EQ(stat(t.get(), "spare_free"), 6u)
		<< "the spare taken for the refused remap leaked";
	EXPECT_EQ(map_io(t.get(), 29, 1).route, RC_ROUTE_DATA);
}

TEST(RemapTarget, FailingSpareBlockIsRetiredAndTheRemapSucceedsElsewhere)
{
	Rig rig;
	const Layout &l = rig.layout;
	for (u64 b = 0; b < 120; b++)
		rig.fill_data(b, 7);
	Target t = rig.started();
	ASSERT_TRUE(t);
	u64 bad = ~0ull;
	int bad_writes = 0;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		if (!l.is_spare_data(w))
			return true;
		if (bad == ~0ull)
			bad = (w.sector - l.spare_offset) / l.bs();
		if (w.sector == l.spare_sector(bad)) {
			bad_writes++;
			return false;
		}
		return true;
	};
	const long long s = remap_block(t.get(), l, 0);
	ASSERT_NE(bad, ~0ull);
	EXPECT_EQ(bad_writes, 1);
	EXPECT_GE(s, static_cast<long long>(l.first_usable()));
	EXPECT_NE(s, static_cast<long long>(bad));
	EXPECT_TRUE(rig.spare_holds(s, 0, 7));
	EXPECT_EQ(list_text(t.get()), "0 " + std::to_string(s) + " remapped\n");
	EXPECT_EQ(stat(t.get(), "bad_spare"), 1u);
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
	EXPECT_EQ(metadata_state(t.get()), "ok");
	EXPECT_EQ(seq(t.get()), 2u) << "the bad block and the remap go in one commit";

	// Persisted: a new table knows the block is bad and never hands it out.
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(stat(again.get(), "bad_spare"), 1u);
	EXPECT_EQ(list_text(again.get()), "0 " + std::to_string(s) + " remapped\n");
	ASSERT_EQ(rc_target_resume(again.get()), 0);
	u64 remapped = 1;
	for (u64 b = 1;; b++) {
		ASSERT_LT(b, 120u);
		Reply r = msg(again.get(), "remap " + std::to_string(b * l.bs()));
		if (r.rc == -kENOSPC)
			break;
		ASSERT_EQ(r.rc, 1);
		remapped++;
	}
	EXPECT_EQ(bad_writes, 1) << "the retired block was handed out again";
	EXPECT_EQ(remapped, l.spare_total() - 1);
	Mapping m = list_all(again.get());
	std::set<long long> spares;
	for (auto &e : m)
		spares.insert(e.second);
	EXPECT_EQ(spares.size(), m.size());
	EXPECT_EQ(spares.count(static_cast<long long>(bad)), 0u);
	EXPECT_EQ(stat(again.get(), "spare_free"), 0u);
	rig.disk.write_filter = nullptr;
}

// With bad_spare reported on its own, spare_used counts the blocks holding remapped data:
// spare_used + spare_free + bad_spare = spare_total.
TEST(RemapTarget, SpareUsedDoesNotCountRetiredBlocks)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	bool failed = false;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		if (l.is_spare_data(w) && !failed) {
			failed = true;
			return false;
		}
		return true;
	};
	ASSERT_GE(remap_block(t.get(), l, 0), 0);
	rig.disk.write_filter = nullptr;
	auto st = stats(t.get());
	EXPECT_EQ(st["bad_spare"], "1");
	EXPECT_EQ(st["remapped"], "1");
	EXPECT_EQ(st["spare_used"], "1") << "spare_used counts the retired block";
	EXPECT_EQ(std::stoull(st["spare_used"]) + std::stoull(st["spare_free"]) +
			  std::stoull(st["bad_spare"]),
		  std::stoull(st["spare_total"]))
		<< msg(t.get(), "stats").text;
}

// Three spare blocks in a row refusing a write is the spare device failing, not three bad
// blocks: the remap fails, nothing is retired (spare_free does not drain), spare=failed and an
// event; a remap that places a block again clears it.
TEST(RemapTarget, ThreeFailingSpareBlocksAreASpareDeviceFailure)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 free0 = stat(t.get(), "spare_free");
	const u64 seq0 = seq(t.get());
	std::set<u64> failed;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		if (l.is_spare_data(w)) {
			failed.insert(w.sector);
			return false;
		}
		return true;
	};
	const int events0 = rig.disk.events;
	Reply r = msg(t.get(), "remap 0");
	rig.disk.write_filter = nullptr;
	EXPECT_EQ(r.rc, -kEIO);
	EXPECT_EQ(failed.size(), 3u);
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(map_io(t.get(), 0, 1).route, RC_ROUTE_DATA);
	EXPECT_EQ(stat(t.get(), "bad_spare"), 0u);
	EXPECT_EQ(stat(t.get(), "spare_free"), free0);
	EXPECT_EQ(seq(t.get()), seq0) << "nothing to commit";
	EXPECT_EQ(stats(t.get())["spare"], "failed");
	EXPECT_EQ(rig.disk.events, events0 + 1);
	EXPECT_EQ(metadata_state(t.get()), "ok");
	// The spare works again: a remap places the block and clears the state.
	const long long s = remap_block(t.get(), l, 0);
	EXPECT_GE(s, 0);
	EXPECT_EQ(stats(t.get())["spare"], "ok");
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(stat(again.get(), "bad_spare"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Two tables on one disk
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, ResumePicksUpCommitsOfAnotherTable)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target a = rig.create();
	Target b = rig.create(); // both on the fresh area
	ASSERT_TRUE(a);
	ASSERT_TRUE(b);
	ASSERT_EQ(rc_target_resume(a.get()), 0);
	const long long sa = remap_block(a.get(), l, 3);
	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(a.get(), l, 4), kLost);
	const std::string after_a = list_text(a.get());
	rc_target_suspend(a.get());
	Target a2 = rig.create(); // the next reload's constructor, while B will be live

	// B takes over (a reload): it reloads instead of formatting over A's commits.
	const int writes = rig.disk.writes;
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(rig.disk.writes, writes) << "B wrote at resume";
	a.reset(); // dm destroys the old table after the new one resumed
	EXPECT_EQ(list_text(b.get()), after_a);
	EXPECT_EQ(seq(b.get()), 3u);
	EXPECT_EQ(stat(b.get(), "remapped"), 1u);
	EXPECT_EQ(stat(b.get(), "lost"), 1u);
	EXPECT_EQ(stat(b.get(), "spare_used"), 1u);
	EXPECT_EQ(map_io(b.get(), 3 * l.bs(), 1).route, RC_ROUTE_SPARE);
	const long long sb = remap_block(b.get(), l, 5);
	EXPECT_NE(sb, sa) << "B handed out A's spare block";
	EXPECT_EQ(seq(b.get()), 4u);
	rc_target_suspend(b.get());

	// And on to A2 (another reload).
	const std::string after_b = list_text(b.get());
	ASSERT_EQ(rc_target_resume(a2.get()), 0);
	EXPECT_EQ(list_text(a2.get()), after_b);
	EXPECT_EQ(seq(a2.get()), 4u);
	b.reset();
	const long long sa2 = remap_block(a2.get(), l, 6);
	EXPECT_NE(sa2, sa);
	EXPECT_NE(sa2, sb);
	const std::string final_list = list_text(a2.get());
	a2.reset();
	Target c = rig.create();
	ASSERT_TRUE(c);
	EXPECT_EQ(list_text(c.get()), final_list);
	EXPECT_EQ(seq(c.get()), 5u);
}
