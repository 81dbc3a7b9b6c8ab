// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Data moving between the devices, persistence across re-creation, and crashes.

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
// Data, persistence and crashes
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, DataMovesIntactBetweenTheDevices)
{
	Layout l;
	l.spare_blocks = 120;
	Rig rig(l);
	for (u64 b = 0; b < 64; b++)
		rig.fill_data(b, 1);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::mt19937_64 rng(2);
	std::vector<u64> blocks(64);
	std::iota(blocks.begin(), blocks.end(), 0);
	std::shuffle(blocks.begin(), blocks.end(), rng);
	blocks.resize(24);
	Mapping model;
	for (u64 b : blocks) {
		model[b] = remap_block(t.get(), l, b, rng());
		ASSERT_GE(model[b], 0);
		EXPECT_TRUE(rig.spare_holds(model[b], b, 1)) << "block " << b;
	}
	// New data lands on the spares (as routed by map()); half the blocks move back.
	for (auto &e : model)
		rig.fill_spare(e.second, e.first, 2);
	int n = 0;
	for (auto it = model.begin(); it != model.end();) {
		if (n++ % 2) {
			++it;
			continue;
		}
		EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(it->first * l.bs())).rc, 0);
		it = model.erase(it);
	}
	EXPECT_EQ(list_all(t.get()), model);
	for (u64 b = 0; b < 64; b++) {
		const bool moved_back =
			std::find(blocks.begin(), blocks.end(), b) != blocks.end() &&
			!model.count(b);
		EXPECT_TRUE(rig.data_holds(b, moved_back ? 2 : 1)) << "block " << b;
	}

	// After a power cut: the mapping, the spares' data and the copied-back data survive.
	t.reset();
	rig.disk.crash();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(list_all(again.get()), model);
	for (auto &e : model)
		EXPECT_TRUE(rig.spare_holds(e.second, e.first, 2));
	for (u64 b : blocks)
		if (!model.count(b)) {
			EXPECT_TRUE(rig.data_holds(b, 2));
		}
}

TEST(RemapTarget, MappingPersistsAcrossRecreateAndCrash)
{
	Rig rig;
	const Layout &l = rig.layout;
	for (u64 b = 0; b < 40; b++)
		rig.fill_data(b, 4);
	Target t = rig.started();
	ASSERT_TRUE(t);
	for (u64 b = 0; b < 40; b += 3)
		ASSERT_GE(remap_block(t.get(), l, b), 0);
	for (u64 b : {1ull, 4ull, 700ull}) {
		rig.disk.fail_next_read_for_good();
		ASSERT_EQ(remap_block(t.get(), l, b), kLost);
	}
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(9 * l.bs())).rc, 0);
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(21 * l.bs())).rc, 0);
	const std::string listed = list_text(t.get());
	auto st = stats(t.get());
	const std::string status = status_info(t.get());
	ASSERT_EQ(st["remapped"], "12");
	ASSERT_EQ(st["lost"], "3");

	auto persistent = [](std::map<std::string, std::string> s) {
		for (const char *k : {"read_errors", "write_errors", "auto_remaps", "manual_remaps",
				      "cache_hits", "cache_misses"})
			s.erase(k);
		return s;
	};
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(list_text(again.get()), listed);
	EXPECT_EQ(persistent(stats(again.get())), persistent(st));
	EXPECT_EQ(status_info(again.get()), status);

	again.reset();
	rig.disk.crash();
	Target after_crash = rig.create();
	ASSERT_TRUE(after_crash);
	EXPECT_EQ(list_text(after_crash.get()), listed);
	EXPECT_EQ(persistent(stats(after_crash.get())), persistent(st));
	Mapping m;
	parse_list(listed, &m);
	for (auto &e : m)
		if (e.second >= 0) {
			EXPECT_TRUE(rig.spare_holds(e.second, e.first, 4)) << "block " << e.first;
		}

	// And it keeps working from there.
	ASSERT_EQ(rc_target_resume(after_crash.get()), 0);
	EXPECT_GE(remap_block(after_crash.get(), l, 9), 0);
	EXPECT_EQ(seq(after_crash.get()), std::stoull(st["seq"]) + 1);
}

// A power cut at any write of any operation, with any subset of the unflushed writes
// surviving (torn or not): what loads is what was acknowledged, and the spares hold the data.
TEST(RemapTarget, PowerCutAtAnyWriteKeepsWhatWasAcknowledged)
{
	Layout l;
	l.spare_blocks = 40;
	enum Kind {
		Remap,
		RemapLost,
		Unremap
	};
	const std::vector<std::pair<Kind, u64>> script = {
		{Remap, 1}, {RemapLost, 2}, {Remap, 3}, {Unremap, 1},
		{Remap, 4}, {Unremap, 3},   {Remap, 5}};
	auto run = [&](Rig &rig, rc_target *t, std::pair<Kind, u64> op) {
		if (op.first == RemapLost)
			rig.disk.fail_next_read_for_good();
		const std::string verb = op.first == Unremap ? "unremap " : "remap ";
		Reply r = msg(t, verb + std::to_string(op.second * l.bs()));
		rig.disk.fail_read_in = -1;
		return r.rc;
	};
	std::mt19937_64 rng(77);
	int cases = 0;
	for (size_t i = 0; i < script.size(); i++) {
		for (int k = 0;; k++) {
			bool tripped = false;
			for (int variant = 0; variant < 2; variant++) {
				SCOPED_TRACE("op " + std::to_string(i) + " write " +
					     std::to_string(k) + " variant " +
					     std::to_string(variant));
				Rig rig(l);
				for (u64 b = 0; b < 8; b++)
					rig.fill_data(b, 5);
				Target t = rig.started();
				ASSERT_TRUE(t);
				for (size_t j = 0; j < i; j++)
					ASSERT_GE(run(rig, t.get(), script[j]), 0);
				const std::string before = list_text(t.get());
				int n = 0;
				tripped = false;
				rig.disk.write_filter = [&](const MemDisk::Write &) {
					if (n++ == k) {
						tripped = true;
						return false;
					}
					return true;
				};
				const int rc = run(rig, t.get(), script[i]);
				rig.disk.write_filter = nullptr;
				const std::string after = list_text(t.get());
				if (rc < 0) {
					EXPECT_EQ(after, before)
						<< "a failed operation changed the mapping";
				}
				t.reset();
				rig.disk.crash(&rng, variant ? 50 : 100, variant == 1);
				Target loaded = rig.create();
				ASSERT_TRUE(loaded);
				EXPECT_EQ(list_text(loaded.get()), rc < 0 ? before : after);
				Mapping m;
				parse_list(list_text(loaded.get()), &m);
				for (auto &e : m)
					if (e.second >= 0) {
						EXPECT_TRUE(rig.spare_holds(e.second, e.first, 5))
							<< "block " << e.first;
					}
				for (u64 b = 0; b < 8; b++)
					if (!m.count(b)) {
						EXPECT_TRUE(rig.data_holds(b, 5)) << "block " << b;
					}
				cases++;
			}
			if (!tripped)
				break;
		}
	}
	EXPECT_GT(cases, 30);
}
