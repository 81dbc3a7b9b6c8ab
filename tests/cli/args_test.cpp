// dmremap's command line: options in both spellings, strict numbers, and a clear refusal of
// everything else.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

using dmremap::Args;
using dmremap::OptionSpec;
using dmremap::UsageError;

namespace {

const std::vector<OptionSpec> kSpecs = {{"offset", true}, {"json", false}, {"yes", false}};

Args parse(std::vector<std::string> words)
{
	std::vector<char *> argv;
	for (auto &w : words)
		argv.push_back(w.data());
	return dmremap::parse_args(static_cast<int>(argv.size()), argv.data(), kSpecs);
}

TEST(Args, PositionalAndOptionsInAnyOrder)
{
	const Args a = parse({"--offset", "2048", "/dev/sdc", "--json"});
	ASSERT_EQ(a.positional, std::vector<std::string>{"/dev/sdc"});
	EXPECT_EQ(a.number("offset", 0), 2048u);
	EXPECT_TRUE(a.has("json"));
	EXPECT_FALSE(a.has("yes"));
}

TEST(Args, EqualsSpelling)
{
	const Args a = parse({"--offset=8", "x"});
	EXPECT_EQ(a.number("offset", 0), 8u);
	EXPECT_EQ(a.number("missing", 7), 7u);
	EXPECT_FALSE(a.number("missing").has_value());
}

TEST(Args, DoubleDashEndsOptions)
{
	const Args a = parse({"--", "--json", "-x"});
	EXPECT_EQ(a.positional, (std::vector<std::string>{"--json", "-x"}));
	EXPECT_FALSE(a.has("json"));
}

TEST(Args, HelpIsAlwaysAccepted)
{
	EXPECT_TRUE(parse({"-h"}).has("help"));
	EXPECT_TRUE(parse({"--help"}).has("help"));
}

TEST(Args, Refusals)
{
	EXPECT_THROW(parse({"--frobnicate"}), UsageError);
	EXPECT_THROW(parse({"-x"}), UsageError);
	EXPECT_THROW(parse({"--offset"}), UsageError);         // missing value
	EXPECT_THROW(parse({"--json=1"}), UsageError);         // flag with a value
	EXPECT_THROW(parse({"--json", "--json"}), UsageError); // repeated
	EXPECT_THROW(parse({"--offset=1", "--offset=2"}), UsageError);
}

TEST(Args, NumbersAreStrict)
{
	for (const char *bad : {"", "-1", "+1", "0x10", "1k", " 1", "1 ", "18446744073709551616"}) {
		const Args a = parse({std::string("--offset=") + bad});
		EXPECT_THROW(a.number("offset", 0), UsageError) << "'" << bad << "'";
	}
	EXPECT_EQ(parse({"--offset=18446744073709551615"}).number("offset", 0), ~0ull);
	EXPECT_EQ(dmremap::parse_number("x", "0"), 0u);
}

TEST(Args, RequirePositional)
{
	const Args a = parse({"a", "b"});
	EXPECT_NO_THROW(dmremap::require_positional(a, 2, "<x> <y>"));
	EXPECT_THROW(dmremap::require_positional(a, 3, "<x> <y> <z>"), UsageError);
	EXPECT_THROW(dmremap::require_positional(a, 1, "<x>"), UsageError);
}

} // namespace
