// The commit protocol and the loader: what load() returns is always exactly the state of the
// last commit that completed, or of the one before it when the newest is damaged; a crash at
// any write, with any subset of unflushed writes surviving (torn or not), changes nothing else.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "boundary_user.h"
#include "mem_disk.h"
#include "metadata_store.h"

using remap::Entry;
using remap::EntryState;
using remap::Geometry;
using remap::MetadataStore;
using remap::u32;
using remap::u64;

namespace {

using Model = std::map<u64, std::pair<EntryState, u32>>; // data block -> state, spare

Geometry make_geometry(u64 spare_blocks, u32 block_size = 4096, u64 data_blocks = 1 << 20)
{
	Geometry g;
	const u64 bs = block_size / 512;
	const char *err = remap::error_text(
		Geometry::create(0, data_blocks * bs, 0, spare_blocks * bs, block_size, &g));
	EXPECT_EQ(err, nullptr) << err;
	return g;
}

Model model_of(const MetadataStore &s)
{
	Model m;
	for (u64 i = 0; i < s.used_slots(); i++) {
		const Entry &e = s.slot(i);
		if (e.state == EntryState::Free)
			continue;
		u64 key = e.state == EntryState::BadSpare ? (1ull << 63) + e.spare_block
							  : e.data_block;
		m[key] = {e.state, e.spare_block};
	}
	return m;
}

void apply(Model *m, const std::vector<MetadataStore::SlotChange> &changes,
	   const MetadataStore &before)
{
	for (auto &c : changes) {
		if (c.slot != MetadataStore::SlotChange::kNewSlot) {
			const Entry &old = before.slot(c.slot);
			m->erase(old.state == EntryState::BadSpare ? (1ull << 63) + old.spare_block
								   : old.data_block);
		}
		if (c.entry.state == EntryState::Free)
			continue;
		u64 key = c.entry.state == EntryState::BadSpare ? (1ull << 63) + c.entry.spare_block
								: c.entry.data_block;
		(*m)[key] = {c.entry.state, c.entry.spare_block};
	}
}

std::unique_ptr<MetadataStore> load(const Geometry &g, MemDisk &disk, std::string *err = nullptr)
{
	auto s = std::make_unique<MetadataStore>(g, disk.ops(), disk.ctx());
	const char *e = remap::error_text(s->load(remap::Gfp::Kernel));
	if (err)
		*err = e ? e : "";
	else
		EXPECT_EQ(e, nullptr) << e;
	return e ? nullptr : std::move(s);
}

MetadataStore::SlotChange insert(u64 data, u32 spare, EntryState st = EntryState::Remapped)
{
	return {MetadataStore::SlotChange::kNewSlot,
		Entry{data, st == EntryState::Lost ? Entry::kLostSpare : spare, st}};
}

// A scripted history of commits touching inserts, updates, removals, lost and bad entries.
std::vector<std::vector<MetadataStore::SlotChange>> history(const Geometry &g, std::mt19937_64 &rng,
							    int commits)
{
	std::vector<std::vector<MetadataStore::SlotChange>> h;
	u32 next_spare = static_cast<u32>(g.first_usable_spare().value());
	u64 next_data = 0;
	for (int c = 0; c < commits; c++) {
		std::vector<MetadataStore::SlotChange> ch;
		int n = 1 + static_cast<int>(rng() % (c % 3 == 0 ? 300 : 5));
		for (int i = 0; i < n; i++) {
			next_data += 1 + rng() % 7;
			unsigned kind = rng() % 10;
			if (kind == 0)
				ch.push_back(insert(next_data, 0, EntryState::Lost));
			else if (kind == 1)
				ch.push_back({MetadataStore::SlotChange::kNewSlot,
					      Entry{Entry::kBadSpareData, next_spare++,
						    EntryState::BadSpare}});
			else
				ch.push_back(insert(next_data, next_spare++));
		}
		h.push_back(ch);
	}
	return h;
}

} // namespace

TEST(MetadataStore, FreshLoadThenFormat)
{
	Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 1000 * 8);
	auto s = load(g, disk);
	ASSERT_TRUE(s);
	EXPECT_TRUE(s->fresh());
	EXPECT_EQ(disk.writes, 0) << "load never writes";
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
	EXPECT_EQ(s->seq(), 1u);
	auto again = load(g, disk);
	ASSERT_TRUE(again);
	EXPECT_FALSE(again->fresh());
	EXPECT_EQ(again->seq(), 1u);
	EXPECT_EQ(again->entry_count(), 0u);
	EXPECT_EQ(std::memcmp(again->uuid(), s->uuid(), 16), 0);
}

