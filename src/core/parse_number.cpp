// SPDX-License-Identifier: GPL-2.0
// Strict decimal parsing shared by the table and message parsers.
#include "parse_number.h"

namespace remap {

bool parse_u64(const char *text, u64 *out)
{
	if (!text || !*text)
		return false;
	u64 v = 0;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (!checked_mul(v, 10, &v) || !checked_add(v, static_cast<u64>(*p - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

bool parse_u32(const char *text, u32 *out)
{
	u64 v;
	if (!parse_u64(text, &v) || v > 0xffffffffu)
		return false;
	*out = static_cast<u32>(v);
	return true;
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignore_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		if (to_lower(*a) != to_lower(*b))
			return false;
	}
	return *a == *b;
}

} // namespace remap
