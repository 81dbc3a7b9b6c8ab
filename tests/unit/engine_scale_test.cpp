// The remap engine (src/core) through the C API the glue uses (rc_target_*), on a MemDisk:
// Scale: many remaps through messages, listed back and loaded again.

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
// Scale
// ---------------------------------------------------------------------------------------------

// Remaps through messages, then all of them listed back page by page and loaded again. 10000 by
// default to keep this file near 20 s under ASan while the engine is quadratic (20000 took
// ~22 s on its own); DMREMAP_SCALE_REMAPS=20000 (or 100000) runs more. If the engine scales,
// a remap costs about the same whatever the table holds: the last thousand remaps may not write
// much more to the disks than the first thousand (a commit that rewrote the whole table would).
// Their CPU time is printed and recorded, not asserted: on a shared virtual machine a thread is
// charged for time stolen from it (x3.1 once, under load); core_bench's RemapUnremapMessage
// times a remap at 1M entries.
TEST(RemapTargetScale, ManyRemapsThroughMessagesListedBackByPages)
{
	u64 n = 10000;
	if (const char *e = std::getenv("DMREMAP_SCALE_REMAPS"))
		n = std::max<u64>(2000, std::strtoull(e, nullptr, 10));
	Layout l;
	l.block_size = 4096;
	l.data_offset = 0;
	l.data_blocks = std::max<u64>(1 << 16, 2 * n);
	l.spare_offset = 0;
	l.spare_blocks = n + n / 100 + 64;
	Rig rig(l);
	Target t = rig.started();
	ASSERT_TRUE(t);
	ASSERT_GE(l.spare_total(), n);
	std::mt19937_64 rng(20000);
	std::vector<u64> blocks(l.data_blocks);
	std::iota(blocks.begin(), blocks.end(), 0);
	std::shuffle(blocks.begin(), blocks.end(), rng);
	blocks.resize(n);

	Mapping model;
	std::set<long long> spares;
	const auto t0 = std::chrono::steady_clock::now();
	// CPU time per slice of 100 remaps; the first and the last thousand are each reported as
	// the median of their ten slices (times ten). Bytes written per remap: counted throughout.
	std::vector<double> slices;
	std::vector<u64> written; // bytes written by the end of each slice
	u64 bytes = 0;
	rig.disk.write_filter = [&](const MemDisk::Write &w) {
		bytes += w.data.size();
		return true;
	};
	double lap = thread_cpu_seconds();
	for (u64 i = 0; i < n; i++) {
		Reply r = msg(t.get(),
			      "remap " + std::to_string(blocks[i] * l.bs() + rng() % l.bs()), 64);
		ASSERT_EQ(r.rc, 1) << "remap #" << i;
		const size_t sp = r.text.find(' ');
		ASSERT_EQ(r.text.substr(0, sp), std::to_string(blocks[i]));
		const long long s = std::stoll(r.text.substr(sp + 1));
		model[blocks[i]] = s;
		spares.insert(s);
		if ((i + 1) % 100 == 0) {
			const double now = thread_cpu_seconds();
			slices.push_back(now - lap);
			written.push_back(bytes);
			lap = now;
		}
	}
	auto median_k = [](std::vector<double> v) {
		std::sort(v.begin(), v.end());
		return 10 * (v[4] + v[5]) / 2;
	};
	const double first_k = median_k({slices.begin(), slices.begin() + 10});
	const double last_k = median_k({slices.end() - 10, slices.end()});
	const double remap_s = seconds_since(t0);
	EXPECT_EQ(spares.size(), n) << "a spare block handed out twice";
	EXPECT_GE(*spares.begin(), static_cast<long long>(l.first_usable()));
	EXPECT_LT(*spares.rbegin(), static_cast<long long>(l.spare_blocks));
	EXPECT_EQ(stat(t.get(), "remapped"), n);
	EXPECT_EQ(stat(t.get(), "seq"), n + 1);

	const auto t1 = std::chrono::steady_clock::now();
	u64 pages = 0;
	EXPECT_EQ(list_all(t.get(), 4096, nullptr, &pages), model);
	const double list_s = seconds_since(t1);
	EXPECT_GT(pages, n / 400) << "pages of 4096 bytes hold about 200 lines";

	const auto t2 = std::chrono::steady_clock::now();
	t.reset();
	Target again = rig.create();
	ASSERT_TRUE(again);
	const double load_s = seconds_since(t2);
	EXPECT_EQ(list_all(again.get(), 4096), model);
	std::printf("[ scale    ] %llu remaps %.2f s (CPU: first 1000 %.3f s, last 1000 %.3f s), "
		    "list %llu pages %.2f s, load %.2f s\n",
		    static_cast<unsigned long long>(n), remap_s, first_k, last_k,
		    static_cast<unsigned long long>(pages), list_s, load_s);
	// A remap's commit writes what changed; one that rewrote the whole table would write many
	// times more in the last thousand remaps than in the first.
	std::printf("[ scale    ] bytes written: first 1000 remaps %llu, last 1000 %llu\n",
		    static_cast<unsigned long long>(written[9]),
		    static_cast<unsigned long long>(written.back() - written[written.size() - 11]));
	const u64 first_bytes = written[9],
		  last_bytes = written.back() - written[written.size() - 11];
	EXPECT_LE(last_bytes, 2 * first_bytes)
		<< "the last 1000 remaps wrote " << last_bytes << " bytes, the first 1000 "
		<< first_bytes << ": a remap's commit grows with the table";
	RecordProperty("remap_seconds", std::to_string(remap_s));
	RecordProperty("last_over_first_1000", std::to_string(last_k / std::max(first_k, 1e-9)));
}
