// Sub-block salvage (issue 14, review finding 5): an unreadable sector never takes readable
// sectors with it. A block that does not read whole is copied to a spare block at the data
// device's logical block size; the sectors that did not read are recorded (format version 2)
// and published with the mapping: reads that touch them fail, the rest of the block reads
// from the spare, writes revive them, `reprobe` tries them again.
#include "engine_rig.h"

#include "geometry.h"
#include "lookup_table.h"
#include "metadata_codec.h"

#include <chrono>
#include <condition_variable>
#include <future>
#include <initializer_list>
#include <mutex>

namespace {

Layout layout_of(u32 block_size)
{
	Layout l;
	l.block_size = block_size;
	if (block_size > 32768) { // offsets aligned to the block
		l.data_offset = block_size / 512;
		l.spare_offset = 2 * block_size / 512;
	}
	return l;
}

// Data sector k of block b (absolute on the data device) never reads.
void bad_sector(Rig &rig, u64 b, u64 k)
{
	const u64 s = rig.layout.data_offset + b * rig.layout.bs() + k;
	rig.disk.unreadable.push_back({RB_DATA_DEV, s, s + 1});
}

// The start most salvage tests share: block b filled with pattern `salt`, the target started,
// then the data sectors `bad` of block b (counted from its start) made unreadable.
Target started_with_bad_sectors(Rig &rig, u64 b, unsigned salt, std::initializer_list<u64> bad)
{
	rig.fill_data(b, salt);
	Target t = rig.started();
	for (u64 k : bad)
		bad_sector(rig, b, k);
	return t;
}

// The spare block `list` names for block b, with its lost sectors.
long long spare_of(rc_target *t, u64 b, u64 *lost_sectors = nullptr)
{
	Reply r = msg(t, "list " + std::to_string(b) + " 1");
	EXPECT_EQ(r.rc, 1);
	u64 block = 0, n = 0;
	long long spare = -2;
	if (r.text.empty() ||
	    !parse_list_line(r.text.substr(0, r.text.size() - 1), &block, &spare, &n) || block != b)
		return -2;
	if (lost_sectors)
		*lost_sectors = n;
	return spare;
}

std::vector<unsigned char> bytes(size_t n, unsigned char v)
{
	return std::vector<unsigned char>(n, v);
}

// Whether spare block `spare` holds block b's pattern `salt` in sectors [lo, hi) (and zeros
// where `zero` says).
bool spare_sectors_hold(Rig &rig, long long spare, u64 b, unsigned salt, u64 lo, u64 hi)
{
	for (u64 i = lo * 512; i < hi * 512; i++) {
		if (rig.disk.peek(RB_SPARE_DEV,
				  rig.layout.spare_byte(static_cast<u64>(spare)) + i) !=
		    pattern(b, i, salt))
			return false;
	}
	return true;
}

bool spare_sectors_are(Rig &rig, long long spare, u64 lo, u64 hi, unsigned char v)
{
	for (u64 i = lo * 512; i < hi * 512; i++) {
		if (rig.disk.peek(RB_SPARE_DEV,
				  rig.layout.spare_byte(static_cast<u64>(spare)) + i) != v)
			return false;
	}
	return true;
}

} // namespace

class SalvageAtBlockSize : public ::testing::TestWithParam<u32> {};

