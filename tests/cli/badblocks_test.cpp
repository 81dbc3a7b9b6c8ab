// Bad block lists: badblocks(8) numbers to dm-remap blocks and back, and md's range format.
#include <gtest/gtest.h>

#include <sstream>

#include "badblocks.h"
#include "errors.h"

using dmremap::ListEntry;
using dmremap::OperationalError;

namespace {

std::vector<uint64_t> parse(const std::string &text)
{
	std::istringstream in(text);
	return dmremap::parse_badblocks(in, "list");
}

TEST(Badblocks, ParsesNumbersAndSkipsBlankLines)
{
	EXPECT_EQ(parse("1\n\n  42 \r\n7"), (std::vector<uint64_t>{1, 42, 7}));
	EXPECT_TRUE(parse("").empty());
}

TEST(Badblocks, RefusesAnythingElseNamingTheLine)
{
	try {
		parse("1\n2\nthree\n");
		ADD_FAILURE() << "accepted";
	} catch (const OperationalError &e) {
		EXPECT_NE(std::string(e.what()).find("list:3: 'three'"), std::string::npos)
			<< e.what();
	}
	EXPECT_THROW(parse("-1"), OperationalError);
	EXPECT_THROW(parse("1 2"), OperationalError);
	EXPECT_THROW(parse("0x10"), OperationalError);
}

TEST(Badblocks, DefaultBlockSizeIsBadblocksOwn)
{
	EXPECT_EQ(dmremap::kBadblocksDefaultBlockSize, 1024u);
}

TEST(Badblocks, ListBlocksBecomeRemapBlocks)
{
	// 1 KiB list blocks 0..3 are 4 KiB block 0; 4 is block 1; 100 is block 25.
	const auto plan = dmremap::plan_import({0, 1, 3, 4, 100}, 1024, 4096, 0, 131072);
	EXPECT_EQ(plan.blocks, 3u);
	EXPECT_EQ(plan.outside, 0u);
	ASSERT_EQ(plan.runs.size(), 2u);
	EXPECT_EQ(plan.runs[0].first_block, 0u);
	EXPECT_EQ(plan.runs[0].count, 2u);
	EXPECT_EQ(plan.runs[1].first_block, 25u);
	EXPECT_EQ(plan.runs[1].count, 1u);
}

TEST(Badblocks, ListBlocksLargerThanRemapBlocks)
{
	const auto plan = dmremap::plan_import({1}, 65536, 4096, 0, 131072);
	ASSERT_EQ(plan.runs.size(), 1u);
	EXPECT_EQ(plan.runs[0].first_block, 16u);
	EXPECT_EQ(plan.runs[0].count, 16u);
}

TEST(Badblocks, DataOffsetAndOutsideBlocks)
{
	// The list is of the data device; the data range starts at sector 2048 and is 8192 long.
	const auto plan = dmremap::plan_import({0, 1023, 1024, 1027, 5119, 5120, ~0ull}, 1024, 4096,
					       2048, 8192);
	EXPECT_EQ(plan.outside, 4u); // 0, 1023 before; 5120 after; ~0 overflows
	ASSERT_EQ(plan.runs.size(), 2u);
	EXPECT_EQ(plan.runs[0].first_block, 0u); // sectors 2048..2049 and 2054..2055: block 0
	EXPECT_EQ(plan.runs[0].count, 1u);
	EXPECT_EQ(plan.runs[1].first_block, 1023u); // sectors 10238..10239
}

TEST(Badblocks, RunsAreCappedAtTheMessageLimit)
{
	std::vector<uint64_t> many;
	for (uint64_t i = 0; i < 70000; i++)
		many.push_back(i);
	const auto plan = dmremap::plan_import(many, 4096, 4096, 0, 1ull << 30);
	ASSERT_EQ(plan.runs.size(), 2u);
	EXPECT_EQ(plan.runs[0].count, dmremap::kMaxRunBlocks);
	EXPECT_EQ(plan.runs[1].first_block, dmremap::kMaxRunBlocks);
	EXPECT_EQ(plan.runs[1].count, 70000 - dmremap::kMaxRunBlocks);
}

std::vector<ListEntry> entries()
{
	ListEntry a{1, 36, false}, b{2, 37, false}, c{10, std::nullopt, true};
	return {c, a, b};
}

TEST(Badblocks, ExportBadblocksFormat)
{
	EXPECT_EQ(dmremap::export_badblocks(entries(), 1024, 4096, 0),
		  "4\n5\n6\n7\n8\n9\n10\n11\n40\n41\n42\n43\n");
	EXPECT_EQ(dmremap::export_badblocks(entries(), 65536, 4096, 0), "0\n");
	// Numbered on the data device, whose data range starts at sector 2048 (list block 1024).
	EXPECT_EQ(dmremap::export_badblocks(entries(), 4096, 4096, 2048), "257\n258\n266\n");
}

TEST(Badblocks, ExportMdRangesMerged)
{
	EXPECT_EQ(dmremap::export_md(entries(), 4096, 0), "8 16\n80 8\n");
	EXPECT_EQ(dmremap::export_md(entries(), 4096, 100), "108 16\n180 8\n");
	EXPECT_EQ(dmremap::export_md({}, 4096, 0), "");
}

TEST(Badblocks, ListBlockSizeChecked)
{
	EXPECT_NO_THROW(dmremap::check_list_block_size(512));
	EXPECT_NO_THROW(dmremap::check_list_block_size(1 << 20));
	for (uint64_t bad : {0ull, 256ull, 1000ull, 3072ull, 2ull << 20})
		EXPECT_THROW(dmremap::check_list_block_size(bad), dmremap::UsageError) << bad;
}

} // namespace
