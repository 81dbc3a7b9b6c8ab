// The lookup table against std::map: every lookup and lower_bound agrees, through builds and
// long chains of merges, at sizes around the chunk limits; versions share chunks and can be freed
// in any order; allocation failures leave nothing behind; a commit's cost does not grow with the
// table.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include <time.h>

#include "boundary_user.h"
#include "lookup_table_probe.h"
#include "sort.h"

using remap::LookupTable;
using remap::LookupTableProbe;
using remap::u32;
using remap::u64;

namespace {

// The chunk invariants: no empty chunk, none above kMaxChunk, none below kMinChunk unless it is
// the only one, and the chunk positions add up.
void expect_chunks_sound(const LookupTable *t)
{
	u64 total = 0;
	for (u64 i = 0; i < LookupTableProbe::chunk_count(*t); i++) {
		const u64 n = LookupTableProbe::chunk_entries(*t, i);
		ASSERT_GT(n, 0u) << "chunk " << i;
		ASSERT_LE(n, u64(LookupTable::kMaxChunk)) << "chunk " << i;
		if (LookupTableProbe::chunk_count(*t) > 1) {
			ASSERT_GE(n, u64(LookupTable::kMinChunk))
				<< "chunk " << i << " of " << LookupTableProbe::chunk_count(*t);
		}
		total += n;
	}
	ASSERT_EQ(total, t->size());
}

void expect_matches(const LookupTable *t, const std::map<u64, u32> &model, std::mt19937_64 &rng)
{
	ASSERT_EQ(t->size(), model.size());
	expect_chunks_sound(t);
	u64 pos = 0;
	for (auto [k, v] : model) {
		ASSERT_EQ(t->key(pos), k);
		ASSERT_EQ(t->value(pos), v);
		pos++;
	}
	const u64 top = model.empty() ? 100 : model.rbegin()->first + 100;
	for (int i = 0; i < 2000; i++) {
		u64 probe = rng() % top;
		auto it = model.lower_bound(probe);
		u64 expect = static_cast<u64>(std::distance(model.begin(), it));
		ASSERT_EQ(t->lower_bound(probe), expect) << "probe " << probe;
		u32 v = 0;
		ASSERT_EQ(t->find(probe, &v), it != model.end() && it->first == probe);
		if (it != model.end() && it->first == probe) {
			ASSERT_EQ(v, it->second);
		}
		u64 k = 0;
		v = 0;
		ASSERT_EQ(t->first_at_or_after(probe, &k, &v), it != model.end())
			<< "probe " << probe;
		if (it != model.end()) {
			ASSERT_EQ(k, it->first) << "probe " << probe;
			ASSERT_EQ(v, it->second) << "probe " << probe;
		}
		// any_in() over [probe, probe + len]: short ranges, and long ones across gaps.
		const u64 len = i % 4 == 0 ? rng() % top : rng() % 16;
		const u64 end = ~u64(0) - probe < len ? ~u64(0) : probe + len;
		ASSERT_EQ(t->any_in(probe, end), it != model.end() && it->first <= end)
			<< "probe " << probe << " + " << len;
		if (i % 64 == 0) { // a listing page from probe: the entries from it on, in order
			const int want = static_cast<int>(rng() % 1200);
			std::vector<std::pair<u64, u32>> got;
			t->for_each_from(probe, [&](u64 key, u32 value) {
				got.emplace_back(key, value);
				return static_cast<int>(got.size()) < want;
			});
			auto m = it;
			for (const auto &[key, value] : got) {
				ASSERT_NE(m, model.end());
				ASSERT_EQ(key, m->first);
				ASSERT_EQ(value, m->second);
				++m;
			}
			ASSERT_TRUE(static_cast<int>(got.size()) == std::max(want, 1) ||
				    m == model.end());
		}
	}
	u64 k = 0;
	u32 v = 0;
	ASSERT_EQ(t->first_at_or_after(0, &k, &v), !model.empty());
	if (!model.empty()) {
		ASSERT_EQ(k, model.begin()->first);
		if (model.rbegin()->first != ~0ull) { // else + 1 wraps
			ASSERT_FALSE(t->first_at_or_after(model.rbegin()->first + 1, &k, &v));
		}
		ASSERT_TRUE(t->first_at_or_after(model.rbegin()->first, &k, &v));
		ASSERT_EQ(k, model.rbegin()->first);
	}
	for (auto [k, v] : model) {
		u32 got = 0;
		ASSERT_TRUE(t->find(k, &got));
		ASSERT_EQ(got, v);
	}
}

} // namespace

