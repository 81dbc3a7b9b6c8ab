// SPDX-License-Identifier: GPL-2.0
// Per-operation latency percentiles for the allocation and lookup paths, which Google
// Benchmark's means cannot give. Most samples time one batch of 64 operations with the steady
// clock (amortising the clock's own cost; the median cost of an empty batch is subtracted)
// and record batch / 64. Two kinds of allocation rows are unbatched:
//   alloc_single_*  every allocation of a long steady-state run timed on its own: median and
//                   p99.9 over ALL allocations, refills included wherever they fall (a refill
//                   does not serve exactly 64 allocations once it may stop early)
//   *_miss          only the allocation that refills the cache: the latency one unlucky
//                   caller sees, and how long the spinlock is held
//
//   latency [--samples N]     median / p90 / p99 / p99.9 / max in ns per op, one line per
//                             path (samples preempted by the scheduler are retaken, counted)
//   (lookup_*: LookupTable::find; first_after_*: first_at_or_after(), the I/O path's lookup,
//   at random blocks or at blocks above every remapped one)
//   latency --callgrind N     per path N operations (batched and alloc_single_* paths) or
//                             N/64 refills (*_miss paths), under
//       valgrind --tool=callgrind --collect-atstart=no --instr-atstart=no
//     collecting only the measured operations and dumping one profile per path, so that
//     Ir / op is a repeatable figure on a noisy machine (tools/bench-core.sh does this).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#else
#define HAVE_CALLGRIND 0
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(name) ((void)(name))
#endif

#include "lookup_table.h"
#include "spare_allocator.h"

using remap::Gfp;
using remap::LookupTable;
using remap::SpareAllocator;
using remap::SpareBlock;
using remap::u32;
using remap::u64;
using remap::u8;

namespace {

constexpr u32 kBatch = 64;
static_assert(kBatch == SpareAllocator::kCacheSlots, "a batch is one cache refill");
constexpr u64 kAllocBlocks = 1u << 20;
constexpr u64 kSingleFactor = 4; // alloc_single_* paths take this many times more samples

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "latency: %s\n", what);
	std::exit(1);
}

// Keeps a value alive without a memory access.
inline void keep(u64 v) { asm volatile("" : : "r"(v)); }

// ---------------------------------------------------------------------------------------

class Scenario {
public:
	explicit Scenario(const char *name) : name_(name) {}
	virtual ~Scenario() = default;
	const char *name() const { return name_; }
	// The operations measured; ops() of them.
	virtual void measured() = 0;
	// Untimed: restores measured()'s precondition.
	virtual void between() {}
	virtual u32 ops() const { return kBatch; }
	// Calls of measured() for `latency --callgrind n_ops`.
	virtual u64 callgrind_calls(u64 n_ops) const { return std::max<u64>(1, n_ops / kBatch); }
	// Timed samples when a path is given n.
	virtual u64 samples(u64 n) const { return n; }
	// After a timed run: nullptr, or what went wrong (the wrong number of refills).
	virtual const char *check() const { return nullptr; }

protected:
	u64 measures_ = 0;

private:
	const char *name_;
};

class Empty : public Scenario {
public:
	Empty() : Scenario("clock") {}
	void measured() override {}
	u32 ops() const override { return 1; }
};

// Allocations: see AllocRig in core_bench.cpp for why 64 blocks are parked in a full cache.
// Here restore() also takes any number of blocks back to the bitmap (the held ones: up to
// kHeldMax), so a run can stop at any allocation at which the cache is empty.
class AllocRig {
public:
	enum : u32 {
		kHeldMax = 2 * kBatch
	};

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
		drain();
		held_n_ = 0; // what drain() took stays in use: part of the bitmap's fill
	}
	SpareBlock take()
	{
		auto r = alloc_.allocate();
		if (r.is_error())
			die("allocator ran dry");
		return r.value();
	}
	void hold() { held_[held_n_++] = take(); }
	void take_batch()
	{
		for (u32 i = 0; i < kBatch; i++)
			hold();
	}
	// Untimed: the rest of the last refill, so that the cache is empty. These are hits.
	void drain()
	{
		while (alloc_.cached())
			hold();
	}
	bool cache_empty() const { return !alloc_.cached(); }
	u32 held() const { return held_n_; }
	// Precondition: cache empty. Back to: cache empty, the held blocks free in the bitmap.
	void restore()
	{
		for (u32 i = 0; i < kBatch; i++)
			alloc_.release(parked_[i]);
		for (u32 i = 0; i < held_n_; i++)
			alloc_.free(held_[i]);
		held_n_ = 0;
		for (u32 i = 0; i < kBatch; i++)
			parked_[i] = take();
	}
	SpareAllocator &allocator() { return alloc_; }
	const SpareAllocator &allocator() const { return alloc_; }

