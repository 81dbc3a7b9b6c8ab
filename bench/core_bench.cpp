// SPDX-License-Identifier: GPL-2.0
// Google Benchmark micro-benchmarks of the core's hot paths, in userspace (pthread spinlock,
// malloc; see src/user/boundary_user.c). Every figure is a mean per operation; the percentile
// targets are checked by bench/latency.cpp. Built and run by tools/bench-core.sh.
//
//   Alloc*      SpareAllocator::allocate with its lock: cache hit, refill, 99.9% full bitmap
//   Lookup*     LookupTable::find / lower_bound, random keys, half hits, at 0..1M remaps
//   Merge1      one change merged into a 100k / 1M table (+ freeing it): the per-commit cost
//               of republishing the I/O path's lookup
//   Commit*     MetadataStore::commit into an rb_io_ops that discards writes
//   FindSlot    MetadataStore::find_slot, the linear search unremap does before its commit
//   RemapUnremap  rc_target_message "remap" then "unremap" of one block at 1M remaps
//   TargetMap   rc_target_map, the I/O path's lookup, at 0 and 1M remaps
//   ParseMessage  parse_message("remap 123456")
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "lookup_table.h"
#include "message_parser.h"
#include "metadata_store.h"
#include "remap_boundary.h"
#include "spare_allocator.h"

using remap::Entry;
using remap::EntryState;
using remap::Geometry;
using remap::Gfp;
using remap::LookupTable;
using remap::MetadataStore;
using remap::SpareAllocator;
using remap::SpareBlock;
using remap::u32;
using remap::u64;
using remap::u8;

namespace {

constexpr u64 kMillion = 1000000;
constexpr u32 kBatch = 64; // = SpareAllocator::kCacheSlots: one refill per batch
static_assert(kBatch == SpareAllocator::kCacheSlots, "a batch is one cache refill");

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "core_bench: %s\n", what);
	std::abort();
}

// ---------------------------------------------------------------------------------------
// Keys: distinct data blocks below 2^32 (a 16 TiB data device of 4 KiB blocks), sorted.
// Queries: half of them keys of the table, half blocks that are not, in random order.

std::vector<u64> make_keys(u64 n, std::mt19937_64 &rng)
{
	std::vector<u64> keys;
	while (keys.size() < n) {
		while (keys.size() < n + n / 16 + 16)
			keys.push_back(rng() & 0xffffffffull);
		std::sort(keys.begin(), keys.end());
		keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
	}
	std::shuffle(keys.begin(), keys.end(), rng); // drop a random surplus, not the top keys
	keys.resize(n);
	std::sort(keys.begin(), keys.end());
	return keys;
}

u64 make_miss(const std::vector<u64> &keys, std::mt19937_64 &rng)
{
	for (;;) {
		u64 k = rng() & 0xffffffffull;
		if (!std::binary_search(keys.begin(), keys.end(), k))
			return k;
	}
}

std::vector<u64> make_queries(const std::vector<u64> &keys, u64 count, std::mt19937_64 &rng)
{
	std::vector<u64> q;
	q.reserve(count);
	for (u64 i = 0; i < count; i++) {
		if (!keys.empty() && (i & 1))
			q.push_back(keys[rng() % keys.size()]);
		else
			q.push_back(make_miss(keys, rng));
	}
	std::shuffle(q.begin(), q.end(), rng);
	return q;
}

// merge() from nothing is linear in sorted input (build() would heapsort).
LookupTable *make_table(const std::vector<u64> &keys)
{
	std::vector<LookupTable::Change> changes(keys.size());
	for (u64 i = 0; i < keys.size(); i++)
		changes[i] = {keys[i], static_cast<u32>(1000 + i), false};
	auto r = LookupTable::merge(nullptr, changes.data(), changes.size(), Gfp::Kernel);
	if (r.is_error())
		die("cannot build a lookup table");
	return r.value();
}

struct LookupFixture {
	std::vector<u64> keys;
	std::vector<u64> queries; // a power of two of them
	std::vector<u64> misses;
	LookupTable *table = nullptr;
};

