// SPDX-License-Identifier: GPL-2.0
// Reading dm-log-writes logs: the entries as written, and a clear error for every malformed one.
#include <gtest/gtest.h>

#include "log_builder.h"
#include "log_format.h"

using namespace lwreplay;
using lwreplay_test::LogBuilder;

namespace {


std::string error_of(const std::vector<uint8_t> &log)
{
	try {
		LogBuilder::entries(log);
	} catch (const LogError &e) {
		return e.what();
	}
	return "";
}

} // namespace

TEST(LogFormat, EntriesInOrder)
{
	const auto log = LogBuilder()
				 .write(8, 2, 0xaa)
				 .flush()
				 .write(100, 1, 0xbb, kLogFua | kLogFlush)
				 .discard(40, 8)
				 .mark("lwr-ready")
				 .build();
	const auto e = LogBuilder::entries(log);
	ASSERT_EQ(e.size(), 5u);
	EXPECT_EQ(e[0].index, 0u);
	EXPECT_EQ(e[0].sector, 8u);
	EXPECT_EQ(e[0].nr_sectors, 2u);
	ASSERT_EQ(e[0].data.size(), 1024u);
	EXPECT_EQ(e[0].data[1023], 0xaa);
	EXPECT_TRUE(e[0].changes_device());
	EXPECT_FALSE(e[0].is_replay_point());

	EXPECT_TRUE(e[1].is_flush());
	EXPECT_TRUE(e[1].is_replay_point());
	EXPECT_FALSE(e[1].changes_device());

	EXPECT_TRUE(e[2].is_fua());
	EXPECT_EQ(e[2].data[0], 0xbb);
	EXPECT_EQ(flag_names(e[2].flags), "FLUSH|FUA");

	EXPECT_TRUE(e[3].is_discard());
	EXPECT_TRUE(e[3].data.empty()); // a discard has no data in the log...
	EXPECT_TRUE(e[3].changes_device()); // ...but changes the device
	EXPECT_EQ(e[3].nr_sectors, 8u);

	EXPECT_TRUE(e[4].is_mark());
	EXPECT_EQ(e[4].mark, "lwr-ready");
	EXPECT_EQ(e[4].index, 4u);
}

TEST(LogFormat, LargerSectorSizesCountIn512ByteSectors)
{
	const auto log = LogBuilder(4096).write(3, 2, 0x11).mark("m").build();
	LogReader r(LogBuilder::reader(log), log.size());
	EXPECT_EQ(r.sector_size(), 4096u);
	LogEntry e;
	ASSERT_TRUE(r.next(&e));
	EXPECT_EQ(e.sector, 24u);
	EXPECT_EQ(e.nr_sectors, 16u);
	EXPECT_EQ(e.data.size(), 8192u);
	ASSERT_TRUE(r.next(&e));
	EXPECT_EQ(e.mark, "m");
	EXPECT_FALSE(r.next(&e));
}

TEST(LogFormat, StopsAtTheCountInTheSuperblock)
{
	// dm-log-writes updates nr_entries after FUA and mark entries: entries after the last
	// update are not part of the log yet.
	const auto log = LogBuilder().write(0, 1, 1).write(1, 1, 2).build(1);
	EXPECT_EQ(LogBuilder::entries(log).size(), 1u);
}

TEST(LogFormat, RefusesWhatIsNotALog)
{
	std::vector<uint8_t> zero(4096, 0);
	EXPECT_NE(error_of(zero).find("bad magic"), std::string::npos);
	auto log = LogBuilder().flush().build();
	log[8] = 2;
	EXPECT_NE(error_of(log).find("log version 2"), std::string::npos);
	log = LogBuilder().flush().build();
	log[24] = 0;
	log[25] = 3; // sector size 768
	EXPECT_NE(error_of(log).find("not a power of two"), std::string::npos);
	EXPECT_THROW(LogReader(LogBuilder::reader(log), 100), LogError);
}

TEST(LogFormat, RefusesMalformedEntries)
{
	EXPECT_NE(error_of(LogBuilder().header(0, 0, 1u << 7, 0).build()).find("unknown flags"),
		  std::string::npos);
	EXPECT_NE(error_of(LogBuilder().header(0, 1, kLogMark, 3).build())
			  .find("a mark with 1 sectors"),
		  std::string::npos);
	EXPECT_NE(error_of(LogBuilder().header(0, 0, kLogMark, 480).build())
			  .find("480 bytes of text"),
		  std::string::npos);
	EXPECT_NE(error_of(LogBuilder().header(0, 0, 0, 10).build()).find("inline data"),
		  std::string::npos);
	// A write whose data the log does not hold.
	EXPECT_NE(error_of(LogBuilder().header(0, 4, 0, 0).build()).find("past the end"),
		  std::string::npos);
	// More entries claimed than there are.
	EXPECT_NE(error_of(LogBuilder().flush().build(2)).find("log entry 1"), std::string::npos);
	// A sector number that overflows when converted to 512-byte sectors.
	EXPECT_NE(error_of(LogBuilder(4096).header(UINT64_MAX / 4, 1, 0, 0).build())
			  .find("overflows"),
		  std::string::npos);
}

TEST(LogFormat, MarkWithNulIsRefused)
{
	auto b = LogBuilder();
	b.mark("ab");
	auto log = b.build();
	log[512 + 32] = 0;
	EXPECT_NE(error_of(log).find("NUL"), std::string::npos);
}
