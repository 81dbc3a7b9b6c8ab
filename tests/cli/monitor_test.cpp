// dmremap monitor: the events (kind and priority) between two looks at a device, the
// node-exporter textfile, and --oneshot against a scripted dmsetup with a PROGRAM hook.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_run.h"
#include "monitor.h"

namespace {

using dmremap::DevState;
using dmremap::Event;
using dmremap::state_events;

DevState healthy()
{
	DevState s;
	s.name = "r0";
	s.spare_free = 100;
	s.spare_total = 100;
	s.low_water = 10;
	s.metadata = "ok";
	return s;
}

std::string kinds(const std::vector<Event> &ev)
{
	std::string k;
	for (const Event &e : ev)
		k += e.kind + ":" + std::to_string(e.priority) + " ";
	return k;
}

TEST(MonitorEvents, FirstSightReportsLastingConditions)
{
	DevState s = healthy();
	auto ev = state_events(std::nullopt, s);
	EXPECT_EQ(kinds(ev), "DeviceAppeared:6 ");
	EXPECT_EQ(ev[0].message,
		  "monitoring: 0 remapped, 0 lost, 100 of 100 spare blocks free, 0 bad, "
		  "metadata ok");
	s.lost = 2;
	s.bad_spare = 1;
	s.spare_free = 10;
	s.metadata = "degraded";
	EXPECT_EQ(
		kinds(state_events(std::nullopt, s)),
		"DeviceAppeared:6 BlocksLost:3 SpareFailed:3 SpareLowWater:4 MetadataDegraded:4 ");
	s.spare_free = 0;
	s.metadata = "failed";
	EXPECT_EQ(kinds(state_events(std::nullopt, s)),
		  "DeviceAppeared:6 BlocksLost:3 SpareFailed:3 SpareExhausted:2 MetadataFailed:2 ");
}

TEST(MonitorEvents, EachChangeIsOneEventWithItsPriority)
{
	const DevState b = healthy();
	DevState s = b;
	EXPECT_EQ(kinds(state_events(b, s)), ""); // nothing changed, nothing said
	s.remapped = 3;
	s.spare_free = 97;
	auto ev = state_events(b, s);
	EXPECT_EQ(kinds(ev), "BlocksRemapped:4 ");
	EXPECT_EQ(ev[0].device, "r0");
	EXPECT_EQ(ev[0].message,
		  "3 more block(s) remapped (3 in all); 97 of 100 spare blocks free");
	s = b;
	s.lost = 1;
	EXPECT_EQ(kinds(state_events(b, s)), "BlocksLost:3 ");
	s = b;
	s.bad_spare = 2;
	s.write_errors = 2;
	EXPECT_EQ(kinds(state_events(b, s)), "SpareFailed:3 IoErrors:5 ");
	// Low water once, when it is crossed; not again below it.
	s = b;
	s.remapped = 90;
	s.spare_free = 10;
	EXPECT_EQ(kinds(state_events(b, s)), "BlocksRemapped:4 SpareLowWater:4 ");
	DevState s2 = s;
	s2.remapped = 91;
	s2.spare_free = 9;
	EXPECT_EQ(kinds(state_events(s, s2)), "BlocksRemapped:4 ");
	DevState s3 = s2;
	s3.remapped = 100;
	s3.spare_free = 0;
	EXPECT_EQ(kinds(state_events(s2, s3)), "BlocksRemapped:4 SpareExhausted:2 ");
	EXPECT_EQ(kinds(state_events(s3, s3)), "");
	// Metadata.
	s = b;
	s.metadata = "failed";
	ev = state_events(b, s);
	EXPECT_EQ(kinds(ev), "MetadataFailed:2 ");
	EXPECT_EQ(kinds(state_events(s, b)), "MetadataOk:5 ");
	// A reload restarts the error counters: no event for counters that went down.
	s = b;
	s.read_errors = 5;
	EXPECT_EQ(kinds(state_events(s, b)), "");
	EXPECT_EQ(kinds(state_events(b, std::nullopt)), "DeviceRemoved:5 ");
	EXPECT_EQ(kinds(state_events(std::nullopt, std::nullopt)), "");
}

TEST(MonitorEvents, ASpareDeviceThatFailsIsCritical)
{
	const DevState b = healthy();
	DevState s = b;
	s.spare = "failed";
	auto ev = state_events(b, s);
	EXPECT_EQ(kinds(ev), "SpareDeviceFailed:2 ");
	EXPECT_EQ(ev[0].message,
		  "spare device failed: no spare block accepts a write; automatic "
		  "remaps stop until a resume or a remap message that succeeds");
	EXPECT_EQ(kinds(state_events(s, s)), "");
	EXPECT_EQ(kinds(state_events(s, b)), "SpareDeviceOk:5 ");
	EXPECT_EQ(kinds(state_events(std::nullopt, s)), "DeviceAppeared:6 SpareDeviceFailed:2 ");
	EXPECT_NE(dmremap::textfile_text({s}).find("dmremap_spare_ok{device=\"r0\"} 0\n"),
		  std::string::npos);
	EXPECT_NE(dmremap::textfile_text({b}).find("dmremap_spare_ok{device=\"r0\"} 1\n"),
		  std::string::npos);
}

TEST(MonitorTextfile, OneSeriesPerDevice)
{
	DevState a = healthy();
	a.remapped = 3;
	a.lost = 1;
	a.spare_free = 97;
	a.bad_spare = 2;
	a.read_errors = 4;
	a.write_errors = 5;
	DevState b = healthy();
	b.name = "we\"ird\\";
	b.metadata = "failed";
	const std::string t = dmremap::textfile_text({a, b});
	EXPECT_NE(t.find("# HELP dmremap_remapped_blocks Data blocks remapped to the spare area.\n"
			 "# TYPE dmremap_remapped_blocks gauge\n"
			 "dmremap_remapped_blocks{device=\"r0\"} 3\n"
			 "dmremap_remapped_blocks{device=\"we\\\"ird\\\\\"} 0\n"),
		  std::string::npos)
		<< t;
	for (const char *line : {"dmremap_lost_blocks{device=\"r0\"} 1\n",
				 "dmremap_spare_free_blocks{device=\"r0\"} 97\n",
				 "dmremap_spare_total_blocks{device=\"r0\"} 100\n",
				 "dmremap_spare_bad_blocks{device=\"r0\"} 2\n",
				 "dmremap_spare_low_water_blocks{device=\"r0\"} 10\n",
				 "# TYPE dmremap_read_errors_total counter\n",
				 "dmremap_read_errors_total{device=\"r0\"} 4\n",
				 "dmremap_write_errors_total{device=\"r0\"} 5\n",
				 "dmremap_metadata_ok{device=\"r0\"} 1\n",
				 "dmremap_metadata_ok{device=\"we\\\"ird\\\\\"} 0\n"})
		EXPECT_NE(t.find(line), std::string::npos) << line;
	EXPECT_EQ(dmremap::textfile_text({}).find("{"), std::string::npos);
}

// Two remap devices (one failing) and a linear one, as dmsetup reports them.
constexpr const char kScript[] = R"(#!/bin/sh
echo "$*" >>"$FAKE_DM_LOG"
case "$*" in
  "info -c --noheadings -o name,events --separator  ") printf 'good 3\nbad 7\nlin 0\n' ;;
  "ls --target remap") printf 'bad\t(253:1)\ngood\t(253:0)\n' ;;
  "table good") echo "0 131072 remap 7:0 0 7:1 0 32768 2 block_size 4096" ;;
  "table bad") echo "0 131072 remap 7:2 0 7:3 0 32768 2 spare_low_water 100" ;;
  "message good 0 -- stats")
    echo "remapped=3 lost=0 spare_used=3 spare_free=4057 spare_total=4060 bad_spare=0 read_errors=0 write_errors=1 auto_remaps=1 manual_remaps=2 cache_hits=0 cache_misses=1 metadata=ok seq=9" ;;
  "message bad 0 -- stats")
    echo "remapped=3980 lost=2 spare_used=3980 spare_free=80 spare_total=4060 bad_spare=0 read_errors=7 write_errors=0 auto_remaps=0 manual_remaps=0 cache_hits=0 cache_misses=0 metadata=failed seq=12${FAKE_SPARE:+ spare=$FAKE_SPARE}" ;;
  *) echo "fake dmsetup: unexpected: $*" >&2; exit 1 ;;