// One table per size, built on first use and kept for the whole run.
const LookupFixture &lookup_fixture(u64 n)
{
	static std::map<u64, std::unique_ptr<LookupFixture>> cache;
	auto &slot = cache[n];
	if (!slot) {
		std::mt19937_64 rng(0x5eed0000 + n);
		slot = std::make_unique<LookupFixture>();
		slot->keys = make_keys(n, rng);
		slot->queries = make_queries(slot->keys, 1u << 18, rng);
		for (int i = 0; i < 4096; i++)
			slot->misses.push_back(make_miss(slot->keys, rng));
		slot->table = make_table(slot->keys);
	}
	return *slot;
}

// ---------------------------------------------------------------------------------------
// Allocation. A batch of 64 allocations from an empty cache is one refill and 63 pops when
// the refill fills the cache, more refills when it stops early (a nearly full bitmap); what
// is left of the last one is drained, untimed (hits), so the cache is empty again. To run the
// next batch on the refill path again, its blocks must go back to the bitmap, not into the
// cache: 64 parked blocks are released into the cache first (filling it), the batch's blocks
// are then freed (the full cache sends them to the bitmap), and the parked blocks are taken
// back out (hits, cache empty again). The cursor keeps moving, so each refill scans fresh
// bitmap, as in service.

class AllocRig {
public:
	// free_blocks < total: that many blocks, scattered at random, stay free; the rest are in use.
	AllocRig(u64 total, u64 free_blocks, u64 seed)
	{
		if (alloc_.init(total, Gfp::Kernel).is_error())
			die("cannot allocate the bitmap");
		if (free_blocks < total) {
			std::mt19937_64 rng(seed);
			std::vector<u8> is_free(total, 0);
			for (u64 chosen = 0; chosen < free_blocks;) {
				u64 b = rng() % total;
				if (!is_free[b]) {
					is_free[b] = 1;
					chosen++;
				}
			}
			for (u64 b = 0; b < total; b++)
				if (!is_free[b])
					alloc_.mark_in_use(SpareBlock(b));
		}
		for (u32 i = 0; i < kBatch; i++)
			parked_[i] = take();
		while (alloc_.cached()) // the rest of that refill stays in use
			(void)take();
	}

	SpareBlock take()
	{
		auto r = alloc_.allocate();
		if (r.is_error())
			die("allocator ran dry");
		return r.value();
	}
	// Precondition: cache empty. One refill or more, the rest hits.
	void batch()
	{
		for (u32 i = 0; i < kBatch; i++)
			held_[i] = take();
		held_n_ = kBatch;
	}
	// Back to: cache empty, the batch's blocks free in the bitmap.
	void restore()
	{
		while (alloc_.cached())
			held_[held_n_++] = take();
		for (u32 i = 0; i < kBatch; i++)
			alloc_.release(parked_[i]);
		for (u32 i = 0; i < held_n_; i++)
			alloc_.free(held_[i]);
		for (u32 i = 0; i < kBatch; i++)
			parked_[i] = take();
	}
	SpareAllocator &allocator() { return alloc_; }

private:
	SpareAllocator alloc_;
	SpareBlock parked_[kBatch];
	SpareBlock held_[2 * kBatch];
	u32 held_n_ = 0;
};

constexpr u64 kAllocBlocks = 1u << 20; // 4 GiB of 4 KiB spare blocks

// Steady state allocate + release: the cache never empties (one refill at the start).
void BM_AllocCacheHit(benchmark::State &state)
{
	SpareAllocator a;
	if (a.init(kAllocBlocks, Gfp::Kernel).is_error())
		die("cannot allocate the bitmap");
	for (auto _ : state) {
		auto r = a.allocate();
		SpareBlock b = r.value();
		benchmark::DoNotOptimize(b);
		a.release(b);
	}
	state.counters["misses"] = static_cast<double>(a.cache_misses());
	state.SetLabel("allocate+release pair");
}
BENCHMARK(BM_AllocCacheHit);

