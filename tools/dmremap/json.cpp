// SPDX-License-Identifier: GPL-2.0
// See json.h.
#include "json.h"

#include <cstdio>

namespace dmremap {

std::string json_escape(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	for (const char c : text) {
		const auto u = static_cast<unsigned char>(c);
		switch (c) {
		case '"':
			out += "\\\"";
			break;
		case '\\':
			out += "\\\\";
			break;
		case '\n':
			out += "\\n";
			break;
		case '\r':
			out += "\\r";
			break;
		case '\t':
			out += "\\t";
			break;
		case '\b':
			out += "\\b";
			break;
		case '\f':
			out += "\\f";
			break;
		default:
			if (u < 0x20 || u == 0x7f) {
				char buf[8];
				std::snprintf(buf, sizeof(buf), "\\u%04x", u);
				out += buf;
			} else {
				out += c;
			}
		}
	}
	return out;
}

void JsonWriter::before_value()
{
	if (after_key_) {
		after_key_ = false;
		return;
	}
	if (!first_.empty()) {
		if (!first_.back())
			out_ += ',';
		first_.back() = false;
	}
}

JsonWriter &JsonWriter::begin_object()
{
	before_value();
	out_ += '{';
	first_.push_back(true);
	return *this;
}

JsonWriter &JsonWriter::end_object()
{
	out_ += '}';
	first_.pop_back();
	return *this;
}

JsonWriter &JsonWriter::begin_array()
{
	before_value();
	out_ += '[';
	first_.push_back(true);
	return *this;
}

JsonWriter &JsonWriter::end_array()
{
	out_ += ']';
	first_.pop_back();
	return *this;
}

JsonWriter &JsonWriter::key(std::string_view name)
{
	before_value();
	out_ += '"';
	out_ += json_escape(name);
	out_ += "\":";
	after_key_ = true;
	return *this;
}

JsonWriter &JsonWriter::value(std::string_view text)
{
	before_value();
	out_ += '"';
	out_ += json_escape(text);
	out_ += '"';
	return *this;
}

JsonWriter &JsonWriter::value(uint64_t number)
{
	before_value();
	out_ += std::to_string(number);
	return *this;
}

JsonWriter &JsonWriter::value(bool flag)
{
	before_value();
	out_ += flag ? "true" : "false";
	return *this;
}

JsonWriter &JsonWriter::null()
{
	before_value();
	out_ += "null";
	return *this;
}

} // namespace dmremap
