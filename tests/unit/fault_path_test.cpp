// The failed-I/O policy through the C API the glue uses: the error taxonomy's verdicts and
// counters, outages told from bad blocks, the retry count, rollback of failed moves with their
// retirements, the spare-device failure state, bounded holds and drains, and status, list and
// messages served while a slow error is handled.
#include <errno.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "engine_rig.h"
#include "fault_policy.h"

namespace {

constexpr int kENODATA = 61, kENOLINK = 67, kETIMEDOUT = 110, kEROFS = 30;

static_assert(remap::kEAGAIN == EAGAIN && remap::kENODEV == ENODEV && remap::kEBADE == EBADE &&
		      remap::kETIME == ETIME && remap::kENOLINK == ENOLINK &&
		      remap::kEREMCHG == EREMCHG && remap::kEILSEQ == EILSEQ &&
		      remap::kEOPNOTSUPP == EOPNOTSUPP && remap::kETOOMANYREFS == ETOOMANYREFS &&
		      remap::kETIMEDOUT == ETIMEDOUT && remap::kEREMOTEIO == EREMOTEIO &&
		      kENODATA == ENODATA && kEROFS == EROFS,
	      "Linux errno values");

rc_verdict verdict(rc_target *t, int error, unsigned flags, u64 sector = 0, u32 sectors = 8)
{
	const rc_failed_io f{sector, sectors, error, flags};
	return rc_target_failed_io(t, &f);
}

// Counts reads of one device sector (the start of a block), and how many were failfast.
struct ReadCounter {
	int reads = 0, failfast = 0;
};

std::vector<unsigned char> block_pattern(const Layout &l, u64 block, unsigned salt)
{
	std::vector<unsigned char> b(l.block_size);
	for (u64 i = 0; i < b.size(); i++)
		b[i] = pattern(block, i, salt);
	return b;
}

} // namespace

// ---- the taxonomy ----

struct TaxonomyRow {
	int error;
	const char *cls; // medium, maybe, path, nospc, notsupp
};

const TaxonomyRow kRows[] = {
	{-ENODATA, "medium"},     {-EIO, "maybe"},      {-EREMOTEIO, "maybe"},
	{-EILSEQ, "maybe"},       {-EPROTO, "maybe"},   {-ENOLINK, "path"},
	{-ETIMEDOUT, "path"},     {-ENODEV, "path"},    {-EAGAIN, "path"},
	{-ENOMEM, "path"},        {-EBUSY, "path"},     {-EBADE, "path"},
	{-EREMCHG, "path"},       {-ETIME, "path"},     {-ENOSPC, "nospc"},
	{-EOPNOTSUPP, "notsupp"}, {-EINVAL, "notsupp"}, {-ETOOMANYREFS, "notsupp"},
	{-EOVERFLOW, "notsupp"},
};

TEST(FaultPath, TaxonomyTableEveryErrnoTimesReadWriteReadahead)
{
	Rig rig;
	Target t = rig.started();
	ASSERT_TRUE(t);
	for (const TaxonomyRow &row : kRows) {
		for (unsigned flags :
		     {0u, unsigned(RC_FAILED_WRITE), unsigned(RC_FAILED_READAHEAD)}) {
			SCOPED_TRACE(std::string("errno ") + std::to_string(row.error) + " flags " +
				     std::to_string(flags));
			const auto before = stats(t.get());
			const rc_verdict v = verdict(t.get(), row.error, flags);
			auto after = stats(t.get());
			auto delta = [&](const char *k) {
				return std::stoll(after[k]) - std::stoll(before.at(k));
			};
			const std::string cls = row.cls;
			const bool ra = flags & RC_FAILED_READAHEAD;
			const bool redo = !ra && (cls == "medium" || cls == "maybe");
			EXPECT_EQ(v, redo ? RC_VERDICT_REDO : RC_VERDICT_PASS);
			EXPECT_EQ(delta("read_errors"), (flags & RC_FAILED_WRITE) ? 0 : 1);
			EXPECT_EQ(delta("write_errors"), (flags & RC_FAILED_WRITE) ? 1 : 0);
			EXPECT_EQ(delta("readahead_errors"), ra ? 1 : 0);
			EXPECT_EQ(delta("medium_errors"), !ra && cls == "medium" ? 1 : 0);
			EXPECT_EQ(delta("transient_errors"), !ra && cls == "path" ? 1 : 0);
			EXPECT_EQ(delta("nospc_errors"), !ra && cls == "nospc" ? 1 : 0);
			EXPECT_EQ(delta("outages"), 0);
		}
	}
	for (const TaxonomyRow &row : kRows) {
		const remap::ErrorClass c = remap::classify_error(row.error);
		const std::string cls = row.cls;
		EXPECT_EQ(c,
			  cls == "medium"          ? remap::ErrorClass::Medium
				  : cls == "maybe" ? remap::ErrorClass::MaybeMedium
				  : cls == "path"  ? remap::ErrorClass::Path
				  : cls == "nospc" ? remap::ErrorClass::NoSpace
						   : remap::ErrorClass::NotSupported)
			<< row.error;
	}
	// Nothing was retried, moved or marked by a verdict.
	EXPECT_EQ(list_text(t.get()), "");
}