// One unreadable 512-byte sector in the middle of a block. At 512 bytes the block is that
// sector: nothing reads, the block is lost whole. Larger blocks are salvaged: the other
// sectors read from the spare block, only requests that touch the bad sector fail, and a
// 4 KiB write over it (a whole block at 4096) revives it.
TEST_P(SalvageAtBlockSize, OneBadSectorLosesOnlyItself)
{
	Rig rig(layout_of(GetParam()));
	const Layout &l = rig.layout;
	const u64 b = 5, bs = l.bs(), bad = bs / 2; // sector 0 at 512 bytes
	Target t = started_with_bad_sectors(rig, b, 3, {bad});
	ASSERT_TRUE(t);

	Reply r = msg(t.get(), "remap " + std::to_string(b * bs));
	ASSERT_EQ(r.rc, 1);
	if (bs == 1) {
		EXPECT_EQ(r.text, std::to_string(b) + " lost");
		EXPECT_EQ(stat(t.get(), "lost"), 1u);
		EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
		EXPECT_EQ(map_io(t.get(), b * bs, 1).route, RC_ROUTE_LOST);
		return;
	}
	u64 n = 0;
	const long long spare = spare_of(t.get(), b, &n);
	ASSERT_GE(spare, 0) << list_text(t.get());
	EXPECT_EQ(r.text, std::to_string(b) + " " + std::to_string(spare));
	EXPECT_EQ(n, 1u);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 1u);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
	EXPECT_EQ(list_text(t.get()),
		  std::to_string(b) + " " + std::to_string(spare) + " remapped lost_sectors=1\n");
	// What read is on the spare block, zeros in the hole.
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 3, 0, bad));
	EXPECT_TRUE(spare_sectors_are(rig, spare, bad, bad + 1, 0));
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 3, bad + 1, bs));

	// Reads: every sector alone, then 4 KiB pieces.
	for (u64 k = 0; k < bs; k++) {
		const rc_mapping m = map_io(t.get(), b * bs + k, 1);
		if (k == bad) {
			EXPECT_EQ(m.route, RC_ROUTE_LOST) << k;
		} else {
			EXPECT_EQ(m.route, RC_ROUTE_SPARE) << k;
			EXPECT_EQ(m.sector, l.spare_sector(static_cast<u64>(spare)) + k);
		}
		EXPECT_EQ(m.sectors, 1u);
	}
	for (u64 k = 0; k + 8 <= bs; k += 8) {
		const rc_mapping m = map_io(t.get(), b * bs + k, 8);
		EXPECT_EQ(m.route, bad >= k && bad < k + 8 ? RC_ROUTE_LOST : RC_ROUTE_SPARE) << k;
		EXPECT_EQ(m.sectors, 8u);
	}
	// Pieces never cross the block: a request over the block before and this one.
	const std::vector<Piece> ps = walk(t.get(), (b - 1) * bs, static_cast<u32>(2 * bs));
	ASSERT_EQ(ps.size(), 2u) << describe(ps);
	EXPECT_EQ(ps[0].route, RC_ROUTE_DATA);
	EXPECT_EQ(ps[1].route, RC_ROUTE_LOST);
	EXPECT_EQ(ps[1].sectors, bs);

	// A 4 KiB write over the bad sector (routed LOST, so the glue hands it to rewrite): it
	// succeeds, merges with the salvaged data and revives the sector.
	const u64 w0 = bad & ~u64(7);
	ASSERT_EQ(map_io(t.get(), b * bs + w0, 8).route, RC_ROUTE_LOST);
	const auto data = bytes(4096, 0x6c);
	ASSERT_EQ(rewrite_one(t.get(), b * bs + w0, 8, data.data()), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_EQ(list_text(t.get()),
		  std::to_string(b) + " " + std::to_string(spare) + " remapped\n")
		<< "revived in place: its spare block is healthy";
	EXPECT_EQ(map_io(t.get(), b * bs + bad, 1).route, RC_ROUTE_SPARE);
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 3, 0, w0));
	EXPECT_TRUE(spare_sectors_are(rig, spare, w0, w0 + 8, 0x6c));
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 3, w0 + 8, bs));
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
	EXPECT_EQ(stat(t.get(), "spare_used"), 1u);
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, SalvageAtBlockSize, ::testing::Values(512u, 4096u, 65536u));

// A 4 KiB write into a 64 KiB salvaged block that touches no lost sector goes to the spare
// block like any write; one that touches a lost sector and leaves others lost clears only
// what it covers.
TEST(Salvage, WritesReviveOnlyWhatTheyCover)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 b = 9, bs = l.bs();
	Target t = started_with_bad_sectors(rig, b, 1, {3, 17, 18, 100});
	ASSERT_TRUE(t);
	ASSERT_GE(remap_block(t.get(), l, b), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 4u);
	EXPECT_EQ(map_io(t.get(), b * bs + 32, 8).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), b * bs + 16, 8).route, RC_ROUTE_LOST);
	const u64 s0 = seq(t.get());
	// 512 bytes over sector 17 only.
	const auto one = bytes(512, 0x11);
	ASSERT_EQ(rewrite_one(t.get(), b * bs + 17, 1, one.data()), 0);
	EXPECT_EQ(seq(t.get()), s0 + 1) << "committed";
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 3u);
	EXPECT_EQ(map_io(t.get(), b * bs + 17, 1).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), b * bs + 18, 1).route, RC_ROUTE_LOST);
	// A whole-block write makes it plainly remapped.
	const auto whole = bytes(l.block_size, 0x22);
	ASSERT_EQ(rewrite_one(t.get(), b * bs, static_cast<u32>(bs), whole.data()), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	u64 n = 9;
	ASSERT_GE(spare_of(t.get(), b, &n), 0);
	EXPECT_EQ(n, 0u);
	// Survives a reload.
	t.reset();
	t = rig.started();
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_EQ(map_io(t.get(), b * bs + 100, 1).route, RC_ROUTE_SPARE);
}

// A partial write to a block lost whole gives it a spare block: zeros plus the data, the rest
// recorded as lost sectors (it used to fail with -EIO, forever, for any write smaller than
// the block).
TEST(Salvage, PartialWriteToALostBlockKeepsTheRestLost)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 b = 12, bs = l.bs();
	Target t = rig.started();
	ASSERT_TRUE(t);
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + b * bs, l.data_offset + (b + 1) * bs});
	ASSERT_EQ(remap_block(t.get(), l, b), kLost);
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
	const auto data = bytes(4096, 0x3c);
	ASSERT_EQ(map_io(t.get(), b * bs + 8, 8).route, RC_ROUTE_LOST);
	ASSERT_EQ(rewrite_one(t.get(), b * bs + 8, 8, data.data()), 0);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), bs - 8);
	u64 n = 0;
	const long long spare = spare_of(t.get(), b, &n);
	ASSERT_GE(spare, 0);
	EXPECT_EQ(n, bs - 8);
	EXPECT_TRUE(spare_sectors_are(rig, spare, 8, 16, 0x3c));
	EXPECT_TRUE(spare_sectors_are(rig, spare, 0, 8, 0));
	EXPECT_EQ(map_io(t.get(), b * bs + 8, 8).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), b * bs + 0, 8).route, RC_ROUTE_LOST);
	EXPECT_EQ(map_io(t.get(), b * bs + 16, 1).route, RC_ROUTE_LOST);
	// Unremap would copy zeros over the data device as if they were data: refused.
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(b * bs)).rc, -kEINVAL);
}

