// SPDX-License-Identifier: GPL-2.0
// See log_format.h.
#include "log_format.h"

#include <cerrno>
#include <cstring>

namespace lwreplay {

uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint32_t le32(const uint8_t *p)
{
	return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
		static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

std::string flag_names(uint64_t flags)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {{kLogFlush, "FLUSH"},
		     {kLogFua, "FUA"},
		     {kLogDiscard, "DISCARD"},
		     {kLogMark, "MARK"},
		     {kLogMetadata, "META"}};
	std::string s;
	for (const auto &n : names) {
		if (!(flags & n.bit))
			continue;
		if (!s.empty())
			s += '|';
		s += n.name;
	}
	if (flags & ~kLogKnownFlags)
		s += (s.empty() ? "" : "|") + std::string("unknown");
	return s.empty() ? "-" : s;
}

LogReader::LogReader(ReadFn read, uint64_t log_bytes) :
    read_(std::move(read)), log_bytes_(log_bytes)
{
	uint8_t sb[32];
	if (log_bytes_ < 512)
		throw LogError("the log device is smaller than one sector");
	read_exact(0, sb, sizeof(sb), "the log superblock");
	if (le64(sb) != kLogMagic)
		throw LogError("no dm-log-writes superblock (bad magic)");
	if (le64(sb + 8) != kLogVersion)
		throw LogError("log version " + std::to_string(le64(sb + 8)) + ", only " +
			       std::to_string(kLogVersion) + " is known");
	nr_entries_ = le64(sb + 16);
	sector_size_ = le32(sb + 24);
	if (sector_size_ < 512 || sector_size_ > 65536 || (sector_size_ & (sector_size_ - 1)))
		throw LogError("log sector size " + std::to_string(sector_size_) +
			       " is not a power of two from 512 to 65536");
	offset_ = sector_size_; // the entries start in the block after the superblock
}

void LogReader::read_exact(uint64_t offset, void *buf, size_t len, const std::string &what)
{
	if (offset > log_bytes_ || len > log_bytes_ - offset)
		throw LogError(what + " lies past the end of the log device (byte " +
			       std::to_string(offset) + ", " + std::to_string(len) + " bytes)");
	const int r = read_(offset, buf, len);
	if (r)
		throw LogError("cannot read " + what + ": " + std::strerror(-r));
}

bool LogReader::next(LogEntry *out)
{
	if (next_index_ >= nr_entries_)
		return false;
	const std::string what = "log entry " + std::to_string(next_index_);
	std::vector<uint8_t> header(sector_size_);
	read_exact(offset_, header.data(), header.size(), what + "'s header");

	// sector and nr_sectors count the logged device's logical blocks (the log's sector size).
	const uint64_t unit = sector_size_ / 512;
	const uint64_t sector = le64(&header[0]);
	const uint64_t nr = le64(&header[8]);
	const uint64_t flags = le64(&header[16]);
	const uint64_t data_len = le64(&header[24]);
	if (flags & ~kLogKnownFlags)
		throw LogError(what + " has unknown flags " + flag_names(flags));
	if (sector > UINT64_MAX / unit || nr > UINT64_MAX / unit - sector)
		throw LogError(what + ": sector " + std::to_string(sector) + " + " +
			       std::to_string(nr) + " overflows");

	LogEntry e;
	e.index = next_index_;
	e.flags = flags;
	e.sector = sector * unit;
	e.nr_sectors = nr * unit;
	uint64_t next = offset_ + sector_size_;
	if (flags & kLogMark) {
		// A mark's text follows the header inside the same block, NUL-padded.
		if (nr != 0 || data_len >= sector_size_ - kEntryHeaderBytes)
			throw LogError(what + ": a mark with " + std::to_string(nr) +
				       " sectors and " + std::to_string(data_len) +
				       " bytes of text");
		e.mark.assign(reinterpret_cast<const char *>(&header[kEntryHeaderBytes]), data_len);
		if (e.mark.find('\0') != std::string::npos)
			throw LogError(what + ": a mark with a NUL byte in its text");
	} else if (data_len != 0) {
		// dm-log-writes writes inline data only for marks.
		throw LogError(what + ": " + std::to_string(data_len) +
			       " bytes of inline data in an entry that is not a mark");
	} else if (!(flags & kLogDiscard) && nr != 0) {
		// A discard has no data; a write's data follows its header block.
		if (nr > (log_bytes_ - next) / sector_size_)
			throw LogError(what + ": " + std::to_string(nr) +
				       " blocks of data run past the end of the log device");
		e.data.resize(nr * sector_size_);
		e.data_offset = next;
		read_exact(next, e.data.data(), e.data.size(), what + "'s data");
		next += nr * sector_size_;
	}
	offset_ = next;
	next_index_++;
	*out = std::move(e);
	return true;
}

} // namespace lwreplay