TEST(FaultPath, NothingIsRedoneWithoutAutoRemapReadOnlyOrFailedState)
{
	{ // no_auto_remap
		Rig rig;
		rig.table.auto_remap = 0;
		Target t = rig.started();
		EXPECT_EQ(verdict(t.get(), -ENODATA, 0), RC_VERDICT_PASS);
		EXPECT_EQ(verdict(t.get(), -EIO, RC_FAILED_WRITE), RC_VERDICT_PASS);
		EXPECT_EQ(stat(t.get(), "medium_errors"), 1u) << "still counted";
	}
	{ // a read-only table
		Rig rig;
		Target t = rig.started();
		rig.table.read_only = 1;
		Target ro = rig.create();
		EXPECT_EQ(verdict(ro.get(), -ENODATA, 0), RC_VERDICT_PASS);
		EXPECT_EQ(verdict(ro.get(), -EIO, RC_FAILED_WRITE), RC_VERDICT_PASS);
		EXPECT_EQ(rc_target_auto_remap(ro.get()), 0);
	}
	{ // metadata failed
		Rig rig;
		Target t = rig.started();
		rig.disk.write_filter = [&](const MemDisk::Write &w) {
			return !rig.layout.is_superblock(w);
		};
		EXPECT_LT(msg(t.get(), "remap 0").rc, 0);
		rig.disk.write_filter = nullptr;
		ASSERT_EQ(metadata_state(t.get()), "failed");
		EXPECT_EQ(verdict(t.get(), -ENODATA, 0), RC_VERDICT_PASS);
	}
}

// ---- ENOSPC and path errors never remap a write ----

TEST(FaultPath, NospcNeverReachesRewriteAndARetryFailingWithItRemapsNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	// The verdict: an out-of-space write passes through, counted.
	EXPECT_EQ(verdict(t.get(), -ENOSPC, RC_FAILED_WRITE, 30 * l.bs(), 8), RC_VERDICT_PASS);
	EXPECT_EQ(stat(t.get(), "nospc_errors"), 1u);
	// Should one reach rewrite anyway (the retry in place runs out of space), it fails as it
	// did: nothing remapped, no spare block burnt.
	const u64 free0 = stat(t.get(), "spare_free"), seq0 = seq(t.get());
	std::vector<unsigned char> data(l.block_size, 7);
	for (int error : {-ENOSPC, -ENOLINK, -ETIMEDOUT, -ENODEV, -EOPNOTSUPP}) {
		rig.disk.write_hook = [&](const MemDisk::Write &w) {
			return w.dev == RB_DATA_DEV ? error : 0;
		};
		EXPECT_EQ(rewrite_one(t.get(), 30 * l.bs(), static_cast<u32>(l.bs()), data.data()),
			  error);
	}
	rig.disk.write_hook = nullptr;
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(stat(t.get(), "spare_free"), free0);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 0u);
}