// The data device's logical block size is the salvage granularity: at 4096, one bad 512-byte
// sector loses the 4 KiB logical block that holds it (the device cannot read less).
TEST(Salvage, GranularityIsTheDataLogicalBlockSize)
{
	Rig rig(layout_of(65536));
	rig.devs.data_logical_block = 4096;
	const Layout &l = rig.layout;
	const u64 b = 3, bs = l.bs();
	Target t = started_with_bad_sectors(rig, b, 7, {42}); // in logical block 40..47
	ASSERT_TRUE(t);
	int reads = 0;
	rig.disk.read_filter = [&](int dev, u64) {
		reads += dev == RB_DATA_DEV;
		return true;
	};
	const long long spare = remap_block(t.get(), l, b);
	ASSERT_GE(spare, 0);
	// The whole block, one probe elsewhere (an I/O error, not a medium error: does the device
	// still answer?), then its halves (8 logical blocks each) and the failing half's 8.
	EXPECT_EQ(reads, 1 + 1 + 2 + 8);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 8u);
	for (u64 k = 0; k < bs; k++)
		EXPECT_EQ(map_io(t.get(), b * bs + k, 1).route,
			  k >= 40 && k < 48 ? RC_ROUTE_LOST : RC_ROUTE_SPARE)
			<< k;
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 7, 0, 40));
	EXPECT_TRUE(spare_sectors_are(rig, spare, 40, 48, 0));
	EXPECT_TRUE(spare_sectors_hold(rig, spare, b, 7, 48, bs));
}

// A read that fails where it was routed (the glue's reread) salvages the block the same way,
// and the read itself still fails (it touched the bad sector).
TEST(Salvage, FailedReadSalvagesTheBlock)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 b = 20, bs = l.bs();
	Target t = started_with_bad_sectors(rig, b, 2, {64});
	ASSERT_TRUE(t);
	std::vector<unsigned char> buf(4096);
	EXPECT_NE(rc_target_reread(t.get(), b * bs + 64, 8, buf.data(), -61), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 1u);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(map_io(t.get(), b * bs + 56, 8).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), b * bs + 64, 8).route, RC_ROUTE_LOST);
	EXPECT_GE(spare_of(t.get(), b), 0);
}

// The lost sectors are committed: they survive re-create, and a crash right after.
TEST(Salvage, LostSectorsPersistAcrossRecreateAndCrash)
{
	Rig rig(layout_of(4096));
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	bad_sector(rig, 30, 1);
	bad_sector(rig, 30, 6);
	bad_sector(rig, 31, 0);
	ASSERT_EQ(msg(t.get(), "remap " + std::to_string(30 * l.bs()) + " 2").text,
		  "remapped=2 lost=0 already=0");
	const std::string before = list_text(t.get());
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 3u);
	t.reset();
	rig.disk.crash();
	t = rig.started();
	ASSERT_TRUE(t);
	EXPECT_EQ(list_text(t.get()), before);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 3u);
	for (u64 k = 0; k < 8; k++) {
		EXPECT_EQ(map_io(t.get(), 30 * l.bs() + k, 1).route,
			  k == 1 || k == 6 ? RC_ROUTE_LOST : RC_ROUTE_SPARE);
		EXPECT_EQ(map_io(t.get(), 31 * l.bs() + k, 1).route,
			  k == 0 ? RC_ROUTE_LOST : RC_ROUTE_SPARE);
	}
	// A revive is committed before the write completes: it survives a crash too.
	const auto data = bytes(512, 0x77);
	ASSERT_EQ(rewrite_one(t.get(), 30 * l.bs() + 6, 1, data.data()), 0);
	t.reset();
	rig.disk.crash();
	t = rig.started();
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 2u);
	EXPECT_EQ(map_io(t.get(), 30 * l.bs() + 6, 1).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), 30 * l.bs() + 1, 1).route, RC_ROUTE_LOST);
	EXPECT_EQ(rig.disk.peek(RB_SPARE_DEV,
				l.spare_byte(static_cast<u64>(spare_of(t.get(), 30))) + 6 * 512),
		  0x77);
}

