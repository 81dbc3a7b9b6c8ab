// SPDX-License-Identifier: GPL-2.0
// The dm-log-writes log, read from its documented on-disk format (the kernel's
// Documentation/admin-guide/device-mapper/log-writes.rst and drivers/md/dm-log-writes.c): a
// superblock in the first logical block of the log device, then one entry after another, each a
// header block followed by the data of the write it records.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lwreplay {

// The entry flags dm-log-writes records (the bio's REQ_PREFLUSH, REQ_FUA, REQ_OP_DISCARD and
// REQ_META; a mark inserted with `dmsetup message <dev> 0 mark <text>`).
enum : uint64_t {
	kLogFlush = 1u << 0,
	kLogFua = 1u << 1,
	kLogDiscard = 1u << 2,
	kLogMark = 1u << 3,
	kLogMetadata = 1u << 4,
	kLogKnownFlags = kLogFlush | kLogFua | kLogDiscard | kLogMark | kLogMetadata,
};

constexpr uint64_t kLogMagic = 0x6a736677736872ull;
constexpr uint64_t kLogVersion = 1;
// The header dm-log-writes writes at the start of every entry block (four little-endian u64).
constexpr size_t kEntryHeaderBytes = 32;
// The mark dm-log-writes appends when its target is destroyed: a log without it was not
// finished (the device is still in use, or logging stopped early).
constexpr const char *kEndMark = "dm-log-writes-end";

// A malformed log: the message names the entry and what is wrong with it.
struct LogError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

struct LogEntry {
	uint64_t index = 0;        // position in the log, from 0
	uint64_t flags = 0;        // kLog* bits
	uint64_t sector = 0;       // first 512-byte sector written on the logged device
	uint64_t nr_sectors = 0;   // 512-byte sectors written (or discarded)
	std::string mark;          // the text of a mark
	std::vector<uint8_t> data; // nr_sectors * 512 bytes of a write; empty otherwise
	uint64_t data_offset = 0;  // byte offset of that data in the log

	bool is_mark() const { return flags & kLogMark; }
	bool is_discard() const { return flags & kLogDiscard; }
	bool is_flush() const { return flags & kLogFlush; }
	bool is_fua() const { return flags & kLogFua; }
	// A point at which the replayed device must be consistent: every flush and every FUA.
	bool is_replay_point() const { return flags & (kLogFlush | kLogFua); }
	// Writes (with data) and discards change the device; marks and empty flushes do not.
	bool changes_device() const { return !is_mark() && nr_sectors != 0; }
};

// "FLUSH|FUA", "MARK", "-" for a plain write.
std::string flag_names(uint64_t flags);

// Little-endian loads, as the log (and the workload's stamps) store numbers.
uint64_t le64(const uint8_t *p);
uint32_t le32(const uint8_t *p);

// Reads the log through `read` (byte offset, buffer, length; returns 0 or a negative errno)
// from a log device of `log_bytes` bytes.
class LogReader {
public:
	using ReadFn = std::function<int(uint64_t offset, void *buf, size_t len)>;

	// Reads and checks the superblock; throws LogError when it is not a dm-log-writes log.
	LogReader(ReadFn read, uint64_t log_bytes);

	uint64_t entry_count() const { return nr_entries_; }
	uint32_t sector_size() const { return sector_size_; }

	// The next entry into *out; false after the last one. Throws LogError on a bad entry or
	// when the log device cannot be read.
	bool next(LogEntry *out);

private:
	void read_exact(uint64_t offset, void *buf, size_t len, const std::string &what);

	ReadFn read_;
	uint64_t log_bytes_;
	uint64_t nr_entries_ = 0;
	uint32_t sector_size_ = 0;
	uint64_t next_index_ = 0;
	uint64_t offset_ = 0; // byte offset of the next entry's header block
};

} // namespace lwreplay
