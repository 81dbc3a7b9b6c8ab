// The engine test rig shared by the unit tests of the remap engine: a target on a MemDisk
// driven through the C API the glue uses (rc_target_*), and helpers to send messages, parse
// stats and list, and walk the I/O path's mapping against a reference model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "boundary_user.h"
#include "mem_disk.h"
#include "table_test.h"

namespace engine_rig {

using u32 = rb_u32;
using u64 = rb_u64;

constexpr int kEIO = 5, kENOMEM = 12, kEBUSY = 16, kEINVAL = 22, kENOSPC = 28;
constexpr int kEREMOTEIO = 121; // an error only the disk returns, to tell it from the engine's
constexpr long long kLost = -1;

// What `list` says: data block -> spare block, or kLost.
using Mapping = std::map<u64, long long>;

// The table line's numbers, and the layout docs/on-disk-format.rst derives from them (computed
// here independently of Geometry, as an oracle).
struct Layout {
	u32 block_size = 4096;
	u64 data_offset = 64; // sectors
	u64 data_blocks = 1024;
	u64 spare_offset = 128; // sectors
	u64 spare_blocks = 100;

	u64 bs() const { return block_size / 512; } // sectors per block
	u64 target_len() const { return data_blocks * bs(); }
	u64 spare_len() const { return spare_blocks * bs(); }
	u64 entries() const { return (block_size - 64) / 16; }
	u64 table_blocks() const
	{
		const u64 n = spare_blocks - 2, d = entries() + 2;
		return (n + d - 1) / d;
	}
	u64 first_usable() const { return 2 + 2 * table_blocks(); }
	u64 spare_total() const { return spare_blocks - first_usable(); }
	u64 data_dev_sectors() const { return data_offset + target_len() + 4 * bs(); }
	u64 spare_dev_sectors() const { return spare_offset + spare_len() + 4 * bs(); }
	u64 data_byte(u64 block) const { return (data_offset + block * bs()) * 512; }
	u64 spare_sector(u64 spare) const { return spare_offset + spare * bs(); }
	u64 spare_byte(u64 spare) const { return spare_sector(spare) * 512; }
	// Classifies a write to the spare device.
	bool is_superblock(const MemDisk::Write &w) const
	{
		return w.dev == RB_SPARE_DEV &&
			(w.sector == spare_sector(0) || w.sector == spare_sector(1));
	}
	bool is_table_block(const MemDisk::Write &w) const
	{
		return w.dev == RB_SPARE_DEV && w.sector >= spare_sector(2) &&
			w.sector < spare_sector(first_usable());
	}
	bool is_spare_data(const MemDisk::Write &w) const
	{
		return w.dev == RB_SPARE_DEV && w.sector >= spare_sector(first_usable());
	}
};

struct TargetDeleter {
	void operator()(rc_target *t) const { rc_target_destroy(t); }
};
using Target = std::unique_ptr<rc_target, TargetDeleter>;

inline unsigned char pattern(u64 block, u64 i, unsigned salt)
{
	return static_cast<unsigned char>(block * 131 + (block >> 8) * 17 + i * 7 + (i >> 8) * 3 +
					  salt * 29 + 1);
}

// A MemDisk and a checked table line for a layout; creates targets on it.
class Rig {
public:
	explicit Rig(const Layout &l = Layout()) :
	    layout(l), disk(l.data_dev_sectors(), l.spare_dev_sectors()),
	    line("/dev/data " + std::to_string(l.data_offset) + " /dev/spare " +
		 std::to_string(l.spare_offset) + " " + std::to_string(l.spare_len()) +
		 " 2 block_size " + std::to_string(l.block_size))
	{
		devs.target_len = l.target_len();
		devs.data_dev_sectors = l.data_dev_sectors();
		devs.spare_dev_sectors = l.spare_dev_sectors();
		devs.data_logical_block = 512;
		devs.spare_logical_block = 512;
		// As the glue names them: device numbers and the mapped device, unique per rig, so
		// that targets created on one rig are tables of one device (a reload) to the
		// registry. A test of another device over the same disk changes owner_id.
		static std::atomic<u64> next_id{1};
		const u64 id = next_id.fetch_add(1);
		devs.data_dev_id = 2 * id;
		devs.spare_dev_id = 2 * id + 1;
		devs.owner_id = id;
		const char *error = nullptr;
		int r = rc_table_parse(line.argc(), line.argv.data(), &table, &error);
		if (r == 0)
			r = rc_table_check(&table, &devs, &error);
		EXPECT_EQ(r, 0) << (error ? error : "");
	}
	Rig(const Rig &) = delete;
	Rig &operator=(const Rig &) = delete;