TEST(LookupTable, SortPairs)
{
	std::mt19937_64 rng(7);
	for (u64 n : {0u, 1u, 2u, 3u, 31u, 32u, 33u, 1000u}) {
		std::vector<u64> keys(n);
		std::vector<u32> values(n);
		for (u64 i = 0; i < n; i++) {
			keys[i] = rng() % 500;
			values[i] = static_cast<u32>(keys[i] * 3);
		}
		remap::sort_pairs(keys.data(), values.data(), n);
		for (u64 i = 1; i < n; i++)
			ASSERT_LE(keys[i - 1], keys[i]);
		for (u64 i = 0; i < n; i++)
			ASSERT_EQ(values[i], keys[i] * 3) << "value did not travel with its key";
	}
}

TEST(LookupTable, BuildMatchesModelAtManySizes)
{
	std::mt19937_64 rng(1);
	for (u64 n : {0u, 1u, 31u, 32u, 33u, 64u, 65u, 1000u, 20000u}) {
		std::map<u64, u32> model;
		while (model.size() < n)
			model[rng() % (n * 4 + 10)] = static_cast<u32>(rng());
		std::vector<u64> keys;
		std::vector<u32> values;
		for (auto [k, v] : model) {
			keys.push_back(k);
			values.push_back(v);
		}
		std::shuffle(keys.begin(), keys.end(), rng); // build sorts; values follow a key map
		for (u64 i = 0; i < n; i++)
			values[i] = model[keys[i]];
		auto r = LookupTable::build(keys.data(), values.data(), n, remap::Gfp::Kernel);
		ASSERT_FALSE(r.is_error());
		expect_matches(r.value(), model, rng);
		LookupTable::free(r.value());
	}
}

TEST(LookupTable, BuildRejectsDuplicates)
{
	u64 keys[] = {5, 9, 5};
	u32 values[] = {1, 2, 3};
	auto r = LookupTable::build(keys, values, 3, remap::Gfp::Kernel);
	ASSERT_TRUE(r.is_error());
	EXPECT_EQ(r.error().code(), -remap::kEINVAL);
}

TEST(LookupTable, MergeChainsMatchModel)
{
	std::mt19937_64 rng(3);
	std::map<u64, u32> model;
	LookupTable *t = nullptr;
	for (int round = 0; round < 300; round++) {
		std::map<u64, LookupTable::Change> batch;
		const int k = 1 + static_cast<int>(rng() % (round % 10 == 0 ? 400 : 8));
		for (int i = 0; i < k; i++) {
			u64 key = rng() % 5000;
			bool remove = !model.empty() && rng() % 4 == 0;
			u32 value =
				rng() % 3 ? static_cast<u32>(rng() % 100000) : LookupTable::kLost;
			batch[key] = LookupTable::Change{key, value, remove};
		}
		std::vector<LookupTable::Change> changes;
		for (auto &[key, c] : batch) {
			changes.push_back(c);
			if (c.remove)
				model.erase(key);
			else
				model[key] = c.spare;
		}
		auto r = LookupTable::merge(t, changes.data(), changes.size(), remap::Gfp::Noio);
		ASSERT_FALSE(r.is_error());
		LookupTable::free(t);
		t = r.value();
		expect_matches(t, model, rng);
	}
	LookupTable::free(t);
}

TEST(LookupTable, AllocationFailureLeavesNothingBehind)
{
	long before = rb_user_live_allocs();
	u64 keys[] = {1, 2, 3};
	u32 values[] = {1, 2, 3};
	for (long nth = 0; nth < 4; nth++) {
		rb_user_fail_alloc_nth(nth);
		auto r = LookupTable::build(keys, values, 3, remap::Gfp::Kernel);
		ASSERT_TRUE(r.is_error()) << nth;
		EXPECT_EQ(r.error().code(), -remap::kENOMEM);
		EXPECT_EQ(rb_user_live_allocs(), before);
	}
	rb_user_fail_alloc_nth(-1);
}

namespace {

using Model = std::map<u64, u32>;

LookupTable *merge_ok(const LookupTable *old, const std::vector<LookupTable::Change> &changes)
{
	auto r = LookupTable::merge(old, changes.data(), changes.size(), remap::Gfp::Noio);
	EXPECT_FALSE(r.is_error());
	return r.is_error() ? nullptr : r.value();
}

void apply_changes(Model &model, const std::vector<LookupTable::Change> &changes)
{
	for (const auto &c : changes) {
		if (c.remove)
			model.erase(c.data_block);
		else
			model[c.data_block] = c.spare;
	}
}

// Merges a batch (one change per block, in block order) into t, which it frees, and into the
// model; returns the new table.
LookupTable *merge_batch(LookupTable *t, Model &model,
			 const std::map<u64, LookupTable::Change> &batch)
{
	std::vector<LookupTable::Change> changes;
	for (auto &[k, c] : batch)
		changes.push_back(c);
	LookupTable *next = merge_ok(t, changes);
	apply_changes(model, changes);
	LookupTable::free(t);
	return next;
}

LookupTable *table_of(const Model &model)
{
	std::vector<LookupTable::Change> changes;
	for (auto [k, v] : model)
		changes.push_back({k, v, false});
	return merge_ok(nullptr, changes);
}

double thread_cpu_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

} // namespace