// A version 1 area (what main wrote) loads with its mapping, and its first commit upgrades it
// to version 2, in both superblock slots.
TEST(Salvage, Version1ImageLoadsAndUpgrades)
{
	Rig rig(layout_of(4096));
	const Layout &l = rig.layout;
	remap::Geometry g;
	ASSERT_EQ(remap::error_text(remap::Geometry::create(l.data_offset, l.target_len(),
							    l.spare_offset, l.spare_len(),
							    l.block_size, &g)),
		  nullptr);
	auto version = [&](u32 slot, bool restamp_v1) {
		std::vector<unsigned char> b(l.block_size);
		const u64 sector = l.spare_sector(slot);
		EXPECT_EQ(rig.disk.ops()->read(rig.disk.ctx(), RB_SPARE_DEV, sector, b.data(),
					       l.block_size, 0),
			  0);
		remap::Superblock sb;
		if (remap::error_text(remap::decode_superblock(g, b.data(), &sb)))
			return 0u;
		const u32 was = sb.version;
		if (restamp_v1) {
			sb.version = 1;
			remap::encode_superblock(sb, b.data(), l.block_size);
			rig.disk.poke(RB_SPARE_DEV, sector * 512, b.data(), b.size());
		}
		return was;
	};
	Target t = rig.started();
	ASSERT_GE(remap_block(t.get(), l, 2), 0);
	rig.disk.fail_next_read_for_good();
	ASSERT_EQ(remap_block(t.get(), l, 3), kLost);
	const std::string mapping = list_text(t.get());
	t.reset();
	EXPECT_EQ(version(0, true), 2u);
	EXPECT_EQ(version(1, true), 2u);
	EXPECT_EQ(version(0, false), 1u);
	t = rig.started();
	ASSERT_TRUE(t);
	EXPECT_EQ(list_text(t.get()), mapping);
	EXPECT_EQ(version(0, false), 1u) << "loading writes nothing";
	bad_sector(rig, 4, 2);
	ASSERT_GE(remap_block(t.get(), l, 4), 0);
	EXPECT_EQ(version(0, false), 2u);
	EXPECT_EQ(version(1, false), 2u);
	t.reset();
	t = rig.started();
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 1u);
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
	EXPECT_EQ(stat(t.get(), "remapped"), 2u);
}

// `reprobe`: lost blocks and lost sectors are pending, as a drive's SMART 197. While they
// still do not read they stay lost; once they read, they move to a spare block with their
// data and the marks are cleared.
TEST(Salvage, ReprobeRescuesWhatReadsAgain)
{
	Rig rig(layout_of(4096));
	const Layout &l = rig.layout;
	for (u64 b : {7ull, 9ull, 11ull})
		rig.fill_data(b, 5);
	Target t = rig.started();
	ASSERT_TRUE(t);
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + 7 * l.bs(), l.data_offset + 8 * l.bs()});
	bad_sector(rig, 9, 4);
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + 11 * l.bs(), l.data_offset + 12 * l.bs()});
	ASSERT_EQ(remap_block(t.get(), l, 7), kLost);
	const long long s9 = remap_block(t.get(), l, 9);
	ASSERT_GE(s9, 0);
	ASSERT_EQ(remap_block(t.get(), l, 11), kLost);
	const u64 seq0 = seq(t.get());

	Reply r = msg(t.get(), "reprobe");
	EXPECT_EQ(r.rc, 1);
	EXPECT_EQ(r.text, "reprobed=3 rescued=0 still_lost=3");
	EXPECT_EQ(seq(t.get()), seq0) << "nothing changed, nothing committed";
	EXPECT_EQ(stat(t.get(), "reprobed"), 3u);
	EXPECT_EQ(stat(t.get(), "rescued"), 0u);

	// The disk reads again, except block 11.
	rig.disk.unreadable.resize(0);
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + 11 * l.bs(), l.data_offset + 12 * l.bs()});
	// A range that holds only block 9.
	r = msg(t.get(), "reprobe " + std::to_string(8 * l.bs()) + " 2");
	EXPECT_EQ(r.text, "reprobed=1 rescued=1 still_lost=0");
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_EQ(spare_of(t.get(), 9), s9) << "its lost sector was copied into its spare block";
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(s9), 9, 5));
	r = msg(t.get(), "reprobe");
	EXPECT_EQ(r.text, "reprobed=2 rescued=1 still_lost=1");
	const long long s7 = spare_of(t.get(), 7);
	ASSERT_GE(s7, 0);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(s7), 7, 5)) << "moved with its data";
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
	EXPECT_EQ(stat(t.get(), "remapped"), 2u);
	EXPECT_EQ(stat(t.get(), "reprobed"), 6u);
	EXPECT_EQ(stat(t.get(), "rescued"), 2u);
	EXPECT_EQ(map_io(t.get(), 7 * l.bs(), 8).route, RC_ROUTE_SPARE);
	EXPECT_EQ(map_io(t.get(), 11 * l.bs(), 8).route, RC_ROUTE_LOST);
	// Half of block 11 reads again: it is salvaged, the rest still lost.
	rig.disk.unreadable.resize(0);
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + 11 * l.bs() + 4, l.data_offset + 12 * l.bs()});
	r = msg(t.get(), "reprobe " + std::to_string(11 * l.bs() + 3));
	EXPECT_EQ(r.text, "reprobed=1 rescued=0 still_lost=1");
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 4u);
	// Persisted.
	const std::string mapping = list_text(t.get());
	t.reset();
	t = rig.started();
	EXPECT_EQ(list_text(t.get()), mapping);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 4u);
	// Nothing to do is no error.
	rig.disk.unreadable.resize(0);
	EXPECT_EQ(msg(t.get(), "reprobe 0").text, "reprobed=0 rescued=0 still_lost=0");
	EXPECT_EQ(msg(t.get(), "reprobe").text, "reprobed=1 rescued=1 still_lost=0");
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(spare_of(t.get(), 11)), 11, 5));
}