private:
	SpareAllocator alloc_;
	SpareBlock parked_[kBatch];
	SpareBlock held_[kHeldMax];
	u32 held_n_ = 0;
};

// 64 allocations from a full cache: all hits; released back into it untimed.
class AllocHit : public Scenario {
public:
	AllocHit() : Scenario("alloc_hit")
	{
		if (alloc_.init(kAllocBlocks, Gfp::Kernel).is_error())
			die("cannot allocate the bitmap");
		measured(); // one refill, cache empty
		between();  // cache full
	}
	void measured() override
	{
		for (u32 i = 0; i < kBatch; i++) {
			auto r = alloc_.allocate();
			if (r.is_error())
				die("allocator ran dry");
			held_[i] = r.value();
		}
	}
	void between() override
	{
		for (u32 i = 0; i < kBatch; i++)
			alloc_.release(held_[i]);
	}
	const char *check() const override
	{
		return alloc_.cache_misses() == 1 ? nullptr : "the cache was refilled";
	}

private:
	SpareAllocator alloc_;
	SpareBlock held_[kBatch];
};

// 64 allocations from an empty cache: one refill and 63 pops while a refill fills the cache;
// more refills when one stops early (a nearly full bitmap). What is left of the last refill
// is drained untimed, so a batch never starts on a cache another batch filled: a slight
// overestimate of the refills per allocation. Reported per allocation.
class AllocRefill : public Scenario {
public:
	AllocRefill(const char *name, u64 free_blocks, u64 seed) :
	    Scenario(name), rig_(kAllocBlocks, free_blocks, seed)
	{}
	void measured() override
	{
		if (!measures_++)
			rig_.allocator().clear_counters();
		rig_.take_batch();
	}
	void between() override
	{
		rig_.drain();
		rig_.restore();
	}
	const char *check() const override
	{
		return rig_.allocator().cache_misses() >= measures_ ? nullptr
								    : "a batch without a refill";
	}

private:
	AllocRig rig_;
};

// Every allocation of a steady-state run, timed alone: the held blocks go back to the bitmap
// (untimed) once there are at least 64 of them and the cache is empty, so nothing is skipped
// or added: refills fall wherever the allocator puts them.
class AllocSingle : public Scenario {
public:
	AllocSingle(const char *name, u64 free_blocks, u64 seed) :
	    Scenario(name), rig_(kAllocBlocks, free_blocks, seed)
	{}
	void measured() override { rig_.hold(); }
	void between() override
	{
		if (rig_.held() >= kBatch && rig_.cache_empty())
			rig_.restore();
		else if (rig_.held() == AllocRig::kHeldMax)
			die("the cache never empties");
	}
	u32 ops() const override { return 1; }
	u64 callgrind_calls(u64 n_ops) const override { return n_ops; }
	// One op per sample: more of them, so that the p99.9 rests on 400.
	u64 samples(u64 n) const override { return n * kSingleFactor; }

private:
	AllocRig rig_;
};

// Only the allocation that refills, timed alone: the rest of its refill is drained untimed.
class AllocMiss : public Scenario {
public:
	AllocMiss(const char *name, u64 free_blocks, u64 seed) :
	    Scenario(name), rig_(kAllocBlocks, free_blocks, seed)
	{}
	void measured() override
	{
		if (!measures_++)
			rig_.allocator().clear_counters();
		rig_.hold();
	}
	const char *check() const override
	{
		return rig_.allocator().cache_misses() == measures_ ? nullptr
								    : "not one refill per sample";
	}
	void between() override
	{
		rig_.drain();
		if (rig_.held() >= kBatch)
			rig_.restore();
	}
	u32 ops() const override { return 1; }

private:
	AllocRig rig_;
};

// ---------------------------------------------------------------------------------------

std::vector<u64> make_keys(u64 n, std::mt19937_64 &rng)
{
	std::vector<u64> keys;
	while (keys.size() < n) {
		while (keys.size() < n + n / 16 + 16)
			keys.push_back(rng() & 0xffffffffull);
		std::sort(keys.begin(), keys.end());
		keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
	}
	std::shuffle(keys.begin(), keys.end(), rng);
	keys.resize(n);
	std::sort(keys.begin(), keys.end());
	return keys;
}