TEST(MetadataStore, CommitsRoundTripWithSlotReuse)
{
	Geometry g = make_geometry(2000, 512); // E = 28: many table blocks
	MemDisk disk(1 << 23, 2000);
	auto s = load(g, disk);
	Model model;
	std::vector<MetadataStore::SlotChange> ch;
	for (u32 i = 0; i < 100; i++)
		ch.push_back(insert(i * 3, static_cast<u32>(g.first_usable_spare().value()) + i));
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(model_of(*s), model);

	// Remove every other entry, turn one into a lost block, then insert: lowest slots first.
	ch.clear();
	for (u64 d = 0; d < 100; d += 2)
		ch.push_back({s->find_slot(d * 3), Entry{0, 0, EntryState::Free}});
	ch.push_back({s->find_slot(3), Entry{3, Entry::kLostSpare, EntryState::Lost}});
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(model_of(*s), model);
	EXPECT_EQ(s->entry_count(), 50u);
	ch = {insert(100000, 1500)};
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(s->slot(0).data_block, 100000u) << "a new entry takes the lowest free slot";
	EXPECT_EQ(s->used_slots(), 100u);

	auto loaded = load(g, disk);
	ASSERT_TRUE(loaded);
	EXPECT_EQ(model_of(*loaded), model);
	EXPECT_EQ(loaded->seq(), 3u);
	// The lookup built at load time agrees.
	remap::LookupTable *t = loaded->take_loaded_lookup();
	ASSERT_NE(t, nullptr);
	u32 v = 0;
	ASSERT_TRUE(t->find(3, &v));
	EXPECT_EQ(v, remap::LookupTable::kLost);
	ASSERT_TRUE(t->find(100000, &v));
	EXPECT_EQ(v, 1500u);
	EXPECT_FALSE(t->find(0, &v));
	remap::LookupTable::free(t);
}

// A crash injected before every write of every commit (and after the last): the loaded
// state is exactly the old or the new one, whatever subset of unflushed writes survived.
TEST(MetadataStore, CrashAtEveryWriteLoadsOldOrNew)
{
	const Geometry g = make_geometry(3000, 512);
	std::mt19937_64 rng(11);
	auto hist = history(g, rng, 8);
	// The first commit formats, with no entries, as resume and dmremap format do: a crash in
	// a first commit that wrote table blocks before any superblock would leave an area that
	// is neither fresh nor loadable (the fresh area rule refuses it).
	hist.insert(hist.begin(), std::vector<MetadataStore::SlotChange>{});

	int cases = 0;
	for (size_t c = 0; c < hist.size(); c++) {
		for (int k = 0;; k++) {
			for (int variant = 0; variant < 3; variant++) {
				MemDisk disk(1 << 23, 3000);
				auto s = load(g, disk);
				Model before;
				for (size_t i = 0; i < c; i++) {
					apply(&before, hist[i], *s);
					ASSERT_FALSE(s->commit(hist[i].data(), hist[i].size(),
							       remap::Gfp::Kernel)
							     .is_error());
				}
				Model after = before;
				apply(&after, hist[c], *s);
				disk.fail_write_in = k;
				auto st = s->commit(hist[c].data(), hist[c].size(),
						    remap::Gfp::Kernel);
				const bool completed = !st.is_error();
				disk.fail_write_in = -1;
				if (!completed) {
					EXPECT_EQ(model_of(*s), before)
						<< "failed commit left memory changed";
				}
				std::mt19937_64 crash_rng(c * 1000 + k * 10 + variant);
				disk.crash(&crash_rng, variant == 0 ? 0 : 50, variant == 2);
				auto loaded = load(g, disk);
				ASSERT_TRUE(loaded) << "commit " << c << " write " << k;
				Model got = model_of(*loaded);
				if (completed) {
					EXPECT_EQ(got, after) << "commit " << c << " write " << k;
					EXPECT_EQ(loaded->seq(), c + 1);
				} else {
					EXPECT_EQ(got, before) << "commit " << c << " write " << k;
					EXPECT_EQ(loaded->seq(), c);
				}
				// The reloaded store can go on committing.
				auto more = std::vector<MetadataStore::SlotChange>{
					insert(999999, 2999)};
				EXPECT_FALSE(loaded->commit(more.data(), 1, remap::Gfp::Kernel)
						     .is_error());
				cases++;
				if (completed && variant == 2)
					goto next_commit;
			}
		}
	next_commit:;
	}
	EXPECT_GT(cases, 100);
}