esac
)";

class MonitorOneshot : public ::testing::Test {
protected:
	void SetUp() override
	{
		char dir[] = "/tmp/dmremap-monitor.XXXXXX";
		ASSERT_NE(mkdtemp(dir), nullptr);
		dir_ = dir;
		const std::string script = dir_ + "/dmsetup";
		std::ofstream(script) << kScript;
		ASSERT_EQ(chmod(script.c_str(), 0755), 0);
		const std::string prog = dir_ + "/hook";
		std::ofstream(prog)
			<< "#!/bin/sh\necho \"$1 $2 p=$DMREMAP_PRIORITY lost=$DMREMAP_LOST "
			   "free=$DMREMAP_SPARE_FREE md=$DMREMAP_METADATA "
			   "msg=$DMREMAP_MESSAGE\" >>" +
				dir_ + "/hook.log\n";
		ASSERT_EQ(chmod(prog.c_str(), 0755), 0);
		setenv("DMREMAP_DMSETUP", script.c_str(), 1);
		setenv("FAKE_DM_LOG", (dir_ + "/log").c_str(), 1);
		unsetenv("JOURNAL_STREAM");
	}
	void TearDown() override
	{
		unsetenv("DMREMAP_DMSETUP");
		unsetenv("FAKE_DM_LOG");
		std::system(("rm -rf " + dir_).c_str());
	}
	std::string read(const std::string &name)
	{
		std::ifstream in(dir_ + "/" + name);
		std::stringstream s;
		s << in.rdbuf();
		return s.str();
	}
	std::string dir_;
};

