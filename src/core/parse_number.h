// SPDX-License-Identifier: GPL-2.0
// Strict number parsing for table lines and messages: decimal digits only, no sign, no
// whitespace, no trailing characters, no overflow. "12abc", "-1", "+1", " 1" and "" are errors.
#pragma once

#include "base.h"

namespace remap {

[[nodiscard]] bool parse_u64(const char *text, u64 *out);
[[nodiscard]] bool parse_u32(const char *text, u32 *out);

// Case-insensitive ASCII equality, for message verbs and feature names.
bool equals_ignore_case(const char *a, const char *b);

} // namespace remap