TEST(MetadataStore, DamagedNewestFallsBackToOlder)
{
	const Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 8000);
	auto s = load(g, disk);
	std::vector<MetadataStore::SlotChange> c1 = {insert(5, 100)}, c2 = {insert(6, 101)};
	ASSERT_FALSE(s->commit(c1.data(), 1, remap::Gfp::Kernel).is_error()); // seq 1: slot 1
	ASSERT_FALSE(s->commit(c2.data(), 1, remap::Gfp::Kernel).is_error()); // seq 2: slot 0
	Model old_model;
	old_model[5] = {EntryState::Remapped, 100};

	// One flipped byte in the newest superblock.
	unsigned char b = disk.peek(1, 100) ^ 0x40;
	disk.poke(1, 100, &b, 1);
	auto loaded = load(g, disk);
	ASSERT_TRUE(loaded);
	EXPECT_EQ(loaded->seq(), 1u);
	EXPECT_EQ(model_of(*loaded), old_model);
	EXPECT_NE(std::string(rb_user_last_log()).find("using the older metadata in slot 1"),
		  std::string::npos)
		<< rb_user_last_log();
	b ^= 0x40;
	disk.poke(1, 100, &b, 1);

	// One flipped byte in the newest table (area 1, block 0: spare block 2 + T).
	const u64 table_byte = g.table_block(1, 0).value() * 4096 + 64 + 8;
	b = disk.peek(1, table_byte) ^ 1;
	disk.poke(1, table_byte, &b, 1);
	loaded = load(g, disk);
	ASSERT_TRUE(loaded);
	EXPECT_EQ(loaded->seq(), 1u);
	EXPECT_EQ(model_of(*loaded), old_model);

	// Both superblocks damaged: refused, with the problem named.
	unsigned char z = disk.peek(1, 4096 + 8) ^ 0xff; // slot 1's version
	disk.poke(1, 4096 + 8, &z, 1);
	std::string err;
	EXPECT_FALSE(load(g, disk, &err));
	EXPECT_FALSE(err.empty());
}

TEST(MetadataStore, GeometryMismatchIsRefused)
{
	const Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 8000);
	auto s = load(g, disk);
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
	std::string err;
	EXPECT_FALSE(load(make_geometry(999), disk, &err));
	EXPECT_EQ(err,
		  "Superblock geometry does not match the table line: spare_len (the spare "
		  "area cannot shrink)");
}

TEST(MetadataStore, AllocationFailuresAreClean)
{
	const Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 8000);
	{
		auto s = load(g, disk);
		std::vector<MetadataStore::SlotChange> c = {insert(5, 100), insert(9, 101)};
		ASSERT_FALSE(s->commit(c.data(), c.size(), remap::Gfp::Kernel).is_error());
	}
	const long base = rb_user_live_allocs();
	for (long nth = 0; nth < 12; nth++) {
		auto s = std::make_unique<MetadataStore>(g, disk.ops(), disk.ctx());
		rb_user_fail_alloc_nth(nth);
		const char *e = remap::error_text(s->load(remap::Gfp::Kernel));
		rb_user_fail_alloc_nth(-1);
		if (e) {
			EXPECT_NE(std::string(e).find("memory"), std::string::npos) << e;
		} else {
			EXPECT_EQ(s->entry_count(), 2u);
		}
		s.reset();
		EXPECT_EQ(rb_user_live_allocs(), base) << "leak after failing allocation " << nth;
	}
	// A commit whose allocation fails changes nothing.
	auto s = load(g, disk);
	std::vector<MetadataStore::SlotChange> c = {insert(7, 102)};
	rb_user_fail_all_allocs(1);
	auto st = s->commit(c.data(), 1, remap::Gfp::Noio);
	rb_user_fail_all_allocs(0);
	ASSERT_TRUE(st.is_error());
	EXPECT_EQ(s->entry_count(), 2u);
	EXPECT_EQ(s->seq(), 1u);
}