	// Without err_out, a failure to create fails the test.
	Target create(int *err_out = nullptr, const char **error_out = nullptr)
	{
		const char *error = nullptr;
		rc_target *t = nullptr;
		const int err = rc_target_create(&table, &devs, disk.ops(), disk.ctx(), &t, &error);
		if (err_out) {
			*err_out = err;
		} else {
			EXPECT_NE(t, nullptr) << (error ? error : "(no error text)");
			EXPECT_EQ(err, 0);
		}
		if (error_out)
			*error_out = error;
		if (t) {
			EXPECT_EQ(err, 0);
		}
		return Target(t);
	}
	Target started()
	{
		Target t = create();
		if (t) {
			EXPECT_EQ(rc_target_resume(t.get()), 0);
		}
		return t;
	}

	void fill_data(u64 block, unsigned salt)
	{
		std::vector<unsigned char> buf(layout.block_size);
		for (u64 i = 0; i < buf.size(); i++)
			buf[i] = pattern(block, i, salt);
		disk.poke(RB_DATA_DEV, layout.data_byte(block), buf.data(), buf.size());
	}
	void fill_spare(u64 spare, u64 block, unsigned salt)
	{
		std::vector<unsigned char> buf(layout.block_size);
		for (u64 i = 0; i < buf.size(); i++)
			buf[i] = pattern(block, i, salt);
		disk.poke(RB_SPARE_DEV, layout.spare_byte(spare), buf.data(), buf.size());
	}
	bool holds(int dev, u64 byte, u64 block, unsigned salt)
	{
		for (u64 i = 0; i < layout.block_size; i++) {
			if (disk.peek(dev, byte + i) != pattern(block, i, salt))
				return false;
		}
		return true;
	}
	bool data_holds(u64 block, unsigned salt)
	{
		return holds(RB_DATA_DEV, layout.data_byte(block), block, salt);
	}
	bool spare_holds(u64 spare, u64 block, unsigned salt)
	{
		return holds(RB_SPARE_DEV, layout.spare_byte(spare), block, salt);
	}

