// Status text: TABLE must reload to the same target; nothing may overrun a small buffer.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "table_test.h"

namespace {

std::string table_line(const rc_table &t, unsigned maxlen = 4096)
{
	std::string buf(maxlen, '\x7f');
	unsigned used = 0;
	rc_status_table(&t, "8:0", "8:16", buf.data(), maxlen, &used);
	EXPECT_LE(used, maxlen);
	return std::string(buf.c_str());
}

} // namespace

TEST(Status, TableRoundTrips)
{
	const char *lines[] = {
		"8:0 0 8:16 0 131072",
		"8:0 16 8:16 16 65536 2 block_size 8192",
		"8:0 16 8:16 16 65536 1 no_auto_remap",
		"8:0 0 8:16 0 131072 7 block_size 4096 no_auto_remap read_retries 0 spare_low_water 0",
		"8:0 0 8:16 0 131072 2 spare_low_water 16384",
		"8:0 0 8:16 0 131072 4 no_auto_remap read_retries 1 allow_larger_spare_sectors",
	};
	for (const char *line : lines) {
		rc_table a, b;
		ASSERT_EQ(construct(line, &a, default_devices()), "") << line;
		std::string printed = table_line(a);
		EXPECT_EQ(printed, line);
		ASSERT_EQ(construct(printed, &b, default_devices()), "") << printed;
		EXPECT_EQ(table_line(b), printed);
	}
}

TEST(Status, FeaturesAreNormalized)
{
	rc_table t;
	ASSERT_EQ(construct("8:0 0 8:16 0 131072 5 READ_RETRIES 3 No_Auto_Remap block_size 4096",
			    &t, default_devices()),
		  "");
	EXPECT_EQ(table_line(t),
		  "8:0 0 8:16 0 131072 5 block_size 4096 no_auto_remap read_retries 3");
	ASSERT_EQ(construct("8:0 0 8:16 0 131072 3 Allow_Larger_Spare_Sectors block_size 4096", &t,
			    default_devices()),
		  "");
	EXPECT_EQ(table_line(t),
		  "8:0 0 8:16 0 131072 3 block_size 4096 allow_larger_spare_sectors");
}

TEST(Status, ImaNamesTheLargerSpareSectorsFeature)
{
	rc_table t;
	ASSERT_EQ(construct("8:0 0 8:16 0 131072 1 allow_larger_spare_sectors", &t,
			    default_devices()),
		  "");
	char buf[256];
	unsigned used = 0;
	rc_status_ima(&t, "8:0", "8:16", buf, sizeof(buf), &used);
	EXPECT_NE(strstr(buf, ",spare_low_water=1638,allow_larger_spare_sectors=y;"), nullptr)
		<< buf;
}

TEST(Status, Ima)
{
	rc_table t;
	ASSERT_EQ(construct("8:0 0 8:16 0 131072", &t, default_devices()), "");
	char buf[256];
	unsigned used = 0;
	rc_status_ima(&t, "8:0", "8:16", buf, sizeof(buf), &used);
	EXPECT_STREQ(buf,
		     ",data_device=8:0,data_offset=0,spare_device=8:16,spare_offset=0,"
		     "spare_len=131072,block_size=4096,auto_remap=y,read_retries=2,"
		     "spare_low_water=1638,allow_larger_spare_sectors=n;");
	EXPECT_EQ(used, strlen(buf));
}

TEST(Status, SmallBuffersAreCutNeverOverrun)
{
	rc_table t;
	ASSERT_EQ(construct("8:0 16 8:16 16 65536 2 block_size 8192", &t, default_devices()), "");
	const std::string full = table_line(t);
	for (unsigned maxlen = 1; maxlen <= full.size() + 1; maxlen++) {
		std::string buf(maxlen + 8, '\x7f');
		unsigned used = 0;
		rc_status_table(&t, "8:0", "8:16", buf.data(), maxlen, &used);
		EXPECT_LE(used, maxlen);
		EXPECT_LT(strlen(buf.c_str()), maxlen) << "not terminated inside the buffer";
		EXPECT_EQ(full.compare(0, strlen(buf.c_str()), buf.c_str()), 0) << "not a prefix";
		for (unsigned i = maxlen; i < maxlen + 8; i++)
			ASSERT_EQ(buf[i], '\x7f') << "overrun at maxlen " << maxlen;
	}
}

TEST(Status, AppendsAfterExistingText)
{
	rc_table t;
	ASSERT_EQ(construct("8:0 0 8:16 0 131072", &t, default_devices()), "");
	char buf[64] = "prefix ";
	unsigned used = 7;
	rc_status_table(&t, "8:0", "8:16", buf, sizeof(buf), &used);
	EXPECT_STREQ(buf, "prefix 8:0 0 8:16 0 131072");
	// A buffer that is already full is left alone.
	used = sizeof(buf);
	rc_status_table(&t, "8:0", "8:16", buf, sizeof(buf), &used);
	EXPECT_STREQ(buf, "prefix 8:0 0 8:16 0 131072");
}
