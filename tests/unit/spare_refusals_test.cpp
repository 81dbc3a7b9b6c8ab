// Refusals that protect data, through the C API the glue uses: a 4Kn spare only ever sees whole,
// aligned metadata I/O of its logical block size (finding 6); the constructor formats only an
// area that passes the fresh area rule, and resume formats only such an area (finding 11).
#include "engine_rig.h"

using namespace engine_rig;

namespace {

const char kNotEmpty[] = "Spare area holds data but no dm-remap metadata: run 'dmremap format' "
			 "(or zero the area) if it may be overwritten";

// The rig's table on a spare with 4096-byte logical blocks under a 512-byte data device.
void make_4kn_spare(Rig &rig)
{
	rig.devs.spare_logical_block = 4096;
	rig.disk.logical_block[RB_SPARE_DEV] = 4096;
	rig.table.explicit_features |= RC_FEAT_ALLOW_LARGER_SPARE_SECTORS;
}

} // namespace

// create (the fresh check), resume (format), remap and unremap (commits and the data copies),
// a reload, and the "formatted with another block_size" probe of a table with block_size 8192.
TEST(SpareRefusals, FourKnSpareSeesNoMisalignedIo)
{
	Rig rig;
	make_4kn_spare(rig);
	{
		Target t = rig.started();
		ASSERT_TRUE(t);
		EXPECT_EQ(seq(t.get()), 1u);
		rig.fill_data(5, 1);
		EXPECT_GE(remap_block(t.get(), rig.layout, 5), 0);
		EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(5 * rig.layout.bs())).rc, 0);
		EXPECT_GE(remap_block(t.get(), rig.layout, 6), 0);
	}
	Target again = rig.started();
	ASSERT_TRUE(again);
	EXPECT_EQ(seq(again.get()), 4u);
	again.reset(); // a live table of the device would refuse another geometry first

	TableLine line("/dev/data " + std::to_string(rig.layout.data_offset) + " /dev/spare " +
		       std::to_string(rig.layout.spare_offset) + " " +
		       std::to_string(rig.layout.spare_len()) +
		       " 3 block_size 8192 allow_larger_spare_sectors");
	rc_table other;
	const char *error = nullptr;
	ASSERT_EQ(rc_table_parse(line.argc(), line.argv.data(), &other, &error), 0);
	ASSERT_EQ(rc_table_check(&other, &rig.devs, &error), 0) << error;
	rc_target *t = nullptr;
	(void)rc_target_create(&other, &rig.devs, rig.disk.ops(), rig.disk.ctx(), &t, &error);
	EXPECT_EQ(t, nullptr);
	if (t)
		rc_target_destroy(t);
	EXPECT_STREQ(error, "Metadata was formatted with another block_size");
	EXPECT_EQ(rig.disk.misaligned_io, 0);
}

// The review's scenario: a spare range into existing data whose first 8 KiB are zero (btrfs
// keeps its superblock at 64 KiB). The constructor refuses it, naming the fix; nothing is
// written.
TEST(SpareRefusals, NonEmptyAreaWithZeroSuperblocksIsRefused)
{
	Rig rig;
	const unsigned char x = 0x42;
	rig.disk.poke(RB_SPARE_DEV, rig.layout.spare_byte(0) + 64 * 1024, &x, 1);
	int err = 0;
	const char *error = nullptr;
	Target t = rig.create(&err, &error);
	EXPECT_FALSE(t);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_STREQ(error, kNotEmpty);
	EXPECT_EQ(rig.disk.writes, 0);
}

// An area that was zero when the table was created but has a superblock block written before
// resume is not formatted over: resume loads it again, and refuses what the loader refuses.
TEST(SpareRefusals, ResumeFormatsOnlyAnAreaStillEmpty)
{
	Rig rig;
	Target t = rig.create();
	ASSERT_TRUE(t);
	const unsigned char x = 0x42;
	rig.disk.poke(RB_SPARE_DEV, rig.layout.spare_byte(1) + 100, &x, 1);
	EXPECT_NE(rc_target_resume(t.get()), 0);
	EXPECT_EQ(rig.disk.writes, 0);
}

// The fresh check reads the fresh area (here the first MiB of a 4000 KiB range) and nothing
// beyond it.
TEST(SpareRefusals, FreshCheckReadsNothingBeyondTheRule)
{
	Layout l;
	l.spare_blocks = 1000; // 4000 KiB; the rule covers its first MiB
	Rig rig(l);
	u64 max_sector = 0;
	rig.disk.read_filter = [&](int dev, rb_u64 sector) {
		if (dev == RB_SPARE_DEV)
			max_sector = std::max<u64>(max_sector, sector);
		return true;
	};
	Target t = rig.create();
	ASSERT_TRUE(t);
	const u64 end = l.spare_sector(0) + (1u << 20) / 512;
	EXPECT_LT(max_sector, end);
	EXPECT_GE(max_sector, end - 128) << "the last chunk read ends at the rule's end";
}