TEST(FaultPath, FailedWriteWhileTheDataDeviceDoesNotAnswerIsNotRemapped)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 free0 = stat(t.get(), "spare_free"), seq0 = seq(t.get());
	// The data device is gone: writes fail with -EIO, and so do reads (the probe).
	rig.disk.write_hook = [](const MemDisk::Write &w) {
		return w.dev == RB_DATA_DEV ? -EIO : 0;
	};
	rig.disk.read_hook = [](int dev, u64, unsigned) { return dev == RB_DATA_DEV ? -EIO : 0; };
	std::vector<unsigned char> data(l.block_size, 7);
	EXPECT_EQ(rewrite_one(t.get(), 30 * l.bs(), static_cast<u32>(l.bs()), data.data()), -EIO);
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(stat(t.get(), "spare_free"), free0);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(stat(t.get(), "outages"), 1u);
	// The same write failing on a device that answers (one bad block) moves.
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(rewrite_one(t.get(), 30 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	rig.disk.write_hook = nullptr;
	EXPECT_EQ(stat(t.get(), "remapped"), 1u);
}

// A failed write's retry in place is failfast (REQ_FAILFAST_DEV in the glue: the device
// reports a failure at once instead of retrying it itself, its seconds on a real disk), with
// the write's FUA kept, on the data device and on a remapped block's spare block alike. The
// moves that follow are not retries: their writes are plain.
TEST(FaultPath, WriteRetriesInPlaceAreFailfast)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const std::vector<unsigned char> data(l.block_size, 0x4d);
	std::vector<MemDisk::Write> seen; // every write, with its flags
	int fail_at = -1;                 // the data block whose data-device writes fail
	rig.disk.write_hook = [&](const MemDisk::Write &w) {
		seen.push_back({w.dev, w.sector, {}, w.flags});
		return w.dev == RB_DATA_DEV && fail_at >= 0 &&
				w.sector == l.data_offset + u64(fail_at) * l.bs()
			? -EIO
			: 0;
	};
	// A retry that works: one write, failfast, FUA kept.
	const rc_extent fua{40 * l.bs(), static_cast<u32>(l.bs()), RB_IO_FUA, data.data()};
	ASSERT_EQ(rc_target_rewrite(t.get(), &fua, 1), 0);
	ASSERT_EQ(seen.size(), 1u);
	EXPECT_EQ(seen[0].dev, RB_DATA_DEV);
	EXPECT_EQ(seen[0].flags, unsigned(RB_IO_FUA | RB_IO_FAILFAST));
	// A retry that fails: the block moves; the retry was failfast, the move's writes not.
	seen.clear();
	fail_at = 41;
	ASSERT_EQ(rewrite_one(t.get(), 41 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	ASSERT_FALSE(seen.empty());
	EXPECT_EQ(seen[0].dev, RB_DATA_DEV);
	EXPECT_EQ(seen[0].flags, unsigned(RB_IO_FAILFAST));
	for (size_t i = 1; i < seen.size(); i++)
		EXPECT_EQ(seen[i].flags & RB_IO_FAILFAST, 0u) << "write " << i << " is not a retry";
	const long long spare = remap_block(t.get(), l, 41);
	ASSERT_GE(spare, 0);
	// The retry of a write to a remapped block goes to its spare block, failfast too.
	seen.clear();
	ASSERT_EQ(rewrite_one(t.get(), 41 * l.bs(), 8, data.data()), 0);
	ASSERT_EQ(seen.size(), 1u);
	EXPECT_EQ(seen[0].dev, RB_SPARE_DEV);
	EXPECT_EQ(seen[0].sector, l.spare_sector(static_cast<u64>(spare)));
	EXPECT_EQ(seen[0].flags, unsigned(RB_IO_FAILFAST));
	rig.disk.write_hook = nullptr;
}

// Finding 14: the retry in place needs no memory; a move allocates everything before it holds
// the block (nothing after the hold may allocate: its writes could be what reclaim waits for).
TEST(FaultPath, RetryInPlaceNeedsNoMemoryAndAMoveAllocatesBeforeItHolds)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(41, 3);
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<unsigned char> data(l.block_size, 0x3c);
	rb_user_fail_all_allocs(1);
	const int r = rewrite_one(t.get(), 40 * l.bs(), static_cast<u32>(l.bs()), data.data());
	rb_user_fail_all_allocs(0);
	EXPECT_EQ(r, 0) << "a write whose retry works needs no memory";

	// Moves: from the hold (the first drain) on, every allocation fails; the move must not
	// notice. A write (block 40), a weak block read (41) and a remap message (42).
	const u64 bad = l.data_offset + 40 * l.bs();
	rig.disk.write_hook = [&](const MemDisk::Write &w) {
		return w.dev == RB_DATA_DEV && w.sector == bad ? -EIO : 0;
	};
	rig.disk.drain_hook = [](const MemDisk::Drain &) { rb_user_fail_all_allocs(1); };
	EXPECT_EQ(rewrite_one(t.get(), 40 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	rb_user_fail_all_allocs(0);
	rig.disk.write_hook = nullptr;
	int first_reads = 0;
	const u64 weak = l.data_offset + 41 * l.bs();
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		return dev == RB_DATA_DEV && s == weak && first_reads++ < 1 ? -EIO : 0;
	};
	std::vector<unsigned char> buf(l.block_size);
	EXPECT_EQ(
		rc_target_reread(t.get(), 41 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -EIO),
		0);
	rb_user_fail_all_allocs(0);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(buf, block_pattern(l, 41, 3));
	EXPECT_GE(remap_block(t.get(), l, 42), 0);
	rb_user_fail_all_allocs(0);
	rig.disk.drain_hook = nullptr;
	Mapping m = list_all(t.get());
	EXPECT_EQ(m.size(), 3u);
	EXPECT_EQ(m.count(40) + m.count(41) + m.count(42), 3u);
	EXPECT_EQ(metadata_state(t.get()), "ok");
}

// ---- reads: outage or bad block ----

// The review's TransientDataDeviceOutageMarksReadableBlocksLostForever, flipped.
TEST(FaultPath, DataDeviceOutageMarksNothingAndCountsAnOutage)
{
	Rig rig;
	const Layout &l = rig.layout;
	for (u64 b = 10; b < 18; b++)
		rig.fill_data(b, 2);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 seq0 = seq(t.get());
	std::vector<unsigned char> buf(8 * l.block_size);
	for (int error : {-EIO, -ENOLINK, -ETIMEDOUT}) {
		SCOPED_TRACE(error);
		rig.disk.read_hook = [&](int dev, u64, unsigned) {
			return dev == RB_DATA_DEV ? error : 0;
		};
		EXPECT_NE(rc_target_reread(t.get(), 10 * l.bs(), static_cast<u32>(8 * l.bs()),
					   buf.data(), -EIO),
			  0);
		rig.disk.read_hook = nullptr;
		EXPECT_EQ(stat(t.get(), "lost"), 0u);
		EXPECT_EQ(list_text(t.get()), "");
		EXPECT_EQ(seq(t.get()), seq0);
	}
	EXPECT_EQ(stat(t.get(), "outages"), 3u);
	// The device is back: the same read works and returns the data.
	ASSERT_EQ(rc_target_reread(t.get(), 10 * l.bs(), static_cast<u32>(8 * l.bs()), buf.data(),
				   -EIO),
		  0);
	for (u64 i = 0; i < buf.size(); i++)
		ASSERT_EQ(buf[i], pattern(10 + i / l.block_size, i % l.block_size, 2)) << i;
	EXPECT_EQ(map_io(t.get(), 10 * l.bs(), 8).route, RC_ROUTE_DATA);
}

TEST(FaultPath, MediumErrorOnOneBlockMarksItLostWithoutAProbe)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 bad = l.data_offset + 12 * l.bs();
	int other_reads = 0;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		if (dev != RB_DATA_DEV)
			return 0;
		if (s >= bad && s < bad + l.bs()) // unreadable at any size: salvage finds nothing
			return -ENODATA;
		other_reads++;
		return 0;
	};
	std::vector<unsigned char> buf(l.block_size);
	EXPECT_NE(rc_target_reread(t.get(), 12 * l.bs(), static_cast<u32>(l.bs()), buf.data(),
				   -ENODATA),
		  0);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(list_text(t.get()), "12 - lost\n");
	EXPECT_EQ(other_reads, 0) << "a medium error needs no probe";
	EXPECT_EQ(stat(t.get(), "outages"), 0u);
	t.reset();
	Target again = rig.create();
	EXPECT_EQ(list_text(again.get()), "12 - lost\n") << "persisted";
}

