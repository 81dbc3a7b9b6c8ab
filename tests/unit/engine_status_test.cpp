// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Creating, formatting and resuming a target, its stats and status lines.

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
// Create, resume, stats and status
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, CreateOnAFreshAreaWritesNothingAndResumeFormatsIt)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.create();
	ASSERT_TRUE(t);
	EXPECT_EQ(rig.disk.writes, 0) << "create only reads (a reload's constructor runs live)";
	EXPECT_EQ(seq(t.get()), 0u);
	EXPECT_EQ(status_info(t.get()), "4096 0 0 0/96 ok 0 rw");

	ASSERT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_GT(rig.disk.writes, 0);
	EXPECT_EQ(seq(t.get()), 1u) << "formatting is the first commit";
	EXPECT_EQ(metadata_state(t.get()), "ok");
	EXPECT_EQ(status_info(t.get()), "4096 0 0 0/96 ok 1 rw");
	// Commit seq 1 goes to superblock slot 1, at spare_offset (not at sector 0).
	const char magic[] = "DMREMAP1";
	for (int i = 0; i < 8; i++) {
		EXPECT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(1) + i), magic[i]);
		EXPECT_EQ(rig.disk.peek(RB_SPARE_DEV, l.spare_byte(0) + i), 0);
		EXPECT_EQ(rig.disk.peek(RB_SPARE_DEV, i), 0) << "metadata written at sector 0";
	}

	// A resume with nothing changed on disk commits nothing.
	const int writes = rig.disk.writes;
	rc_target_suspend(t.get());
	ASSERT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_EQ(seq(t.get()), 1u);

	// The format is durable and loads as such.
	t.reset();
	rig.disk.crash();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(seq(again.get()), 1u);
	EXPECT_EQ(rig.disk.writes, writes);
	ASSERT_EQ(rc_target_resume(again.get()), 0);
	EXPECT_EQ(rig.disk.writes, writes) << "a formatted area is not formatted again";
}

TEST(RemapTarget, StatsHasEveryKeyInOrderWithRightValues)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);

	auto pairs = stats_pairs(t.get());
	ASSERT_EQ(pairs.size(), std::size(kStatsKeys)) << msg(t.get(), "stats").text;
	for (size_t i = 0; i < pairs.size(); i++) {
		EXPECT_EQ(pairs[i].first, kStatsKeys[i]);
		if (pairs[i].first != "metadata" && pairs[i].first != "spare" &&
		    pairs[i].first != "mode") {
			EXPECT_TRUE(all_digits(pairs[i].second))
				<< pairs[i].first << "=" << pairs[i].second;
		}
	}
	const std::map<std::string, std::string> fresh = {
		{"remapped", "0"},      {"lost", "0"},
		{"spare_used", "0"},    {"spare_free", "96"},
		{"spare_total", "96"},  {"bad_spare", "0"},
		{"read_errors", "0"},   {"write_errors", "0"},
		{"auto_remaps", "0"},   {"manual_remaps", "0"},
		{"cache_hits", "0"},    {"cache_misses", "0"},
		{"metadata", "ok"},     {"seq", "1"},
		{"redone_writes", "0"}, {"redo_last_ns", "0"},
		{"redo_avg_ns", "0"},   {"redo_max_ns", "0"},
		{"medium_errors", "0"}, {"transient_errors", "0"},
		{"nospc_errors", "0"},  {"readahead_errors", "0"},
		{"outages", "0"},       {"reprobed", "0"},
		{"rescued", "0"},       {"lost_sectors", "0"},
		{"spare", "ok"},        {"mode", "rw"}};
	EXPECT_EQ(stats(t.get()), fresh);

	// Three remaps (one cache refill, then two hits), one lost block (a remap takes its spare
	// block before it holds the block: a third hit, given back), I/O errors.
	ASSERT_GE(remap_block(t.get(), l, 1), 0);
	ASSERT_GE(remap_block(t.get(), l, 2), 0);
	ASSERT_GE(remap_block(t.get(), l, 3), 0);
	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(t.get(), l, 4), kLost);
	for (int i = 0; i < 2; i++)
		rc_target_count_error(t.get(), 0);
	for (int i = 0; i < 3; i++)
		rc_target_count_error(t.get(), 1);
	// The glue reports how long each redone write took (here 3000, 9000 and 1500 ns).
	for (u64 ns : {3000u, 9000u, 1500u})
		rc_target_count_redone_write(t.get(), ns);
	const std::map<std::string, std::string> busy = {
		{"remapped", "3"},       {"lost", "1"},
		{"spare_used", "3"},     {"spare_free", "93"},
		{"spare_total", "96"},   {"bad_spare", "0"},
		{"read_errors", "2"},    {"write_errors", "3"},
		{"auto_remaps", "0"},    {"manual_remaps", "4"},
		{"cache_hits", "3"},     {"cache_misses", "1"},
		{"metadata", "ok"},      {"seq", "5"},
		{"redone_writes", "3"},  {"redo_last_ns", "1500"},
		{"redo_avg_ns", "4500"}, {"redo_max_ns", "9000"},
		{"medium_errors", "0"},  {"transient_errors", "0"},
		{"nospc_errors", "0"},   {"readahead_errors", "0"},
		{"outages", "0"},        {"reprobed", "0"},
		{"rescued", "0"},        {"lost_sectors", "0"},
		{"spare", "ok"},         {"mode", "rw"}};
	EXPECT_EQ(stats(t.get()), busy);
	EXPECT_EQ(status_info(t.get()), "4096 3 1 3/96 ok 5 rw");

	// clear_stats zeroes the counters, not the state.
	Reply r = msg(t.get(), "clear_stats");
	EXPECT_EQ(r.rc, 0);
	auto cleared = busy;
	for (const char *k :
	     {"read_errors", "write_errors", "auto_remaps", "manual_remaps", "cache_hits",
	      "cache_misses", "redone_writes", "redo_last_ns", "redo_avg_ns", "redo_max_ns"})
		cleared[k] = "0";
	EXPECT_EQ(stats(t.get()), cleared);
	EXPECT_EQ(seq(t.get()), 5u) << "clear_stats commits nothing";
}