TEST(MetadataStore, OneMillionRemaps)
{
	const u64 spare_blocks = (1u << 20) + 20000;
	const Geometry g = make_geometry(spare_blocks, 4096, 1ull << 24);
	MemDisk disk(1ull << 27, spare_blocks * 8);
	auto s = load(g, disk);
	const u32 first = static_cast<u32>(g.first_usable_spare().value());
	const u64 usable = spare_blocks - first;
	ASSERT_GE(usable, 1u << 20);
	ASSERT_GE(g.table_slots(), usable);
	// Every usable spare block, in a few large commits.
	std::vector<MetadataStore::SlotChange> ch;
	for (u64 i = 0; i < usable; i++) {
		ch.push_back(insert(i * 11, static_cast<u32>(first + i)));
		if (ch.size() == 300000 || i + 1 == usable) {
			ASSERT_FALSE(
				s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
			ch.clear();
		}
	}
	EXPECT_EQ(s->entry_count(), usable);
	auto loaded = load(g, disk);
	ASSERT_TRUE(loaded);
	EXPECT_EQ(loaded->entry_count(), usable);
	remap::LookupTable *t = loaded->take_loaded_lookup();
	ASSERT_EQ(t->size(), usable);
	u32 v;
	ASSERT_TRUE(t->find((usable - 1) * 11, &v));
	EXPECT_EQ(v, first + usable - 1);
	remap::LookupTable::free(t);
	// The table is full: one more entry does not fit.
	ch = {insert(1, 0)};
	auto st = loaded->commit(ch.data(), 1, remap::Gfp::Kernel);
	EXPECT_TRUE(st.is_error() || g.table_slots() > usable);
}

TEST(MetadataStore, AnotherBlockSizeIsNamed)
{
	const Geometry g = make_geometry(1000, 4096, 1024);
	MemDisk disk(1 << 23, 8000);
	auto s = load(g, disk);
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error()); // slot 1 only
	Geometry other;
	ASSERT_EQ(remap::error_text(Geometry::create(0, 1024 * 8, 0, 1000 * 8, 8192, &other)),
		  nullptr);
	std::string err;
	EXPECT_FALSE(load(other, disk, &err));
	EXPECT_EQ(err, "Metadata was formatted with another block_size");
}

// Slots live in memory as 12-byte entries in 4 KiB pages (341 a page, table blocks of 252
// slots at 4 KiB): every state survives the packing on both sides of page and table block
// boundaries, through commits and a reload; memory grows a page at a time, not by doubling.
TEST(MetadataStore, PackedSlotsAcrossPageBoundaries)
{
	Geometry g = make_geometry(4000);
	MemDisk disk(1 << 23, 4000 * 8);
	auto s = load(g, disk);
	ASSERT_TRUE(s);
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
	const u64 empty_bytes = s->bytes();
	Model model;
	std::vector<MetadataStore::SlotChange> ch;
	u32 spare = static_cast<u32>(g.first_usable_spare().value());
	for (u64 i = 0; i < 700; i++) {
		if (i % 4 == 1)
			ch.push_back(insert(i * 5, 0, EntryState::Lost));
		else if (i % 4 == 2)
			ch.push_back({MetadataStore::SlotChange::kNewSlot,
				      Entry{Entry::kBadSpareData, spare++, EntryState::BadSpare}});
		else
			ch.push_back(insert(i == 0 ? 0 : (1u << 20) - 1 - i * 5,
					    spare++)); // 0, the last
	}
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(model_of(*s), model);
	EXPECT_EQ(s->slot(0).data_block, 0u);
	EXPECT_EQ(s->slot(0).state, EntryState::Remapped) << "data block 0 is not a free slot";
	// 700 slots: three pages of 341.
	EXPECT_EQ(s->bytes() - empty_bytes, 3 * 4096u);

	// Free the slots around the page boundaries (340/341, 681/682) and at the table block
	// boundary (251/252), then fill them again.
	ch.clear();
	for (u64 slot : {251u, 252u, 340u, 341u, 681u, 682u})
		ch.push_back({slot, Entry{0, 0, EntryState::Free}});
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(model_of(*s), model);
	EXPECT_EQ(s->find_slot(340 * 5), MetadataStore::SlotChange::kNewSlot);
	ch.clear();
	for (u64 i = 0; i < 6; i++)
		ch.push_back(insert(200000 + i, spare++));
	ch.push_back(insert(7, 0, EntryState::Lost));
	apply(&model, ch, *s);
	ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(model_of(*s), model);
	EXPECT_EQ(s->slot(341).data_block, 200003u);
	EXPECT_EQ(s->find_slot(7), 700u);
	EXPECT_EQ(s->find_slot(Entry::kBadSpareData), MetadataStore::SlotChange::kNewSlot);

	auto loaded = load(g, disk);
	ASSERT_TRUE(loaded);
	EXPECT_EQ(model_of(*loaded), model);
	for (u64 i = 0; i < s->used_slots(); i++) {
		const Entry a = s->slot(i), b = loaded->slot(i);
		EXPECT_EQ(a.data_block, b.data_block) << i;
		EXPECT_EQ(a.spare_block, b.spare_block) << i;
		EXPECT_EQ(a.state, b.state) << i;
	}
}