TEST(FaultPath, IoErrorConfinedToOneBlockMarksItLostAfterAProbeElsewhere)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(20, 1);
	rig.fill_data(22, 1);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 bad = l.data_offset + 21 * l.bs();
	std::set<u64> probed;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		if (dev != RB_DATA_DEV)
			return 0;
		const u64 b = (s - l.data_offset) / l.bs();
		if (b < 20 || b > 22)
			probed.insert(b);
		return s >= bad && s < bad + l.bs() ? -EIO : 0; // unreadable at any size
	};
	std::vector<unsigned char> buf(3 * l.block_size);
	EXPECT_NE(rc_target_reread(t.get(), 20 * l.bs(), static_cast<u32>(3 * l.bs()), buf.data(),
				   -EIO),
		  0);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(list_text(t.get()), "21 - lost\n");
	ASSERT_EQ(probed.size(), 1u) << "one probe outside the failing range answered";
	EXPECT_EQ(*probed.begin(), 20u + l.data_blocks / 2) << "half the device away";
	EXPECT_EQ(stat(t.get(), "outages"), 0u);
	EXPECT_EQ(stat(t.get(), "lost"), 1u);
}

// A device whose upper part fails (the probe half the device away fails too) still answers
// at its start: the failing block is a bad block, not an outage.
TEST(FaultPath, SecondProbeAtTheStartOfTheDeviceTellsABadRegionFromAnOutage)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	std::vector<u64> probed;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		if (dev != RB_DATA_DEV)
			return 0;
		const u64 b = (s - l.data_offset) / l.bs();
		if (b != 14)
			probed.push_back(b);
		return b >= 14 ? -EIO : 0;
	};
	std::vector<unsigned char> buf(l.block_size);
	EXPECT_NE(
		rc_target_reread(t.get(), 14 * l.bs(), static_cast<u32>(l.bs()), buf.data(), -EIO),
		0);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(probed, (std::vector<u64>{14 + l.data_blocks / 2, 0}));
	EXPECT_EQ(list_text(t.get()), "14 - lost\n");
	EXPECT_EQ(stat(t.get(), "outages"), 0u);
}