// Versions branch off any live version, one change at a time, and are freed in random order:
// each keeps reading right while the others come and go (ASan would catch a chunk freed under
// one), and in the end every chunk is gone.
TEST(LookupTable, SingleChangeChainsFreedInAnyOrder)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(11);
	struct Version {
		LookupTable *table;
		Model model;
	};
	std::vector<Version> live;
	live.push_back({merge_ok(nullptr, {}), {}});
	for (int step = 0; step < 6000; step++) {
		// Mostly the newest version, sometimes an older one: a branch.
		const size_t base = rng() % 8 ? live.size() - 1 : rng() % live.size();
		Model model = live[base].model;
		// Grow to about 3000 entries, then shrink to nothing, then grow again: splits, then
		// emptied and tiny chunks folding away.
		const bool shrinking = step >= 2500 && step < 4500;
		const u64 key = rng() % 4000;
		const bool remove = shrinking ? rng() % 8 != 0 : rng() % 5 == 0;
		std::vector<LookupTable::Change> c{{key, static_cast<u32>(rng() % 100000), remove}};
		if (shrinking && !model.empty() && rng() % 2) { // remove an entry that is there
			auto it = model.lower_bound(key);
			if (it == model.end())
				it = model.begin();
			c[0] = {it->first, 0, true};
		}
		LookupTable *t = merge_ok(live[base].table, c);
		ASSERT_NE(t, nullptr);
		apply_changes(model, c);
		live.push_back({t, std::move(model)});

		while (live.size() > 6 || (live.size() > 1 && rng() % 3 == 0)) {
			const size_t victim = rng() % live.size();
			LookupTable::free(live[victim].table);
			live.erase(live.begin() + static_cast<long>(victim));
		}
		if (step % 239 == 0) {
			for (const auto &v : live)
				expect_matches(v.table, v.model, rng);
		}
	}
	for (const auto &v : live)
		expect_matches(v.table, v.model, rng);
	std::shuffle(live.begin(), live.end(), rng);
	for (auto &v : live)
		LookupTable::free(v.table);
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// The chunk boundaries: a full chunk splits, an emptied one drops out, a tiny tail folds into
// the chunk before it, a large batch is cut into several chunks.
TEST(LookupTable, ChunksSplitEmptyAndFold)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(5);
	const u64 kMax = LookupTable::kMaxChunk;
	Model model;
	for (u64 i = 0; i < kMax; i++)
		model[i * 10] = static_cast<u32>(i);
	LookupTable *t = table_of(model);
	ASSERT_EQ(LookupTableProbe::chunk_count(*t), 1u);
	expect_matches(t, model, rng);

	// One more entry than a chunk holds: two chunks, each of them shared from then on.
	std::vector<LookupTable::Change> c{{55, 1, false}};
	LookupTable *split = merge_ok(t, c);
	apply_changes(model, c);
	ASSERT_EQ(LookupTableProbe::chunk_count(*split), 2u);
	expect_matches(split, model, rng);
	EXPECT_LE(LookupTableProbe::copied_entries(*split), kMax + 1 + 2);

	// A change in the second chunk copies that chunk only.
	c = {{kMax * 10 - 5, 2, false}};
	LookupTable *second = merge_ok(split, c);
	Model second_model = model;
	apply_changes(second_model, c);
	expect_matches(second, second_model, rng);
	EXPECT_LE(LookupTableProbe::copied_entries(*second),
		  LookupTableProbe::chunk_entries(*split, 1) + 1 + 2);

	// Emptying the first chunk drops it.
	std::vector<LookupTable::Change> drop;
	for (u64 i = 0; i < LookupTableProbe::chunk_entries(*split, 0); i++) {
		const u64 k = split->key(i);
		drop.push_back({k, 0, true});
	}
	LookupTable *dropped = merge_ok(second, drop);
	Model dropped_model = second_model;
	apply_changes(dropped_model, drop);
	EXPECT_EQ(LookupTableProbe::chunk_count(*dropped), 1u);
	expect_matches(dropped, dropped_model, rng);
	EXPECT_EQ(LookupTableProbe::copied_entries(*dropped), 1u) << "only the top level changes";

	// A big batch in the middle: several new chunks.
	std::vector<LookupTable::Change> batch;
	for (u64 i = 0; i < 5 * kMax; i++)
		batch.push_back({kMax * 10 + 1 + i, static_cast<u32>(i), false});
	LookupTable *big = merge_ok(dropped, batch);
	Model big_model = dropped_model;
	apply_changes(big_model, batch);
	EXPECT_GE(LookupTableProbe::chunk_count(*big), 5u);
	expect_matches(big, big_model, rng);

	// Removing all but a few of the last chunk's entries: the rest folds into the one before.
	const u64 last = LookupTableProbe::chunk_count(*big) - 1;
	u64 at = 0;
	for (u64 i = 0; i < last; i++)
		at += LookupTableProbe::chunk_entries(*big, i);
	std::vector<LookupTable::Change> shrink;
	for (u64 i = at + 3; i < big->size(); i++)
		shrink.push_back({big->key(i), 0, true});
	LookupTable *folded = merge_ok(big, shrink);
	Model folded_model = big_model;
	apply_changes(folded_model, shrink);
	EXPECT_EQ(LookupTableProbe::chunk_count(*folded), LookupTableProbe::chunk_count(*big) - 1);
	expect_matches(folded, folded_model, rng);

	// The same in one go with a change to the chunk before: the fold takes in a chunk this
	// very merge made.
	shrink.insert(shrink.begin(), {big->key(at - 1), 77, false});
	LookupTable *folded2 = merge_ok(big, shrink);
	Model folded2_model = big_model;
	apply_changes(folded2_model, shrink);
	EXPECT_EQ(LookupTableProbe::chunk_count(*folded2), LookupTableProbe::chunk_count(*big) - 1);
	expect_matches(folded2, folded2_model, rng);

	// Everything removed: no chunks, and lookups answer at once.
	std::vector<LookupTable::Change> all;
	for (auto [k, v] : folded_model)
		all.push_back({k, 0, true});
	LookupTable *empty = merge_ok(folded, all);
	EXPECT_EQ(empty->size(), 0u);
	EXPECT_EQ(LookupTableProbe::chunk_count(*empty), 0u);
	expect_matches(empty, {}, rng);
	u32 v = 0;
	u64 k = 0;
	EXPECT_FALSE(empty->find(0, &v));
	EXPECT_FALSE(empty->first_at_or_after(0, &k, &v));
	EXPECT_EQ(empty->lower_bound(12345), 0u);

	// Freed in no particular order, each version still right until it goes.
	LookupTable::free(second);
	expect_matches(big, big_model, rng);
	LookupTable::free(t);
	LookupTable::free(big);
	expect_matches(split, model, rng);
	expect_matches(folded2, folded2_model, rng);
	LookupTable::free(folded2);
	LookupTable::free(empty);
	LookupTable::free(split);
	expect_matches(folded, folded_model, rng);
	expect_matches(dropped, dropped_model, rng);
	LookupTable::free(dropped);
	LookupTable::free(folded);
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// Every allocation of a merge fails in turn: -ENOMEM, nothing left allocated, the old table as it
// was; then it succeeds.
TEST(LookupTable, MergeAllocationFailureAtEveryStep)
{
	const long start = rb_user_live_allocs();
	std::mt19937_64 rng(9);
	Model model;
	while (model.size() < 6 * LookupTable::kChunk)
		model[rng() % 100000] = static_cast<u32>(rng());
	LookupTable *old = table_of(model);
	ASSERT_NE(old, nullptr);
	const u64 chunks = LookupTableProbe::chunk_count(*old);
	ASSERT_GE(chunks, 4u);

	// Changes into several chunks: a big batch into the second (split into several), one
	// change into the third, and all but two entries of the last removed (a fold into a chunk
	// this merge rebuilt, when the one before it changes too).
	std::vector<u64> starts{0};
	for (u64 i = 0; i < chunks; i++)
		starts.push_back(starts.back() + LookupTableProbe::chunk_entries(*old, i));
	std::map<u64, LookupTable::Change> batch;
	for (u64 i = 0; i < 3 * LookupTable::kChunk; i++) {
		const u64 lo = old->key(starts[1]), hi = old->key(starts[2] - 1);
		const u64 key = lo + rng() % (hi - lo);
		batch[key] = {key, static_cast<u32>(i), false};
	}
	batch[old->key(starts[2] + 3)] = {old->key(starts[2] + 3), 0, true};
	batch[old->key(starts[chunks - 1] - 1)] = {old->key(starts[chunks - 1] - 1), 5, false};
	for (u64 i = starts[chunks - 1] + 2; i < starts[chunks]; i++)
		batch[old->key(i)] = {old->key(i), 0, true};
	std::vector<LookupTable::Change> changes;
	for (auto &[k, c] : batch)
		changes.push_back(c);
	Model next = model;
	apply_changes(next, changes);

	const long with_old = rb_user_live_allocs();
	LookupTable *t = nullptr;
	long nth = 0;
	for (; nth < 100 && !t; nth++) {
		rb_user_fail_alloc_nth(nth);
		auto r = LookupTable::merge(old, changes.data(), changes.size(), remap::Gfp::Noio);
		rb_user_fail_alloc_nth(-1);
		if (!r.is_error()) {
			t = r.value();
			break;
		}
		EXPECT_EQ(r.error().code(), -remap::kENOMEM) << nth;
		ASSERT_EQ(rb_user_live_allocs(), with_old)
			<< "leak when allocation " << nth << " fails";
		expect_matches(old, model, rng);
	}
	ASSERT_NE(t, nullptr);
	EXPECT_GE(nth, 5) << "a merge that rebuilds several chunks allocates several times";
	expect_matches(t, next, rng);
	expect_matches(old, model, rng);
	LookupTable::free(old);
	expect_matches(t, next, rng);
	LookupTable::free(t);
	EXPECT_EQ(rb_user_live_allocs(), start);
}