TEST(Salvage, ReprobeArgumentsAreChecked)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	EXPECT_EQ(msg(t.get(), "reprobe " + std::to_string(l.target_len())).rc, -kEINVAL);
	EXPECT_EQ(msg(t.get(), "reprobe 0 0").rc, -kEINVAL);
	EXPECT_EQ(msg(t.get(), "reprobe 0 " + std::to_string(l.data_blocks + 1)).rc, -kEINVAL);
	EXPECT_EQ(msg(t.get(), "reprobe 8 " + std::to_string(l.data_blocks)).rc, -kEINVAL);
	EXPECT_EQ(msg(t.get(), "reprobe 0 " + std::to_string(l.data_blocks)).text,
		  "reprobed=0 rescued=0 still_lost=0");
	EXPECT_EQ(msg(t.get(), "reprobe x").rc, -kEINVAL);
	EXPECT_EQ(msg(t.get(), "reprobe 1 2 3").rc, -kEINVAL);
	rc_target_suspend(t.get());
	EXPECT_EQ(msg(t.get(), "reprobe").rc, -kEBUSY);
}

// reprobe's reads of lost blocks that still fail run without the engine mutex: a slow bad
// block does not stall the messages that need it (a remap of another block) meanwhile.
TEST(Salvage, ReprobeReadsWithoutTheMutex)
{
	Rig rig(layout_of(4096));
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 lo = l.data_offset + 7 * l.bs(), hi = lo + l.bs();
	rig.disk.unreadable.push_back({RB_DATA_DEV, lo, hi});
	ASSERT_EQ(remap_block(t.get(), l, 7), kLost);
	std::mutex mu;
	std::condition_variable cv;
	bool in_read = false, release = false;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		if (dev == RB_DATA_DEV && s >= lo && s < hi) { // a slow bad block
			std::unique_lock<std::mutex> lock(mu);
			in_read = true;
			cv.notify_all();
			cv.wait_for(lock, std::chrono::seconds(20), [&] { return release; });
		}
		return 0;
	};
	auto reprobe = std::async(std::launch::async, [&] { return msg(t.get(), "reprobe"); });
	{
		std::unique_lock<std::mutex> lock(mu);
		ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return in_read; }));
	}
	auto other = std::async(std::launch::async, [&] { return remap_block(t.get(), l, 20); });
	const bool served = other.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
	EXPECT_TRUE(served) << "remap waited for reprobe's reads";
	{
		std::lock_guard<std::mutex> lock(mu);
		release = true;
	}
	cv.notify_all();
	EXPECT_GE(other.get(), 0);
	EXPECT_EQ(reprobe.get().text, "reprobed=1 rescued=0 still_lost=1");
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
}

// No lost sectors anywhere: the published table carries no set, so map() pays one compare.
TEST(Salvage, NoLostSectorsNoSet)
{
	Rig rig(layout_of(4096));
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_GE(remap_block(t.get(), l, 1), 0);
	bad_sector(rig, 2, 3);
	ASSERT_GE(remap_block(t.get(), l, 2), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 1u);
	const auto whole = bytes(l.block_size, 1);
	ASSERT_EQ(rewrite_one(t.get(), 2 * l.bs(), static_cast<u32>(l.bs()), whole.data()), 0);
	rb_rcu_read_lock();
	const auto *table = static_cast<const remap::LookupTable *>(io_view(t.get())->mapping);
	EXPECT_EQ(table->lost(), nullptr);
	rb_rcu_read_unlock();
}

// ---- the salvage remainder of issue 14: memory before the hold, bounded probes, honest
// log lines, reprobe racing a write ----