// The review's ReadsPerUnreadableBlock, flipped: 1 + read_retries reads in all, counting the
// failed bio (which the glue read before calling reread), every retry failfast.
TEST(FaultPath, FailingBlockIsReadOnePlusReadRetriesTimesInAll)
{
	for (u32 retries : {1u, 2u, 5u}) {
		SCOPED_TRACE(retries);
		Rig rig;
		const Layout &l = rig.layout;
		rig.table.read_retries = retries;
		Target t = rig.started();
		ASSERT_TRUE(t);
		const u64 lo = l.data_offset + 7 * l.bs();
		ReadCounter c;
		// Unreadable at any size; only whole-block reads count (salvage then reads the
		// block's logical blocks once each, failfast, to find what still reads).
		rig.disk.read_hook = [&](int dev, u64 s, unsigned flags) {
			if (dev == RB_DATA_DEV && s >= lo && s < lo + l.bs()) {
				if (rig.disk.read_bytes == l.block_size) {
					c.reads++;
					c.failfast += (flags & RB_IO_FAILFAST) != 0;
				}
				return -EIO;
			}
			return 0;
		};
		std::vector<unsigned char> buf(l.block_size);
		EXPECT_NE(rc_target_reread(t.get(), 7 * l.bs(), static_cast<u32>(l.bs()),
					   buf.data(), -EIO),
			  0);
		rig.disk.read_hook = nullptr;
		EXPECT_EQ(1 + c.reads, static_cast<int>(1 + retries));
		EXPECT_EQ(c.failfast, c.reads);
		EXPECT_EQ(list_text(t.get()), "7 - lost\n");
	}
	// read_retries 0: the read fails as it did, nothing is read again or marked.
	Rig rig;
	rig.table.read_retries = 0;
	Target t = rig.started();
	int reads = 0;
	rig.disk.read_hook = [&](int, u64, unsigned) {
		reads++;
		return -EIO;
	};
	std::vector<unsigned char> buf(rig.layout.block_size);
	EXPECT_EQ(rc_target_reread(t.get(), 7 * rig.layout.bs(), static_cast<u32>(rig.layout.bs()),
				   buf.data(), -EIO),
		  -EIO);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(reads, 0);
	EXPECT_EQ(list_text(t.get()), "");
}

TEST(FaultPath, WeakBlockMovesWithItsDataAndAHealthyNeighbourStays)
{
	Rig rig;
	const Layout &l = rig.layout;
	rig.fill_data(30, 4);
	rig.fill_data(31, 4);
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 weak = l.data_offset + 31 * l.bs();
	int weak_reads = 0;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		return dev == RB_DATA_DEV && s == weak && weak_reads++ == 0 ? -EIO : 0;
	};
	std::vector<unsigned char> buf(2 * l.block_size);
	ASSERT_EQ(rc_target_reread(t.get(), 30 * l.bs(), static_cast<u32>(2 * l.bs()), buf.data(),
				   -EIO),
		  0);
	rig.disk.read_hook = nullptr;
	for (u64 i = 0; i < buf.size(); i++)
		ASSERT_EQ(buf[i], pattern(30 + i / l.block_size, i % l.block_size, 4)) << i;
	Mapping m = list_all(t.get());
	ASSERT_EQ(m.size(), 1u);
	ASSERT_EQ(m.count(31), 1u);
	EXPECT_TRUE(rig.spare_holds(static_cast<u64>(m[31]), 31, 4));
	EXPECT_EQ(stat(t.get(), "auto_remaps"), 1u);
}