// The same for build() of a table of several chunks.
TEST(LookupTable, BuildAllocationFailureAtEveryStep)
{
	const long start = rb_user_live_allocs();
	std::mt19937_64 rng(4);
	Model model;
	while (model.size() < 5 * LookupTable::kChunk)
		model[rng()] = static_cast<u32>(rng());
	std::vector<u64> keys;
	std::vector<u32> values;
	for (auto [k, v] : model) {
		keys.push_back(k);
		values.push_back(v);
	}
	std::reverse(keys.begin(), keys.end());
	std::reverse(values.begin(), values.end());
	LookupTable *t = nullptr;
	long nth = 0;
	for (; nth < 100 && !t; nth++) {
		rb_user_fail_alloc_nth(nth);
		auto r = LookupTable::build(keys.data(), values.data(), keys.size(),
					    remap::Gfp::Kernel);
		rb_user_fail_alloc_nth(-1);
		if (!r.is_error()) {
			t = r.value();
			break;
		}
		EXPECT_EQ(r.error().code(), -remap::kENOMEM) << nth;
		ASSERT_EQ(rb_user_live_allocs(), start)
			<< "leak when allocation " << nth << " fails";
	}
	ASSERT_NE(t, nullptr);
	// Two scratch arrays, the top level, then each chunk: as few as hold the entries.
	const u64 chunks = (model.size() + LookupTable::kMaxChunk - 1) / LookupTable::kMaxChunk;
	EXPECT_EQ(LookupTableProbe::chunk_count(*t), chunks);
	EXPECT_EQ(u64(nth), 3 + chunks);
	expect_matches(t, model, rng);
	LookupTable::free(t);
	EXPECT_EQ(rb_user_live_allocs(), start);
}

