// SPDX-License-Identifier: GPL-2.0
// Builds dm-log-writes logs in memory, in the on-disk format of log-writes.rst, for the tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "log_format.h"

namespace lwreplay_test {

class LogBuilder {
public:
	explicit LogBuilder(uint32_t sector_size = 512) : ss_(sector_size), bytes_(sector_size, 0) {}

	// A write of `blocks` logical blocks at logical block `block`, each filled with `fill`.
	LogBuilder &write(uint64_t block, uint64_t blocks, uint8_t fill, uint64_t flags = 0)
	{
		header(block, blocks, flags, 0);
		bytes_.resize(bytes_.size() + blocks * ss_, fill);
		return *this;
	}
	LogBuilder &flush() { return header(0, 0, lwreplay::kLogFlush, 0); }
	LogBuilder &discard(uint64_t block, uint64_t blocks)
	{
		return header(block, blocks, lwreplay::kLogDiscard, 0);
	}
	LogBuilder &mark(const std::string &text)
	{
		header(0, 0, lwreplay::kLogMark, text.size());
		std::memcpy(&bytes_[bytes_.size() - ss_ + 32], text.data(), text.size());
		return *this;
	}
	// A raw header, for malformed entries.
	LogBuilder &header(uint64_t sector, uint64_t nr, uint64_t flags, uint64_t data_len)
	{
		const size_t at = bytes_.size();
		bytes_.resize(at + ss_, 0);
		put64(at, sector);
		put64(at + 8, nr);
		put64(at + 16, flags);
		put64(at + 24, data_len);
		entries_++;
		return *this;
	}

	// The log with its superblock; `entries` overrides the count it claims.
	std::vector<uint8_t> build(int64_t entries = -1)
	{
		std::vector<uint8_t> out = bytes_;
		put64(out, 0, lwreplay::kLogMagic);
		put64(out, 8, lwreplay::kLogVersion);
		put64(out, 16, entries < 0 ? entries_ : static_cast<uint64_t>(entries));
		for (int i = 0; i < 4; i++)
			out[24 + i] = static_cast<uint8_t>(ss_ >> (8 * i));
		return out;
	}

	static lwreplay::LogReader::ReadFn reader(const std::vector<uint8_t> &log)
	{
		return [&log](uint64_t off, void *buf, size_t len) {
			if (off + len > log.size())
				return -5;
			std::memcpy(buf, &log[off], len);
			return 0;
		};
	}

	// Every entry of a whole log, in order (LogReader's errors propagate).
	static std::vector<lwreplay::LogEntry> entries(const std::vector<uint8_t> &log)
	{
		lwreplay::LogReader r(reader(log), log.size());
		std::vector<lwreplay::LogEntry> out;
		lwreplay::LogEntry e;
		while (r.next(&e))
			out.push_back(e);
		return out;
	}

private:
	void put64(size_t at, uint64_t v) { put64(bytes_, at, v); }
	static void put64(std::vector<uint8_t> &b, size_t at, uint64_t v)
	{
		for (int i = 0; i < 8; i++)
			b[at + i] = static_cast<uint8_t>(v >> (8 * i));
	}

	uint32_t ss_;
	std::vector<uint8_t> bytes_;
	uint64_t entries_ = 0;
};

} // namespace lwreplay_test
