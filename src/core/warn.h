// SPDX-License-Identifier: GPL-2.0
// "Cannot happen" checks: REMAP_WARN_ON(cond) is cond, and reports it through rb_warn() when it
// is true. The kernel WARNs (a backtrace, and the caller fails the operation cleanly); the
// userspace build aborts, so a test that reaches one fails loudly. Never for bad input or a
// failed device or allocation: those are errors, returned.
#pragma once

#include "base.h"

#define REMAP_WARN_ON(cond)                                                                        \
	({                                                                                         \
		const bool _remap_warned = static_cast<bool>(cond);                                \
		if (__builtin_expect(_remap_warned, 0))                                            \
			rb_warn(__FILE__, __LINE__, #cond);                                        \
		_remap_warned;                                                                     \
	})
