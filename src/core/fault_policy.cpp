// SPDX-License-Identifier: GPL-2.0
// The error taxonomy; see fault_policy.h and docs/dm-remap.rst "Error handling".
#include "fault_policy.h"

namespace remap {

namespace {

struct ErrnoClass {
	int error; // negative errno
	ErrorClass cls;
};

// blk_status_t -> errno (block/blk-core.c blk_errors[]) -> class. Anything else is MaybeMedium.
constexpr ErrnoClass kTaxonomy[] = {
	{-kENODATA, ErrorClass::Medium},            // BLK_STS_MEDIUM
	{-kEIO, ErrorClass::MaybeMedium},           // BLK_STS_IOERR
	{-kEREMOTEIO, ErrorClass::MaybeMedium},     // BLK_STS_TARGET
	{-kEILSEQ, ErrorClass::MaybeMedium},        // BLK_STS_PROTECTION
	{-kENOLINK, ErrorClass::Path},              // BLK_STS_TRANSPORT
	{-kETIMEDOUT, ErrorClass::Path},            // BLK_STS_TIMEOUT
	{-kENODEV, ErrorClass::Path},               // BLK_STS_OFFLINE
	{-kEAGAIN, ErrorClass::Path},               // BLK_STS_AGAIN
	{-kENOMEM, ErrorClass::Path},               // BLK_STS_RESOURCE
	{-kEBUSY, ErrorClass::Path},                // BLK_STS_DEV_RESOURCE, _ZONE_RESOURCE
	{-kEBADE, ErrorClass::Path},                // BLK_STS_NEXUS (reservation conflict)
	{-kEREMCHG, ErrorClass::Path},              // BLK_STS_DM_REQUEUE
	{-kETIME, ErrorClass::Path},                // BLK_STS_DURATION_LIMIT (newer kernels)
	{-kENOSPC, ErrorClass::NoSpace},            // BLK_STS_NOSPC
	{-kEOPNOTSUPP, ErrorClass::NotSupported},   // BLK_STS_NOTSUPP
	{-kEINVAL, ErrorClass::NotSupported},       // BLK_STS_INVAL
	{-kETOOMANYREFS, ErrorClass::NotSupported}, // BLK_STS_ZONE_OPEN_RESOURCE
	{-kEOVERFLOW, ErrorClass::NotSupported},    // BLK_STS_ZONE_ACTIVE_RESOURCE
};

} // namespace

ErrorClass classify_error(int error)
{
	for (const ErrnoClass &e : kTaxonomy) {
		if (e.error == error)
			return e.cls;
	}
	return ErrorClass::MaybeMedium;
}

} // namespace remap
