// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Allocation failures at every step: reported as -ENOMEM, nothing changed or lost.

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
// Allocation failures
// ---------------------------------------------------------------------------------------------

namespace {

// A disk with remapped, lost and bad-spare entries, so that loading it allocates everything.
void populate(Rig &rig)
{
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	for (u64 b = 0; b < 30; b += 2)
		ASSERT_GE(remap_block(t.get(), l, b), 0);
	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(t.get(), l, 31), kLost);
	bool failed = false;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		if (l.is_spare_data(w) && !failed) {
			failed = true;
			return false;
		}
		return true;
	};
	ASSERT_GE(remap_block(t.get(), l, 33), 0);
	rig.disk.write_filter = nullptr;
}

} // namespace

TEST(RemapTarget, CreateFailsCleanlyOnEveryAllocationFailure)
{
	for (bool fresh : {true, false}) {
		SCOPED_TRACE(fresh ? "fresh area" : "loaded area");
		Rig rig;
		if (!fresh)
			populate(rig);
		const long base = rb_user_live_allocs();
		const int writes = rig.disk.writes;
		int failures = 0, clean_successes = 0;
		for (long n = 0; n < 400 && clean_successes < 20; n++) {
			int err = 0;
			const char *error = nullptr;
			rb_user_fail_alloc_nth(n);
			Target t = rig.create(&err, &error);
			rb_user_fail_alloc_nth(-1);
			if (t) {
				EXPECT_EQ(err, 0);
				clean_successes++;
			} else {
				clean_successes = 0;
				failures++;
				EXPECT_LT(err, 0) << "allocation " << n;
				EXPECT_NE(error, nullptr) << "allocation " << n;
			}
			t.reset();
			EXPECT_EQ(rb_user_live_allocs(), base)
				<< "leak after allocation " << n << " failed";
		}
		EXPECT_GT(failures, 3);
		EXPECT_EQ(clean_successes, 20);
		EXPECT_EQ(rig.disk.writes, writes) << "create wrote";
	}
}

// An allocation failure while loading is not damaged metadata: create must fail (-ENOMEM),
// never come up on the older superblock slot ("degraded", without the newest commit's remaps).
// (resume happens to reload the newest commit afterwards, if memory allows by then; the next
// test shows what happens when it does not.)
TEST(RemapTarget, AllocationFailureWhileLoadingNeverLoadsAnOlderCommit)
{
	Rig rig;
	populate(rig);
	std::string newest;
	u64 newest_seq = 0;
	{
		Target t = rig.create();
		ASSERT_TRUE(t);
		newest = list_text(t.get());
		newest_seq = seq(t.get());
	}
	ASSERT_NE(newest.find("\n33 "), std::string::npos) << newest;
	int stale = 0;
	for (long n = 0; n < 200; n++) {
		Rig copy(rig.layout);
		copy.disk = rig.disk;
		int err = 0;
		const char *error = nullptr;
		rb_user_fail_alloc_nth(n);
		Target t = copy.create(&err, &error);
		rb_user_fail_alloc_nth(-1);
		if (!t)
			continue;
		const std::string got = list_text(t.get());
		if (got == newest && seq(t.get()) == newest_seq && metadata_state(t.get()) == "ok")
			continue;
		if (stale++)
			continue;
		ADD_FAILURE() << "allocation " << n
			      << " failed and create succeeded on an older commit: seq "
			      << seq(t.get()) << " (newest " << newest_seq
			      << "), metadata=" << metadata_state(t.get()) << ", list:\n"
			      << got;
	}
	EXPECT_EQ(stale, 0);
}

// The same at resume, when another table committed meanwhile and this one reloads: coming up
// on the older commit makes the newest commit's remaps vanish from the live mapping (their I/O
// goes to the bad data blocks again), and the next commit, which reuses the newest commit's seq
// and superblock slot, destroys that commit for good.
TEST(RemapTarget, AllocationFailureWhileReloadingAtResumeNeverLoadsAnOlderCommit)
{
	Rig rig;
	const Layout &l = rig.layout;
	populate(rig);
	int stale = 0;
	for (long n = 0; n < 200; n++) {
		Rig copy(l);
		copy.disk = rig.disk;
		Target t = copy.create();
		ASSERT_TRUE(t);
		{
			Target other = copy.create();
			ASSERT_TRUE(other);
			ASSERT_EQ(rc_target_resume(other.get()), 0);
			ASSERT_GE(remap_block(other.get(), l, 41), 0);
			rc_target_suspend(other.get());
		}
		const std::string before = list_text(t.get());
		rb_user_fail_alloc_nth(n);
		const int r = rc_target_resume(t.get());
		rb_user_fail_alloc_nth(-1);
		const std::string got = list_text(t.get());
		if (r != 0) {
			EXPECT_EQ(got, before) << "a failed resume changed the mapping";
			EXPECT_EQ(msg(t.get(), "remap " + std::to_string(50 * l.bs())).rc, -kEBUSY)
				<< "a failed resume left it running";
			continue;
		}
		if (got.find("\n41 ") != std::string::npos && metadata_state(t.get()) == "ok")
			continue;
		stale++;
		if (stale > 1)
			continue;
		ADD_FAILURE() << "allocation " << n
			      << " failed and resume succeeded without the other "
			      << "table's commit: seq " << seq(t.get())
			      << ", metadata=" << metadata_state(t.get()) << ", list:\n"
			      << got;
		EXPECT_EQ(map_io(t.get(), 41 * l.bs(), 1).route, RC_ROUTE_SPARE)
			<< "block 41's I/O goes to the data device again";
		// The next commit overwrites the newest one.
		ASSERT_GE(remap_block(t.get(), l, 42), 0);
		t.reset();
		Target reloaded = copy.create();
		ASSERT_TRUE(reloaded);
		EXPECT_NE(list_text(reloaded.get()).find("\n41 "), std::string::npos)
			<< "block 41's remap, acknowledged to the other table, is gone for good:\n"
			<< list_text(reloaded.get());
	}
	EXPECT_EQ(stale, 0);
}

