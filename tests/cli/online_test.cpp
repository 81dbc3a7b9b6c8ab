// The online commands against a scripted dmsetup (DMREMAP_DMSETUP): which messages they send,
// how list pages, and what status/list/import/export make of the replies. The script answers
// like dm-remap does for a 64 MiB device at data offset 2048 with three remapped blocks and one
// lost block, two list lines a page, and logs every call.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "cli_run.h"
#include "commands.h"

namespace {

constexpr const char kScript[] = R"(#!/bin/sh
echo "$*" >>"$FAKE_DM_LOG"
case "$*" in
  "table r") echo "0 131072 remap 7:0 2048 7:1 0 32768 2 block_size 4096" ;;
  "table lin") echo "0 8 linear 7:0 0" ;;
  "status r") echo "0 131072 remap 4096 3 1 3/4060 ok 9 rw" ;;
  "message r 0 -- stats")
    echo "remapped=3 lost=1 spare_used=3 spare_free=4057 spare_total=4060 bad_spare=0 metadata=ok seq=9" ;;
  "message r 0 -- list 0 4096") printf '2 36 remapped\n3 37 remapped\n' ;;
  "message r 0 -- list 4 4096") printf '10 - lost\n11 38 remapped\n' ;;
  "message r 0 -- list 12 4096") ;;
  "message r 0 -- remap "*) echo "remapped=$7 lost=0 already=0" ;;
  *) echo "fake dmsetup: unexpected: $*" >&2; exit 1 ;;
esac
)";

class Online : public ::testing::Test {
protected:
	void SetUp() override
	{
		char dir[] = "/tmp/dmremap-online.XXXXXX";
		ASSERT_NE(mkdtemp(dir), nullptr);
		dir_ = dir;
		const std::string script = dir_ + "/dmsetup";
		std::ofstream(script) << kScript;
		ASSERT_EQ(chmod(script.c_str(), 0755), 0);
		log_ = dir_ + "/log";
		setenv("DMREMAP_DMSETUP", script.c_str(), 1);
		setenv("FAKE_DM_LOG", log_.c_str(), 1);
	}
	void TearDown() override
	{
		unsetenv("DMREMAP_DMSETUP");
		unsetenv("FAKE_DM_LOG");
		std::system(("rm -rf " + dir_).c_str());
	}
	std::string calls()
	{
		std::ifstream in(log_);
		std::stringstream s;
		s << in.rdbuf();
		return s.str();
	}
	std::string file(const std::string &name, const std::string &text)
	{
		const std::string path = dir_ + "/" + name;
		std::ofstream(path) << text;
		return path;
	}

	std::string dir_, log_;
};

