// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Every message verb: replies, refusals and what each changes.

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
// Messages
// ---------------------------------------------------------------------------------------------

TEST(RemapTarget, RemapCopiesTheBlockCommitsAndReplies)
{
	Rig rig;
	const Layout &l = rig.layout;
	for (u64 b : {0ull, 5ull, 1023ull, 6ull})
		rig.fill_data(b, 3);
	Target t = rig.started();
	ASSERT_TRUE(t);

	const long long s0 = remap_block(t.get(), l, 0);
	EXPECT_EQ(seq(t.get()), 2u);
	const long long s5 = remap_block(t.get(), l, 5, 3);
	Reply last = msg(t.get(), "remap " + std::to_string(l.target_len() - 1));
	ASSERT_EQ(last.rc, 1);
	long long s_last = -2;
	{
		u64 b;
		ASSERT_TRUE(parse_list_line(last.text + " remapped", &b, &s_last)) << last.text;
		EXPECT_EQ(b, 1023u);
	}
	EXPECT_EQ(seq(t.get()), 4u);
	std::set<long long> spares = {s0, s5, s_last};
	EXPECT_EQ(spares.size(), 3u) << "a spare block handed out twice";
	for (long long s : spares) {
		EXPECT_GE(s, static_cast<long long>(l.first_usable()));
		EXPECT_LT(s, static_cast<long long>(l.spare_blocks));
	}
	EXPECT_TRUE(rig.spare_holds(s0, 0, 3));
	EXPECT_TRUE(rig.spare_holds(s5, 5, 3));
	EXPECT_TRUE(rig.spare_holds(s_last, 1023, 3));
	EXPECT_TRUE(rig.data_holds(6, 3)) << "a neighbour changed";

	// Already remapped: the same reply, nothing written.
	const int writes = rig.disk.writes;
	Reply again = msg(t.get(), "remap " + std::to_string(5 * l.bs() + 7));
	EXPECT_EQ(again.rc, 1);
	EXPECT_EQ(again.text, "5 " + std::to_string(s5));
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_EQ(seq(t.get()), 4u);
	EXPECT_EQ(stat(t.get(), "manual_remaps"), 3u);

	rc_mapping m = map_io(t.get(), 5 * l.bs() + 3, 1);
	EXPECT_EQ(m.route, RC_ROUTE_SPARE);
	EXPECT_EQ(m.sector, l.spare_sector(s5) + 3);
	EXPECT_EQ(m.sectors, 1u);
	EXPECT_EQ(list_text(t.get()),
		  "0 " + std::to_string(s0) + " remapped\n5 " + std::to_string(s5) +
			  " remapped\n1023 " + std::to_string(s_last) + " remapped\n");
}

TEST(RemapTarget, ReadWithoutMemoryFailsTheRemapAndLosesNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 s0 = seq(t.get());
	rig.disk.fail_error =
		-kENOMEM; // the read could not even be issued: says nothing of the disk
	rig.disk.fail_read_in = 0;
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(10 * l.bs())).rc, -kENOMEM);
	rig.disk.fail_error = -5;
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(seq(t.get()), s0) << "nothing to commit";
	EXPECT_EQ(map_io(t.get(), 10 * l.bs(), 1).route, RC_ROUTE_DATA);
	Reply r = msg(t.get(), "remap " + std::to_string(10 * l.bs()));
	EXPECT_EQ(r.rc, 1) << "and it works once memory is back";
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
}

