// The table line grammar and its geometry rules: every bad line gets its own message.
#include <gtest/gtest.h>

#include "table_test.h"

TEST(TableParser, MinimalLineUsesDefaults)
{
	rc_table t;
	ASSERT_EQ(construct("/dev/sda 0 /dev/sdb 0 131072", &t, default_devices()), "");
	EXPECT_EQ(t.data_offset, 0u);
	EXPECT_EQ(t.spare_offset, 0u);
	EXPECT_EQ(t.spare_len, 131072u);
	EXPECT_EQ(t.block_size, 4096u);
	EXPECT_EQ(t.read_retries, 2u);
	EXPECT_EQ(t.auto_remap, 1);
	EXPECT_EQ(t.spare_low_water, 16384u / 10); // 10% of the spare blocks
	EXPECT_EQ(t.explicit_features, 0u);
}

TEST(TableParser, AllFeatures)
{
	rc_table t;
	ASSERT_EQ(construct("/dev/sda 8 /dev/sdb 16 65536 7 block_size 8192 no_auto_remap "
			    "read_retries 5 spare_low_water 100",
			    &t, default_devices()),
		  "Data offset is not aligned to block_size");
	ASSERT_EQ(construct("/dev/sda 16 /dev/sdb 16 65536 7 BLOCK_SIZE 8192 No_Auto_Remap "
			    "read_retries 5 spare_low_water 100",
			    &t, default_devices()),
		  "");
	EXPECT_EQ(t.block_size, 8192u);
	EXPECT_EQ(t.auto_remap, 0);
	EXPECT_EQ(t.read_retries, 5u);
	EXPECT_EQ(t.spare_low_water, 100u);
}

struct BadLine {
	const char *line;
	const char *error;
};

void PrintTo(const BadLine &b, std::ostream *os) { *os << '"' << b.line << '"'; }

class TableParserRejects : public ::testing::TestWithParam<BadLine> {};

TEST_P(TableParserRejects, WithItsOwnMessage)
{
	rc_table t;
	EXPECT_EQ(construct(GetParam().line, &t, default_devices()), GetParam().error)
		<< GetParam().line;
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(Lines, TableParserRejects, ::testing::Values(
	BadLine{"", "Not enough arguments: <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#features> <feature>...]"},
	BadLine{"/dev/sda 0 /dev/sdb 0", "Not enough arguments: <data_dev> <data_offset> <spare_dev> <spare_offset> <spare_len> [<#features> <feature>...]"},
	BadLine{"/dev/sda x /dev/sdb 0 8", "Invalid data device offset"},
	BadLine{"/dev/sda -8 /dev/sdb 0 8", "Invalid data device offset"},
	BadLine{"/dev/sda 0 /dev/sdb 0x8 8", "Invalid spare device offset"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8k", "Invalid spare length"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 1", "Number of feature arguments does not match the table line"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 x no_auto_remap", "Invalid number of feature arguments"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 no_auto_remap", "Number of feature arguments does not match the table line"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 1 turbo", "Unknown feature"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 no_auto_remap no_auto_remap", "Feature given more than once"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 allow_larger_spare_sectors ALLOW_LARGER_SPARE_SECTORS", "Feature given more than once"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 allow_larger_spare_sectors 1", "Unknown feature"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 1 block_size", "Feature is missing its value"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 block_size 1000", "Invalid block_size: must be a power of two from 512 to 65536"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 block_size 256", "Invalid block_size: must be a power of two from 512 to 65536"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 block_size 131072", "Invalid block_size: must be a power of two from 512 to 65536"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 read_retries 101", "Invalid read_retries: must be 0 to 100"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 read_retries -1", "Invalid read_retries: must be 0 to 100"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 spare_low_water many", "Invalid spare_low_water"},
	BadLine{"/dev/sda 0 /dev/sdb 0 8 2 spare_low_water 2", "spare_low_water exceeds the number of spare blocks"},
	BadLine{"/dev/sda 1 /dev/sdb 0 8", "Data offset is not aligned to block_size"},
	BadLine{"/dev/sda 1048584 /dev/sdb 0 8", "Data range exceeds the data device"},
	BadLine{"/dev/sda 18446744073709551608 /dev/sdb 0 8", "Data range exceeds the data device"},
	BadLine{"/dev/sda 0 /dev/sdb 4 8", "Spare offset is not aligned to block_size"},
	BadLine{"/dev/sda 0 /dev/sdb 0 0", "Spare length is not a non-zero multiple of block_size"},
	BadLine{"/dev/sda 0 /dev/sdb 0 12", "Spare length is not a non-zero multiple of block_size"},
	BadLine{"/dev/sda 0 /dev/sdb 131072 8", "Spare range exceeds the spare device"},
	BadLine{"/dev/sda 0 /dev/sdb 18446744073709551608 8", "Spare range exceeds the spare device"}));
// clang-format on

TEST(TableParser, TargetLengthMustBeWholeBlocks)
{
	rc_table t;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, default_devices(12)),
		  "Target length is not a non-zero multiple of block_size");
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, default_devices(0)),
		  "Target length is not a non-zero multiple of block_size");
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 2 block_size 512", &t, default_devices(12)),
		  "");
}

