// Parsing what dm-remap tells dmsetup, exactly as docs/dm-remap.rst shows it.
#include <gtest/gtest.h>

#include "dm_text.h"
#include "errors.h"

using dmremap::OperationalError;

namespace {

TEST(DmText, Status)
{
	const auto s = dmremap::parse_status("0 131072 remap 4096 1 2 3/4060 degraded 52");
	EXPECT_EQ(s.length, 131072u);
	EXPECT_EQ(s.block_size, 4096u);
	EXPECT_EQ(s.remapped, 1u);
	EXPECT_EQ(s.lost, 2u);
	EXPECT_EQ(s.spare_used, 3u);
	EXPECT_EQ(s.spare_total, 4060u);
	EXPECT_EQ(s.metadata, "degraded");
	EXPECT_EQ(s.seq, 52u);
	EXPECT_EQ(s.mode, "") << "a module from before the mode field";
	EXPECT_EQ(dmremap::parse_status("0 131072 remap 4096 1 2 3/4060 ok 52 ro").mode, "ro");
	EXPECT_EQ(dmremap::parse_status("0 131072 remap 4096 1 2 3/4060 ok 52 rw").mode, "rw");
	EXPECT_EQ(dmremap::parse_status("0 131072 remap 4096 1 2 3/4060 ok 52 rw 7").mode, "rw")
		<< "fields appended later are ignored";
	for (const char *bad :
	     {"", "0 131072 linear 8:16 0", "0 131072 remap 4096 1 2 3 ok 1",
	      "0 131072 remap 4096 1 2 3/x ok 1", "0 131072 remap 4096 1 2 3/4 ok",
	      "0 131072 remap 4096 1 2 3/4 ok 1 maybe"})
		EXPECT_THROW(dmremap::parse_status(bad), OperationalError) << bad;
}

TEST(DmText, Table)
{
	const auto t = dmremap::parse_table("0 131072 remap 1:0 8 1:1 0 32768 2 block_size 8192");
	EXPECT_EQ(t.data_dev, "1:0");
	EXPECT_EQ(t.data_offset, 8u);
	EXPECT_EQ(t.spare_dev, "1:1");
	EXPECT_EQ(t.spare_len, 32768u);
	EXPECT_EQ(t.features, (std::vector<std::string>{"2", "block_size", "8192"}));
	EXPECT_THROW(dmremap::parse_table("0 8 linear 1:0 0"), OperationalError);
}

TEST(DmText, ListLines)
{
	const auto l = dmremap::parse_list("256 36 remapped\n1024 - lost\n");
	ASSERT_EQ(l.size(), 2u);
	EXPECT_EQ(l[0].data_block, 256u);
	EXPECT_EQ(*l[0].spare_block, 36u);
	EXPECT_FALSE(l[0].lost);
	EXPECT_TRUE(l[1].lost);
	EXPECT_FALSE(l[1].spare_block.has_value());
	EXPECT_TRUE(dmremap::parse_list("").empty());
	for (const char *bad : {"256 36", "256 36 lost", "256 - remapped", "x 36 remapped",
				"256 36 remapped lost_sectors=0", "256 36 remapped lost_sectors=x",
				"256 36 remapped lost=3", "256 - lost lost_sectors=1",
				"256 36 remapped lost_sectors=1 more"})
		EXPECT_THROW(dmremap::parse_list(bad), OperationalError) << bad;
}

// A salvaged block (issue 14): a remapped line with the count of its lost sectors.
TEST(DmText, ListLineOfASalvagedBlock)
{
	const auto l = dmremap::parse_list("5 40 remapped lost_sectors=3\n6 41 remapped\n");
	ASSERT_EQ(l.size(), 2u);
	EXPECT_EQ(*l[0].spare_block, 40u);
	EXPECT_FALSE(l[0].lost);
	EXPECT_EQ(l[0].lost_sectors, 3u);
	EXPECT_EQ(l[1].lost_sectors, 0u);
}

TEST(DmText, StatsAndRemapCounts)
{
	const auto s = dmremap::parse_stats("remapped=49 lost=0 metadata=ok seq=52");
	EXPECT_EQ(s.at("remapped"), "49");
	EXPECT_EQ(s.at("metadata"), "ok");
	EXPECT_THROW(dmremap::parse_stats("remapped"), OperationalError);
	EXPECT_THROW(dmremap::parse_stats("=1"), OperationalError);

	const auto c = dmremap::parse_remap_counts("remapped=1000 lost=2 already=3");
	EXPECT_EQ(c.remapped, 1000u);
	EXPECT_EQ(c.lost, 2u);
	EXPECT_EQ(c.already, 3u);
	EXPECT_THROW(dmremap::parse_remap_counts("2051 36"), OperationalError);
	EXPECT_THROW(dmremap::parse_remap_counts("remapped=1 lost=x already=0"), OperationalError);
}

TEST(DmText, Lines)
{
	EXPECT_EQ(dmremap::split_lines("a\nb\n"), (std::vector<std::string>{"a", "b"}));
	EXPECT_EQ(dmremap::split_words("  a \t b\n"), (std::vector<std::string>{"a", "b"}));
}

} // namespace
