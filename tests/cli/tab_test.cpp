// dmremaptab(5): every option, every device spec, malformed lines reported with file:line and
// skipped whole; resolve_member against a fake /dev; activate/deactivate against a scripted
// dmsetup (DMREMAP_DMSETUP) and image files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_run.h"
#include "tab.h"

namespace {

using dmremap::parse_tab;
using dmremap::Tab;

Tab parse(const std::string &text)
{
	std::istringstream in(text);
	return parse_tab(in, "/etc/dmremaptab");
}

TEST(Tab, MinimalLineHasDefaults)
{
	const Tab t = parse("safe /dev/sdb /dev/sdc\n");
	ASSERT_TRUE(t.problems.empty()) << t.problems[0];
	ASSERT_EQ(t.entries.size(), 1u);
	const auto &e = t.entries[0];
	EXPECT_EQ(e.name, "safe");
	EXPECT_EQ(e.data, "/dev/sdb");
	EXPECT_EQ(e.spare, "/dev/sdc");
	EXPECT_EQ(e.line, 1u);
	EXPECT_EQ(e.where(), "/etc/dmremaptab:1");
	EXPECT_EQ(e.data_offset, 0u);
	EXPECT_FALSE(e.data_len || e.spare_len || e.block_size || e.read_retries ||
		     e.spare_low_water);
	EXPECT_FALSE(e.no_auto_remap || e.noauto || e.nofail || e.initramfs || e.readonly);
	EXPECT_EQ(e.timeout_sec, 90u);
}

TEST(Tab, EveryOption)
{
	const Tab t = parse(
		"# comment\n\n  \t\n"
		"r0 PARTUUID=0aB1-02 /dev/disk/by-id/ata-X-part2 "
		"data_offset=2048,data_len=1048576,spare_offset=8,spare_len=65536,"
		"block_size=8192,read_retries=5,spare_low_water=100,no_auto_remap,"
		"noauto,nofail,readonly,device-timeout=2min\n"
		"r1\tUUID=1234-abcd\tPARTLABEL=spare\tinitramfs,x-systemd.device-timeout=30s\n"
		"r2 LABEL=data /dev/vdc -\n"
		"r3 /dev/vdb /dev/vdc defaults\n"
		"r4 /dev/vdb /dev/vdc device-timeout=0\r\n");
	ASSERT_TRUE(t.problems.empty()) << t.problems[0];
	ASSERT_EQ(t.entries.size(), 5u);
	const auto &a = t.entries[0];
	EXPECT_EQ(a.line, 4u);
	EXPECT_EQ(a.data, "PARTUUID=0aB1-02");
	EXPECT_EQ(a.spare, "/dev/disk/by-id/ata-X-part2");
	EXPECT_EQ(a.data_offset, 2048u);
	EXPECT_EQ(a.data_len.value(), 1048576u);
	EXPECT_EQ(a.spare_offset, 8u);
	EXPECT_EQ(a.spare_len.value(), 65536u);
	EXPECT_EQ(a.block_size.value(), 8192u);
	EXPECT_EQ(a.read_retries.value(), 5u);
	EXPECT_EQ(a.spare_low_water.value(), 100u);
	EXPECT_TRUE(a.no_auto_remap && a.noauto && a.nofail && a.readonly);
	EXPECT_FALSE(a.initramfs);
	EXPECT_EQ(a.timeout_sec, 120u);
	const auto &b = t.entries[1];
	EXPECT_EQ(b.data, "UUID=1234-abcd");
	EXPECT_EQ(b.spare, "PARTLABEL=spare");
	EXPECT_TRUE(b.initramfs);
	EXPECT_EQ(b.timeout_sec, 30u);
	EXPECT_EQ(t.entries[2].data, "LABEL=data");
	EXPECT_FALSE(t.entries[3].nofail);
	EXPECT_EQ(t.entries[4].timeout_sec, 0u);
	EXPECT_EQ(t.entries[4].spare, "/dev/vdc");

	const auto spec = a.spec("/dev/sdb1", "/dev/sdc2");
	EXPECT_EQ(spec.data_path, "/dev/sdb1");
	EXPECT_EQ(spec.spare_path, "/dev/sdc2");
	EXPECT_EQ(spec.data_offset, 2048u);
	EXPECT_EQ(spec.spare_len.value(), 65536u);
	EXPECT_EQ(spec.block_size.value(), 8192u);
	EXPECT_TRUE(spec.no_auto_remap);
}

// Each malformed line is reported once with its file:line and skipped whole; the good lines
// around it are kept and nothing of the bad line leaks into them.
TEST(Tab, MalformedLinesAreReportedAndSkippedWhole)
{
	const std::pair<const char *, const char *> bad[] = {
		{"only two", "expected '<name> <data> <spare> [<options>]', found 2 field(s)"},
		{"a /dev/x /dev/y nofail extra", "expected at most 4 fields, found 5"},
		{"a/b /dev/x /dev/y", "'a/b' is not a valid device-mapper name"},
		{". /dev/x /dev/y", "'.' is not a valid device-mapper name"},
		{"a sdb /dev/y", "data device 'sdb' is neither an absolute path nor UUID="},
		{"a /dev/x spare", "spare device 'spare' is neither"},
		{"a /dev/ /dev/y", "data device '/dev/' is neither"},
		{"a / /dev/y", "data device '/' is neither"},
		{"a ID=x /dev/y", "data device 'ID=x' is neither"},
		{"a UUID= /dev/y", "data device 'UUID=': UUID= needs a value"},
		{"a /dev/x PARTUUID=a/b", "PARTUUID= needs a value without '/'"},
		{"a /dev/x /dev/y nofail,bogus", "unknown option 'bogus'"},
		{"a /dev/x /dev/y nofail,,noauto", "empty option in 'nofail,,noauto'"},
		{"a /dev/x /dev/y nofail=1", "option nofail takes no value"},
		{"a /dev/x /dev/y data_len", "option data_len needs a value"},
		{"a /dev/x /dev/y data_len=", "option data_len needs a value"},
		{"a /dev/x /dev/y data_len=0", "option data_len must not be 0"},
		{"a /dev/x /dev/y spare_len=0", "option spare_len must not be 0"},
		{"a /dev/x /dev/y data_offset=-1", "option data_offset: '-1' is not a decimal"},
		{"a /dev/x /dev/y spare_offset=1k", "'1k' is not a decimal number"},
		{"a /dev/x /dev/y spare_low_water=99999999999999999999", "is not a decimal"},
		{"a /dev/x /dev/y block_size=1000", "block_size must be a power of two"},
		{"a /dev/x /dev/y block_size=131072", "block_size must be a power of two"},
		{"a /dev/x /dev/y read_retries=101", "read_retries must be 0 to 100, not 101"},
		{"a /dev/x /dev/y device-timeout=5h", "'5h' is not a decimal number"},
		{"a /dev/x /dev/y nofail,nofail", "option nofail is given twice"},
		{"a /dev/x /dev/y device-timeout=1,x-systemd.device-timeout=2",
		 "option device-timeout is given twice"},
		{"a /dev/x /dev/y noauto,initramfs", "noauto and initramfs contradict"},
	};
	for (const auto &[line, why] : bad) {
		const Tab t = parse("good /dev/vdb /dev/vdc nofail\n" + std::string(line) +
				    "\nlater /dev/vdd /dev/vde\n");
		ASSERT_EQ(t.problems.size(), 1u) << line;
		EXPECT_EQ(t.problems[0].rfind("/etc/dmremaptab:2: ", 0), 0u) << t.problems[0];
		EXPECT_NE(t.problems[0].find(why), std::string::npos) << t.problems[0];
		EXPECT_NE(t.problems[0].find("line skipped"), std::string::npos);
		ASSERT_EQ(t.entries.size(), 2u) << line;
		EXPECT_EQ(t.entries[0].name, "good");
		EXPECT_EQ(t.entries[1].name, "later");
		EXPECT_FALSE(t.entries[1].nofail);
		EXPECT_EQ(t.entries[1].line, 3u);
	}
}

TEST(Tab, ASecondLineOfTheSameNameIsSkipped)
{
	const Tab t = parse("a /dev/x /dev/y\nb /dev/x /dev/z\na /dev/p /dev/q nofail\n");
	ASSERT_EQ(t.entries.size(), 2u);
	ASSERT_EQ(t.problems.size(), 1u);
	EXPECT_EQ(t.problems[0],
		  "/etc/dmremaptab:3: 'a' is already defined at "
		  "/etc/dmremaptab:1; line skipped");
	EXPECT_EQ(t.find("a")->spare, "/dev/y");
}

TEST(Tab, MissingFileIsEmpty)
{
	const Tab t = dmremap::read_tab("/nonexistent/dmremaptab");
	EXPECT_TRUE(t.entries.empty());
	EXPECT_TRUE(t.problems.empty());
}

class TabFiles : public ::testing::Test {
protected:
	void SetUp() override
	{
		char dir[] = "/tmp/dmremap-tab.XXXXXX";
		ASSERT_NE(mkdtemp(dir), nullptr);
		dir_ = dir;
	}
	void TearDown() override
	{
		unsetenv("DMREMAP_DMSETUP");
		unsetenv("FAKE_DM_LOG");
		std::system(("rm -rf " + dir_).c_str());
	}
	std::string file(const std::string &name, const std::string &text)
	{
		const std::string path = dir_ + "/" + name;
		std::ofstream(path) << text;
		return path;
	}
	// An image of `mib` MiB of zeros.
	std::string image(const std::string &name, int mib)
	{
		const std::string path = dir_ + "/" + name;
		EXPECT_EQ(truncate(file(name, "").c_str(), static_cast<off_t>(mib) << 20), 0);
		return path;
	}
	void link(const std::string &target, const std::string &at)
	{
		const std::string path = dir_ + "/dev/" + at;
		std::system(("mkdir -p $(dirname " + path + ")").c_str());
		ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
	}
	std::string log()
	{
		std::ifstream in(dir_ + "/log");
		std::stringstream s;
		s << in.rdbuf();
		return s.str();
	}
	void fake_dmsetup(const std::string &body)
	{
		const std::string script =
			file("dmsetup",
			     "#!/bin/sh\necho \"$*\" >>\"$FAKE_DM_LOG\"\n"
			     "case \"$*\" in\n" +
				     body + "  *) echo \"unexpected: $*\" >&2; exit 1 ;;\nesac\n");
		ASSERT_EQ(chmod(script.c_str(), 0755), 0);
		setenv("DMREMAP_DMSETUP", script.c_str(), 1);
		setenv("FAKE_DM_LOG", (dir_ + "/log").c_str(), 1);
	}

