// The command dispatcher: help for every command, usage errors with status 2 (16 for check),
// and online commands failing cleanly when dmsetup does.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "commands.h"

namespace {

TEST(Cli, GlobalHelpAndUnknownCommands)
{
	const CliRun h = cli({"--help"});
	EXPECT_EQ(h.status, 0);
	for (const auto &c : dmremap::commands())
		EXPECT_NE(h.out.find(std::string("  ") + c.name), std::string::npos) << c.name;
	EXPECT_EQ(cli({}).status, 2);
	const CliRun u = cli({"frobnicate"});
	EXPECT_EQ(u.status, 2);
	EXPECT_NE(u.err.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Cli, EveryCommandHasHelp)
{
	for (const auto &c : dmremap::commands()) {
		const CliRun r = cli({c.name, "--help"});
		EXPECT_EQ(r.status, 0) << c.name;
		EXPECT_EQ(r.out.rfind(std::string("Usage: dmremap ") + c.name, 0), 0u) << r.out;
		EXPECT_TRUE(r.err.empty());
	}
}

TEST(Cli, UsageErrorsNameTheProblem)
{
	struct Case {
		std::vector<std::string> words;
		const char *message;
	};
	const Case cases[] = {
		{{"create", "r", "/dev/ram0"}, "missing arguments"},
		{{"create", "r", "a", "b", "c"}, "unexpected argument 'c'"},
		{{"create", "r", "a", "b", "--block-size", "1000"}, "power of two"},
		{{"create", "r", "a", "b", "--read-retries", "101"}, "0 to 100"},
		{{"create", "r", "a", "b", "--data-offset", "-8"}, "not a plain decimal number"},
		{{"create", "a/b", "x", "y"}, "not a valid device-mapper name"},
		{{"status", "r", "--yaml"}, "unknown option --yaml"},
		{{"export", "r", "--format", "csv"}, "--format must be badblocks or md"},
		{{"export", "r", "--only", "bad"}, "--only must be remapped or lost"},
		{{"import", "r", "f", "--badblocks-block-size", "1000"}, "power of two"},
		{{"remove"}, "missing arguments"},
	};
	for (const Case &c : cases) {
		const CliRun r = cli(c.words);
		EXPECT_EQ(r.status, 2) << c.words[0] << ": " << r.err;
		EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
		EXPECT_TRUE(r.out.empty()) << r.out;
	}
}

// A dmsetup that fails every call: the online commands report it and exit 1.
TEST(Cli, DmsetupFailuresAreReported)
{
	setenv("DMREMAP_DMSETUP", "false", 1);
	for (const char *cmd : {"status", "list", "remove", "export"}) {
		const CliRun r = cli({cmd, "r"});
		EXPECT_EQ(r.status, 1) << cmd;
		EXPECT_NE(r.err.find("false table r failed (exit status 1)"), std::string::npos)
			<< r.err;
	}
	setenv("DMREMAP_DMSETUP", "/nonexistent/dmsetup", 1);
	const CliRun r = cli({"status", "r"});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.err.find("cannot run /nonexistent/dmsetup"), std::string::npos) << r.err;
	unsetenv("DMREMAP_DMSETUP");
}

} // namespace