// ---- the fresh area rule (docs/on-disk-format.rst): one rule for the module and dmremap ----

namespace {

const char kNotEmpty[] = "Spare area holds data but no dm-remap metadata: run 'dmremap format' "
			 "(or zero the area) if it may be overwritten";

// Whether an area of `spare_blocks` blocks with one non-zero byte at `byte` (relative to the
// spare range) loads as fresh: "" if so, else load()'s reason. Nothing is ever written.
std::string load_with_byte_at(u64 spare_blocks, u32 block_size, u64 byte)
{
	const Geometry g = make_geometry(spare_blocks, block_size, 1024);
	MemDisk disk(1 << 23, spare_blocks * (block_size / 512));
	const unsigned char x = 0x5a;
	disk.poke(RB_SPARE_DEV, byte, &x, 1);
	std::string err;
	auto s = load(g, disk, &err);
	EXPECT_EQ(disk.writes, 0);
	if (s) {
		EXPECT_TRUE(s->fresh());
	}
	return err;
}

// Rewrites superblock slot s as another format version (its content otherwise unchanged):
// how an area written by a version 1 dm-remap looks, since table blocks carry no version.
void stamp_version(const Geometry &g, MemDisk &disk, u32 s, u32 version)
{
	std::vector<unsigned char> b(g.block_size());
	const u64 sector = g.spare_dev_sector(g.superblock_block(s));
	ASSERT_EQ(disk.ops()->read(disk.ctx(), RB_SPARE_DEV, sector, b.data(), g.block_size(), 0),
		  0);
	remap::Superblock sb;
	ASSERT_EQ(remap::error_text(remap::decode_superblock(g, b.data(), &sb)), nullptr);
	sb.version = version;
	remap::encode_superblock(sb, b.data(), g.block_size());
	disk.poke(RB_SPARE_DEV, sector * 512, b.data(), b.size());
}

u32 slot_version(const Geometry &g, MemDisk &disk, u32 s)
{
	std::vector<unsigned char> b(g.block_size());
	const u64 sector = g.spare_dev_sector(g.superblock_block(s));
	EXPECT_EQ(disk.ops()->read(disk.ctx(), RB_SPARE_DEV, sector, b.data(), g.block_size(), 0),
		  0);
	remap::Superblock sb;
	const char *err = remap::error_text(remap::decode_superblock_fields(b.data(), &sb));
	EXPECT_EQ(err, nullptr) << err;
	return err ? 0 : sb.version;
}

MetadataStore::SlotChange run(u64 data, u32 first, u32 count)
{
	return {MetadataStore::SlotChange::kNewSlot,
		Entry{data, Entry::run(first, count), EntryState::LostSectors}};
}

} // namespace

TEST(MetadataStore, FreshAreaBytesCoverTheMetadataAndAWindow)
{
	// 1000 blocks of 4 KiB: T = 4, metadata = 10 blocks; with 64 KiB after them that is less
	// than the first MiB, which is checked whatever the metadata.
	EXPECT_EQ(remap::fresh_area_bytes(make_geometry(1000)), 1u << 20);
	// 16 MiB of 512-byte blocks: T = 1093, metadata = 2188 blocks, and 64 KiB.
	EXPECT_EQ(remap::fresh_area_bytes(make_geometry(32768, 512)), 2188 * 512 + 65536);
	// A range shorter than that is checked whole.
	EXPECT_EQ(remap::fresh_area_bytes(make_geometry(100)), 100 * 4096u);
	// A huge range: the first 8 MiB (its metadata alone is larger).
	const Geometry huge = make_geometry(1ull << 24, 512);
	EXPECT_GT(huge.first_usable_spare().value() * 512, 8u << 20);
	EXPECT_EQ(remap::fresh_area_bytes(huge), 8u << 20);
}