// 20k commits of one new block each: the last thousand cost about what the first thousand did
// (copying the whole table per commit made them many times dearer). Asserted on the entries
// each merge copies, which does not depend on the machine; the CPU time (the best of three runs)
// is printed, not asserted: a shared virtual machine charges a thread for time stolen from it.
TEST(LookupTable, SingleInsertCommitsDoNotSlowDown)
{
	const long before = rb_user_live_allocs();
	constexpr int kCommits = 20000, kWindow = 1000;
	double first_s = 1e9, last_s = 1e9;
	u64 first_copied = 0, last_copied = 0, worst_copied = 0;
	for (int run = 0; run < 3; run++) {
		std::mt19937_64 rng(100 + static_cast<u64>(run));
		LookupTable *t = merge_ok(nullptr, {});
		double window_start = thread_cpu_seconds();
		first_copied = last_copied = 0;
		for (int i = 0; i < kCommits; i++) {
			LookupTable::Change c{rng() % (1ull << 40), static_cast<u32>(i), false};
			auto r = LookupTable::merge(t, &c, 1, remap::Gfp::Noio);
			ASSERT_FALSE(r.is_error());
			LookupTable::free(t);
			t = r.value();
			const u64 copied = LookupTableProbe::copied_entries(*t);
			worst_copied = std::max(worst_copied, copied);
			if (i < kWindow)
				first_copied += copied;
			if (i >= kCommits - kWindow)
				last_copied += copied;
			if (i == kWindow - 1) {
				first_s = std::min(first_s, thread_cpu_seconds() - window_start);
			} else if (i == kCommits - kWindow - 1) {
				window_start = thread_cpu_seconds();
			}
		}
		last_s = std::min(last_s, thread_cpu_seconds() - window_start);
		ASSERT_EQ(t->size(), static_cast<u64>(kCommits)); // 2^40 keys: no repeats here
		LookupTable::free(t);
	}
	std::printf("[ commits  ] first %d: %.1f us and %.0f entries copied each, last %d: %.1f us "
		    "and %.0f entries (x%.2f time, x%.2f copied); worst %llu entries\n",
		    kWindow, first_s * 1e6 / kWindow, double(first_copied) / kWindow, kWindow,
		    last_s * 1e6 / kWindow, double(last_copied) / kWindow, last_s / first_s,
		    double(last_copied) / double(first_copied),
		    static_cast<unsigned long long>(worst_copied));
	EXPECT_LT(last_copied, 2 * first_copied);
	// One chunk rebuilt (at most split in two) plus the top level's slots.
	EXPECT_LE(worst_copied,
		  u64(LookupTable::kMaxChunk) + 1 + kCommits / LookupTable::kMinChunk + 1);
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// Keys are 4-byte offsets from their chunk's first key while the run a chunk was cut from
// spans at most kMaxNarrowSpan; one more and the run's chunks keep 8-byte keys. Both at the
// edge, lookups beyond a narrow chunk's span (which clamp to 0xffffffff), and a merge that
// narrows a wide run again once the far entry is gone.
TEST(LookupTable, KeySpanAtTheLimitOfFourByteOffsets)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(11);
	const u64 kSpan = LookupTable::kMaxNarrowSpan, base = 5ull << 40;
	const u64 spans[] = {kSpan - 1, kSpan, kSpan + 1, kSpan + 2, u64(1) << 40};
	for (const u64 span : spans) {
		Model model;
		for (u64 i = 0; i < 100; i++)
			model[base + i * 7] = static_cast<u32>(i);
		model[base + span] = LookupTable::kLost;
		model[base + span - 1] = LookupTable::kMoving;
		LookupTable *t = table_of(model);
		ASSERT_EQ(LookupTableProbe::chunk_count(*t), 1u);
		EXPECT_EQ(LookupTableProbe::chunk_is_wide(*t, 0), span > kSpan) << span;
		expect_matches(t, model, rng);
		u32 v = 0;
		u64 k = 0;
		// Offsets past the span (0xffffffff and beyond) match nothing in the chunk.
		const u64 probes[] = {base + 0xffffffffull, base + 0x100000000ull, base + span + 1,
				      ~u64(0) - 1, ~u64(0)};
		for (const u64 probe : probes) {
			auto it = model.lower_bound(probe);
			EXPECT_EQ(t->find(probe, &v), it != model.end() && it->first == probe)
				<< probe;
			EXPECT_EQ(t->first_at_or_after(probe, &k, &v), it != model.end()) << probe;
		}
		EXPECT_TRUE(t->find(base + span, &v));
		EXPECT_EQ(v, u32(LookupTable::kLost));
		EXPECT_TRUE(t->find(base + span - 1, &v));
		EXPECT_EQ(v, u32(LookupTable::kMoving));

		// The far entries removed: the merge judges the span from the old chunk's bounds
		// (removals can only narrow it), so the chunk narrows at its next rebuild.
		std::vector<LookupTable::Change> c{{base + span - 1, 0, true},
						   {base + span, 0, true}};
		LookupTable *near = merge_ok(t, c);
		Model near_model = model;
		apply_changes(near_model, c);
		EXPECT_EQ(LookupTableProbe::chunk_is_wide(*near, 0), span > kSpan);
		expect_matches(near, near_model, rng);
		c = {{base + 1, 9, false}};
		LookupTable *again = merge_ok(near, c);
		apply_changes(near_model, c);
		EXPECT_FALSE(LookupTableProbe::chunk_is_wide(*again, 0));
		expect_matches(again, near_model, rng);
		LookupTable::free(t);
		LookupTable::free(near);
		LookupTable::free(again);
	}
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// Runs of entries spread over more than 2^32 blocks, merged in many steps: some chunks wide,
// some narrow, each lookup right whichever it meets.
TEST(LookupTable, WideAndNarrowChunksMixed)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(12);
	Model model;
	LookupTable *t = merge_ok(nullptr, {});
	for (int round = 0; round < 40; round++) {
		std::map<u64, LookupTable::Change> batch;
		const u64 centre = (rng() % 8) << 33; // dense clusters far apart
		for (int i = 0; i < 300; i++) {
			const u64 key = rng() % 4 == 0 ? rng() >> 2 : centre + rng() % 100000;
			const bool remove = !model.empty() && rng() % 5 == 0;
			const u64 k = remove ? std::next(model.begin(), rng() % model.size())->first
					     : key;
			batch[k] = {k, static_cast<u32>(rng()), remove};
		}
		t = merge_batch(t, model, batch);
		expect_matches(t, model, rng);
	}
	u64 wide = 0;
	for (u64 i = 0; i < LookupTableProbe::chunk_count(*t); i++)
		wide += LookupTableProbe::chunk_is_wide(*t, i);
	EXPECT_GT(wide, 0u);
	EXPECT_LT(wide, LookupTableProbe::chunk_count(*t));
	LookupTable::free(t);
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// No entries, one entry, a single chunk of up to kGroup entries (searched without fences),
// and the spare values at their limits.
TEST(LookupTable, TinyTables)
{
	std::mt19937_64 rng(13);
	LookupTable *empty = merge_ok(nullptr, {});
	expect_matches(empty, {}, rng);
	u32 v = 0;
	u64 k = 0;
	EXPECT_FALSE(empty->find(~0ull, &v));
	EXPECT_FALSE(empty->first_at_or_after(~0ull, &k, &v));
	EXPECT_EQ(empty->lower_bound(~0ull), 0u);
	LookupTable::free(empty);
	for (u64 n = 1; n <= 40; n++) {
		Model model;
		for (u64 i = 0; i < n; i++)
			model[1000 + i * 3] =
				i % 2 ? u32(LookupTable::kLost) : u32(LookupTable::kMoving);
		LookupTable *t = table_of(model);
		expect_matches(t, model, rng);
		EXPECT_FALSE(t->find(999, &v));
		EXPECT_FALSE(t->find(1001, &v));
		LookupTable::free(t);
	}
}

// bytes() counts what the allocator hands out, and the chunk sizes fit its classes: a full
// chunk one 8 KiB object, the two halves it splits into one 4 KiB object each.
TEST(LookupTable, ChunksFillTheirAllocationClasses)
{
	const u64 kMax = LookupTable::kMaxChunk;
	Model model;
	for (u64 i = 0; i < kMax; i++)
		model[i * 3] = static_cast<u32>(i);
	LookupTable *full = table_of(model);
	ASSERT_EQ(LookupTableProbe::chunk_count(*full), 1u);
	const u64 top = full->bytes() - 8192;
	EXPECT_EQ(top, rb_alloc_large_bytes(top)) << "the top level is one allocation";
	std::vector<LookupTable::Change> c{{1, 1, false}};
	LookupTable *split = merge_ok(full, c);
	ASSERT_EQ(LookupTableProbe::chunk_count(*split), 2u);
	EXPECT_EQ(LookupTableProbe::chunk_entries(*split, 0), u64(LookupTable::kChunk));
	EXPECT_EQ(LookupTableProbe::chunk_entries(*split, 1), u64(LookupTable::kChunk));
	EXPECT_EQ(split->bytes() - rb_alloc_large_bytes(split->bytes() - 2 * 4096), 2 * 4096u);
	EXPECT_EQ(rb_alloc_large_bytes(4097), 8192u);
	EXPECT_EQ(rb_alloc_large_bytes(8193), 16384u);
	EXPECT_EQ(rb_alloc_large_bytes(100), 128u);
	EXPECT_EQ(rb_alloc_large_bytes(90), 96u);
	LookupTable::free(full);
	LookupTable::free(split);
}

namespace {

// Every key and its neighbours, against the model: find(), first_at_or_after() and
// lower_bound() at k - 1, k and k + 1 for each key k (the blocks either side of every chunk
// boundary and every radix bucket boundary among them), and past the last key.
void expect_every_key(const LookupTable *t, const Model &model)
{
	ASSERT_EQ(t->size(), model.size());
	u64 pos = 0;
	for (auto it = model.begin(); it != model.end(); ++it, pos++) {
		const u64 k = it->first;
		for (const u64 probe : {u64(k - 1), k, u64(k + 1)}) {
			if ((probe == k - 1 && k == 0) || (probe == k + 1 && k == ~0ull))
				continue;
			auto at = model.lower_bound(probe);
			u32 v = 0;
			const bool hit = at != model.end() && at->first == probe;
			ASSERT_EQ(t->find(probe, &v), hit) << "probe " << probe;
			if (hit) {
				ASSERT_EQ(v, at->second) << "probe " << probe;
			}
			u64 key = 0;
			ASSERT_EQ(t->first_at_or_after(probe, &key, &v), at != model.end())
				<< "probe " << probe;
			if (at != model.end()) {
				ASSERT_EQ(key, at->first) << "probe " << probe;
				ASSERT_EQ(v, at->second) << "probe " << probe;
			}
			// Ranges from probe: the probe alone, up to the next key, and beyond.
			for (const u64 len : {u64(0), u64(1), u64(7), u64(1) << 20}) {
				const u64 end = ~u64(0) - probe < len ? ~u64(0) : probe + len;
				ASSERT_EQ(t->any_in(probe, end),
					  at != model.end() && at->first <= end)
					<< "probe " << probe << " + " << len;
			}
			// at is the key before k (probe = k - 1 is a key), k or the key after it.
			const u64 expect = probe > k ? pos + 1 : at == it ? pos : pos - 1;
			ASSERT_EQ(t->lower_bound(probe), expect) << "probe " << probe;
		}
	}
	if (!model.empty() && model.rbegin()->first != ~0ull) {
		const u64 last = model.rbegin()->first;
		for (const u64 probe :
		     {last + 1, last + 2, last + (u64(1) << 20), ~u64(0) - 1, ~u64(0)}) {
			if (probe <= last)
				continue;
			u32 v = 0;
			u64 key = 0;
			ASSERT_FALSE(t->find(probe, &v)) << "probe " << probe;
			ASSERT_FALSE(t->first_at_or_after(probe, &key, &v)) << "probe " << probe;
			ASSERT_FALSE(t->any_in(probe, ~u64(0))) << "probe " << probe;
			ASSERT_EQ(t->lower_bound(probe), model.size()) << "probe " << probe;
		}
	}
}

} // namespace

// The radix index over the chunks' first keys: keys spread evenly, clustered (most in a few
// buckets, a few far away), in one chunk, in wide chunks, and blocks past the last bucket.
TEST(LookupTable, RadixIndexFindsEveryKey)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(21);
	std::vector<Model> models;
	{ // even
		Model m;
		for (u64 i = 0; i < 20000; i++)
			m[1000 + i * 13] = static_cast<u32>(i);
		models.push_back(m);
	}
	{ // clustered: a dense run, then outliers; every bucket but the last few empty
		Model m;
		for (u64 i = 0; i < 20000; i++)
			m[i * 2] = static_cast<u32>(i);
		m[1ull << 40] = 1;
		m[(1ull << 40) + 5] = 2;
		m[~0ull - 3] = 3;
		models.push_back(m);
	}
	{ // two dense clusters with the whole range between, and keys down to 0 and up to ~0
		Model m;
		for (u64 i = 0; i < 8000; i++) {
			m[i] = static_cast<u32>(i);
			m[~0ull - i] = static_cast<u32>(i);
		}
		models.push_back(m);
	}
	{ // one chunk, a few keys
		Model m;
		for (u64 i = 0; i < 50; i++)
			m[77 + i * i] = static_cast<u32>(i);
		models.push_back(m);
	}
	{ // one key
		Model m;
		m[123456] = 7;
		models.push_back(m);
	}
	{ // wide chunks: keys 2^30 apart, so every chunk spans more than 2^32 blocks
		Model m;
		for (u64 i = 0; i < 5000; i++)
			m[(i << 30) + rng() % 1000] = static_cast<u32>(i);
		models.push_back(m);
	}
	{ // random, densities varying by bucket
		Model m;
		while (m.size() < 20000) {
			const u64 scale = u64(1) << (rng() % 40);
			m[rng() % scale] = static_cast<u32>(rng());
		}
		models.push_back(m);
	}
	for (const Model &m : models) {
		LookupTable *t = table_of(m);
		expect_every_key(t, m);
		expect_matches(t, m, rng);
		LookupTable::free(t);
	}
	EXPECT_EQ(rb_user_live_allocs(), before);
}

