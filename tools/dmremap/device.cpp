// SPDX-License-Identifier: GPL-2.0
// See device.h.
#include "device.h"

#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/sysmacros.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"

namespace dmremap {
namespace {

int open_flags(Device::Mode mode)
{
	switch (mode) {
	case Device::Mode::ReadOnly:
		return O_RDONLY | O_CLOEXEC;
	case Device::Mode::ReadWrite:
		return O_RDWR | O_CLOEXEC;
	case Device::Mode::Exclusive:
		return O_RDWR | O_CLOEXEC | O_EXCL;
	}
	return O_RDONLY | O_CLOEXEC;
}

// sysfs' queue/zoned of a block device ("none", "host-aware", "host-managed"); a partition
// has its disk's queue one directory up. false when sysfs does not say.
bool sysfs_zoned(dev_t rdev)
{
	const std::string dir =
		"/sys/dev/block/" + std::to_string(major(rdev)) + ":" + std::to_string(minor(rdev));
	for (const char *rel : {"/queue/zoned", "/../queue/zoned"}) {
		std::ifstream in(dir + rel);
		std::string model;
		if (in >> model)
			return model != "none";
	}
	return false;
}

} // namespace

Device::Device(const std::string &path, Mode mode) : path_(path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) != 0)
		throw OperationalError(errno_message(path, errno));
	is_block_ = S_ISBLK(st.st_mode);
	if (!is_block_ && !S_ISREG(st.st_mode))
		throw OperationalError(path + ": not a block device or a regular file");
	int flags = open_flags(mode);
	if (!is_block_)
		flags &= ~O_EXCL; // O_EXCL without O_CREAT means nothing for a file
	fd_ = ::open(path.c_str(), flags);
	if (fd_ < 0) {
		const int err = errno;
		if (err == EBUSY)
			throw OperationalError(path +
					       ": device is in use (mounted or held by a "
					       "device-mapper table)");
		throw OperationalError(errno_message(path, err));
	}
	if (is_block_) {
		int ssz = 0;
		if (::ioctl(fd_, BLKGETSIZE64, &bytes_) != 0 ||
		    ::ioctl(fd_, BLKSSZGET, &ssz) != 0) {
			const int err = errno;
			::close(fd_);
			throw OperationalError(
				errno_message(path + ": cannot get the device size", err));
		}
		logical_block_ = static_cast<uint32_t>(ssz);
		zoned_ = sysfs_zoned(st.st_rdev);
		identity_ = "blk:" + std::to_string(st.st_rdev);
		// dm writes the spare area with bios that bypass the page cache: drop what an earlier
		// reader may have cached, so every read sees the device.
		::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
	} else {
		bytes_ = static_cast<uint64_t>(st.st_size);
		identity_ = "file:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
	}
}

Device::~Device()
{
	if (fd_ >= 0)
		::close(fd_);
}

namespace {

// Moves len bytes at byte_offset with a pread/pwrite-like call, through short transfers and
// EINTR. 0, or a negative errno (-EIO when the file ends first).
template <typename Transfer, typename Ptr>
int transfer_all(Transfer op, Ptr p, uint64_t byte_offset, size_t len)
{
	while (len) {
		const ssize_t n = op(p, len, static_cast<off_t>(byte_offset));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= static_cast<size_t>(n);
		byte_offset += static_cast<uint64_t>(n);
	}
	return 0;
}

} // namespace

int Device::read_at(uint64_t byte_offset, void *buf, size_t len) const
{
	const int fd = fd_;
	return transfer_all([fd](char *p, size_t n, off_t off) { return ::pread(fd, p, n, off); },
			    static_cast<char *>(buf), byte_offset, len);
}

int Device::write_at(uint64_t byte_offset, const void *buf, size_t len) const
{
	if (byte_offset > bytes_ || len > bytes_ - byte_offset)
		return -EIO; // never grow an image file, never write past a device
	const int fd = fd_;
	return transfer_all(
		[fd](const char *p, size_t n, off_t off) { return ::pwrite(fd, p, n, off); },
		static_cast<const char *>(buf), byte_offset, len);
}

int Device::sync() const { return ::fdatasync(fd_) == 0 ? 0 : -errno; }

} // namespace dmremap