TEST(RemapTarget, UnreadableBlockBecomesLost)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	rig.disk.fail_next_read_for_good();
	Reply r = msg(t.get(), "remap " + std::to_string(10 * l.bs() + 1));
	ASSERT_EQ(r.rc, 1);
	EXPECT_EQ(r.text, "10 lost");
	EXPECT_EQ(seq(t.get()), 2u) << "a lost block is committed";
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
	EXPECT_EQ(stat(t.get(), "remapped"), 0u);
	EXPECT_EQ(stat(t.get(), "spare_used"), 0u);
	EXPECT_EQ(stat(t.get(), "spare_free"), l.spare_total()) << "a lost block uses no spare";
	EXPECT_EQ(list_text(t.get()), "10 - lost\n");
	for (u64 s = 10 * l.bs(); s < 11 * l.bs(); s++) {
		rc_mapping m = map_io(t.get(), s, 1);
		EXPECT_EQ(m.route, RC_ROUTE_LOST);
		EXPECT_EQ(m.sectors, 1u);
	}

	// Remapping it again says the same and changes nothing; unremap has nothing to copy back.
	const int writes = rig.disk.writes;
	r = msg(t.get(), "remap " + std::to_string(10 * l.bs()));
	EXPECT_EQ(r.rc, 1);
	EXPECT_EQ(r.text, "10 lost");
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(10 * l.bs())).rc, -kEINVAL);
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_EQ(seq(t.get()), 2u);
	EXPECT_EQ(list_text(t.get()), "10 - lost\n");
}

TEST(RemapTarget, UnremapCopiesBackDropsTheMappingAndFreesTheSpare)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(7, 1);
	rig.fill_data(8, 1);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const long long s = remap_block(t.get(), l, 7);
	ASSERT_GE(s, 0);
	ASSERT_TRUE(rig.spare_holds(s, 7, 1));
	// Writes that went to the spare since (as map() routed them).
	rig.fill_spare(s, 7, 2);

	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(7 * l.bs() + 5)).rc, 0);
	EXPECT_TRUE(rig.data_holds(7, 2)) << "the spare's content was not copied back";
	EXPECT_TRUE(rig.data_holds(8, 1));
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(seq(t.get()), 3u);
	EXPECT_EQ(stat(t.get(), "remapped"), 0u);
	EXPECT_EQ(stat(t.get(), "spare_used"), 0u);
	EXPECT_EQ(stat(t.get(), "spare_free"), l.spare_total());
	rc_mapping m = map_io(t.get(), 7 * l.bs(), static_cast<u32>(l.bs()));
	EXPECT_EQ(m.route, RC_ROUTE_DATA);
	EXPECT_EQ(m.sector, l.data_offset + 7 * l.bs());

	// Unremapping an unmapped block: 0 and nothing happens.
	const int writes = rig.disk.writes;
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(7 * l.bs())).rc, 0);
	EXPECT_EQ(msg(t.get(), "unremap 0").rc, 0);
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_EQ(seq(t.get()), 3u);

	// The copy-back was FUA and the commit durable.
	t.reset();
	rig.disk.crash();
	EXPECT_TRUE(rig.data_holds(7, 2));
	Target again = rig.create();
	ASSERT_TRUE(again);
	EXPECT_EQ(list_text(again.get()), "");
	EXPECT_EQ(seq(again.get()), 3u);
}

TEST(RemapTarget, FailedCopyBackChangesNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(3, 1);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const long long s = remap_block(t.get(), l, 3);
	ASSERT_GE(s, 0);
	rig.fill_spare(s, 3, 2);
	const std::string before = list_text(t.get());
	const u64 seq0 = seq(t.get());

	// The copy-back write fails.
	bool failed = false;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		if (w.dev == RB_DATA_DEV) {
			failed = true;
			return false;
		}
		return true;
	};
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(3 * l.bs())).rc, -kEIO);
	rig.disk.write_filter = nullptr;
	EXPECT_TRUE(failed);
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(metadata_state(t.get()), "ok")
		<< "a data write failure is not a metadata failure";
	EXPECT_EQ(stat(t.get(), "spare_used"), 1u);
	EXPECT_TRUE(rig.data_holds(3, 1));
	EXPECT_EQ(map_io(t.get(), 3 * l.bs(), 1).route, RC_ROUTE_SPARE);

	// The spare read fails.
	rig.disk.fail_read_in = 0;
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(3 * l.bs())).rc, -kEIO);
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_TRUE(rig.data_holds(3, 1));

	// Then it works.
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(3 * l.bs())).rc, 0);
	EXPECT_TRUE(rig.data_holds(3, 2));
	EXPECT_EQ(list_text(t.get()), "");
}