TEST_F(MonitorOneshot, ReportsRunsTheProgramAndWritesTheTextfile)
{
	const CliRun r = cli({"monitor", "--oneshot", "--program", dir_ + "/hook", "--textfile",
			      dir_ + "/dmremap.prom"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(
		r.out,
		"info: bad: monitoring: 3980 remapped, 2 lost, 80 of 4060 spare blocks free, 0 bad, "
		"metadata failed\n"
		"error: bad: 2 block(s) lost: reads of them fail until they are written again\n"
		"warning: bad: spare blocks low: 80 of 4060 spare blocks free (spare_low_water 100)\n"
		"critical: bad: metadata failed: nothing more is written to the spare area and no "
		"more blocks are remapped until the table is reloaded\n"
		"info: good: monitoring: 3 remapped, 0 lost, 4057 of 4060 spare blocks free, 0 bad, "
		"metadata ok\n");
	const std::string hook = read("hook.log");
	EXPECT_EQ(hook,
		  "BlocksLost bad p=3 lost=2 free=80 md=failed msg=2 block(s) lost: reads of "
		  "them fail until they are written again\n"
		  "SpareLowWater bad p=4 lost=2 free=80 md=failed msg=spare blocks low: 80 of "
		  "4060 spare blocks free (spare_low_water 100)\n"
		  "MetadataFailed bad p=2 lost=2 free=80 md=failed msg=metadata failed: nothing "
		  "more is written to the spare area and no more blocks are remapped until the "
		  "table is reloaded\n");
	const std::string prom = read("dmremap.prom");
	EXPECT_NE(prom.find("dmremap_remapped_blocks{device=\"bad\"} 3980\n"
			    "dmremap_remapped_blocks{device=\"good\"} 3\n"),
		  std::string::npos)
		<< prom;
	EXPECT_NE(prom.find("dmremap_spare_low_water_blocks{device=\"good\"} 409\n"),
		  std::string::npos)
		<< prom; // the default: a tenth of the 4096 blocks of a 32768-sector spare range
	EXPECT_NE(prom.find("dmremap_metadata_ok{device=\"bad\"} 0\n"), std::string::npos);
	EXPECT_NE(prom.find("dmremap_write_errors_total{device=\"good\"} 1\n"), std::string::npos);
	EXPECT_EQ(prom.find("lin"), std::string::npos);
	// No temporary file is left behind.
	EXPECT_EQ(std::system(("test $(ls " + dir_ + " | grep -c tmp) = 0").c_str()), 0);
}

TEST_F(MonitorOneshot, JournalPrefixesWhenStdoutIsTheJournal)
{
	setenv("JOURNAL_STREAM", "8:1234", 1);
	const CliRun r = cli({"monitor", "--oneshot"});
	unsetenv("JOURNAL_STREAM");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(r.out.rfind("<6>bad: monitoring: ", 0), 0u) << r.out;
	EXPECT_NE(r.out.find("\n<3>bad: 2 block(s) lost"), std::string::npos);
	EXPECT_NE(r.out.find("\n<2>bad: metadata failed"), std::string::npos);
	EXPECT_EQ(cli({"monitor", "--oneshot", "--journal"}).out, r.out);
}

TEST_F(MonitorOneshot, ReadsTheSpareStateFromStats)
{
	setenv("FAKE_SPARE", "failed", 1);
	const CliRun r = cli({"monitor", "--oneshot", "--journal", "--program", dir_ + "/hook",
			      "--textfile", dir_ + "/dmremap.prom"});
	unsetenv("FAKE_SPARE");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("\n<2>bad: spare device failed: no spare block accepts a write"),
		  std::string::npos)
		<< r.out;
	EXPECT_NE(read("hook.log").find("SpareDeviceFailed bad p=2 "), std::string::npos);
	const std::string prom = read("dmremap.prom");
	EXPECT_NE(prom.find("dmremap_spare_ok{device=\"bad\"} 0\n"
			    "dmremap_spare_ok{device=\"good\"} 1\n"),
		  std::string::npos)
		<< prom;
}

TEST_F(MonitorOneshot, AFailingProgramIsReported)
{
	const CliRun r = cli({"monitor", "--oneshot", "--program", "/bin/false"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("error: /bin/false BlocksLost bad exited with status 1\n"),
		  std::string::npos)
		<< r.out;
	const CliRun bad =
		cli({"monitor", "--oneshot", "--textfile", dir_ + "/no/such/dir/x.prom"});
	EXPECT_EQ(bad.status, 1);
	EXPECT_NE(bad.err.find("no/such/dir/x.prom.tmp."), std::string::npos) << bad.err;
}

} // namespace