// The review's RereadPastTheEndCommitsEntriesTheLoaderRefuses, flipped.
TEST(FaultPath, RereadOutsideTheDataRangeIsRefusedAndMarksNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 seq0 = seq(t.get());
	std::vector<unsigned char> buf(16 * l.block_size);
	const u64 end = l.target_len();
	int reads = 0;
	rig.disk.read_hook = [&](int, u64, unsigned) {
		reads++;
		return -EIO;
	};
	EXPECT_EQ(rc_target_reread(t.get(), end - l.bs(), static_cast<u32>(8 * l.bs()), buf.data(),
				   -EIO),
		  -kEINVAL);
	EXPECT_EQ(rc_target_reread(t.get(), end, 1, buf.data(), -EIO), -kEINVAL);
	EXPECT_EQ(rc_target_reread(t.get(), ~0ull - 3, 8, buf.data(), -EIO), -kEINVAL);
	EXPECT_EQ(rc_target_reread(t.get(), 0, 0, buf.data(), -EIO), -kEINVAL);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(reads, 0);
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(seq(t.get()), seq0);
	ASSERT_EQ(msg(t.get(), "remap 0").rc, 1);
	t.reset();
	Target again = rig.started();
	EXPECT_EQ(metadata_state(again.get()), "ok");
}

// ---- failed moves: retirements committed or undone ----

TEST(FaultPath, FailedMoveRollsBackItsRetirementsAndASuccessfulOneCommitsThem)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const long long s0 = remap_block(t.get(), l, 5);
	ASSERT_GE(s0, 0);
	const u64 free0 = stat(t.get(), "spare_free");
	const u64 seq0 = seq(t.get());

	// A write to block 5 fails on its spare block; the first new spare block fails too, the
	// second takes it; then the commit fails. Nothing retired may stay retired in memory.
	int spare_data_writes = 0;
	rig.disk.write_hook = [&](const MemDisk::Write &w) {
		if (w.dev != RB_SPARE_DEV)
			return 0;
		if (w.sector == l.spare_sector(static_cast<u64>(s0)))
			return -EIO;
		if (l.is_spare_data(w))
			return spare_data_writes++ == 0 ? -EIO : 0;
		return -EIO; // the commit
	};
	std::vector<unsigned char> data(l.block_size, 0x55);
	EXPECT_NE(rewrite_one(t.get(), 5 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	rig.disk.write_hook = nullptr;
	EXPECT_EQ(stat(t.get(), "bad_spare"), 0u) << "retirements undone with the move";
	EXPECT_EQ(stat(t.get(), "spare_free"), free0);
	EXPECT_EQ(seq(t.get()), seq0);
	EXPECT_EQ(list_text(t.get()), "5 " + std::to_string(s0) + " remapped\n");
	EXPECT_EQ(metadata_state(t.get()), "failed");

	// On a fresh instance the same move succeeds: the two retirements go in its commit.
	t.reset();
	Target t2 = rig.started();
	spare_data_writes = 0;
	rig.disk.write_hook = [&](const MemDisk::Write &w) {
		if (w.dev != RB_SPARE_DEV)
			return 0;
		if (w.sector == l.spare_sector(static_cast<u64>(s0)))
			return -EIO;
		if (l.is_spare_data(w))
			return spare_data_writes++ == 0 ? -EIO : 0;
		return 0;
	};
	EXPECT_EQ(rewrite_one(t2.get(), 5 * l.bs(), static_cast<u32>(l.bs()), data.data()), 0);
	rig.disk.write_hook = nullptr;
	EXPECT_EQ(stat(t2.get(), "bad_spare"), 2u);
	EXPECT_EQ(seq(t2.get()), seq0 + 1);
	t2.reset();
	Target again = rig.create();
	EXPECT_EQ(stat(again.get(), "bad_spare"), 2u) << "committed";
	EXPECT_EQ(stat(again.get(), "spare_free"), free0 - 2);
}

// The review's FailingSpareLeaksSpareBlocksInMemoryOnly, flipped: a spare device that takes
// no write is a spare-device failure, not exhaustion.
TEST(FaultPath, DeadSpareIsASpareFailureNotExhaustion)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	ASSERT_EQ(msg(t.get(), "remap " + std::to_string(3 * l.bs())).rc, 1);
	const u64 free0 = stat(t.get(), "spare_free");
	const u64 seq0 = seq(t.get());
	const int events0 = rig.disk.events;
	rig.disk.write_filter = [&](const MemDisk::Write &w) { return w.dev != RB_SPARE_DEV; };
	std::vector<unsigned char> blk(l.block_size, 7);
	int fails = 0;
	for (int i = 0; i < 40; i++)
		fails +=
			rewrite_one(t.get(), 3 * l.bs(), static_cast<u32>(l.bs()), blk.data()) != 0;
	EXPECT_EQ(fails, 40);
	EXPECT_EQ(stat(t.get(), "seq"), seq0);
	EXPECT_EQ(stat(t.get(), "spare_free"), free0) << "no spare block burnt";
	EXPECT_EQ(stat(t.get(), "bad_spare"), 0u);
	EXPECT_EQ(stats(t.get())["spare"], "failed");
	EXPECT_EQ(metadata_state(t.get()), "ok");
	EXPECT_EQ(rig.disk.events, events0 + 1) << "one event, no exhaustion events";
	// Automatic remaps stop: failed I/O passes through.
	EXPECT_EQ(verdict(t.get(), -EIO, RC_FAILED_WRITE), RC_VERDICT_PASS);
	EXPECT_EQ(verdict(t.get(), -ENODATA, 0), RC_VERDICT_PASS);
	EXPECT_EQ(rc_target_auto_remap(t.get()), 0);
	rig.disk.write_filter = nullptr;
	// A suspend/resume of the same table keeps it (the spare is as dead as before), with an
	// event; a remap message that places a block clears it.
	const int events1 = rig.disk.events;
	rc_target_suspend(t.get());
	ASSERT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(stats(t.get())["spare"], "failed");
	EXPECT_GT(rig.disk.events, events1) << "resuming with a failed spare raises an event";
	EXPECT_GE(remap_block(t.get(), l, 7), 0);
	EXPECT_EQ(stats(t.get())["spare"], "ok");
	EXPECT_EQ(verdict(t.get(), -EIO, RC_FAILED_WRITE), RC_VERDICT_REDO);
	EXPECT_EQ(rewrite_one(t.get(), 3 * l.bs(), static_cast<u32>(l.bs()), blk.data()), 0);
}