namespace {

// Reads of the data device shorter than a block: salvage's probes (every other read of a
// failed read or a remap is of a whole block).
struct ProbeCounter {
	explicit ProbeCounter(Rig &rig) : rig_(rig)
	{
		rig.disk.read_hook = [this](int dev, u64 s, unsigned flags) {
			if (dev == RB_DATA_DEV && rig_.disk.read_bytes < rig_.layout.block_size) {
				probes++;
				failfast += (flags & RB_IO_FAILFAST) != 0;
				for (const MemDisk::Range &r : rig_.disk.unreadable) {
					if (r.dev == dev && s < r.hi &&
					    s + rig_.disk.read_bytes / 512 > r.lo) {
						failing++;
						break;
					}
				}
			}
			return 0;
		};
	}
	~ProbeCounter() { rig_.disk.read_hook = nullptr; }
	Rig &rig_;
	int probes = 0, failfast = 0, failing = 0;
};

void bad_block(Rig &rig, u64 b)
{
	const Layout &l = rig.layout;
	rig.disk.unreadable.push_back(
		{RB_DATA_DEV, l.data_offset + b * l.bs(), l.data_offset + (b + 1) * l.bs()});
}

// The sectors of spare block `spare` that hold block b's pattern `salt` or zeros: every one
// of them, and zeros exactly in [lost_lo, lost_hi) ... the lost ones.
bool spare_is_salvage_of(Rig &rig, long long spare, u64 b, unsigned salt,
			 const std::vector<bool> &lost)
{
	for (u64 k = 0; k < rig.layout.bs(); k++) {
		if (lost[k] ? !spare_sectors_are(rig, spare, k, k + 1, 0)
			    : !spare_sectors_hold(rig, spare, b, salt, k, k + 1))
			return false;
	}
	return true;
}

// The lost sectors of block b, as map() routes them one by one.
std::vector<bool> lost_by_map(rc_target *t, const Layout &l, u64 b)
{
	std::vector<bool> lost(l.bs());
	for (u64 k = 0; k < l.bs(); k++)
		lost[k] = map_io(t, b * l.bs() + k, 1).route == RC_ROUTE_LOST;
	return lost;
}

} // namespace

// Every allocation a salvage needs is made before its block is held (the first drain): from
// there on every allocation fails, and a failed read, a remap message, a partial write into a
// lost block and a reprobe still salvage, record and rescue what they should.
TEST(SalvageMemory, NothingIsAllocatedOnceTheBlockIsHeld)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 bs = l.bs();
	for (u64 b : {20ull, 21ull})
		rig.fill_data(b, 4);
	Target t = rig.started();
	ASSERT_TRUE(t);
	bad_sector(rig, 20, 64);
	bad_sector(rig, 21, 3);
	bad_sector(rig, 21, 100);
	bad_block(rig, 22);
	int holds = 0;
	rig.disk.drain_hook = [&](const MemDisk::Drain &) {
		if (holds++ == 0)
			rb_user_fail_all_allocs(1);
	};
	auto op_done = [&] {
		rb_user_fail_all_allocs(0);
		const int h = holds;
		holds = 0;
		return h;
	};

	std::vector<unsigned char> buf(4096);
	EXPECT_NE(rc_target_reread(t.get(), 20 * bs + 64, 8, buf.data(), -61), 0);
	EXPECT_GT(op_done(), 0) << "the failed read held the block";
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 1u) << "salvaged under the hold without memory";

	EXPECT_GE(remap_block(t.get(), l, 21), 0);
	EXPECT_GT(op_done(), 0);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 3u);

	EXPECT_EQ(remap_block(t.get(), l, 22), kLost);
	op_done();
	const auto data = bytes(4096, 0x5a);
	EXPECT_EQ(rewrite_one(t.get(), 22 * bs + 8, 8, data.data()), 0);
	EXPECT_GT(op_done(), 0);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 3u + bs - 8);

	rig.disk.unreadable.clear();
	EXPECT_EQ(msg(t.get(), "reprobe").text, "reprobed=3 rescued=3 still_lost=0");
	EXPECT_GT(op_done(), 0);
	rig.disk.drain_hook = nullptr;
	EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(spare_of(t.get(), 20)), 20, 4));
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(spare_of(t.get(), 21)), 21, 4));
	const long long s22 = spare_of(t.get(), 22);
	ASSERT_GE(s22, 0);
	EXPECT_TRUE(spare_sectors_are(rig, s22, 8, 16, 0x5a)) << "the write, kept by the reprobe";
	EXPECT_EQ(metadata_state(t.get()), "ok");
	// And all of it was committed.
	const std::string mapping = list_text(t.get());
	t.reset();
	t = rig.started();
	EXPECT_EQ(list_text(t.get()), mapping);
}

// An allocation that fails, wherever it falls, falls before the hold: the salvage of a failed
// read either happens whole or leaves nothing held, nothing recorded and the data where it was.
TEST(SalvageMemory, AnAllocationFailureLeavesNothingHeldAndLosesNothing)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 b = 30, bs = l.bs();
	Target t = started_with_bad_sectors(rig, b, 6, {5});
	ASSERT_TRUE(t);
	const u64 seq0 = seq(t.get());
	std::vector<unsigned char> buf(l.block_size);
	bool salvaged = false;
	for (long nth = 0; nth < 400 && !salvaged; nth++) {
		SCOPED_TRACE(nth);
		int holds = 0;
		rig.disk.drain_hook = [&](const MemDisk::Drain &) { holds++; };
		rb_user_fail_alloc_nth(nth);
		const int r =
			rc_target_reread(t.get(), b * bs, static_cast<u32>(bs), buf.data(), -61);
		rb_user_fail_alloc_nth(-1);
		rig.disk.drain_hook = nullptr;
		EXPECT_NE(r, 0) << "the read touches the bad sector";
		salvaged = stat(t.get(), "lost_sectors") == 1;
		if (salvaged)
			break;
		EXPECT_EQ(holds, 0) << "an allocation failed after the block was held";
		EXPECT_EQ(list_text(t.get()), "");
		EXPECT_EQ(seq(t.get()), seq0);
		EXPECT_EQ(map_io(t.get(), b * bs, static_cast<u32>(bs)).route, RC_ROUTE_DATA);
		EXPECT_TRUE(rig.data_holds(b, 6));
	}
	ASSERT_TRUE(salvaged) << "no allocation budget was enough";
	const long long spare = spare_of(t.get(), b);
	ASSERT_GE(spare, 0);
	std::vector<bool> lost(bs);
	lost[5] = true;
	EXPECT_TRUE(spare_is_salvage_of(rig, spare, b, 6, lost));
}