// A table of n random keys (make_keys, seeded) and a ring of queries that the derived class
// fills from keys_ and rng_; 64 queries per measured batch.
class TableScenario : public Scenario {
public:
	TableScenario(const char *name, u64 n, u64 seed) :
	    Scenario(name), rng_(seed), keys_(make_keys(n, rng_))
	{
		std::vector<LookupTable::Change> changes(n);
		for (u64 i = 0; i < n; i++)
			changes[i] = {keys_[i], static_cast<u32>(1000 + i), false};
		auto r = LookupTable::merge(nullptr, changes.data(), n, Gfp::Kernel);
		if (r.is_error())
			die("cannot build a lookup table");
		table_ = r.value();
		queries_.reserve(kQueries);
	}
	~TableScenario() override { LookupTable::free(table_); }
	void between() override { pos_ = (pos_ + kBatch) & (kQueries - 1); }

protected:
	static constexpr u64 kQueries = 1u << 18;
	const u64 *batch() const { return &queries_[pos_]; }
	std::mt19937_64 rng_;
	std::vector<u64> keys_;
	std::vector<u64> queries_;
	LookupTable *table_ = nullptr;

private:
	u64 pos_ = 0;
};

// 64 finds of random blocks, half of them in the table.
class Lookup : public TableScenario {
public:
	Lookup(const char *name, u64 n) : TableScenario(name, n, 0x100c0000 + n)
	{
		for (u64 i = 0; i < kQueries; i++) {
			if (n && (i & 1)) {
				queries_.push_back(keys_[rng_() % n]);
				continue;
			}
			u64 k;
			do
				k = rng_() & 0xffffffffull;
			while (std::binary_search(keys_.begin(), keys_.end(), k));
			queries_.push_back(k);
		}
		std::shuffle(queries_.begin(), queries_.end(), rng_);
	}
	void measured() override
	{
		const u64 *q = batch();
		u64 acc = 0;
		for (u32 i = 0; i < kBatch; i++) {
			u32 v = 0;
			acc += table_->find(q[i], &v) + v;
		}
		keep(acc);
	}
};

// 64 first_at_or_after() calls, the I/O path's lookup (RemapTarget::map): at random blocks
// (half of them remapped), or, with above set, at blocks above every remapped one (I/O away
// from the remaps: each call answers "none").
class FirstAfter : public TableScenario {
public:
	FirstAfter(const char *name, u64 n, bool above) :
	    TableScenario(name, n, 0x1f000000 + n + above)
	{
		for (u64 i = 0; i < kQueries; i++) {
			if (above)
				queries_.push_back((1ull << 32) + (rng_() & 0xffffffffull));
			else if (i & 1)
				queries_.push_back(keys_[rng_() % n]);
			else
				queries_.push_back(rng_() & 0xffffffffull);
		}
	}
	void measured() override
	{
		const u64 *q = batch();
		u64 acc = 0;
		for (u32 i = 0; i < kBatch; i++) {
			u64 k = 0;
			u32 v = 0;
			acc += table_->first_at_or_after(q[i], &k, &v) + k + v;
		}
		keep(acc);
	}
};

// ---------------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;

struct Stats {
	double median, p90, p99, p999, max;
	u64 preempted; // samples retaken because the thread was switched out meanwhile
};

double percentile(const std::vector<double> &sorted, double p)
{
	size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size()));
	return sorted[std::min(i, sorted.size() - 1)];
}

// Involuntary context switches of this thread so far (outside the timed window: a syscall).
long switches()
{
	rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

// A sample during which the scheduler ran something else measures the machine, not the code:
// it is retaken (and counted). Interrupts and a hypervisor's preemption stay in.
Stats run_timed(Scenario &s, u64 samples, double overhead_ns)
{
	for (int i = 0; i < 2000; i++) {
		s.measured();
		s.between();
	}
	std::vector<double> out(samples);
	u64 preempted = 0;
	for (u64 i = 0; i < samples;) {
		const long before = switches();
		auto t0 = Clock::now();
		s.measured();
		auto t1 = Clock::now();
		const long after = switches();
		s.between();
		if (after != before) {
			preempted++;
			continue;
		}
		double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() - overhead_ns;
		out[i++] = std::max(ns, 0.0) / s.ops();
	}
	std::sort(out.begin(), out.end());
	return {percentile(out, 0.5),   percentile(out, 0.9), percentile(out, 0.99),
		percentile(out, 0.999), out.back(),           preempted};
}

// s.callgrind_calls(n_ops) calls of measured() per path: n_ops operations, or n_ops / 64
// refills for the *_miss paths (the same number of allocations as the batched refill paths).
void run_callgrind(Scenario &s, u64 n_ops)
{
	const u64 batches = s.callgrind_calls(n_ops);
	for (int i = 0; i < 64; i++) { // warm, uncollected
		s.measured();
		s.between();
	}
	for (u64 b = 0; b < batches; b++) {
		CALLGRIND_TOGGLE_COLLECT;
		s.measured();
		CALLGRIND_TOGGLE_COLLECT;
		s.between();
	}
	CALLGRIND_DUMP_STATS_AT(s.name());
	std::printf("callgrind %s ops=%llu batches=%llu\n", s.name(),
		    static_cast<unsigned long long>(batches * s.ops()),
		    static_cast<unsigned long long>(batches));
}

} // namespace