	std::string dir_;
};

TEST_F(TabFiles, ResolveMemberFollowsEachSpecAndPrefersTheClaimLink)
{
	const std::string img = image("d.img", 1);
	const Tab t = parse("a UUID=u-1 PARTUUID=ABCD-01\nb PARTLABEL=d LABEL=s\n"
			    "c /dev/disk/by-id/x /dev/vdc\n");
	const std::string dev = dir_ + "/dev";
	EXPECT_FALSE(dmremap::resolve_member(t.entries[0], false, dev));
	for (const char *l : {"disk/by-uuid/u-1", "disk/by-partuuid/abcd-01", "disk/by-partlabel/d",
			      "disk/by-label/s", "disk/by-id/x", "vdc"})
		link(img, l);
	EXPECT_EQ(dmremap::resolve_member(t.entries[0], false, dev).value(),
		  dev + "/disk/by-uuid/u-1");
	EXPECT_EQ(dmremap::resolve_member(t.entries[0], true, dev).value(),
		  dev + "/disk/by-partuuid/abcd-01");
	EXPECT_EQ(dmremap::resolve_member(t.entries[1], false, dev).value(),
		  dev + "/disk/by-partlabel/d");
	EXPECT_EQ(dmremap::resolve_member(t.entries[1], true, dev).value(),
		  dev + "/disk/by-label/s");
	EXPECT_EQ(dmremap::resolve_member(t.entries[2], false, dev).value(), dev + "/disk/by-id/x");
	EXPECT_EQ(dmremap::resolve_member(t.entries[2], true, dev).value(), dev + "/vdc");
	// The raw data disk is claimed by udev: its by-uuid link is gone, the claim link is there.
	ASSERT_EQ(unlink((dev + "/disk/by-uuid/u-1").c_str()), 0);
	EXPECT_FALSE(dmremap::resolve_member(t.entries[0], false, dev));
	link(img, "disk/dmremap/a/data");
	EXPECT_EQ(dmremap::resolve_member(t.entries[0], false, dev).value(),
		  dev + "/disk/dmremap/a/data");
}

TEST_F(TabFiles, ActivateDryRunPrintsTheCheckedCreate)
{
	const std::string data = image("data.img", 64), spare = image("spare.img", 8);
	const std::string tab = file(
		"tab", "r0 " + data + " " + spare + " block_size=8192,read_retries=3,readonly\n");
	const CliRun r = cli({"activate", "r0", "--tab", tab, "--dry-run"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(r.out,
		  "dmsetup create r0 --uuid DMREMAP-r0 --readonly --table '0 131072 remap " + data +
			  " 0 " + spare + " 0 16384 4 block_size 8192 read_retries 3'\n");
}

TEST_F(TabFiles, ActivateChecksLikeCreateAndCreatesNothingOnAFile)
{
	const std::string data = image("data.img", 64), spare = image("spare.img", 8);
	fake_dmsetup("  \"info -c --noheadings -o name\") echo other ;;\n");
	const std::string tab = file("tab", "r0 " + data + " " + spare + "\n");
	CliRun r = cli({"activate", "r0", "--tab", tab});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.out.find(tab + ":1: r0: " + data + " is not a block device"), std::string::npos)
		<< r.out;
	EXPECT_NE(r.err.find("1 of 1 device(s) not activated"), std::string::npos) << r.err;
	EXPECT_EQ(log(), "info -c --noheadings -o name\n");

	// A spare area that holds something else is refused with the module's reason.
	{
		std::fstream f(spare, std::ios::in | std::ios::out | std::ios::binary);
		f << "not dm-remap metadata";
	}
	r = cli({"activate", "r0", "--tab", tab, "--dry-run"});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.out.find("the spare area of " + spare + " cannot be used with this line"),
		  std::string::npos)
		<< r.out;

	// A member that is not there.
	const std::string tab2 =
		file("tab2", "r0 /dev/disk/by-id/nonexistent-dmremap " + spare + "\n");
	r = cli({"activate", "r0", "--tab", tab2, "--wait", "0", "--dry-run"});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.out.find(tab2 +
			     ":1: r0: data device /dev/disk/by-id/nonexistent-dmremap not "
			     "found"),
		  std::string::npos)
		<< r.out;
	r = cli({"activate", "r0", "--tab", tab2, "--wait", "1", "--dry-run"});
	EXPECT_NE(r.out.find("not found after waiting 1 s"), std::string::npos) << r.out;
}

