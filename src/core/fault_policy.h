// SPDX-License-Identifier: GPL-2.0
// What a failed I/O's errno says about the device (the error taxonomy): the one table the
// engine's failed-I/O policy (rc_target_failed_io(), reread, rewrite) decides by. The errnos
// are what blk_status_to_errno() makes of a bio's status, as rb_io_ops and end_io pass them.
#pragma once

#include "base.h"

namespace remap {

enum class ErrorClass : u8 {
	// The medium is at fault: BLK_STS_MEDIUM (-ENODATA). Repair: retry, move or mark lost.
	Medium,
	// Maybe the medium: an unspecified I/O error (-EIO, -EREMOTEIO for target/protection
	// errors, -EILSEQ) and any errno not in the table. Repaired like Medium, but a block is
	// marked lost only when the rest of the device still answers (see reread()).
	MaybeMedium,
	// The path to the device, not its medium, failed, or a resource ran out: transport,
	// timeout, offline, reset, again, no memory, busy. Passed through: retried by whoever
	// issued it, never moved or marked.
	Path,
	// The device below is out of space (a thin pool): passed through, never remapped.
	NoSpace,
	// The device refuses the request itself (not supported, invalid, zone errors): passed
	// through.
	NotSupported,
};

// Linux errno values the taxonomy names beyond base.h's (identical in kernel and userspace;
// the unit tests check them against <errno.h>).
enum FaultErrno : int {
	kEAGAIN = 11,
	kENODEV = 19,
	kEBADE = 52,
	kETIME = 62,
	kENOLINK = 67,
	kEREMCHG = 78,
	kEILSEQ = 84,
	kEOPNOTSUPP = 95,
	kETOOMANYREFS = 109,
	kETIMEDOUT = 110,
	kEREMOTEIO = 121,
};

// The class of a negative errno (0 and positive values, which are no error, are MaybeMedium).
ErrorClass classify_error(int error);

// Whether errors of this class may be repaired (retried by the engine, moved, marked lost).
inline bool repairable(ErrorClass c)
{
	return c == ErrorClass::Medium || c == ErrorClass::MaybeMedium;
}

} // namespace remap