// An allocation failure is reported as -ENOMEM (not as bad metadata, -EINVAL), so that
// `dmsetup create` says "Cannot allocate memory".
TEST(RemapTarget, CreateReportsEnomemForEveryAllocationFailure)
{
	for (bool fresh : {true, false}) {
		SCOPED_TRACE(fresh ? "fresh area" : "loaded area");
		Rig rig;
		if (!fresh)
			populate(rig);
		for (long n = 0;; n++) {
			ASSERT_LT(n, 10000);
			int err = 0;
			const char *error = nullptr;
			rb_user_fail_alloc_nth(n);
			Target t = rig.create(&err, &error);
			rb_user_fail_alloc_nth(-1);
			if (t)
				break;
			EXPECT_EQ(err, -kENOMEM)
				<< "allocation " << n << " failed: " << (error ? error : "(null)");
		}
	}
}

TEST(RemapTarget, AllocationFailuresInMessagesAndFormatFailCleanly)
{
	const long base = rb_user_live_allocs();
	{
		Rig rig;
		const Layout &l = rig.layout;
		for (u64 b = 0; b < 16; b++)
			rig.fill_data(b, 8);

		// resume's format commit.
		Target t = rig.create();
		ASSERT_TRUE(t);
		for (long n = 0;; n++) {
			ASSERT_LT(n, 1000);
			rb_user_fail_alloc_nth(n);
			const int r = rc_target_resume(t.get());
			rb_user_fail_alloc_nth(-1);
			if (r == 0)
				break;
			EXPECT_EQ(r, -kENOMEM) << n;
			EXPECT_EQ(seq(t.get()), 0u);
			EXPECT_EQ(msg(t.get(), "remap 0").rc, -kEBUSY)
				<< "a failed resume left it running";
		}
		EXPECT_EQ(seq(t.get()), 1u);
		ASSERT_GE(remap_block(t.get(), l, 1), 0);
		ASSERT_GE(remap_block(t.get(), l, 2), 0);

		struct Op {
			const char *name;
			std::string words;
			bool lost;
		};
		const std::vector<Op> ops = {
			{"remap", "remap " + std::to_string(5 * l.bs()), false},
			{"remap lost", "remap " + std::to_string(6 * l.bs()), true},
			{"unremap", "unremap " + std::to_string(1 * l.bs()), false}};
		for (const Op &op : ops) {
			SCOPED_TRACE(op.name);
			int failures = 0;
			for (long n = 0;; n++) {
				ASSERT_LT(n, 1000);
				const std::string before = list_text(t.get());
				const u64 seq0 = seq(t.get());
				const u64 free0 = stat(t.get(), "spare_free");
				if (op.lost)
					rig.disk.fail_next_read_for_good();
				rb_user_fail_alloc_nth(n);
				Reply r = msg(t.get(), op.words);
				rb_user_fail_alloc_nth(-1);
				rig.disk.fail_read_in = -1;
				if (r.rc >= 0)
					break;
				failures++;
				EXPECT_EQ(r.rc, -kENOMEM) << "allocation " << n;
				EXPECT_EQ(list_text(t.get()), before) << "allocation " << n;
				EXPECT_EQ(seq(t.get()), seq0) << "allocation " << n;
				EXPECT_EQ(stat(t.get(), "spare_free"), free0) << "allocation " << n;
				EXPECT_EQ(metadata_state(t.get()), "ok") << "allocation " << n;
				const u64 sector =
					std::stoull(op.words.substr(op.words.find(' ') + 1));
				EXPECT_NE(map_io(t.get(), sector, 1).route, RC_ROUTE_HOLD)
					<< "a block stayed held after allocation " << n
					<< " failed";
			}
			EXPECT_GT(failures, 0);
		}
		Mapping m = list_all(t.get());
		EXPECT_EQ(m.count(1), 0u);
		EXPECT_EQ(m.count(5), 1u);
		EXPECT_EQ(m[6], kLost);
		EXPECT_TRUE(rig.spare_holds(m[5], 5, 8));
		EXPECT_TRUE(rig.data_holds(1, 8));
	}
	EXPECT_EQ(rb_user_live_allocs(), base);
}