	const Layout layout;
	MemDisk disk;
	TableLine line;
	rc_table table{};
	rc_devices devs{}; // as the glue would report them: 512-byte logical blocks
};

struct Reply {
	int rc;
	std::string text;
};

// Sends a message; checks that the reply stays inside maxlen and is NUL-terminated.
inline Reply msg(rc_target *t, const std::string &words, unsigned maxlen = 4096)
{
	TableLine argv(words);
	std::vector<char> buf(maxlen + 16, '#');
	const int rc = rc_target_message(t, argv.argc(), argv.argv.data(), buf.data(), maxlen);
	for (size_t i = maxlen; i < buf.size(); i++) {
		if (buf[i] != '#') {
			ADD_FAILURE() << "'" << words << "' wrote past maxlen " << maxlen;
			break;
		}
	}
	std::string text;
	if (rc == 1 && maxlen) {
		const void *end = std::memchr(buf.data(), '\0', maxlen);
		EXPECT_NE(end, nullptr) << "'" << words << "': reply not NUL-terminated";
		text.assign(buf.data(), end ? static_cast<const char *>(end) - buf.data() : maxlen);
	}
	return {rc, text};
}

inline std::vector<std::pair<std::string, std::string>> stats_pairs(rc_target *t)
{
	Reply r = msg(t, "stats");
	EXPECT_EQ(r.rc, 1);
	std::vector<std::pair<std::string, std::string>> out;
	std::istringstream in(r.text);
	for (std::string w; in >> w;) {
		const size_t eq = w.find('=');
		EXPECT_NE(eq, std::string::npos) << w;
		out.emplace_back(w.substr(0, eq), eq == std::string::npos ? "" : w.substr(eq + 1));
	}
	return out;
}

inline std::map<std::string, std::string> stats(rc_target *t)
{
	auto pairs = stats_pairs(t);
	return {pairs.begin(), pairs.end()};
}

inline u64 stat(rc_target *t, const std::string &key)
{
	auto s = stats(t);
	auto it = s.find(key);
	if (it == s.end()) {
		ADD_FAILURE() << "stats has no " << key;
		return ~0ull;
	}
	return std::stoull(it->second);
}

inline std::string metadata_state(rc_target *t) { return stats(t)["metadata"]; }
inline u64 seq(rc_target *t) { return stat(t, "seq"); }

inline int rewrite_one(rc_target *t, u64 sector, u32 sectors, const void *data)
{
	const rc_extent e{sector, sectors, 0, data};
	return rc_target_rewrite(t, &e, 1);
}

inline std::string status_info(rc_target *t)
{
	char buf[256];
	unsigned used = 0;
	rc_target_status_info(t, buf, sizeof(buf), &used);
	EXPECT_EQ(used, std::strlen(buf));
	return buf;
}

inline bool all_digits(const std::string &s)
{
	return !s.empty() &&
		std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A `list` line: "<data_block> <spare_block> remapped", the same with " lost_sectors=<n>" (a
// salvaged block), or "<data_block> - lost". *lost_sectors (if given) gets n, or 0.
inline bool parse_list_line(const std::string &line, u64 *block, long long *spare,
			    u64 *lost_sectors = nullptr)
{
	std::istringstream in(line);
	std::string a, b, c, d, extra;
	if (!(in >> a >> b >> c) || !all_digits(a))
		return false;
	u64 n = 0;
	if (in >> d) {
		const std::string key = "lost_sectors=";
		if ((in >> extra) || c != "remapped" || d.compare(0, key.size(), key) != 0 ||
		    !all_digits(d.substr(key.size())) || line != a + " " + b + " " + c + " " + d)
			return false;
		n = std::stoull(d.substr(key.size()));
		if (n == 0)
			return false;
	} else if (line != a + " " + b + " " + c) {
		return false;
	}
	if (lost_sectors)
		*lost_sectors = n;
	*block = std::stoull(a);
	if (b == "-" && c == "lost") {
		*spare = kLost;
		return true;
	}
	if (!all_digits(b) || c != "remapped")
		return false;
	*spare = std::stoll(b);
	return true;
}

// One reply of `list`: whole lines only, ascending. Appends to *m; returns the lines read.
inline u64 parse_list(const std::string &text, Mapping *m, u64 first = 0)
{
	EXPECT_TRUE(text.empty() || text.back() == '\n')
		<< "list reply ends in a cut line: " << text;
	std::istringstream in(text);
	u64 n = 0;
	long long last = -1;
	for (std::string line; std::getline(in, line);) {
		u64 block;
		long long spare;
		if (!parse_list_line(line, &block, &spare)) {
			ADD_FAILURE() << "bad list line '" << line << "'";
			continue;
		}
		EXPECT_GE(block, first);
		EXPECT_GT(static_cast<long long>(block), last) << "list is not ascending";
		EXPECT_EQ(m->count(block), 0u) << "block " << block << " listed twice";
		(*m)[block] = spare;
		last = static_cast<long long>(block);
		n++;
	}
	return n;
}

// The whole mapping, paging through `list <first>` with replies of at most `page` bytes.
inline Mapping list_all(rc_target *t, unsigned page = 4096, std::string *text = nullptr,
			u64 *pages = nullptr)
{
	Mapping m;
	std::string all;
	u64 first = 0, n = 0;
	for (;;) {
		Reply r = msg(t, "list " + std::to_string(first), page);
		EXPECT_EQ(r.rc, 1);
		if (r.rc != 1 || r.text.empty())
			break;
		n++;
		all += r.text;
		Mapping got;
		if (parse_list(r.text, &got, first) == 0)
			break;
		for (auto &e : got) {
			EXPECT_EQ(m.count(e.first), 0u);
			m.insert(e);
		}
		first = got.rbegin()->first + 1;
	}
	if (text)
		*text = all;
	if (pages)
		*pages = n;
	return m;
}

inline std::string list_text(rc_target *t)
{
	Reply r = msg(t, "list", 1 << 16);
	EXPECT_EQ(r.rc, 1);
	return r.text;
}

// "remap <a sector in block>": the spare block (or kLost) from a well-formed reply.
inline long long remap_block(rc_target *t, const Layout &l, u64 block, u64 offset = 0)
{
	Reply r = msg(t, "remap " + std::to_string(block * l.bs() + offset % l.bs()));
	if (r.rc != 1) {
		ADD_FAILURE() << "remap of block " << block << " returned " << r.rc;
		return -2;
	}
	std::istringstream in(r.text);
	std::string a, b, extra;
	if (!(in >> a >> b) || (in >> extra) || r.text != a + " " + b ||
	    a != std::to_string(block) || (b != "lost" && !all_digits(b))) {
		ADD_FAILURE() << "remap of block " << block << " replied '" << r.text << "'";
		return -2;
	}
	return b == "lost" ? kLost : std::stoll(b);
}

// The engine's view, read as the glue reads it (inside the caller's read-side section).
inline const rc_io_view *io_view(const rc_target *t)
{
	return __atomic_load_n(rc_target_io_view(t), __ATOMIC_ACQUIRE);
}

// rc_target_map, with the checks that the glue's fast path would have done the same: where the
// view of the same generation calls the request clean, or finds it touches no entry, the
// lookup routes it to the data device whole; where the view finds an entry, the lookup does
// not. (A view and a table of different generations only meet while a publish races.)
inline rc_mapping map_io(const rc_target *t, u64 sector, u32 sectors)
{
	rc_mapping m;
	std::memset(&m, 0xa5, sizeof(m));
	rb_rcu_read_lock();
	const rc_io_view view = *io_view(t);
	rc_target_map(t, sector, sectors, &m);
	const bool clean = sectors && rc_io_view_clean(&view, sector, sectors);
	const bool touches = rc_io_view_touches(&view, sector, sectors);
	rb_rcu_read_unlock();
	if (sectors && view.generation == m.generation) {
		const bool whole = m.route == RC_ROUTE_DATA && m.sectors == sectors;
		if (clean) {
			EXPECT_TRUE(whole) << "the view passes " << sector << "+" << sectors;
		}
		EXPECT_EQ(whole, !touches) << "the view's search of " << sector << "+" << sectors;
	}
	if (!sectors) {
		EXPECT_TRUE(touches) << "an empty request is the lookup's to route";
	}
	return m;
}

struct Piece {
	rc_route route;
	u64 sector; // 0 for LOST and HOLD, which go nowhere
	u32 sectors;
};

inline std::string describe(const std::vector<Piece> &ps)
{
	std::ostringstream o;
	for (auto &p : ps)
		o << "[" << p.route << " @" << p.sector << " +" << p.sectors << "] ";
	return o.str();
}

// Where each piece of a request must go, per the contract: a remapped block's part goes to its
// spare (or fails, if lost) and never crosses the block's end; a clean run goes to the data
// device whole, up to the next remapped block or the end of the request.
inline std::vector<Piece> expected_pieces(const Layout &l, const Mapping &model, u64 sector,
					  u32 sectors)
{
	std::vector<Piece> out;
	const u64 end = sector + sectors;
	for (u64 cur = sector; cur < end;) {
		const u64 block = cur / l.bs();
		auto it = model.lower_bound(block);
		u64 stop;
		if (it != model.end() && it->first == block) {
			stop = std::min(end, (block + 1) * l.bs());
			if (it->second == kLost)
				out.push_back({RC_ROUTE_LOST, 0, static_cast<u32>(stop - cur)});
			else
				out.push_back({RC_ROUTE_SPARE,
					       l.spare_sector(static_cast<u64>(it->second)) +
						       cur % l.bs(),
					       static_cast<u32>(stop - cur)});
		} else {
			stop = it == model.end() ? end : std::min(end, it->first * l.bs());
			out.push_back(
				{RC_ROUTE_DATA, l.data_offset + cur, static_cast<u32>(stop - cur)});
		}
		cur = stop;
	}
	return out;
}

// Walks a request through map() piece by piece, as the glue does with dm_accept_partial_bio.
inline std::vector<Piece> walk(const rc_target *t, u64 sector, u32 sectors,
			       u32 *generation = nullptr)
{
	std::vector<Piece> out;
	u64 cur = sector;
	u32 left = sectors;
	while (left) {
		rc_mapping m = map_io(t, cur, left);
		if (m.sectors == 0 || m.sectors > left) {
			ADD_FAILURE() << "map(" << cur << ", " << left << ") covers " << m.sectors;
			break;
		}
		if (generation) {
			if (out.empty())
				*generation = m.generation;
			else
				EXPECT_EQ(m.generation, *generation);
		}
		const bool where = m.route == RC_ROUTE_DATA || m.route == RC_ROUTE_SPARE;
		out.push_back({m.route, where ? m.sector : 0, m.sectors});
		cur += m.sectors;
		left -= m.sectors;
	}
	return out;
}

inline bool same_pieces(const std::vector<Piece> &a, const std::vector<Piece> &b)
{
	if (a.size() != b.size())
		return false;
	for (size_t i = 0; i < a.size(); i++) {
		if (a[i].route != b[i].route || a[i].sector != b[i].sector ||
		    a[i].sectors != b[i].sectors)
			return false;
	}
	return true;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this thread: what the engine costs, whatever else the machine runs.
inline double thread_cpu_seconds()
{
	timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// What the engine logs while it lives, line by line: rb_log() of the user boundary writes
// "remap <level>: <text>" to stderr when DMREMAP_LOG is set, and gtest captures stderr.
class LogCapture {
public:
	LogCapture()
	{
		const char *was = std::getenv("DMREMAP_LOG");
		had_ = was != nullptr;
		if (had_)
			was_ = was;
		setenv("DMREMAP_LOG", "1", 1);
		testing::internal::CaptureStderr();
	}
	~LogCapture() { stop(); }
	LogCapture(const LogCapture &) = delete;
	LogCapture &operator=(const LogCapture &) = delete;

	// The lines logged since the capture began ("warning: ...", "error: ..."), and stops it.
	std::vector<std::string> lines()
	{
		stop();
		std::vector<std::string> out;
		std::istringstream in(text_);
		const std::string prefix = "remap ";
		for (std::string line; std::getline(in, line);) {
			if (line.compare(0, prefix.size(), prefix) == 0)
				out.push_back(line.substr(prefix.size()));
		}
		return out;
	}
	static bool has(const std::vector<std::string> &lines, const std::string &line)
	{
		return std::find(lines.begin(), lines.end(), line) != lines.end();
	}

private:
	void stop()
	{
		if (stopped_)
			return;
		stopped_ = true;
		text_ = testing::internal::GetCapturedStderr();
		if (had_)
			setenv("DMREMAP_LOG", was_.c_str(), 1);
		else
			unsetenv("DMREMAP_LOG");
	}

	bool had_ = false, stopped_ = false;
	std::string was_, text_;
};

inline std::string join_lines(const std::vector<std::string> &lines)
{
	std::string out;
	for (const auto &l : lines)
		out += l + "\n";
	return out;
}

const char *const kStatsKeys[] = {"remapped",      "lost",
				  "spare_used",    "spare_free",
				  "spare_total",   "bad_spare",
				  "read_errors",   "write_errors",
				  "auto_remaps",   "manual_remaps",
				  "cache_hits",    "cache_misses",
				  "metadata",      "seq",
				  "redone_writes", "redo_last_ns",
				  "redo_avg_ns",   "redo_max_ns",
				  "medium_errors", "transient_errors",
				  "nospc_errors",  "readahead_errors",
				  "outages",       "reprobed",
				  "rescued",       "lost_sectors",
				  "spare",         "mode"};

} // namespace engine_rig

using namespace engine_rig;
