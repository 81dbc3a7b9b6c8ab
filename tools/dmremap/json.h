// SPDX-License-Identifier: GPL-2.0
// A small JSON writer for the --json output of dmremap: one compact document, strings escaped
// per RFC 8259 (quote, backslash and every control character; other bytes are passed through,
// so text that is UTF-8 stays valid UTF-8). Commas are placed by the writer, never by callers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dmremap {

std::string json_escape(std::string_view text); // without the surrounding quotes

class JsonWriter {
public:
	JsonWriter &begin_object();
	JsonWriter &end_object();
	JsonWriter &begin_array();
	JsonWriter &end_array();
	JsonWriter &key(std::string_view name);
	JsonWriter &value(std::string_view text);
	JsonWriter &value(const char *text) { return value(std::string_view(text)); }
	JsonWriter &value(uint64_t number);
	JsonWriter &value(bool flag);
	JsonWriter &null();

	// key(name).value(v) in one call.
	template <typename T> JsonWriter &field(std::string_view name, T v)
	{
		key(name);
		return value(v);
	}

	const std::string &str() const { return out_; }

private:
	void before_value();

	std::string out_;
	std::vector<bool> first_; // per open container: nothing written in it yet
	bool after_key_ = false;
};

} // namespace dmremap
