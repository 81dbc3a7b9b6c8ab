// Message grammar: verbs in any case, exact argument counts, strict numbers.
#include <gtest/gtest.h>

#include <string>

#include "message_parser.h"
#include "table_test.h"

namespace {

std::string parse(const std::string &line, remap::Message *m)
{
	TableLine tl(line);
	const char *err = remap::error_text(remap::parse_message(tl.argc(), tl.argv.data(), m));
	return err ? err : "";
}

} // namespace

TEST(MessageParser, Verbs)
{
	remap::Message m{};
	ASSERT_EQ(parse("remap 4096", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Remap);
	EXPECT_EQ(m.nargs, 1u);
	EXPECT_EQ(m.args[0], 4096u);
	ASSERT_EQ(parse("UnReMaP 0", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Unremap);
	ASSERT_EQ(parse("list", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::List);
	EXPECT_EQ(m.nargs, 0u);
	ASSERT_EQ(parse("list 10 20", &m), "");
	EXPECT_EQ(m.nargs, 2u);
	EXPECT_EQ(m.args[1], 20u);
	ASSERT_EQ(parse("STATS", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Stats);
	ASSERT_EQ(parse("clear_stats", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::ClearStats);
	ASSERT_EQ(parse("help", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Help);
	ASSERT_EQ(parse("reprobe", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Reprobe);
	EXPECT_EQ(m.nargs, 0u);
	ASSERT_EQ(parse("RePrObE 8 3", &m), "");
	EXPECT_EQ(m.verb, remap::Verb::Reprobe);
	EXPECT_EQ(m.nargs, 2u);
	EXPECT_EQ(m.args[0], 8u);
	EXPECT_EQ(m.args[1], 3u);
	EXPECT_NE(std::string(remap::kMessageHelp).find("reprobe [<sector> [<count>]]"),
		  std::string::npos);
}

TEST(MessageParser, BadInput)
{
	remap::Message m{};
	const char *num = "Invalid number: digits only, no sign, at most 18446744073709551615";
	const std::pair<const char *, const char *> cases[] = {
		{"", "Empty message"},
		{"frobnicate 1", "Unknown message verb (try 'help')"},
		{"remapx 1", "Unknown message verb (try 'help')"},
		{"remap", "Usage: remap <sector> [<count>]"},
		{"remap 1 2 3", "Usage: remap <sector> [<count>]"},
		{"unremap", "Usage: unremap <sector>"},
		{"list 1 2 3", "Usage: list [<first_block> [<max>]]"},
		{"stats now", "Usage: stats"},
		{"clear_stats 1", "Usage: clear_stats"},
		{"help me", "Usage: help"},
		{"reprobe 1 2 3", "Usage: reprobe [<sector> [<count>]]"},
		{"reprobe -1", num},
		{"reprobe 1 x", num},
		{"reprobes", "Unknown message verb (try 'help')"},
		{"remap -1", num},
		{"remap +1", num},
		{"remap 0x10", num},
		{"remap 12abc", num},
		{"remap 18446744073709551616", num},
		{"list 1 x", num},
	};
	for (auto [line, err] : cases)
		EXPECT_EQ(parse(line, &m), err) << line;
}
