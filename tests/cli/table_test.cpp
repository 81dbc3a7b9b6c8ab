// The table line `dmremap create` builds: defaults from the device sizes, the module's own
// checks, features in the module's canonical order.
#include <gtest/gtest.h>

#include "errors.h"
#include "table.h"

using dmremap::BuiltTable;
using dmremap::DeviceFacts;
using dmremap::TableSpec;
using dmremap::UsageError;

namespace {

TableSpec spec(const char *data = "/dev/sdb", const char *spare = "/dev/sdc")
{
	TableSpec s;
	s.data_path = data;
	s.spare_path = spare;
	return s;
}

DeviceFacts facts(uint64_t data_sectors, uint64_t spare_sectors, bool same = false)
{
	DeviceFacts f;
	f.data_sectors = data_sectors;
	f.spare_sectors = spare_sectors;
	f.same_device = same;
	return f;
}

TEST(Table, WholeDevicesByDefault)
{
	const BuiltTable t = dmremap::build_table(spec(), facts(131072, 32768));
	EXPECT_EQ(t.line, "0 131072 remap /dev/sdb 0 /dev/sdc 0 32768");
	EXPECT_EQ(t.geo.spare_blocks(), 4096u);
	EXPECT_EQ(t.geo.data_blocks(), 16384u);
}

TEST(Table, LengthsRoundDownToTheBlockSize)
{
	TableSpec s = spec();
	s.data_offset = 8;
	const BuiltTable t = dmremap::build_table(s, facts(131072 + 7, 32768 + 7));
	EXPECT_EQ(t.line, "0 131064 remap /dev/sdb 8 /dev/sdc 0 32768");
}

TEST(Table, FeaturesInCanonicalOrder)
{
	TableSpec s = spec();
	s.spare_low_water = 100;
	s.read_retries = 5;
	s.no_auto_remap = true;
	s.block_size = 8192;
	const BuiltTable t = dmremap::build_table(s, facts(131072, 32768));
	EXPECT_EQ(t.line,
		  "0 131072 remap /dev/sdb 0 /dev/sdc 0 32768 "
		  "7 block_size 8192 no_auto_remap read_retries 5 spare_low_water 100");
	EXPECT_EQ(t.geo.block_size(), 8192u);
}

TEST(Table, SharedDeviceSplitsAtTheSpareRange)
{
	TableSpec s = spec("/dev/sdb", "/dev/sdb");
	s.spare_offset = 1048576;
	const BuiltTable t = dmremap::build_table(s, facts(1048576 + 65536, 1048576 + 65536, true));
	EXPECT_EQ(t.line, "0 1048576 remap /dev/sdb 0 /dev/sdb 1048576 65536");

	TableSpec front = spec("/dev/sdb", "/dev/sdb");
	front.data_offset = 65536;
	const BuiltTable f = dmremap::build_table(front, facts(1048576, 1048576, true));
	EXPECT_EQ(f.line, "0 983040 remap /dev/sdb 65536 /dev/sdb 0 65536");
}

TEST(Table, TheModulesRulesWithItsMessages)
{
	auto refused = [](TableSpec s, DeviceFacts f, const std::string &why) {
		try {
			dmremap::build_table(s, f);
			ADD_FAILURE() << "accepted, expected: " << why;
		} catch (const UsageError &e) {
			EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
		}
	};
	TableSpec overlap = spec("/dev/sdb", "/dev/sdb");
	overlap.data_len = 65536;
	overlap.spare_len = 8192;
	refused(overlap, facts(131072, 131072, true), "Spare range overlaps the data range");

	TableSpec misaligned = spec();
	misaligned.data_offset = 3;
	misaligned.data_len = 8192;
	refused(misaligned, facts(131072, 32768), "Data offset is not aligned to block_size");

	TableSpec too_long = spec();
	too_long.data_len = 262144;
	refused(too_long, facts(131072, 32768), "Data range exceeds the data device");

	TableSpec low_water = spec();
	low_water.spare_low_water = 5000;
	refused(low_water, facts(131072, 32768), "spare_low_water exceeds");

	refused(spec(), facts(131072, 16), "Spare area too small");
	refused(spec(), facts(131072, 4), "no room for the spare range");

	TableSpec past_end = spec();
	past_end.spare_offset = 40000;
	refused(past_end, facts(131072, 32768), "past the end");

	DeviceFacts big_sectors = facts(131072, 32768);
	big_sectors.spare_logical_block = 4096;
	TableSpec small_block = spec();
	small_block.block_size = 2048;
	refused(small_block, big_sectors, "--allow-larger-spare-sectors accepts that");
	small_block.allow_larger_spare_sectors = true;
	refused(small_block, big_sectors, "smaller than the spare device's logical block size");

	DeviceFacts zoned = facts(131072, 32768);
	zoned.zoned = true;
	refused(spec(), zoned, "Zoned devices are not supported");

	refused(spec("/dev/my disk"), facts(131072, 32768), "whitespace");
}

// Finding 13: a 4Kn spare under a 512-byte data device changes the exported sector size; the
// tool refuses it, naming the option, and with the option the line carries the feature word.
TEST(Table, LargerSpareSectorsNeedTheOption)
{
	DeviceFacts f = facts(131072, 32768);
	f.spare_logical_block = 4096;
	try {
		dmremap::build_table(spec(), f);
		ADD_FAILURE() << "a 4096-byte spare under a 512-byte data device was accepted";
	} catch (const UsageError &e) {
		EXPECT_NE(
			std::string(e.what()).find("the spare device's logical block size (4096 "
						   "bytes) exceeds the data device's (512 bytes)"),
			std::string::npos)
			<< e.what();
	}
	TableSpec s = spec();
	s.allow_larger_spare_sectors = true;
	const BuiltTable t = dmremap::build_table(s, f);
	EXPECT_EQ(t.line.substr(t.line.size() - 29), " 1 allow_larger_spare_sectors") << t.line;
	f.data_logical_block = 4096; // equal sizes need nothing
	EXPECT_EQ(dmremap::build_table(spec(), f).line.find("allow"), std::string::npos);
}

} // namespace