int main(int argc, char **argv)
{
	u64 samples = 100000;
	u64 callgrind_ops = 0;
	for (int i = 1; i < argc; i++) {
		if (!std::strcmp(argv[i], "--samples") && i + 1 < argc) {
			samples = std::strtoull(argv[++i], nullptr, 10);
		} else if (!std::strcmp(argv[i], "--callgrind") && i + 1 < argc) {
			callgrind_ops = std::strtoull(argv[++i], nullptr, 10);
		} else {
			std::fprintf(stderr, "usage: %s [--samples N] [--callgrind N]\n", argv[0]);
			return 2;
		}
	}
	if (samples < 1000)
		die("--samples must be at least 1000");

	std::vector<std::unique_ptr<Scenario>> all;
	all.push_back(std::make_unique<Empty>());
	all.push_back(std::make_unique<AllocHit>());
	all.push_back(std::make_unique<AllocRefill>("alloc_refill", kAllocBlocks, 2));
	all.push_back(std::make_unique<AllocMiss>("alloc_refill_miss", kAllocBlocks, 3));
	all.push_back(std::make_unique<AllocRefill>("alloc_nearly_full", kAllocBlocks / 1000, 4));
	all.push_back(
		std::make_unique<AllocMiss>("alloc_nearly_full_miss", kAllocBlocks / 1000, 5));
	all.push_back(std::make_unique<AllocSingle>("alloc_single_empty", kAllocBlocks, 6));
	all.push_back(std::make_unique<AllocSingle>("alloc_single_full", kAllocBlocks / 1000, 7));
	all.push_back(std::make_unique<Lookup>("lookup_0", 0));
	all.push_back(std::make_unique<Lookup>("lookup_1k", 1000));
	all.push_back(std::make_unique<Lookup>("lookup_100k", 100000));
	all.push_back(std::make_unique<Lookup>("lookup_1M", 1000000));
	all.push_back(std::make_unique<FirstAfter>("first_after_1M", 1000000, false));
	all.push_back(std::make_unique<FirstAfter>("first_after_100k_above", 100000, true));

	if (callgrind_ops) {
		if (!HAVE_CALLGRIND)
			die("built without valgrind/callgrind.h");
		CALLGRIND_START_INSTRUMENTATION;
		for (auto &s : all)
			run_callgrind(*s, callgrind_ops);
		return 0;
	}

	const Stats clock = run_timed(*all[0], samples * 4, 0.0);
	std::printf("# steady_clock pair: median %.1f ns, p99.9 %.1f ns, max %.0f ns "
		    "(median subtracted from every sample)\n",
		    clock.median, clock.p999, clock.max);
	std::printf("# ns per op; %llu samples per path, each a batch of %u ops (*_miss: the one "
		    "allocation that refills;\n# alloc_single_*: %llu samples, each one allocation "
		    "of a steady run); 'retaken' = samples preempted\n",
		    static_cast<unsigned long long>(samples), kBatch,
		    static_cast<unsigned long long>(samples * kSingleFactor));
	std::printf("# %-22s %9s %9s %9s %9s %10s %8s\n", "path", "median", "p90", "p99", "p99.9",
		    "max", "retaken");
	for (size_t i = 1; i < all.size(); i++) {
		const Stats st = run_timed(*all[i], all[i]->samples(samples), clock.median);
		std::printf("latency %-22s %9.2f %9.2f %9.2f %9.2f %10.1f %8llu\n", all[i]->name(),
			    st.median, st.p90, st.p99, st.p999, st.max,
			    static_cast<unsigned long long>(st.preempted));
		std::fflush(stdout);
		if (const char *bad = all[i]->check()) {
			std::fprintf(stderr, "latency: %s: %s\n", all[i]->name(), bad);
			return 1;
		}
	}
	return 0;
}