TEST(RemapTarget, ListIsAscendingAndNeverEndsInACutLine)
{
	Layout l;
	l.spare_blocks = 200;
	Rig rig(l);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::mt19937_64 rng(3);
	std::vector<u64> blocks;
	for (u64 b = 0; b < 1024; b += 1 + rng() % 40)
		blocks.push_back(b);
	blocks.push_back(1023);
	std::shuffle(blocks.begin(), blocks.end(), rng);
	Mapping model;
	for (size_t i = 0; i < blocks.size(); i++) {
		if (i % 5 == 0)
			rig.disk.fail_next_read_for_good();
		model[blocks[i]] = remap_block(t.get(), l, blocks[i]);
		rig.disk.fail_read_in = -1;
	}
	ASSERT_GT(model.size(), 20u);

	const std::string full = list_text(t.get());
	Mapping listed;
	parse_list(full, &listed);
	EXPECT_EQ(listed, model);

	// Any maxlen: a prefix of whole lines.
	for (unsigned maxlen = 1; maxlen <= full.size() + 1; maxlen++) {
		Reply r = msg(t.get(), "list", maxlen);
		ASSERT_EQ(r.rc, 1);
		EXPECT_TRUE(r.text.empty() || r.text.back() == '\n') << maxlen << ": " << r.text;
		EXPECT_EQ(full.compare(0, r.text.size(), r.text), 0) << maxlen;
		EXPECT_LT(r.text.size(), maxlen);
		if (r.text.size() < full.size()) {
			// The next line did not fit (it needs its length plus the NUL).
			const size_t next = full.find('\n', r.text.size()) + 1 - r.text.size();
			EXPECT_GE(r.text.size() + next, maxlen)
				<< "a page stopped early at " << maxlen;
		}
		if (maxlen == full.size() + 1) {
			EXPECT_EQ(r.text, full);
		}
	}

	// Paging by first_block reassembles it, for several page sizes.
	for (unsigned page : {24u, 25u, 31u, 64u, 100u, 4096u}) {
		std::string text;
		EXPECT_EQ(list_all(t.get(), page, &text), model) << page;
		EXPECT_EQ(text, full) << page;
	}

	// first_block and max.
	auto it = model.begin();
	std::advance(it, 3);
	Mapping got;
	parse_list(msg(t.get(), "list " + std::to_string(it->first) + " 2").text, &got);
	ASSERT_EQ(got.size(), 2u);
	EXPECT_EQ(got.begin()->first, it->first);
	EXPECT_EQ(got.rbegin()->first, std::next(it)->first);
	got.clear();
	parse_list(msg(t.get(), "list " + std::to_string(it->first + 1) + " 1").text, &got);
	ASSERT_EQ(got.size(), 1u);
	EXPECT_EQ(got.begin()->first, std::next(it)->first);
	EXPECT_EQ(msg(t.get(), "list 0 0").text, "");
	EXPECT_EQ(msg(t.get(), "list 1024").text, "");
	EXPECT_EQ(msg(t.get(), "list 18446744073709551615").text, "");
}

TEST(RemapTarget, HelpNamesEveryVerb)
{
	Rig rig;
	Target t = rig.create();
	ASSERT_TRUE(t);
	Reply r = msg(t.get(), "help");
	ASSERT_EQ(r.rc, 1);
	for (const char *v :
	     {"remap <sector>", "unremap <sector>", "list", "stats", "clear_stats", "help"})
		EXPECT_NE(r.text.find(v), std::string::npos) << v << " missing from: " << r.text;
	EXPECT_EQ(msg(t.get(), "HELP").rc, 1);
}