// ---- bounded holds and drains ----

TEST(FaultPath, HoldsAndDrainsCoverOnlyTheMovedBlocks)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 seq0 = seq(t.get());
	// A range of 70 blocks (2 already remapped) moves in chunks of at most 32, each committed.
	ASSERT_GE(remap_block(t.get(), l, 210), 0);
	ASSERT_GE(remap_block(t.get(), l, 211), 0);
	rig.disk.drain_log.clear();
	Reply r = msg(t.get(), "remap " + std::to_string(200 * l.bs()) + " 70");
	ASSERT_EQ(r.rc, 1);
	EXPECT_EQ(r.text, "remapped=68 lost=0 already=2");
	EXPECT_EQ(seq(t.get()), seq0 + 2 + 3);
	ASSERT_FALSE(rig.disk.drain_log.empty());
	for (const auto &d : rig.disk.drain_log) {
		EXPECT_NE(d.sectors, RC_ALL_SECTORS);
		EXPECT_LE(d.sectors, 32 * l.bs());
		EXPECT_GE(d.sector, 200 * l.bs());
		EXPECT_LE(d.sector + d.sectors, 270 * l.bs());
	}
	// A weak block of a failed read: its hold and drain are that block only.
	rig.fill_data(500, 1);
	rig.disk.drain_log.clear();
	const u64 weak = l.data_offset + 501 * l.bs();
	int n = 0;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned) {
		return dev == RB_DATA_DEV && s == weak && n++ == 0 ? -EIO : 0;
	};
	std::vector<unsigned char> buf(4 * l.block_size);
	ASSERT_EQ(rc_target_reread(t.get(), 500 * l.bs(), static_cast<u32>(4 * l.bs()), buf.data(),
				   -EIO),
		  0);
	rig.disk.read_hook = nullptr;
	ASSERT_FALSE(rig.disk.drain_log.empty());
	for (const auto &d : rig.disk.drain_log) {
		EXPECT_EQ(d.sector, 501 * l.bs());
		EXPECT_EQ(d.sectors, l.bs());
	}
	// And a failed write's move.
	rig.disk.drain_log.clear();
	rig.disk.write_hook = [&](const MemDisk::Write &w) {
		return w.dev == RB_DATA_DEV && w.sector == l.data_offset + 600 * l.bs() ? -EIO : 0;
	};
	std::vector<unsigned char> data(2 * l.block_size, 9);
	ASSERT_EQ(rewrite_one(t.get(), 599 * l.bs(), static_cast<u32>(2 * l.bs()), data.data()), 0);
	rig.disk.write_hook = nullptr;
	for (const auto &d : rig.disk.drain_log) {
		EXPECT_EQ(d.sector, 600 * l.bs());
		EXPECT_EQ(d.sectors, l.bs());
	}
	EXPECT_EQ(stat(t.get(), "remapped"), 72u);
}