TEST(RemapTarget, StatusInfoAppendsAndNeverOverruns)
{
	Rig rig;
	Target t = rig.started();
	ASSERT_TRUE(t);
	ASSERT_GE(remap_block(t.get(), rig.layout, 7), 0);

	char buf[128];
	std::strcpy(buf, "0 8192 remap ");
	unsigned used = static_cast<unsigned>(std::strlen(buf));
	rc_target_status_info(t.get(), buf, sizeof(buf), &used);
	EXPECT_STREQ(buf, "0 8192 remap 4096 1 0 1/96 ok 2 rw");
	EXPECT_EQ(used, std::strlen(buf));

	for (unsigned maxlen = 1; maxlen < 24; maxlen++) {
		std::memset(buf, '#', sizeof(buf));
		used = 0;
		rc_target_status_info(t.get(), buf, maxlen, &used);
		EXPECT_LE(used, maxlen);
		EXPECT_NE(std::memchr(buf, '\0', maxlen), nullptr) << maxlen;
		for (unsigned i = maxlen; i < sizeof(buf); i++)
			ASSERT_EQ(buf[i], '#') << "overrun at maxlen " << maxlen;
	}
}

TEST(RemapTarget, CreateRefusesMetadataItCannotTrustWithoutWriting)
{
	// Garbage in a superblock slot: refused, never reformatted.
	{
		Rig rig;
		const unsigned char junk[4] = {1, 2, 3, 4};
		rig.disk.poke(RB_SPARE_DEV, rig.layout.spare_byte(0) + 200, junk, sizeof(junk));
		const long base = rb_user_live_allocs();
		int err = 0;
		const char *error = nullptr;
		Target t = rig.create(&err, &error);
		EXPECT_FALSE(t);
		EXPECT_EQ(err, -kEINVAL);
		EXPECT_NE(error, nullptr);
		EXPECT_EQ(rig.disk.writes, 0);
		EXPECT_EQ(rb_user_live_allocs(), base);
	}
	// Metadata of another geometry (a different spare length) on the same area.
	{
		Layout small;
		Rig a(small);
		Target ta = a.started();
		ASSERT_TRUE(ta);
		ta.reset();
		Layout other = small;
		other.spare_blocks = 90;
		Rig b(other);
		b.disk = a.disk; // the same bytes, read with another table line
		int err = 0;
		const char *error = nullptr;
		const int writes = b.disk.writes;
		Target tb = b.create(&err, &error);
		EXPECT_FALSE(tb);
		EXPECT_EQ(err, -kEINVAL);
		EXPECT_NE(error, nullptr);
		EXPECT_EQ(b.disk.writes, writes);
	}
}