// Salvage bisects: one bad 512-byte sector in a 64 KiB block (128 sectors) costs two reads
// per halving down to 4 KiB (4 halvings) and then the 8 sectors of that 4 KiB: 16 reads, 5 of
// them failing (one per sector was 128, all but one working); in a 4 KiB block its 8 sectors,
// one failing. The sector is isolated exactly; probes are failfast.
TEST(SalvageProbe, OneBadSectorCostsFewFailingReads)
{
	for (u32 size : {65536u, 4096u}) {
		SCOPED_TRACE(size);
		Rig rig(layout_of(size));
		const Layout &l = rig.layout;
		const u64 bs = l.bs();
		int halvings = 0;
		for (u64 n = bs; n > 8; n /= 2)
			halvings++;
		u64 b = 10;
		for (u64 bad : {u64(0), bs / 2 + 1, bs - 1}) {
			SCOPED_TRACE(bad);
			b++;
			rig.fill_data(b, 8);
			Target t = rig.started();
			ASSERT_TRUE(t);
			bad_sector(rig, b, bad);
			ProbeCounter probes(rig);
			const long long spare = remap_block(t.get(), l, b);
			ASSERT_GE(spare, 0);
			EXPECT_EQ(probes.probes, 2 * halvings + 8);
			EXPECT_EQ(probes.failing, halvings + 1);
			EXPECT_EQ(probes.failfast, probes.probes);
			std::vector<bool> lost(bs);
			lost[bad] = true;
			EXPECT_EQ(lost_by_map(t.get(), l, b), lost);
			EXPECT_TRUE(spare_is_salvage_of(rig, spare, b, 8, lost));
		}
	}
}

// A wholly bad 64 KiB block costs 24 failing probes, not 128, and is lost whole (a 4 KiB one 8,
// one per 512-byte unit, as before bisection). Bad sectors
// spread so far that 24 failing probes cannot isolate them all: what was not read is lost
// (pending), what was read is on the spare block, and a reprobe once the disk reads again
// rescues it all. Four spread bad sectors are isolated.
TEST(SalvageProbe, FailingProbesPerBlockAreBounded)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 bs = l.bs();
	rig.fill_data(40, 1);
	rig.fill_data(41, 2);
	Target t = rig.started();
	ASSERT_TRUE(t);
	bad_block(rig, 40);
	{
		ProbeCounter probes(rig);
		EXPECT_EQ(remap_block(t.get(), l, 40), kLost);
		EXPECT_EQ(probes.probes, 24);
		EXPECT_EQ(probes.failing, 24);
	}
	const std::vector<u64> bad = {1, 17, 33, 49, 65, 81, 97, 113};
	for (u64 k : bad)
		bad_sector(rig, 41, k);
	ProbeCounter probes(rig);
	const long long spare = remap_block(t.get(), l, 41);
	ASSERT_GE(spare, 0);
	EXPECT_EQ(probes.failing, 24);
	EXPECT_LE(probes.probes, 50);
	const std::vector<bool> lost = lost_by_map(t.get(), l, 41);
	u64 nlost = 0;
	for (u64 k = 0; k < bs; k++)
		nlost += lost[k];
	for (u64 k : bad)
		EXPECT_TRUE(lost[k]) << k;
	EXPECT_GT(nlost, bad.size()) << "the bound ran out before every bad sector was isolated";
	EXPECT_LT(nlost, bs / 2) << "what the probes read is not lost";
	EXPECT_EQ(stat(t.get(), "lost_sectors"), nlost);
	EXPECT_TRUE(spare_is_salvage_of(rig, spare, 41, 2, lost));
	rig.disk.read_hook = nullptr;
	rig.disk.unreadable.clear();
	EXPECT_EQ(msg(t.get(), "reprobe " + std::to_string(41 * bs)).text,
		  "reprobed=1 rescued=1 still_lost=0");
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(spare), 41, 2));

	// A wholly bad 4 KiB block (8 units) costs no more failing probes than one per unit.
	{
		Rig small(layout_of(4096));
		Target ts = small.started();
		ASSERT_TRUE(ts);
		bad_block(small, 7);
		ProbeCounter p8(small);
		EXPECT_EQ(remap_block(ts.get(), small.layout, 7), kLost);
		EXPECT_EQ(p8.failing, 8);
		EXPECT_EQ(p8.probes, 8);
	}

	// Four spread bad sectors: 14 failing probes, each isolated.
	rig.fill_data(42, 3);
	const std::vector<u64> four = {3, 17, 18, 100};
	for (u64 k : four)
		bad_sector(rig, 42, k);
	ProbeCounter probes4(rig);
	ASSERT_GE(remap_block(t.get(), l, 42), 0);
	EXPECT_EQ(probes4.failing, 14);
	std::vector<bool> want(bs);
	for (u64 k : four)
		want[k] = true;
	EXPECT_EQ(lost_by_map(t.get(), l, 42), want);
}