TEST_F(Online, ListPagesUntilAnEmptyPage)
{
	const CliRun r = cli({"list", "r"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(r.out, "2 36 remapped\n3 37 remapped\n10 - lost\n11 38 remapped\n");
	EXPECT_NE(calls().find("message r 0 -- list 0 4096\nmessage r 0 -- list 4 4096\n"
			       "message r 0 -- list 12 4096\n"),
		  std::string::npos)
		<< calls();
}

TEST_F(Online, ListJson)
{
	const CliRun r = cli({"list", "r", "--json"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(
		r.out,
		"{\"name\":\"r\",\"block_size\":4096,\"entries\":["
		"{\"data_block\":2,\"sector\":16,\"spare_block\":36,\"state\":\"remapped\"},"
		"{\"data_block\":3,\"sector\":24,\"spare_block\":37,\"state\":\"remapped\"},"
		"{\"data_block\":10,\"sector\":80,\"spare_block\":null,\"state\":\"lost\"},"
		"{\"data_block\":11,\"sector\":88,\"spare_block\":38,\"state\":\"remapped\"}]}\n");
}

TEST_F(Online, StatusJson)
{
	const CliRun r = cli({"status", "r", "--json"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(
		r.out,
		"{\"name\":\"r\",\"table\":{\"start\":0,\"length\":131072,\"data_dev\":\"7:0\","
		"\"data_offset\":2048,\"spare_dev\":\"7:1\",\"spare_offset\":0,\"spare_len\":32768,"
		"\"features\":[\"block_size\",\"4096\"]},\"status\":{\"block_size\":4096,"
		"\"remapped\":3,\"lost\":1,\"spare_used\":3,\"spare_total\":4060,\"metadata\":\"ok\","
		"\"seq\":9,\"mode\":\"rw\"},\"stats\":{\"bad_spare\":0,\"lost\":1,\"metadata\":\"ok\",\"remapped\":3,"
		"\"seq\":9,\"spare_free\":4057,\"spare_total\":4060,\"spare_used\":3}}\n");
	const CliRun t = cli({"status", "r"});
	EXPECT_NE(t.out.find("3 remapped, 1 lost"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("metadata: ok (seq 9)\n  mode:     read-write\n"), std::string::npos)
		<< t.out;
}

TEST_F(Online, OnlyRemapDevices)
{
	for (const char *cmd : {"status", "list", "remove", "export"}) {
		const CliRun r = cli({cmd, "lin"});
		EXPECT_EQ(r.status, 1) << cmd;
		EXPECT_NE(r.err.find("lin is not a dm-remap device"), std::string::npos) << r.err;
	}
	EXPECT_EQ(calls().find("remove lin"), std::string::npos);
}

TEST_F(Online, ImportSendsOneMessagePerRunOfBlocks)
{
	// Data device numbering, 1 KiB blocks; the data range starts at sector 2048 (list block
	// 1024): 1024..1031 are target blocks 0 and 1, 1100 is block 19.
	const std::string list = file("bb", "1024\n1025\n1027\n1028\n1031\n1100\n");
	const CliRun r = cli({"import", "r", list});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("imported 6 listed block(s) into 3 block(s) of 4096 bytes: "
			     "remapped=3 lost=0 already=0"),
		  std::string::npos)
		<< r.out;
	EXPECT_NE(calls().find("message r 0 -- remap 0 2\nmessage r 0 -- remap 152 1\n"),
		  std::string::npos)
		<< calls();
}

TEST_F(Online, ImportRefusesBadListsBeforeSendingAnything)
{
	const CliRun bad = cli({"import", "r", file("bad", "1024\nabc\n")});
	EXPECT_EQ(bad.status, 1);
	EXPECT_NE(bad.err.find(":2: 'abc' is not a block number; nothing was imported"),
		  std::string::npos)
		<< bad.err;
	const CliRun outside = cli({"import", "r", file("out", "1024\n5\n")});
	EXPECT_EQ(outside.status, 1);
	EXPECT_NE(outside.err.find("1 listed block(s) lie outside r's data range"),
		  std::string::npos)
		<< outside.err;
	EXPECT_EQ(cli({"import", "r", dir_ + "/missing"}).status, 1);
	EXPECT_EQ(calls().find("-- remap"), std::string::npos) << calls();

	const CliRun skip = cli({"import", "r", file("out2", "1024\n5\n"), "--ignore-outside"});
	EXPECT_EQ(skip.status, 0) << skip.err;
	EXPECT_NE(skip.out.find("(skipped 1 outside the data range)"), std::string::npos)
		<< skip.out;
	// --target: numbers count from the start of the dm device.
	cli({"import", "r", file("t", "4\n"), "--target"});
	EXPECT_NE(calls().find("message r 0 -- remap 8 1\n"), std::string::npos) << calls();
}

TEST_F(Online, Export)
{
	EXPECT_EQ(cli({"export", "r", "--format", "md"}).out, "2064 16\n2128 16\n");
	EXPECT_EQ(cli({"export", "r", "--format", "md", "--target"}).out, "16 16\n80 16\n");
	EXPECT_EQ(cli({"export", "r", "--only", "lost", "--badblocks-block-size", "4096"}).out,
		  "266\n");
	EXPECT_EQ(cli({"export", "r", "--only", "remapped", "--target", "--format", "md"}).out,
		  "16 16\n88 8\n");
}

} // namespace