TEST(RemapTarget, BadMessagesAreRejectedAndChangeNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	ASSERT_GE(remap_block(t.get(), l, 2), 0);
	const std::string before = list_text(t.get());
	const u64 seq0 = seq(t.get());
	const int writes = rig.disk.writes;
	const std::string len = std::to_string(l.target_len());

	const std::vector<std::string> bad = {
		"",
		"frobnicate",
		"remapx 8",
		"remap",
		"remap 8 9 10",
		"unremap",
		"unremap 16 17",
		"list 1 2 3",
		"stats 1",
		"clear_stats now",
		"help me",
		"remap abc",
		"remap -8",
		"remap +8",
		"remap 0x10",
		"remap 1.5",
		"remap 8k",
		"remap 18446744073709551616",
		"remap 99999999999999999999999",
		"remap " + len,
		"remap " + std::to_string(l.target_len() + 1),
		"remap 18446744073709551615",
		"unremap " + len,
		"unremap abc",
		"list x",
		"list 0 y",
		"list -1",
	};
	for (const std::string &m : bad) {
		Reply r = msg(t.get(), m);
		EXPECT_EQ(r.rc, -kEINVAL) << "'" << m << "'";
	}
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(rig.disk.writes, writes);

	// Verbs are case-insensitive.
	Reply r = msg(t.get(), "REMAP " + std::to_string(l.target_len() - 1));
	EXPECT_EQ(r.rc, 1);
	EXPECT_EQ(r.text.rfind("1023 ", 0), 0u) << r.text;
	EXPECT_EQ(msg(t.get(), "Unremap " + std::to_string(l.target_len() - 1)).rc, 0);
	EXPECT_EQ(msg(t.get(), "LIST").text, before);
	EXPECT_EQ(msg(t.get(), "StAtS").rc, 1);
	EXPECT_EQ(msg(t.get(), "CLEAR_STATS").rc, 0);
	EXPECT_EQ(msg(t.get(), "HeLp").rc, 1);
}

TEST(RemapTarget, MappingChangesWhileSuspendedAreBusy)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.create();
	ASSERT_TRUE(t);
	// Not yet resumed: created suspended.
	EXPECT_EQ(msg(t.get(), "remap 8").rc, -kEBUSY);
	EXPECT_EQ(rig.disk.writes, 0);
	ASSERT_EQ(rc_target_resume(t.get()), 0);
	const long long s = remap_block(t.get(), l, 1);
	ASSERT_GE(s, 0);

	rc_target_suspend(t.get());
	const std::string before = list_text(t.get());
	const u64 seq0 = seq(t.get());
	const int writes = rig.disk.writes;
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(2 * l.bs())).rc, -kEBUSY);
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(1 * l.bs())).rc, -kEBUSY);
	rig.disk.fail_read_in = 0; // would be a lost block
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(3 * l.bs())).rc, -kEBUSY);
	rig.disk.fail_read_in = -1;
	// Reading messages still work.
	EXPECT_EQ(msg(t.get(), "list").rc, 1);
	EXPECT_EQ(msg(t.get(), "stats").rc, 1);
	EXPECT_EQ(msg(t.get(), "help").rc, 1);
	EXPECT_EQ(msg(t.get(), "clear_stats").rc, 0);
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(rig.disk.writes, writes);

	ASSERT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_GE(remap_block(t.get(), l, 2), 0);
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(1 * l.bs())).rc, 0);
}

TEST(RemapTarget, SuspendWaitsForAMappingChangeInProgress)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::promise<void> entered_p, release_p;
	std::shared_future<void> release = release_p.get_future().share();
	bool first = true; // only the remapping thread runs the filter
	rig.disk.write_filter = [&](const MemDisk::Write &) {
		if (first) {
			first = false;
			entered_p.set_value();
			release.wait();
		}
		return true;
	};
	std::thread remapper([&] { EXPECT_EQ(msg(t.get(), "remap 0").rc, 1); });
	entered_p.get_future().wait();
	std::atomic<bool> suspended{false};
	std::thread suspender([&] {
		rc_target_suspend(t.get());
		suspended = true;
	});
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	EXPECT_FALSE(suspended.load()) << "suspend returned while a remap was in progress";
	release_p.set_value();
	remapper.join();
	suspender.join();
	rig.disk.write_filter = nullptr;
	EXPECT_TRUE(suspended.load());
	Mapping m = list_all(t.get());
	EXPECT_EQ(m.count(0), 1u);
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(4 * l.bs())).rc, -kEBUSY);
}