// A slow error (every read of the failing block takes as long as the test says) does not stop
// status, stats, list, the I/O path or another remap: retries run without the engine mutex.
TEST(FaultPath, StatsListMapAndRemapAreServedWhileASlowRereadRuns)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const u64 slow = l.data_offset + 50 * l.bs();
	std::mutex mu;
	std::condition_variable cv;
	bool in_retry = false, release = false;
	rig.disk.read_hook = [&](int dev, u64 s, unsigned flags) {
		if (dev != RB_DATA_DEV || s < slow || s >= slow + l.bs()) // unreadable at any size
			return 0;
		if (flags & RB_IO_FAILFAST) { // a retry: block until the test lets it go
			std::unique_lock<std::mutex> lock(mu);
			in_retry = true;
			cv.notify_all();
			cv.wait_for(lock, std::chrono::seconds(20), [&] { return release; });
		}
		return -EIO;
	};
	std::vector<unsigned char> buf(l.block_size);
	auto reread = std::async(std::launch::async, [&] {
		return rc_target_reread(t.get(), 50 * l.bs(), static_cast<u32>(l.bs()), buf.data(),
					-EIO);
	});
	{
		std::unique_lock<std::mutex> lock(mu);
		ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return in_retry; }));
	}
	auto others = std::async(std::launch::async, [&] {
		char text[512];
		unsigned used = 0;
		rc_target_status_info(t.get(), text, sizeof(text), &used);
		TableLine stats_argv("stats"), list_argv("list"),
			remap_argv("remap " + std::to_string(70 * l.bs()));
		std::vector<char> out(4096);
		int ok = 0;
		ok += rc_target_message(t.get(), stats_argv.argc(), stats_argv.argv.data(),
					out.data(), 4096) == 1;
		ok += rc_target_message(t.get(), list_argv.argc(), list_argv.argv.data(),
					out.data(), 4096) == 1;
		rc_mapping m;
		rb_rcu_read_lock();
		rc_target_map(t.get(), 10 * l.bs(), 8, &m);
		rb_rcu_read_unlock();
		ok += m.route == RC_ROUTE_DATA;
		ok += rc_target_message(t.get(), remap_argv.argc(), remap_argv.argv.data(),
					out.data(), 4096) == 1;
		return ok;
	});
	const bool served = others.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
	EXPECT_TRUE(served) << "status/stats/list/remap waited for the slow retries";
	{
		std::lock_guard<std::mutex> lock(mu);
		release = true;
	}
	cv.notify_all();
	EXPECT_EQ(others.get(), 4);
	EXPECT_NE(reread.get(), 0);
	rig.disk.read_hook = nullptr;
	Mapping m = list_all(t.get());
	EXPECT_EQ(m.count(70), 1u);
	EXPECT_EQ(m.count(50), 1u);
	EXPECT_EQ(m[50], kLost);
}

// A manual remap of an unreadable block during an outage marks nothing either.
TEST(FaultPath, RemapDuringAnOutageMarksNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target t = rig.started();
	ASSERT_TRUE(t);
	rig.disk.read_hook = [](int dev, u64, unsigned) { return dev == RB_DATA_DEV ? -EIO : 0; };
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(9 * l.bs()) + " 4").rc, -EIO);
	rig.disk.read_hook = [](int dev, u64, unsigned) {
		return dev == RB_DATA_DEV ? -ENOLINK : 0;
	};
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(9 * l.bs())).rc, -ENOLINK);
	rig.disk.read_hook = nullptr;
	EXPECT_EQ(list_text(t.get()), "");
	EXPECT_EQ(stat(t.get(), "spare_free"), l.spare_total());
}
