// The --json writer: valid documents whatever the strings hold.
#include <gtest/gtest.h>

#include <string>

#include "json.h"

using dmremap::json_escape;
using dmremap::JsonWriter;

namespace {

TEST(Json, EscapesQuotesBackslashesAndControlCharacters)
{
	EXPECT_EQ(json_escape("plain /dev/sdb"), "plain /dev/sdb");
	EXPECT_EQ(json_escape("a\"b\\c"), "a\\\"b\\\\c");
	EXPECT_EQ(json_escape("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
	EXPECT_EQ(json_escape(std::string("\x01\x1f\x7f", 3)), "\\u0001\\u001f\\u007f");
	EXPECT_EQ(json_escape(std::string("nul\0end", 7)), "nul\\u0000end");
	// UTF-8 passes through unchanged.
	EXPECT_EQ(json_escape("m\xc3\xa9tadonn\xc3\xa9"
			      "es"),
		  "m\xc3\xa9tadonn\xc3\xa9"
		  "es");
}

TEST(Json, CommasAndNesting)
{
	JsonWriter j;
	j.begin_object();
	j.field("name", "r\"1");
	j.field("n", uint64_t{18446744073709551615ull});
	j.field("ok", true);
	j.key("none").null();
	j.key("list").begin_array();
	j.value(uint64_t{1}).value("two");
	j.begin_object().field("x", false).end_object();
	j.begin_array().end_array();
	j.end_array();
	j.key("empty").begin_object().end_object();
	j.end_object();
	EXPECT_EQ(j.str(),
		  "{\"name\":\"r\\\"1\",\"n\":18446744073709551615,\"ok\":true,"
		  "\"none\":null,\"list\":[1,\"two\",{\"x\":false},[]],\"empty\":{}}");
}

TEST(Json, KeysAreEscapedToo)
{
	JsonWriter j;
	j.begin_object().field("a\nb", uint64_t{1}).end_object();
	EXPECT_EQ(j.str(), "{\"a\\nb\":1}");
}

} // namespace