long involuntary_switches()
{
	rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

// Reported time = one 64-allocation batch (its refills and pops) / 64: the per-allocation
// cost on the refill path. Manual time leaves the untimed restore() out.
void alloc_batches(benchmark::State &state, AllocRig &rig)
{
	SpareAllocator &a = rig.allocator();
	a.clear_counters();
	u64 batches = 0, retaken = 0;
	for (auto _ : state) {
		// Wall time of a batch the scheduler did not interrupt: on a shared machine one
		// time slice given to another process would otherwise dominate the mean.
		for (;;) {
			const long before = involuntary_switches();
			auto t0 = std::chrono::steady_clock::now();
			rig.batch();
			auto t1 = std::chrono::steady_clock::now();
			const long after = involuntary_switches();
			rig.restore();
			batches++;
			if (after == before) {
				state.SetIterationTime(
					std::chrono::duration<double>(t1 - t0).count() / kBatch);
				break;
			}
			retaken++;
		}
	}
	state.counters["retaken"] = static_cast<double>(retaken);
	// restore() drains the cache and takes its 64 parked blocks back out of it: hits, never a
	// refill.
	state.counters["refills_per_alloc"] =
		static_cast<double>(a.cache_misses()) / (static_cast<double>(batches) * kBatch);
}

void BM_AllocRefill(benchmark::State &state)
{
	AllocRig rig(kAllocBlocks, kAllocBlocks, 1);
	alloc_batches(state, rig);
	state.SetLabel("per alloc, batches of 64, empty bitmap");
}
BENCHMARK(BM_AllocRefill)->UseManualTime()->Iterations(40000);

void BM_AllocNearlyFull(benchmark::State &state)
{
	AllocRig rig(kAllocBlocks, kAllocBlocks / 1000, 2);
	alloc_batches(state, rig);
	state.SetLabel("per alloc, batches of 64, 99.9% taken");
}
BENCHMARK(BM_AllocNearlyFull)->UseManualTime()->Iterations(20000);

// ---------------------------------------------------------------------------------------
// Lookup.

void BM_LookupFind(benchmark::State &state)
{
	const LookupFixture &f = lookup_fixture(static_cast<u64>(state.range(0)));
	const LookupTable *t = f.table;
	const u64 *q = f.queries.data();
	const u64 mask = f.queries.size() - 1;
	u64 i = 0, hits = 0;
	for (auto _ : state) {
		u32 v = 0;
		bool found = t->find(q[i++ & mask], &v);
		hits += found;
		benchmark::DoNotOptimize(v);
	}
	state.counters["hit_ratio"] =
		static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_LookupFind)->Arg(0)->Arg(1000)->Arg(100000)->Arg(kMillion);

// The same with each query's position depending on the previous answer: latency, where
// BM_LookupFind lets the CPU overlap independent lookups (as independent bios would).
void BM_LookupFindChained(benchmark::State &state)
{
	const LookupFixture &f = lookup_fixture(static_cast<u64>(state.range(0)));
	const LookupTable *t = f.table;
	const u64 *q = f.queries.data();
	const u64 mask = f.queries.size() - 1;
	u64 i = 0;
	for (auto _ : state) {
		u32 v = 0;
		bool found = t->find(q[i & mask], &v);
		i += 1 + ((v ^ static_cast<u32>(found)) & 1);
	}
	benchmark::DoNotOptimize(i);
}
BENCHMARK(BM_LookupFindChained)->Arg(kMillion);

void BM_LookupLowerBound(benchmark::State &state)
{
	const LookupFixture &f = lookup_fixture(static_cast<u64>(state.range(0)));
	const LookupTable *t = f.table;
	const u64 *q = f.queries.data();
	const u64 mask = f.queries.size() - 1;
	u64 i = 0;
	for (auto _ : state) {
		u64 pos = t->lower_bound(q[i++ & mask]);
		benchmark::DoNotOptimize(pos);
	}
}
BENCHMARK(BM_LookupLowerBound)->Arg(0)->Arg(1000)->Arg(100000)->Arg(kMillion);

// One new block merged in, and the result freed: what every commit pays to republish.
void BM_Merge1(benchmark::State &state)
{
	const u64 n = static_cast<u64>(state.range(0));
	const LookupFixture &f = lookup_fixture(n);
	u64 i = 0;
	for (auto _ : state) {
		LookupTable::Change c{f.misses[i++ % f.misses.size()], 4242, false};
		auto r = LookupTable::merge(f.table, &c, 1, Gfp::Noio);
		if (r.is_error())
			die("merge failed");
		LookupTable *t = r.value();
		benchmark::DoNotOptimize(t);
		LookupTable::free(t);
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
				static_cast<int64_t>(n * (sizeof(u64) + sizeof(u32))));
}
BENCHMARK(BM_Merge1)->Arg(100000)->Arg(kMillion)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------
// Commit. A 4 KiB-block geometry whose table areas hold 1M entries: S = 1.1M spare blocks,
// T = 4331 table blocks of E = 252 entries (1,091,412 slots).

int null_read(void *, rb_device, rb_u64, void *buf, rb_u32 bytes, unsigned)
{
	std::memset(buf, 0, bytes); // an all-zero area: load() finds it fresh
	return 0;
}
int null_write(void *, rb_device, rb_u64, const void *, rb_u32, unsigned) { return 0; }
void null_drain(void *, rb_u32, rb_u64, rb_u64) {}
void null_release(void *) {}
const rb_io_ops kNullIo = {null_read, null_write, null_drain, null_release};

constexpr u64 kSpareBlocks = 1100000;
constexpr u64 kDataBlocks = 1ull << 32;

Geometry million_geometry()
{
	Geometry g;
	if (const char *err = remap::error_text(
		    Geometry::create(0, kDataBlocks * 8, 0, kSpareBlocks * 8, 4096, &g)))
		die(err);
	return g;
}

struct CommitFixture {
	Geometry geo = million_geometry();
	std::vector<u64> keys;
	std::vector<MetadataStore::SlotChange> inserts; // 1M new entries
	std::unique_ptr<MetadataStore> store;           // holding them, committed
};

std::unique_ptr<MetadataStore> fresh_store(const Geometry &g, const rb_io_ops *io, void *ctx)
{
	auto s = std::make_unique<MetadataStore>(g, io, ctx);
	if (const char *err = remap::error_text(s->load(Gfp::Kernel)))
		die(err);
	return s;
}

CommitFixture &commit_fixture()
{
	static std::unique_ptr<CommitFixture> f;
	if (!f) {
		f = std::make_unique<CommitFixture>();
		std::mt19937_64 rng(0xc0111);
		f->keys = make_keys(kMillion, rng);
		const u64 first = f->geo.first_usable_spare().value();
		for (u64 i = 0; i < kMillion; i++)
			f->inserts.push_back({MetadataStore::SlotChange::kNewSlot,
					      Entry{f->keys[i], static_cast<u32>(first + i),
						    EntryState::Remapped}});
		f->store = fresh_store(f->geo, &kNullIo, nullptr);
		if (f->store->commit(f->inserts.data(), kMillion, Gfp::Kernel).is_error())
			die("1M commit failed");
		// The first commit after it rewrites the whole other area (everything is dirty
		// there); after two more only the changed blocks are written.
		for (int i = 0; i < 2; i++) {
			MetadataStore::SlotChange c{0, f->store->slot(0)};
			if (f->store->commit(&c, 1, Gfp::Kernel).is_error())
				die("commit failed");
		}
	}
	return *f;
}

// A fresh store, one commit inserting 1M entries (encoding ~4000 table blocks).
void BM_CommitInsert1M(benchmark::State &state)
{
	CommitFixture &f = commit_fixture();
	for (auto _ : state) {
		state.PauseTiming();
		auto s = fresh_store(f.geo, &kNullIo, nullptr);
		state.ResumeTiming();
		if (s->commit(f.inserts.data(), kMillion, Gfp::Noio).is_error())
			die("commit failed");
		state.PauseTiming();
		s.reset();
		state.ResumeTiming();
	}
}
BENCHMARK(BM_CommitInsert1M)->Iterations(5)->Unit(benchmark::kMillisecond);

// One existing entry changed (remapped <-> lost) in a 1M table: two table blocks (the
// entry's and the last one) and the superblock are written.
void BM_CommitChange1(benchmark::State &state)
{
	CommitFixture &f = commit_fixture();
	MetadataStore &s = *f.store;
	u64 i = 0;
	for (auto _ : state) {
		const u64 slot = (i++ * 7919) % kMillion;
		Entry e = s.slot(slot);
		if (e.state == EntryState::Remapped)
			e = Entry{e.data_block, Entry::kLostSpare, EntryState::Lost};
		else
			e = Entry{e.data_block,
				  static_cast<u32>(f.geo.first_usable_spare().value() + slot),
				  EntryState::Remapped};
		MetadataStore::SlotChange c{slot, e};
		if (s.commit(&c, 1, Gfp::Noio).is_error())
			die("commit failed");
	}
}
BENCHMARK(BM_CommitChange1)->Unit(benchmark::kMicrosecond);

// What remap + unremap commit: one new entry (lowest free slot, found by a bitmap search from
// slot 0 past the 1M used ones), then that slot freed. Two commits per iteration.
void BM_CommitInsertThenFree1(benchmark::State &state)
{
	CommitFixture &f = commit_fixture();
	MetadataStore &s = *f.store;
	std::mt19937_64 rng(3);
	const u64 block = make_miss(f.keys, rng);
	const u64 slot = kMillion; // slots 0 .. 1M-1 are all in use
	const MetadataStore::SlotChange add{
		MetadataStore::SlotChange::kNewSlot,
		Entry{block, static_cast<u32>(kSpareBlocks - 1), EntryState::Remapped}};
	const MetadataStore::SlotChange drop{slot, Entry{0, 0, EntryState::Free}};
	if (s.commit(&add, 1, Gfp::Noio).is_error() || s.find_slot(block) != slot ||
	    s.commit(&drop, 1, Gfp::Noio).is_error())
		die("the new entry did not take the expected slot");
	for (auto _ : state) {
		if (s.commit(&add, 1, Gfp::Noio).is_error())
			die("commit failed");
		if (s.commit(&drop, 1, Gfp::Noio).is_error())
			die("commit failed");
	}
	state.SetLabel("2 commits");
}
BENCHMARK(BM_CommitInsertThenFree1)->Unit(benchmark::kMicrosecond);

// The linear search unremap does for the entry's slot (remap_target.cpp, do_unremap).
void BM_FindSlot(benchmark::State &state)
{
	CommitFixture &f = commit_fixture();
	const MetadataStore &s = *f.store;
	std::mt19937_64 rng(4);
	for (auto _ : state) {
		u64 slot = s.find_slot(f.keys[rng() % f.keys.size()]);
		benchmark::DoNotOptimize(slot);
	}
}
BENCHMARK(BM_FindSlot)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------
// The whole remap / unremap message at 1M remaps, through the C entry points: three merges,
// two publishes, a commit and the allocator each way (plus find_slot for unremap). Metadata
// blocks are kept in memory; data and spare block contents are not.

class MetaDisk {
public:
	explicit MetaDisk(const Geometry &g) :
	    sectors_(g.first_usable_spare().value() << g.block_shift()), meta_(sectors_ * 512)
	{}
	const rb_io_ops *ops() const { return &kOps; }
	void *ctx() { return this; }

private:
	static int read(void *ctx, rb_device dev, rb_u64 sector, void *buf, rb_u32 bytes,
			unsigned /*flags*/)
	{
		auto *d = static_cast<MetaDisk *>(ctx);
		if (dev == RB_SPARE_DEV && sector + bytes / 512 <= d->sectors_)
			std::memcpy(buf, &d->meta_[sector * 512], bytes);
		else
			std::memset(buf, 0, bytes);
		return 0;
	}
	static int write(void *ctx, rb_device dev, rb_u64 sector, const void *buf, rb_u32 bytes,
			 unsigned)
	{
		auto *d = static_cast<MetaDisk *>(ctx);
		if (dev == RB_SPARE_DEV && sector + bytes / 512 <= d->sectors_)
			std::memcpy(&d->meta_[sector * 512], buf, bytes);
		return 0;
	}
	static constexpr rb_io_ops kOps = {read, write, null_drain, null_release};

	u64 sectors_;
	std::vector<u8> meta_;
};

// A target over a MetaDisk holding `entries` of the commit fixture's entries, resumed.
rc_target *make_target(u64 entries)
{
	CommitFixture &f = commit_fixture();
	static std::vector<std::unique_ptr<MetaDisk>> disks; // live as long as their targets
	disks.push_back(std::make_unique<MetaDisk>(f.geo));
	MetaDisk &disk = *disks.back();
	if (entries) {
		auto s = fresh_store(f.geo, disk.ops(), disk.ctx());
		if (s->commit(f.inserts.data(), entries, Gfp::Kernel).is_error())
			die("commit failed");
	}
	static char data_path[] = "data", spare_path[] = "spare";
	rc_table t{};
	t.data_path = data_path;
	t.spare_path = spare_path;
	t.spare_len = kSpareBlocks * 8;
	t.block_size = 4096;
	t.read_retries = RC_DEFAULT_READ_RETRIES;
	const char *error = nullptr;
	rc_devices devs{};
	devs.target_len = kDataBlocks * 8;
	devs.data_dev_sectors = devs.target_len;
	devs.spare_dev_sectors = t.spare_len;
	devs.data_logical_block = 512;
	devs.spare_logical_block = 512;
	rc_target *target = nullptr;
	if (rc_target_create(&t, &devs, disk.ops(), disk.ctx(), &target, &error))
		die(error);
	if (rc_target_resume(target))
		die("resume failed");
	return target;
}

rc_target *target_with(u64 entries)
{
	static std::map<u64, rc_target *> targets;
	rc_target *&t = targets[entries];
	if (!t)
		t = make_target(entries);
	return t;
}

void BM_RemapUnremapMessage(benchmark::State &state)
{
	CommitFixture &f = commit_fixture();
	rc_target *target = target_with(kMillion);
	std::mt19937_64 rng(5);
	std::string sector = std::to_string(make_miss(f.keys, rng) * 8);
	char remap_verb[] = "remap", unremap_verb[] = "unremap";
	std::vector<char> arg(sector.begin(), sector.end());
	arg.push_back('\0');
	char *remap_argv[] = {remap_verb, arg.data()};
	char *unremap_argv[] = {unremap_verb, arg.data()};
	char result[256];
	for (auto _ : state) {
		if (rc_target_message(target, 2, remap_argv, result, sizeof(result)) != 1)
			die("remap message failed");
		if (rc_target_message(target, 2, unremap_argv, result, sizeof(result)) != 0)
			die("unremap message failed");
	}
	state.SetLabel("remap+unremap pair");
}
BENCHMARK(BM_RemapUnremapMessage)->Iterations(20)->Unit(benchmark::kMillisecond);

// The I/O path's entry point: rc_target_map of a one-block bio at a random block, half of
// them remapped (none at 0 entries). Called without rb_rcu_read_lock(): in userspace that is
// a pthread rwlock, which costs far more than the kernel's rcu_read_lock().
void BM_TargetMap(benchmark::State &state)
{
	const u64 n = static_cast<u64>(state.range(0));
	CommitFixture &f = commit_fixture();
	const rc_target *target = target_with(n);
	std::mt19937_64 rng(6);
	std::vector<u64> sectors(1u << 18);
	for (u64 &s : sectors)
		s = 8 * ((n && (rng() & 1)) ? f.keys[rng() % n] : make_miss(f.keys, rng));
	const u64 mask = sectors.size() - 1;
	u64 i = 0, spare = 0;
	for (auto _ : state) {
		rc_mapping m;
		rc_target_map(target, sectors[i++ & mask], 8, &m);
		spare += m.route == RC_ROUTE_SPARE;
		benchmark::DoNotOptimize(m);
	}
	state.counters["remapped_ratio"] =
		static_cast<double>(spare) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TargetMap)->Arg(0)->Arg(kMillion);

// ---------------------------------------------------------------------------------------

void BM_ParseMessage(benchmark::State &state)
{
	char verb[] = "remap", number[] = "123456";
	char *argv[] = {verb, number};
	for (auto _ : state) {
		remap::Message m;
		const char *bad = remap::error_text(remap::parse_message(2, argv, &m));
		benchmark::DoNotOptimize(bad);
		benchmark::DoNotOptimize(m);
	}
}
BENCHMARK(BM_ParseMessage);

} // namespace

BENCHMARK_MAIN();