TEST_F(TabFiles, ActivateLeavesAnActiveDeviceAndRefusesAForeignOne)
{
	fake_dmsetup("  \"info -c --noheadings -o name\") printf 'r0\\nlin\\n' ;;\n"
		     "  \"table r0\") echo '0 8 remap 7:0 0 7:1 0 8' ;;\n"
		     "  \"table lin\") echo '0 8 linear 7:0 0' ;;\n");
	const std::string tab = file("tab", "r0 /dev/vdb /dev/vdc\nlin /dev/vdb /dev/vdc\n");
	CliRun r = cli({"activate", "r0", "--tab", tab});
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(r.out, "r0: already active\n");
	r = cli({"activate", "lin", "--tab", tab});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.out.find(tab +
			     ":2: lin: a device-mapper device of that name exists and is not "
			     "a dm-remap device"),
		  std::string::npos)
		<< r.out;
	EXPECT_EQ(log().find("create"), std::string::npos);
}

TEST_F(TabFiles, ActivateAllSkipsMalformedAndNoautoLines)
{
	const std::string data = image("data.img", 64), spare = image("spare.img", 8);
	const std::string tab = file("tab",
				     "a " + data + " " + spare + "\n" + "b " + data + " " + spare +
					     " bogus\n" + "c " + data + " " + spare + " noauto\n" +
					     "d " + data + " " + spare + " initramfs,nofail\n");
	CliRun r = cli({"activate", "--all", "--tab", tab, "--dry-run"});
	EXPECT_EQ(r.status, 1); // the good lines are up, the bad one still needs fixing
	EXPECT_NE(r.out.find("warning: " + tab + ":2: unknown option 'bogus'; line skipped\n"),
		  std::string::npos)
		<< r.out;
	EXPECT_NE(r.out.find("dmsetup create a "), std::string::npos);
	EXPECT_EQ(r.out.find("dmsetup create b "), std::string::npos);
	EXPECT_EQ(r.out.find("dmsetup create c "), std::string::npos);
	EXPECT_NE(r.out.find("dmsetup create d "), std::string::npos);
	r = cli({"activate", "--initramfs", "--tab", tab, "--dry-run"});
	EXPECT_EQ(r.out.find("dmsetup create a "), std::string::npos);
	EXPECT_NE(r.out.find("dmsetup create d "), std::string::npos);
	// A noauto line is activated by name.
	r = cli({"activate", "c", "--tab", tab, "--dry-run"});
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("dmsetup create c "), std::string::npos);
	// The malformed line is not activated by name either.
	r = cli({"activate", "b", "--tab", tab, "--dry-run"});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.err.find(tab + ":2: unknown option 'bogus'"), std::string::npos) << r.err;
}

