// SPDX-License-Identifier: GPL-2.0
// The few device-mapper operations the replayer and its workload need, straight through the
// DM ioctls on /dev/mapper/control (linux/dm-ioctl.h). dmsetup costs a process per call, which
// under QEMU TCG is ~0.1 s; the checker creates and removes a device at every replay point.
#pragma once

#include <cstdint>
#include <string>

namespace lwreplay {

class DmControl {
public:
	// Opens /dev/mapper/control. Throws std::runtime_error when it cannot.
	DmControl();
	~DmControl();
	DmControl(const DmControl &) = delete;
	DmControl &operator=(const DmControl &) = delete;

	// Creates device `name` with one target and activates it; returns the path of its node
	// (/dev/dm-<minor>, made by devtmpfs). On failure returns "" and sets *error to the
	// kernel's reason (see dmesg for the target's own message).
	std::string create(const std::string &name, uint64_t sectors, const std::string &target,
			   const std::string &params, std::string *error);
	// Replaces the table of the existing device `name` by a new one and resumes it: the
	// target is constructed and resumed afresh, without the cost of a new block device
	// (removing one waits for several RCU grace periods: ~90 ms under TCG). false with
	// *error set on failure.
	bool reload(const std::string &name, uint64_t sectors, const std::string &target,
		    const std::string &params, std::string *error);
	// 0 or a negative errno.
	int remove(const std::string &name);
	// Sends `dmsetup message <name> 0 <text>`; the reply into *reply. 0 or a negative errno.
	int message(const std::string &name, const std::string &text, std::string *reply);

private:
	int fd_ = -1;
};

} // namespace lwreplay