// Finding 11: zero superblock blocks are not enough. Data anywhere in the metadata area or the
// window beyond it makes the area "not empty", refused with the fix named.
TEST(MetadataStore, DataInTheFreshAreaIsRefused)
{
	const u64 end = 1u << 20;
	EXPECT_EQ(load_with_byte_at(1000, 4096, 8192), kNotEmpty);      // table area 0
	EXPECT_EQ(load_with_byte_at(1000, 4096, 64 * 1024), kNotEmpty); // btrfs' superblock
	EXPECT_EQ(load_with_byte_at(1000, 4096, 10 * 4096), kNotEmpty); // first usable block
	EXPECT_EQ(load_with_byte_at(1000, 4096, end - 1), kNotEmpty);   // last byte checked
	EXPECT_EQ(load_with_byte_at(1000, 4096, end), "");              // beyond the rule
	EXPECT_EQ(load_with_byte_at(1000, 4096, 100), "Superblock has a bad magic");
	// Metadata larger than the first MiB: all of it and 64 KiB more.
	const u64 big_end = 2188 * 512 + 65536;
	EXPECT_EQ(load_with_byte_at(32768, 512, 2188 * 512 - 1), kNotEmpty); // last table block
	EXPECT_EQ(load_with_byte_at(32768, 512, big_end - 1), kNotEmpty);
	EXPECT_EQ(load_with_byte_at(32768, 512, big_end), "");
}

TEST(MetadataStore, HugeAreasAreCheckedInTheirFirst8MiB)
{
	EXPECT_EQ(load_with_byte_at(1ull << 24, 512, (8u << 20) - 1), kNotEmpty);
	EXPECT_EQ(load_with_byte_at(1ull << 24, 512, 8u << 20), "");
}

// A superblock of another block size beyond both superblock blocks (slot 1 at 64 KiB) is not a
// fresh area either: the refusal names it.
TEST(MetadataStore, StaleSuperblockOfAnotherBlockSizeIsNotFresh)
{
	const Geometry big = make_geometry(1000, 65536, 1024);
	const Geometry small = make_geometry(16000, 4096, 1024);
	MemDisk disk(1 << 23, 16000 * 8);
	auto s = load(big, disk);
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error()); // seq 1: slot 1, 64 KiB
	const std::vector<unsigned char> zero(8192, 0);
	disk.poke(RB_SPARE_DEV, 0, zero.data(), zero.size()); // both 4 KiB superblock blocks zero
	std::string err;
	EXPECT_FALSE(load(small, disk, &err));
	EXPECT_EQ(err, "Metadata was formatted with another block_size");
}

// Finding 7, the loader's half: a superblock that claims a full table of a huge geometry costs
// one table block read and no slot pages, not the T * E slots up front.
TEST(MetadataStore, ClaimedFullTableAllocatesAsBlocksValidate)
{
	// 1 GiB of 512-byte blocks: T = 69905 table blocks, 1957340 slots (23 MB of slot pages).
	const Geometry g = make_geometry(1ull << 21, 512, 1024);
	MemDisk disk(1 << 23, 1ull << 21);
	remap::Superblock sb;
	remap::init_superblock(g, &sb);
	sb.seq = 1;
	sb.area = 0;
	sb.used_blocks = g.table_blocks();
	sb.used_slots = g.table_slots();
	sb.entry_count = g.table_slots();
	std::vector<unsigned char> block(512);
	remap::encode_superblock(sb, block.data(), 512);
	disk.poke(RB_SPARE_DEV, 512, block.data(), block.size()); // slot 1
	int reads = 0;
	disk.read_filter = [&](int, rb_u64) { return ++reads > 0; };

	MetadataStore s(g, disk.ops(), disk.ctx());
	const char *err = remap::error_text(s.load(remap::Gfp::Kernel));
	ASSERT_NE(err, nullptr);
	EXPECT_STREQ(err, "Table block has a bad magic");
	EXPECT_LE(reads, 2 + 1 + 16) << "two superblocks, one table block, the other-size probes";
	const u64 slot_pages = (g.table_slots() * 12 + 4095) / 4096 * 4096;
	EXPECT_LT(s.bytes(), 2u << 20) << "slot pages for the whole table: " << slot_pages;
}

// decode_superblock() bounds used_blocks by the geometry's T before anything is allocated.
TEST(MetadataStore, UsedBlocksBeyondTheTableAreRefused)
{
	const Geometry g = make_geometry(1000, 4096, 1024);
	MemDisk disk(1 << 23, 8000);
	remap::Superblock sb;
	remap::init_superblock(g, &sb);
	sb.seq = 2;
	sb.used_blocks = g.table_blocks() + 1;
	sb.used_slots = u64(g.table_blocks() + 1) * g.entries_per_table_block();
	std::vector<unsigned char> block(4096);
	remap::encode_superblock(sb, block.data(), 4096);
	disk.poke(RB_SPARE_DEV, 0, block.data(), block.size());
	std::string err;
	EXPECT_FALSE(load(g, disk, &err));
	EXPECT_NE(err, "");
}