TEST(TableParser, BlockSizeAtLeastLogicalBlockSize)
{
	rc_table t;
	rc_devices d = default_devices();
	d.data_logical_block = 4096;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 2 block_size 2048", &t, d),
		  "block_size is smaller than the data device's logical block size");
	d = default_devices();
	d.spare_logical_block = 4096;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 3 block_size 2048 allow_larger_spare_sectors",
			    &t, d),
		  "block_size is smaller than the spare device's logical block size");
}

TEST(TableParser, SpareOnTheDataDeviceMustNotOverlap)
{
	rc_table t;
	rc_devices d = default_devices(1024);
	d.same_device = 1;
	d.spare_dev_sectors = d.data_dev_sectors;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sda 1016 16", &t, d),
		  "Spare range overlaps the data range");
	EXPECT_EQ(construct("/dev/sda 1024 /dev/sda 0 1032", &t, d),
		  "Spare range overlaps the data range");
	EXPECT_EQ(construct("/dev/sda 0 /dev/sda 1024 16", &t, d), "");
	EXPECT_EQ(construct("/dev/sda 16 /dev/sda 0 16", &t, d), "");
}

TEST(TableParser, AllowLargerSpareSectorsIsAFlag)
{
	rc_table t;
	ASSERT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 1 allow_larger_spare_sectors", &t,
			    default_devices()),
		  "");
	EXPECT_EQ(t.explicit_features, unsigned{RC_FEAT_ALLOW_LARGER_SPARE_SECTORS});
	EXPECT_EQ(t.auto_remap, 1);
	EXPECT_EQ(t.block_size, 4096u);
}

// A 4Kn spare under a 512-byte data device would make the dm device 4Kn (finding 13).
TEST(TableParser, LargerSpareSectorsNeedTheFeature)
{
	const std::string refusal = "Spare device's logical block size exceeds the data device's: "
				    "it would change the exported sector size (feature "
				    "allow_larger_spare_sectors accepts that)";
	rc_table t;
	rc_devices d = default_devices();
	d.spare_logical_block = 4096;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, d), refusal);
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 16 2 block_size 8192", &t, d), refusal);
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 1 allow_larger_spare_sectors", &t, d), "");
	// The feature does not lift the block_size rule.
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 3 allow_larger_spare_sectors block_size 2048",
			    &t, d),
		  "block_size is smaller than the spare device's logical block size");
	d.spare_logical_block = 1024;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, d), refusal);
	// Equal, or a smaller spare sector, changes nothing the data device does not already set.
	d.data_logical_block = 4096;
	d.spare_logical_block = 4096;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, d), "");
	d.spare_logical_block = 512;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, d), "");
}

TEST(TableParser, ZonedDevicesAreRefused)
{
	rc_table t;
	rc_devices d = default_devices();
	d.zoned = 1;
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8", &t, d),
		  "Zoned devices are not supported: use a conventional data and spare device");
	EXPECT_EQ(construct("/dev/sda 0 /dev/sdb 0 8 1 allow_larger_spare_sectors", &t, d),
		  "Zoned devices are not supported: use a conventional data and spare device");
}