// The index is rebuilt by every merge: random batches of inserts and removals, each table
// checked key by key against the model.
TEST(LookupTable, RadixIndexAfterRandomMerges)
{
	const long before = rb_user_live_allocs();
	std::mt19937_64 rng(22);
	Model model;
	LookupTable *t = merge_ok(nullptr, {});
	for (int round = 0; round < 60; round++) {
		std::map<u64, LookupTable::Change> batch;
		// Mostly near a moving window, sometimes anywhere: the key range grows and shrinks.
		const u64 window = (rng() % 16) << (rng() % 30);
		const int n = round % 10 == 9 ? 5000 : static_cast<int>(rng() % 600);
		for (int i = 0; i < n; i++) {
			const bool remove = !model.empty() && rng() % (round < 30 ? 4 : 2) == 0;
			u64 k = rng() % 8 == 0 ? rng() >> (rng() % 64) : window + rng() % 50000;
			if (remove) {
				auto it = model.lower_bound(k);
				if (it == model.end())
					it = model.begin();
				k = it->first;
			}
			batch[k] = {k, static_cast<u32>(rng()), remove};
		}
		t = merge_batch(t, model, batch);
		ASSERT_NE(t, nullptr);
		expect_every_key(t, model);
	}
	LookupTable::free(t);
	EXPECT_EQ(rb_user_live_allocs(), before);
}
