// SPDX-License-Identifier: GPL-2.0
// See dm_ioctl.h.
#include "dm_ioctl.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

namespace lwreplay {
namespace {

// An ioctl buffer: struct dm_ioctl, then the command's payload.
class DmBuffer {
public:
	explicit DmBuffer(const std::string &name, size_t payload = 0) :
	    bytes_((sizeof(dm_ioctl) + payload + 16384 + 7) & ~size_t{7}, 0)
	{
		dm_ioctl *io = hdr();
		io->version[0] = DM_VERSION_MAJOR;
		io->version[1] = 0;
		io->version[2] = 0;
		io->data_size = static_cast<uint32_t>(bytes_.size());
		io->data_start = sizeof(dm_ioctl);
		std::strncpy(io->name, name.c_str(), sizeof(io->name) - 1);
	}
	dm_ioctl *hdr() { return reinterpret_cast<dm_ioctl *>(bytes_.data()); }
	char *payload() { return bytes_.data() + sizeof(dm_ioctl); }
	size_t size() const { return bytes_.size(); }

private:
	std::vector<char> bytes_;
};

int run(int fd, unsigned long cmd, DmBuffer &buf)
{
	return ioctl(fd, cmd, buf.hdr()) == 0 ? 0 : -errno;
}

} // namespace

DmControl::DmControl()
{
	fd_ = ::open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd_ < 0)
		throw std::runtime_error(std::string("/dev/mapper/control: ") +
					 std::strerror(errno));
}

DmControl::~DmControl()
{
	if (fd_ >= 0)
		::close(fd_);
}

std::string DmControl::create(const std::string &name, uint64_t sectors, const std::string &target,
			      const std::string &params, std::string *error)
{
	if (name.size() >= DM_NAME_LEN || target.size() >= DM_MAX_TYPE_NAME) {
		*error = "name or target type too long";
		return "";
	}
	DmBuffer c(name);
	int r = run(fd_, DM_DEV_CREATE, c);
	if (r) {
		*error = std::string("DM_DEV_CREATE: ") + std::strerror(-r);
		return "";
	}
	const uint64_t dev = c.hdr()->dev;
	if (!reload(name, sectors, target, params, error)) {
		remove(name);
		return "";
	}
	// The kernel's huge_encode_dev() is glibc's makedev() encoding.
	return "/dev/dm-" + std::to_string(minor(static_cast<dev_t>(dev)));
}

bool DmControl::reload(const std::string &name, uint64_t sectors, const std::string &target,
		       const std::string &params, std::string *error)
{
	if (name.size() >= DM_NAME_LEN || target.size() >= DM_MAX_TYPE_NAME) {
		*error = "name or target type too long";
		return false;
	}
	DmBuffer load(name, sizeof(dm_target_spec) + params.size() + 1);
	load.hdr()->target_count = 1;
	auto *spec = reinterpret_cast<dm_target_spec *>(load.payload());
	spec->sector_start = 0;
	spec->length = sectors;
	std::strncpy(spec->target_type, target.c_str(), sizeof(spec->target_type) - 1);
	std::memcpy(load.payload() + sizeof(dm_target_spec), params.c_str(), params.size() + 1);
	spec->next = 0;
	int r = run(fd_, DM_TABLE_LOAD, load);
	if (r) {
		*error = std::string("loading the table: ") + std::strerror(-r);
		return false;
	}
	DmBuffer resume(name); // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes
	r = run(fd_, DM_DEV_SUSPEND, resume);
	if (r) {
		*error = std::string("resuming: ") + std::strerror(-r);
		return false;
	}
	return true;
}

int DmControl::remove(const std::string &name)
{
	DmBuffer b(name);
	int r = run(fd_, DM_DEV_REMOVE, b);
	// A node still being closed by the kernel's own opener (e.g. a scan) can be busy briefly.
	for (int tries = 0; r == -EBUSY && tries < 50; tries++) {
		usleep(20000);
		DmBuffer again(name);
		r = run(fd_, DM_DEV_REMOVE, again);
	}
	return r;
}

int DmControl::message(const std::string &name, const std::string &text, std::string *reply)
{
	for (size_t room = 16384;; room *= 4) {
		DmBuffer b(name, sizeof(dm_target_msg) + text.size() + 1 + room);
		auto *msg = reinterpret_cast<dm_target_msg *>(b.payload());
		msg->sector = 0;
		std::memcpy(msg->message, text.c_str(), text.size() + 1);
		const int r = run(fd_, DM_TARGET_MSG, b);
		if (r)
			return r;
		dm_ioctl *io = b.hdr();
		if (io->flags & DM_BUFFER_FULL_FLAG) {
			if (room > (64u << 20))
				return -E2BIG;
			continue;
		}
		reply->clear();
		if (io->flags & DM_DATA_OUT_FLAG)
			reply->assign(reinterpret_cast<char *>(io) + io->data_start);
		return 0;
	}
}

} // namespace lwreplay