// Finding 6: a spare with 4096-byte logical blocks only ever sees whole, aligned 4096-byte
// metadata I/O, the fresh check and the other-block_size probe included.
TEST(MetadataStore, FourKnSpareGetsOnlyAlignedIo)
{
	const Geometry g = make_geometry(1000, 4096, 1024);
	MemDisk disk(1 << 23, 8000);
	disk.logical_block[RB_SPARE_DEV] = 4096;
	auto s = std::make_unique<MetadataStore>(g, disk.ops(), disk.ctx(), 4096);
	ASSERT_EQ(remap::error_text(s->load(remap::Gfp::Kernel)), nullptr);
	ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
	ASSERT_FALSE(s->commit(std::vector<MetadataStore::SlotChange>{insert(7, 20)}.data(), 1,
			       remap::Gfp::Kernel)
			     .is_error());
	Geometry other;
	ASSERT_EQ(remap::error_text(Geometry::create(0, 1024 * 8, 0, 1000 * 8, 8192, &other)),
		  nullptr);
	MetadataStore probe(other, disk.ops(), disk.ctx(), 4096);
	EXPECT_STREQ(remap::error_text(probe.load(remap::Gfp::Kernel)),
		     "Metadata was formatted with another block_size");
	EXPECT_EQ(disk.misaligned_io, 0);
	// A block_size below the device's logical block size is refused before any I/O.
	Geometry tiny;
	ASSERT_EQ(remap::error_text(Geometry::create(0, 1024 * 8, 0, 1000 * 8, 2048, &tiny)),
		  nullptr);
	MetadataStore too_small(tiny, disk.ops(), disk.ctx(), 4096);
	EXPECT_STREQ(remap::error_text(too_small.load(remap::Gfp::Kernel)),
		     "block_size is smaller than the spare device's logical block size");
	EXPECT_EQ(disk.misaligned_io, 0);
}

// A version 1 area (as main wrote it) loads, and its first commit writes version 2 in both
// superblock slots: the older slot is re-stamped, so a version 1 reader refuses the area
// instead of falling back to the commit before.
TEST(MetadataStore, Version1AreaLoadsAndTheFirstCommitUpgradesIt)
{
	Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 1000 * 8);
	const u32 s0 = static_cast<u32>(g.first_usable_spare().value());
	{
		auto s = load(g, disk);
		ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
		std::vector<MetadataStore::SlotChange> ch = {insert(5, s0),
							     insert(9, 0, EntryState::Lost)};
		ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	}
	stamp_version(g, disk, 0, 1);
	stamp_version(g, disk, 1, 1);
	auto v1 = load(g, disk);
	ASSERT_TRUE(v1);
	EXPECT_EQ(v1->version(), 1u);
	EXPECT_EQ(v1->entry_count(), 2u);
	EXPECT_FALSE(v1->fell_back());
	std::vector<MetadataStore::SlotChange> ch = {insert(6, s0 + 1)};
	ASSERT_FALSE(v1->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	EXPECT_EQ(v1->version(), 2u);
	EXPECT_EQ(slot_version(g, disk, 0), 2u);
	EXPECT_EQ(slot_version(g, disk, 1), 2u) << "the older slot is re-stamped";
	auto v2 = load(g, disk);
	ASSERT_TRUE(v2);
	EXPECT_EQ(v2->version(), 2u);
	EXPECT_EQ(v2->seq(), 3u);
	EXPECT_EQ(v2->entry_count(), 3u);
	// The re-stamped older slot still holds the commit before, and loads as a fallback.
	std::vector<unsigned char> zero(g.block_size(), 0);
	disk.poke(RB_SPARE_DEV, g.spare_dev_sector(g.superblock_block(3 % 2)) * 512, zero.data(),
		  zero.size());
	auto older = load(g, disk);
	ASSERT_TRUE(older);
	EXPECT_EQ(older->seq(), 2u);
	EXPECT_EQ(older->entry_count(), 2u);
}