TEST_F(TabFiles, ActivateUsage)
{
	const std::string tab = file("tab", "a /dev/vdb /dev/vdc\n");
	EXPECT_EQ(cli({"activate", "--tab", tab}).status, 2);
	EXPECT_EQ(cli({"activate", "a", "--all", "--tab", tab}).status, 2);
	EXPECT_EQ(cli({"activate", "--all", "--initramfs", "--tab", tab}).status, 2);
	EXPECT_EQ(cli({"deactivate", "a", "b", "--tab", tab}).status, 2);
	EXPECT_EQ(cli({"activate", "--help"}).status, 0);
}

TEST_F(TabFiles, DeactivateRemovesOnlyActiveRemapDevicesInReverse)
{
	fake_dmsetup("  \"info -c --noheadings -o name\") printf 'r0\\nr1\\nr3\\n' ;;\n"
		     "  \"table r0\"|\"table r3\") echo '0 8 remap 7:0 0 7:1 0 8' ;;\n"
		     "  \"table r1\") echo '0 8 linear 7:0 0' ;;\n"
		     "  \"remove r0\"|\"remove r3\") ;;\n");
	const std::string tab = file("tab",
				     "r0 /dev/vdb /dev/vdc\nr1 /dev/vdb /dev/vdc\n"
				     "r2 /dev/vdb /dev/vdc\nr3 /dev/vdd /dev/vde\n");
	CliRun r = cli({"deactivate", "--all", "--tab", tab});
	EXPECT_EQ(r.status, 1);
	EXPECT_EQ(r.out,
		  "r3: deactivated\nr2: not active\n" + tab +
			  ":2: r1: not a dm-remap device; left alone\nr0: deactivated\n");
	EXPECT_NE(log().find("remove r3\n"), std::string::npos);
	EXPECT_EQ(log().find("remove r1"), std::string::npos);
	r = cli({"deactivate", "r2", "--tab", tab});
	EXPECT_EQ(r.status, 0);
	EXPECT_EQ(r.out, "r2: not active\n");
}
} // namespace
