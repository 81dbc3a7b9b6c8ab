// SPDX-License-Identifier: GPL-2.0
// Memory per remap of the two structures that grow with the mapping, the lookup table and the
// metadata store's slots, as their bytes() count it (allocation size classes included, see
// rb_alloc_large_bytes()). The workloads of the VM benchmark (bench/vm/io-bench.sh: remap
// messages of 65536 consecutive blocks, one commit each) on its geometries, plus scattered
// single remaps (one commit each, random blocks), where chunks split and fill unevenly.
//   memory        one line per case: remaps, B/remap of lookup, store, both (growth over the
//                 empty target: fixed allocations such as the slot bitmap are left out)
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "geometry.h"
#include "lookup_table_probe.h"
#include "metadata_store.h"

using namespace remap;

namespace {

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "memory: %s\n", what);
	std::exit(1);
}

int zero_read(void *, rb_device, rb_u64, void *buf, rb_u32 bytes, unsigned)
{
	std::fill(static_cast<char *>(buf), static_cast<char *>(buf) + bytes, 0);
	return 0; // an all-zero area: load() finds it fresh
}
int null_write(void *, rb_device, rb_u64, const void *, rb_u32, unsigned) { return 0; }
void null_drain(void *, rb_u32, rb_u64, rb_u64) {}
void null_release(void *) {}
const rb_io_ops kNullIo = {zero_read, null_write, null_drain, null_release, nullptr};

struct Case {
	const char *name;
	u64 data_sectors, spare_sectors;
	u32 block_size;
	u64 remaps;
	bool scattered;
};

void run(const Case &c)
{
	Geometry geo;
	if (const char *err = remap::error_text(
		    Geometry::create(0, c.data_sectors, 0, c.spare_sectors, c.block_size, &geo)))
		die(err);
	MetadataStore store(geo, &kNullIo, nullptr);
	if (store.load(Gfp::Kernel).is_error())
		die("load");
	auto r0 = LookupTable::merge(nullptr, nullptr, 0, Gfp::Kernel);
	if (r0.is_error())
		die("merge");
	LookupTable *table = r0.value();
	const u64 store0 = store.bytes(), table0 = table->bytes();

	std::mt19937_64 rng(7);
	const u64 data_blocks = geo.data_blocks();
	const u64 first_spare = geo.first_usable_spare().value();
	std::vector<u64> blocks;
	if (c.scattered) {
		std::vector<bool> taken(data_blocks);
		while (blocks.size() < c.remaps) {
			const u64 b = rng() % data_blocks;
			if (!taken[b]) {
				taken[b] = true;
				blocks.push_back(b);
			}
		}
	} else {
		for (u64 i = 0; i < c.remaps; i++)
			blocks.push_back(i);
	}
	const u64 batch = c.scattered ? 1 : 65536;
	std::vector<MetadataStore::SlotChange> slots;
	std::vector<LookupTable::Change> changes;
	for (u64 done = 0; done < c.remaps;) {
		const u64 n = std::min(batch, c.remaps - done);
		slots.clear();
		changes.clear();
		for (u64 i = done; i < done + n; i++) {
			const u32 spare = static_cast<u32>(first_spare + i);
			slots.push_back({MetadataStore::SlotChange::kNewSlot,
					 Entry{blocks[i], spare, EntryState::Remapped}});
			changes.push_back({blocks[i], spare, false});
		}
		if (store.commit(slots.data(), n, Gfp::Kernel).is_error())
			die("commit");
		auto r = LookupTable::merge(table, changes.data(), n, Gfp::Kernel);
		if (r.is_error())
			die("merge");
		LookupTable::free(table);
		table = r.value();
		done += n;
	}
	const double per = static_cast<double>(c.remaps);
	const double lt = static_cast<double>(table->bytes() - table0) / per;
	const double st = static_cast<double>(store.bytes() - store0) / per;
	u64 wide = 0;
	for (u64 i = 0; i < LookupTableProbe::chunk_count(*table); i++)
		wide += LookupTableProbe::chunk_is_wide(*table, i);
	std::printf("memory %-34s %8llu remaps  lookup %5.2f  store %5.2f  total %5.2f B/remap"
		    "  (%llu chunks, %llu wide, %.0f entries each)\n",
		    c.name, static_cast<unsigned long long>(c.remaps), lt, st, lt + st,
		    static_cast<unsigned long long>(LookupTableProbe::chunk_count(*table)),
		    static_cast<unsigned long long>(wide),
		    per / static_cast<double>(LookupTableProbe::chunk_count(*table)));
	LookupTable::free(table);
}

} // namespace

int main()
{
	// bench/vm/io-bench.sh: 1088 MiB data and 512 MiB spare at 4 KiB; 600 and 640 MiB at 512.
	const Case cases[] = {
		{"ranges of 65536, 4 KiB blocks", 1088ull << 11, 512ull << 11, 4096, 100000, false},
		{"ranges of 65536, 512 B blocks", 600ull << 11, 640ull << 11, 512, 1048576, false},
		{"single random remaps, 4 KiB blocks", 1088ull << 11, 512ull << 11, 4096, 100000,
		 true},
	};
	for (const Case &c : cases)
		run(c);
	return 0;
}