// Mixed slots: the upgrade commit's re-stamp failed, so one slot is version 2 and the other
// version 1. The newest loads; with it damaged, the version 1 slot loads as a fallback.
TEST(MetadataStore, MixedVersionSlotsLoad)
{
	Geometry g = make_geometry(1000);
	MemDisk disk(1 << 23, 1000 * 8);
	const u32 s0 = static_cast<u32>(g.first_usable_spare().value());
	{
		auto s = load(g, disk);
		ASSERT_FALSE(s->commit(nullptr, 0, remap::Gfp::Kernel).is_error());
		std::vector<MetadataStore::SlotChange> ch = {insert(5, s0)};
		ASSERT_FALSE(s->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error());
	}
	stamp_version(g, disk, 0, 1);
	stamp_version(g, disk, 1, 1);
	auto v1 = load(g, disk);
	ASSERT_TRUE(v1);
	const u64 older_sector = g.spare_dev_sector(g.superblock_block(2 % 2));
	disk.write_filter = [&](const MemDisk::Write &w) {
		return !(w.dev == RB_SPARE_DEV && w.sector == older_sector);
	};
	std::vector<MetadataStore::SlotChange> ch = {insert(6, s0 + 1), run(5, 3, 2)};
	ASSERT_FALSE(v1->commit(ch.data(), ch.size(), remap::Gfp::Kernel).is_error())
		<< "a failed re-stamp does not fail the commit";
	disk.write_filter = nullptr;
	EXPECT_EQ(slot_version(g, disk, 1), 2u);
	EXPECT_EQ(slot_version(g, disk, 0), 1u);
	auto mixed = load(g, disk);
	ASSERT_TRUE(mixed);
	EXPECT_EQ(mixed->version(), 2u);
	EXPECT_EQ(mixed->entry_count(), 3u);
	remap::LookupTable *t = mixed->take_loaded_lookup();
	ASSERT_NE(t, nullptr);
	ASSERT_NE(t->lost(), nullptr);
	const remap::SectorMask *m = t->lost()->find(5);
	ASSERT_NE(m, nullptr);
	EXPECT_EQ(m->count(), 2u);
	EXPECT_TRUE(m->test(3) && m->test(4) && !m->test(2) && !m->test(5));
	EXPECT_EQ(t->lost()->sectors(), 2u);
	remap::LookupTable::free(t);

	std::vector<unsigned char> junk(g.block_size(), 0x5a);
	disk.poke(RB_SPARE_DEV, g.spare_dev_sector(g.superblock_block(1)) * 512, junk.data(),
		  junk.size());
	auto fallback = load(g, disk);
	ASSERT_TRUE(fallback);
	EXPECT_TRUE(fallback->fell_back());
	EXPECT_EQ(fallback->version(), 1u);
	EXPECT_EQ(fallback->entry_count(), 1u);
}

// A version 1 superblock naming a table with lost-sectors entries is refused (version 1 has
// none), and so are lost sectors that break the rules across entries.
TEST(MetadataStore, LostSectorsEntriesAreCheckedAcrossEntries)
{
	Geometry g = make_geometry(1000); // 8 sectors a block
	const u32 s0 = static_cast<u32>(g.first_usable_spare().value());
	struct Case {
		const char *what;
		std::vector<MetadataStore::SlotChange> changes;
		bool loads;
	};
	const std::vector<Case> cases = {
		{"runs in a remapped block", {insert(5, s0), run(5, 0, 2), run(5, 4, 4)}, true},
		{"adjacent runs", {insert(5, s0), run(5, 0, 2), run(5, 2, 1)}, true},
		{"other blocks",
		 {insert(5, s0), insert(6, s0 + 1), run(6, 7, 1), run(5, 1, 1)},
		 true},
		{"overlapping runs", {insert(5, s0), run(5, 0, 3), run(5, 2, 2)}, false},
		{"the same run twice", {insert(5, s0), run(5, 1, 1), run(5, 1, 1)}, false},
		{"a block not remapped", {insert(5, s0), run(6, 0, 1)}, false},
		{"a lost block", {insert(5, 0, EntryState::Lost), run(5, 0, 1)}, false},
	};
	for (const Case &c : cases) {
		MemDisk disk(1 << 23, 1000 * 8);
		auto s = load(g, disk);
		ASSERT_FALSE(s->commit(c.changes.data(), c.changes.size(), remap::Gfp::Kernel)
				     .is_error());
		std::string err;
		auto loaded = load(g, disk, &err);
		EXPECT_EQ(loaded != nullptr, c.loads) << c.what << ": " << err;
		if (!c.loads) {
			EXPECT_EQ(
				err,
				"Metadata maps the same data block twice, or has lost sectors outside a remapped block or twice")
				<< c.what;
		} else {
			EXPECT_EQ(loaded->entry_count(), c.changes.size());
			stamp_version(g, disk, 1, 1); // the only commit (seq 1) is in slot 1
			auto old = load(g, disk, &err);
			EXPECT_EQ(old, nullptr) << c.what;
			EXPECT_EQ(err, "Table entry has an unknown state") << c.what;
		}
	}
}
