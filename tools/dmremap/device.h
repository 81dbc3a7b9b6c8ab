// SPDX-License-Identifier: GPL-2.0
// A device or image file dmremap reads and writes: its size in sectors (BLKGETSIZE64 or the
// file size), its logical block size (BLKSSZGET, 512 for files), and whole-range pread/pwrite.
#pragma once

#include <cstdint>
#include <string>

namespace dmremap {

class Device {
public:
	enum class Mode {
		ReadOnly,
		ReadWrite,
		Exclusive
	};

	// Throws OperationalError when the path does not open or is neither a block device nor
	// a regular file. Exclusive opens a block device with O_EXCL (fails while it is in use:
	// mounted, or held by a dm table).
	Device(const std::string &path, Mode mode);
	~Device();
	Device(const Device &) = delete;
	Device &operator=(const Device &) = delete;

	const std::string &path() const { return path_; }
	uint64_t sectors() const { return bytes_ / 512; }
	uint64_t bytes() const { return bytes_; }
	uint32_t logical_block() const { return logical_block_; }
	// A zoned block device (sysfs queue/zoned is not "none"); files never are.
	bool zoned() const { return zoned_; }
	bool is_block_device() const { return is_block_; }
	// st_rdev of a block device, st_dev:st_ino of a file: equal means the same device.
	std::string identity() const { return identity_; }

	// 0 or a negative errno; short reads and writes (past the end) are -EIO.
	int read_at(uint64_t byte_offset, void *buf, size_t len) const;
	int write_at(uint64_t byte_offset, const void *buf, size_t len) const;
	int sync() const;

private:
	std::string path_;
	int fd_ = -1;
	uint64_t bytes_ = 0;
	uint32_t logical_block_ = 512;
	bool is_block_ = false;
	bool zoned_ = false;
	std::string identity_;
};

} // namespace dmremap