// reread's log says what became of each block: a salvaged block is salvaged with the count
// of its lost sectors (it used to be counted as a weak block moved), one that does not read
// at all is lost whole, a weak one moved.
TEST(SalvageLog, RereadSaysSalvagedLostWholeOrMoved)
{
	Rig rig(layout_of(65536));
	const Layout &l = rig.layout;
	const u64 bs = l.bs();
	for (u64 b : {50ull, 51ull, 52ull})
		rig.fill_data(b, 9);
	Target t = rig.started();
	ASSERT_TRUE(t);
	bad_sector(rig, 50, 7);
	bad_block(rig, 51);
	std::vector<unsigned char> buf(l.block_size);
	std::vector<std::string> lines;
	{
		LogCapture log;
		EXPECT_NE(rc_target_reread(t.get(), 50 * bs, static_cast<u32>(bs), buf.data(), -61),
			  0);
		lines = log.lines();
	}
	const long long s50 = spare_of(t.get(), 50);
	ASSERT_GE(s50, 0);
	EXPECT_TRUE(LogCapture::has(lines,
				    "warning: block 50 salvaged to spare block " +
					    std::to_string(s50) + ": 1 of 128 sectors lost"))
		<< join_lines(lines);
	EXPECT_TRUE(LogCapture::has(lines,
				    "warning: read error at sector " + std::to_string(50 * bs) +
					    ": 1 block(s) salvaged (1 of 128 sectors lost)"))
		<< join_lines(lines);
	{
		LogCapture log;
		EXPECT_NE(rc_target_reread(t.get(), 51 * bs, static_cast<u32>(bs), buf.data(), -61),
			  0);
		lines = log.lines();
	}
	EXPECT_TRUE(LogCapture::has(lines, "warning: block 51 does not read: lost whole"))
		<< join_lines(lines);
	EXPECT_TRUE(LogCapture::has(lines,
				    "warning: read error at sector " + std::to_string(51 * bs) +
					    ": 1 block(s) lost whole"))
		<< join_lines(lines);
	// Weak: fails once, then reads.
	int fails = 1;
	const u64 s52 = l.data_offset + 52 * bs;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		return dev == RB_DATA_DEV && s == s52 && fails-- > 0 ? -kEIO : 0;
	};
	{
		LogCapture log;
		EXPECT_EQ(
			rc_target_reread(t.get(), 52 * bs, static_cast<u32>(bs), buf.data(), -kEIO),
			0);
		lines = log.lines();
	}
	rig.disk.read_hook = nullptr;
	EXPECT_TRUE(LogCapture::has(lines,
				    "warning: read error at sector " + std::to_string(52 * bs) +
					    ": 1 weak block(s) moved"))
		<< join_lines(lines);
}

// A block written whole between reprobe's probe and its hold is no longer lost: it counts as
// rescued (nothing of it is lost, which is what rescued says), not as still_lost, the sum
// reprobed = rescued + still_lost holds, and the write's data stays.
TEST(SalvageReprobe, ABlockWrittenBetweenProbeAndHoldIsNotStillLost)
{
	for (bool whole_lost : {true, false}) {
		SCOPED_TRACE(whole_lost);
		Rig rig(layout_of(4096));
		const Layout &l = rig.layout;
		const u64 b = 60, bs = l.bs();
		rig.fill_data(b, 3);
		Target t = rig.started();
		ASSERT_TRUE(t);
		if (whole_lost)
			bad_block(rig, b);
		else
			bad_sector(rig, b, 2);
		ASSERT_EQ(remap_block(t.get(), l, b) == kLost, whole_lost);
		rig.disk.unreadable.clear();
		const auto data = bytes(l.block_size, 0x7e);
		const u64 at = l.data_offset + b * bs;
		bool written = false;
		rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
			if (dev == RB_DATA_DEV && s >= at && s < at + bs && !written) {
				written =
					true; // reprobe's probe: the block is written before the hold
				EXPECT_EQ(rewrite_one(t.get(), b * bs, static_cast<u32>(bs),
						      data.data()),
					  0);
			}
			return 0;
		};
		EXPECT_EQ(msg(t.get(), "reprobe").text, "reprobed=1 rescued=1 still_lost=0");
		rig.disk.read_hook = nullptr;
		EXPECT_TRUE(written);
		EXPECT_EQ(stat(t.get(), "lost"), 0u);
		EXPECT_EQ(stat(t.get(), "lost_sectors"), 0u);
		EXPECT_EQ(stat(t.get(), "reprobed"), 1u);
		EXPECT_EQ(stat(t.get(), "rescued"), 1u);
		const long long spare = spare_of(t.get(), b);
		ASSERT_GE(spare, 0);
		EXPECT_TRUE(spare_sectors_are(rig, spare, 0, bs, 0x7e))
			<< "the write's data, not the old";
	}
}
