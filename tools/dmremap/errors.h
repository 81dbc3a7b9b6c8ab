// SPDX-License-Identifier: GPL-2.0
// How dmremap fails: every error is an exception that carries its exit status and a message for
// stderr, caught once in main(). Nothing that the core calls back into (rb_io_ops) may throw.
#pragma once

#include <stdexcept>
#include <string>

namespace dmremap {

enum ExitCode : int {
	kExitOk = 0,
	kExitFailure = 1, // the command failed (or, for check, problems were found)
	kExitUsage = 2,   // bad command line
	// check follows fsck(8): 1 problems found, 8 operational error, 16 usage error.
	kExitCheckProblems = 1,
	kExitCheckOperational = 8,
	kExitCheckUsage = 16,
};

// The command line is wrong: the message says what, and the command's --help says more.
struct UsageError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// The command could not do its job (a device that does not open, dmsetup failing, bad input).
struct OperationalError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// "what: strerror(errno)".
std::string errno_message(const std::string &what, int err);

} // namespace dmremap
