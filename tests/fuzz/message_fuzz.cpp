// `dmsetup message` from arbitrary text: the grammar (parse_message) and, mostly, a real remap
// engine (rc_target_*) on an in-memory pair of devices (tests/unit/mem_disk.h), driven by a
// sequence of messages with result buffers of every size down to 0 bytes. After each message:
//   - the return value is 0, 1 or a negative errno, and a reply is NUL-terminated in maxlen;
//   - a cut `list` reply is whole lines, as many as fit, of what a big buffer gets; a cut
//     `stats` or `help` reply is a prefix of the whole one;
//   - `list` is ascending with distinct, usable spare blocks and nothing left moving; `stats`
//     parses, spare_used + spare_free + bad_spare == spare_total (known from the geometry, as
//     docs/dm-remap.rst defines them), remapped and lost match the list, spare_used ==
//     remapped; the status line agrees;
//   - the mapping changed only where the message allowed: a remap adds its blocks (all of them
//     when it returns 1), an unremap that returns 0 drops its block, nothing else moves;
//   - rc_target_map splits random I/O into non-empty pieces inside the request that route
//     exactly as `list` says, and remapped data reads back from its spare block; the engine's
//     view (the glue's fast path) passes only requests that map() sends to the data device whole;
//   - a reload (also one whose constructor ran before more messages were handled by the old
//     table) and a power cut then reload come back with the same mapping and data;
//   - nothing leaks: every allocation through the boundary is freed with the targets.
//
// Input: byte 0 picks the layout (bits 6-7), a fault to inject (bits 4-5: none, a failed read,
// a failed write, a failed allocation; byte 1 says which one, counted from the start) and the
// first result size (bits 0-3). Then up to 16 lines of up to 12 words, each a message, except:
//   >N <message>   the message with a result buffer of N bytes (else the sizes rotate)
//   !suspend  !resume   postsuspend / preresume of the live table
//   !load  !swap        construct a new table on the same disks / make it live (suspend and
//                       destroy the old one, resume the new)
//   !reload             !load then !swap
//   !crash [N]          power cut, then a new table on what survived: unflushed writes are
//                       lost, or with N kept with N % 101 percent chance, torn if N & 256
//   !bad N  !good       data sector N (modulo the target) never reads from now on, as a bad
//                       sector on a disk (remap and reprobe then salvage around it) / every
//                       sector reads again (a reprobe after it rescues all, when no fault is
//                       injected)
// LLVMFuzzerInitialize writes a few seed inputs into $FUZZ_SEED_DIR (tools/run-fuzzers.sh).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <strings.h>
#include <vector>

#include "../unit/mem_disk.h"
#include "boundary_user.h"
#include "message_parser.h"
#include "remap_boundary.h"

namespace {

using u32 = rb_u32;
using u64 = rb_u64;

constexpr int kEINVAL = 22;
constexpr size_t kMaxMessages = 16;
constexpr size_t kMaxWords = 12;
constexpr unsigned kBigReply = 1 << 14; // a full list of the largest layout is ~6 KiB
constexpr long long kLost = -1;

// data block -> spare block, or kLost
using Mapping = std::map<u64, long long>;

[[noreturn]] void fail(const char *what, const std::string &detail = std::string())
{
	fprintf(stderr, "message_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
	abort();
}

struct Layout {
	u32 block_size;
	u64 data_blocks;
	u64 spare_blocks;
	u64 data_offset;  // sectors
	u64 spare_offset; // sectors

	u64 bs() const { return block_size / 512; }
	u64 target_len() const { return data_blocks * bs(); }
	// docs/on-disk-format.rst, computed here rather than taken from Geometry.
	u64 first_usable() const
	{
		const u64 e = (block_size - 64) / 16;
		const u64 t = (spare_blocks - 2 + e + 1) / (e + 2);
		return 2 + 2 * t;
	}
	u64 spare_total() const { return spare_blocks - first_usable(); }
};

// Small enough to run thousands of inputs a second: 4 KiB blocks with 256 data and 64 spare
// blocks, 512-byte blocks whose table areas span two blocks, two usable spare blocks (running
// out early), and 16 KiB blocks (larger ones mostly cost time scanning empty superblocks).
constexpr Layout kLayouts[4] = {
	{4096, 256, 64, 64, 128},
	{512, 64, 40, 3, 5},
	{4096, 256, 6, 0, 0},
	{16384, 32, 8, 128, 256},
};

constexpr unsigned kMaxlens[16] = {0, 1, 2, 3, 4, 5, 8, 11, 16, 17, 24, 32, 48, 64, 128, 4096};

// Strict decimal, as the message grammar documents it (not the core's parser).
bool parse_num(const char *s, u64 *out)
{
	if (!*s)
		return false;
	u64 v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, static_cast<u64>(*s - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

std::vector<char *> split_words(std::string *line)
{
	std::vector<char *> words;
	char *p = &(*line)[0];
	char *end = p + line->size();
	while (p < end && words.size() < kMaxWords) {
		while (p < end && (*p == '\0' || strchr(" \t\v\f\r", *p)))
			*p++ = '\0';
		if (p == end)
			break;
		words.push_back(p);
		while (p < end && *p != '\0' && !strchr(" \t\v\f\r", *p))
			p++;
		if (p < end)
			*p++ = '\0';
	}
	return words;
}

u64 signature(u64 block) { return 0x5349474e41545552ull ^ (block * 0x9e3779b97f4a7c15ull); }

struct Stats {
	std::map<std::string, std::string> kv;
	u64 num(const char *key) const
	{
		auto it = kv.find(key);
		u64 v;
		if (it == kv.end() || !parse_num(it->second.c_str(), &v))
			fail("stats: a number is missing", key);
		return v;
	}
};

class Session {
public:
	Session(const Layout &lay, int fault, unsigned fault_at) :
	    lay_(lay), disk_(lay.data_offset + lay.target_len() + lay.bs(),
			     lay.spare_offset + lay.spare_blocks * lay.bs() + lay.bs()),
	    poked_(lay.data_blocks, false)
	{
		char line[256];
		snprintf(line, sizeof(line),
			 "/dev/fuzz-data %llu /dev/fuzz-spare %llu %llu 2 block_size %u",
			 static_cast<unsigned long long>(lay.data_offset),
			 static_cast<unsigned long long>(lay.spare_offset),
			 static_cast<unsigned long long>(lay.spare_blocks * lay.bs()),
			 lay.block_size);
		table_line_ = line;
		std::vector<char *> words = split_words(&table_line_);
		const char *error = nullptr;
		rc_devices devs{};
		devs.target_len = lay.target_len();
		devs.data_dev_sectors = lay.data_offset + lay.target_len() + lay.bs();
		devs.spare_dev_sectors = lay.spare_offset + lay.spare_blocks * lay.bs() + lay.bs();
		devs.data_logical_block = 512;
		devs.spare_logical_block = 512;
		if (rc_table_parse(static_cast<unsigned>(words.size()), words.data(), &table_,
				   &error) ||
		    rc_table_check(&table_, &devs, &error))
			fail("the fixed table line is refused", error ? error : "?");

		fault_ = fault;
		// Counted from the constructor on, modulo about what a short input does in all.
		if (fault == 1)
			disk_.fail_read_in = static_cast<int>(fault_at % 16);
		else if (fault == 2)
			disk_.fail_write_in = static_cast<int>(fault_at % 24);
		else if (fault == 3)
			rb_user_fail_alloc_nth(static_cast<long>(fault_at % 64));

		live_ = create();
		if (live_) {
			const int r = rc_target_resume(live_);
			if (r > 0)
				fail("rc_target_resume returned a positive value");
			suspended_ = r < 0;
			check_state();
		}
	}

	~Session()
	{
		if (pending_)
			rc_target_destroy(pending_);
		retire_live();
	}

	void run_line(std::string line, unsigned default_maxlen)
	{
		std::vector<char *> words = split_words(&line);
		if (words.empty())
			return;
		unsigned maxlen = default_maxlen;
		u64 n;
		if (words[0][0] == '>' && parse_num(words[0] + 1, &n)) {
			maxlen = n > kBigReply ? kBigReply : static_cast<unsigned>(n);
			words.erase(words.begin());
			if (words.empty())
				return;
		}
		if (words[0][0] == '!') {
			u64 arg = 0;
			const bool has_arg = words.size() > 1 && parse_num(words[1], &arg);
			command(words[0] + 1, has_arg ? &arg : nullptr);
			return;
		}
		const bool parsed = check_grammar(words);
		if (live_)
			message(words, maxlen, parsed);
	}

private:
	rc_target *create()
	{
		const char *error = nullptr;
		rc_devices devs{};
		devs.target_len = lay_.target_len();
		devs.data_dev_sectors = lay_.data_offset + lay_.target_len();
		devs.spare_dev_sectors = lay_.spare_offset + lay_.spare_blocks * lay_.bs();
		devs.data_logical_block = 512;
		devs.spare_logical_block = 512;
		rc_target *t = nullptr;
		const int err =
			rc_target_create(&table_, &devs, disk_.ops(), disk_.ctx(), &t, &error);
		if (!t && (err >= 0 || !error || !*error))
			fail("rc_target_create failed without a negative errno and a message");
		if (t && err)
			fail("rc_target_create succeeded with an error code");
		return t;
	}

	void command(const char *verb, const u64 *arg)
	{
		// As dm does: postsuspend only for a running table, preresume only for a suspended one.
		if (!strcmp(verb, "suspend")) {
			if (live_ && !suspended_) {
				rc_target_suspend(live_);
				suspended_ = true;
			}
		} else if (!strcmp(verb, "resume")) {
			if (live_ && suspended_)
				resume_and_expect(expect_ ? *expect_ : model_);
		} else if (!strcmp(verb, "load")) {
			load();
		} else if (!strcmp(verb, "swap")) {
			swap();
		} else if (!strcmp(verb, "reload")) {
			load();
			swap();
		} else if (!strcmp(verb, "bad")) {
			const u64 s = lay_.data_offset + (arg ? *arg : 0) % lay_.target_len();
			disk_.unreadable.push_back({RB_DATA_DEV, s, s + 1});
			return;
		} else if (!strcmp(verb, "good")) {
			disk_.unreadable.clear();
			return;
		} else if (!strcmp(verb, "crash")) {
			if (pending_)
				rc_target_destroy(pending_);
			pending_ = nullptr;
			retire_live();
			if (arg) {
				// Some unflushed writes survive, torn or whole: with every message
				// complete, none of them may matter.
				std::mt19937_64 rng(*arg);
				disk_.crash(&rng, static_cast<unsigned>(*arg % 101),
					    (*arg >> 8) & 1);
			} else {
				disk_.crash();
			}
			pending_ = create();
			swap();
		} else {
			return;
		}
		if (live_)
			check_state(true);
	}

	void retire_live()
	{
		if (live_ && !suspended_)
			rc_target_suspend(live_);
		if (live_)
			rc_target_destroy(live_);
		live_ = nullptr;
	}

	void load()
	{
		if (pending_)
			rc_target_destroy(pending_);
		pending_ = create();
	}

	// dm's order: the old table is suspended and destroyed, then the new one resumed. What
	// the new one serves must be what the old one served (or, after a crash, what it had
	// committed: everything, since every message completed).
	void swap()
	{
		if (!pending_)
			return; // a failed constructor leaves the old table live
		retire_live();
		live_ = pending_;
		pending_ = nullptr;
		suspended_ = true;
		resume_and_expect(expect_ ? *expect_ : model_);
	}

	// A table that resumes must serve want. One whose resume failed stays suspended and may
	// still show what it loaded before another table's commits: only its next successful
	// resume (or a later table's) has to show want.
	void resume_and_expect(const Mapping &want)
	{
		const int r = rc_target_resume(live_);
		if (r > 0)
			fail("rc_target_resume returned a positive value");
		if (r < 0) {
			expect_.reset(new Mapping(want)); // suspended, so nothing can change it
			return;
		}
		suspended_ = false;
		if (read_list(0, ~0ull) != want)
			fail("a resumed table does not serve the mapping committed before");
		expect_.reset();
	}

	// parse_message on its own: no crash, a message on refusal, consistent counts on success.
	bool check_grammar(const std::vector<char *> &words)
	{
		remap::Message m;
		memset(&m, 0xa5, sizeof(m));
		const char *bad = remap::error_text(
			remap::parse_message(static_cast<unsigned>(words.size()),
					     const_cast<char **>(words.data()), &m));
		if (bad) {
			if (!*bad)
				fail("parse_message refused with an empty message");
			return false;
		}
		if (m.nargs != words.size() - 1 || m.nargs > 2)
			fail("parse_message: nargs does not match the words");
		u32 lo = 0, hi = 0;
		const char *name = nullptr;
		switch (m.verb) {
		case remap::Verb::Remap:
			name = "remap";
			lo = 1;
			hi = 2;
			break;
		case remap::Verb::Unremap:
			name = "unremap";
			lo = 1;
			hi = 1;
			break;
		case remap::Verb::List:
			name = "list";
			lo = 0;
			hi = 2;
			break;
		case remap::Verb::Stats:
			name = "stats";
			break;
		case remap::Verb::ClearStats:
			name = "clear_stats";
			break;
		case remap::Verb::Help:
			name = "help";
			break;
		case remap::Verb::Reprobe:
			name = "reprobe";
			lo = 0;
			hi = 2;
			break;
		default:
			fail("parse_message: a verb out of range");
		}
		if (strcasecmp(words[0], name) || m.nargs < lo || m.nargs > hi)
			fail("parse_message: verb or argument count does not match the words",
			     words[0]);
		for (u32 i = 0; i < m.nargs; i++) {
			u64 v;
			if (!parse_num(words[1 + i], &v) || v != m.args[i])
				fail("parse_message: an argument is not the number written",
				     words[1 + i]);
		}
		return true;
	}

	std::string reply(const char *const *argv, unsigned argc, unsigned maxlen, int *r)
	{
		// Exactly maxlen bytes (none for 0), so ASan sees any write past it. The big one is
		// kept: fresh 16 KiB allocations cost more page faults than the engine takes time.
		static char *const big = new char[kBigReply];
		std::unique_ptr<char[]> small(maxlen == kBigReply ? nullptr : new char[maxlen]);
		char *const buf = small ? small.get() : big;
		memset(buf, 'X', maxlen);
		*r = rc_target_message(live_, argc, const_cast<char **>(argv), buf, maxlen);
		if (*r > 1 || *r < -4095)
			fail("a message returned something other than 0, 1 or a negative errno");
		if (*r != 1 || maxlen == 0)
			return std::string();
		const void *nul = memchr(buf, '\0', maxlen);
		if (!nul)
			fail("a reply is not NUL-terminated inside maxlen");
		return std::string(buf, static_cast<const char *>(nul) - buf);
	}

	std::string big_reply(const char *const *argv, unsigned argc)
	{
		int r;
		std::string s = reply(argv, argc, kBigReply, &r);
		if (r != 1)
			fail("a list, stats or help message did not return 1", argv[0]);
		if (s.size() >= kBigReply - 1)
			fail("a reply fills 64 KiB");
		return s;
	}

	// `list` through a big buffer, checked line by line.
	Mapping read_list(u64 first, u64 max, std::string *text = nullptr)
	{
		char a1[24], a2[24];
		snprintf(a1, sizeof(a1), "%llu", static_cast<unsigned long long>(first));
		snprintf(a2, sizeof(a2), "%llu", static_cast<unsigned long long>(max));
		const char *argv[3] = {"list", a1, a2};
		const std::string s = big_reply(argv, 3);
		if (text)
			*text = s;
		Mapping m;
		std::map<u64, u64> sal;
		std::vector<bool> spare_seen(lay_.spare_blocks, false);
		long long prev = -1;
		size_t pos = 0;
		while (pos < s.size()) {
			const size_t eol = s.find('\n', pos);
			if (eol == std::string::npos)
				fail("list: a line without its newline", s.substr(pos));
			const std::string line = s.substr(pos, eol - pos);
			pos = eol + 1;
			unsigned long long b, sp, n = 0;
			char word[16];
			int used = 0, used2 = 0;
			if (sscanf(line.c_str(), "%llu - %15s%n", &b, word, &used) == 2 &&
			    used == static_cast<int>(line.size())) {
				if (strcmp(word, "lost"))
					fail("list: a block is neither remapped nor lost", line);
				m[b] = kLost;
			} else if (sscanf(line.c_str(), "%llu %llu remapped%n", &b, &sp, &used) ==
					   2 &&
				   (used == static_cast<int>(line.size()) ||
				    (sscanf(line.c_str() + used, " lost_sectors=%llu%n", &n,
					    &used2) == 1 &&
				     used + used2 == static_cast<int>(line.size())))) {
				// A salvaged block: docs/dm-remap.rst's suffix counts its lost sectors,
				// 1 .. sectors per block.
				if (used != static_cast<int>(line.size())) {
					if (n == 0 || n > lay_.bs() ||
					    line.find("lost_sectors=0") != std::string::npos)
						fail("list: a salvaged block's lost_sectors out of range",
						     line);
					sal[b] = n;
				}
				if (sp < lay_.first_usable() || sp >= lay_.spare_blocks)
					fail("list: a spare block outside the usable range", line);
				if (spare_seen[sp])
					fail("list: a spare block used twice", line);
				spare_seen[sp] = true;
				m[b] = static_cast<long long>(sp);
			} else {
				fail("list: a line that does not parse", line);
			}
			if (b >= lay_.data_blocks || b < first)
				fail("list: a data block outside the device or before the first asked",
				     line);
			if (static_cast<long long>(b) <= prev)
				fail("list: blocks not strictly ascending", line);
			prev = static_cast<long long>(b);
		}
		if (m.size() > max)
			fail("list: more entries than asked for");
		if (first == 0 && max == ~0ull)
			salvaged_ = sal;
		return m;
	}

	std::string list_text(const Mapping &m, u64 first, u64 max) const
	{
		std::string s;
		char line[64];
		for (auto it = m.lower_bound(first); it != m.end() && max; ++it, --max) {
			if (it->second == kLost)
				snprintf(line, sizeof(line), "%llu - lost\n",
					 static_cast<unsigned long long>(it->first));
			else if (salvaged_.count(it->first))
				snprintf(line, sizeof(line),
					 "%llu %lld remapped lost_sectors=%llu\n",
					 static_cast<unsigned long long>(it->first), it->second,
					 static_cast<unsigned long long>(salvaged_.at(it->first)));
			else
				snprintf(line, sizeof(line), "%llu %lld remapped\n",
					 static_cast<unsigned long long>(it->first), it->second);
			s += line;
		}
		return s;
	}

	Stats read_stats(std::string *text)
	{
		const char *argv[1] = {"stats"};
		*text = big_reply(argv, 1);
		Stats st;
		size_t pos = 0;
		while (pos < text->size()) {
			size_t sp = text->find(' ', pos);
			if (sp == std::string::npos)
				sp = text->size();
			const std::string kv = text->substr(pos, sp - pos);
			const size_t eq = kv.find('=');
			if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
				fail("stats: not key=value", kv);
			if (!st.kv.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second)
				fail("stats: a key twice", kv);
			pos = sp + 1;
		}
		return st;
	}

	// The whole visible state, checked against itself, the layout and the model's data.
	Mapping check_state(bool all_data = false)
	{
		const Mapping m = read_list(0, ~0ull);
		std::string text;
		const Stats st = read_stats(&text);
		const u64 used = st.num("spare_used"), free = st.num("spare_free");
		const u64 total = st.num("spare_total"), bad = st.num("bad_spare");
		// docs/dm-remap.rst: spare_used + spare_free + bad_spare = spare_total.
		if (used + free + bad != total || used > total || free > total || bad > total)
			fail("stats: spare_used + spare_free + bad_spare != spare_total", text);
		if (total != lay_.spare_total())
			fail("stats: spare_total is not what the layout gives", text);
		u64 remapped = 0, lost = 0;
		for (const auto &e : m)
			(e.second == kLost ? lost : remapped)++;
		if (st.num("remapped") != remapped || st.num("lost") != lost)
			fail("stats: remapped or lost do not match the list", text);
		if (used != remapped)
			fail("stats: spare_used is not the number of remapped blocks", text);
		u64 lost_sectors = 0;
		for (const auto &e : salvaged_)
			lost_sectors += e.second;
		if (st.num("lost_sectors") != lost_sectors)
			fail("stats: lost_sectors is not the sum of the list's", text);
		for (const char *key :
		     {"read_errors", "write_errors", "auto_remaps", "manual_remaps", "cache_hits",
		      "cache_misses", "seq", "redone_writes", "redo_last_ns", "redo_avg_ns",
		      "redo_max_ns"})
			(void)st.num(key);
		const std::string meta = st.kv.count("metadata") ? st.kv.at("metadata") : "";
		if (meta != "ok" && meta != "degraded" && meta != "failed")
			fail("stats: metadata is not ok, degraded or failed", text);

		char status[256];
		unsigned n = 0;
		rc_target_status_info(live_, status, sizeof(status), &n);
		char expect[256];
		snprintf(expect, sizeof(expect), "%u %llu %llu %llu/%llu %s %s rw", lay_.block_size,
			 static_cast<unsigned long long>(remapped),
			 static_cast<unsigned long long>(lost),
			 static_cast<unsigned long long>(used),
			 static_cast<unsigned long long>(total), meta.c_str(),
			 st.kv.at("seq").c_str());
		if (strcmp(status, expect) || n != strlen(status))
			fail("status info disagrees with stats",
			     std::string(status) + " | " + expect);

		// The data of new mappings (of all after a reload: checking each every time costs
		// more than the engine's work).
		for (const auto &e : m) {
			auto known = model_.find(e.first);
			if (!all_data && known != model_.end() && known->second == e.second)
				continue;
			if (e.second != kLost && poked_[e.first] && !salvaged_.count(e.first) &&
			    read_sig(RB_SPARE_DEV, lay_.spare_offset + e.second * lay_.bs()) !=
				    signature(e.first))
				fail("a remapped block's data is not on its spare block",
				     std::to_string(e.first));
		}
		model_ = m;
		return m;
	}

	u64 read_sig(int dev, u64 sector)
	{
		u64 v = 0;
		for (int i = 0; i < 8; i++)
			v |= static_cast<u64>(disk_.peek(dev, sector * 512 + i)) << (8 * i);
		return v;
	}

	// Gives a block its signature before anything could copy it, once (as a dd before).
	void poke(u64 block)
	{
		if (block >= lay_.data_blocks || poked_[block])
			return;
		const u64 sig = signature(block);
		disk_.poke(RB_DATA_DEV, (lay_.data_offset + block * lay_.bs()) * 512, &sig, 8);
		poked_[block] = true;
	}

	// Splits [sector, sector + len) the way the I/O path would and checks every piece.
	void check_map(u64 sector, u64 len)
	{
		const u64 bs = lay_.bs();
		while (len) {
			rc_mapping out;
			memset(&out, 0xa5, sizeof(out));
			rb_rcu_read_lock();
			const rc_io_view view =
				*__atomic_load_n(rc_target_io_view(live_), __ATOMIC_ACQUIRE);
			rc_target_map(live_, sector, static_cast<u32>(len), &out);
			const bool touches =
				rc_io_view_touches(&view, sector, static_cast<u32>(len));
			rb_rcu_read_unlock();
			if (out.sectors == 0 || out.sectors > len)
				fail("map: a piece that is empty or longer than the request");
			// The glue's fast path takes the view's word for it without asking map().
			if (view.generation != out.generation)
				fail("map: the view and the mapping disagree on the generation");
			if (rc_io_view_clean(&view, sector, static_cast<u32>(len)) &&
			    (out.route != RC_ROUTE_DATA || out.sectors != len))
				fail("map: the view passes a request that map() routes otherwise");
			if (touches == (out.route == RC_ROUTE_DATA && out.sectors == len))
				fail("map: the view's search disagrees with map() on the request");
			const u64 b = sector / bs;
			const u64 block_end = (b + 1) * bs;
			auto it = model_.find(b);
			switch (out.route) {
			case RC_ROUTE_DATA:
				if (out.sector != lay_.data_offset + sector)
					fail("map: a data piece at the wrong sector");
				for (u64 x = b; x <= (sector + out.sectors - 1) / bs; x++) {
					if (model_.count(x))
						fail("map: a remapped block routed to the data device");
					if (poked_[x] &&
					    read_sig(RB_DATA_DEV, lay_.data_offset + x * bs) !=
						    signature(x))
						fail("map: a data block lost its data");
				}
				if (out.sectors < len && !model_.count((sector + out.sectors) / bs))
					fail("map: a data piece stops before a block that is not remapped");
				if (out.sectors < len && (sector + out.sectors) % bs)
					fail("map: a data piece stops inside a block");
				break;
			case RC_ROUTE_SPARE:
				if (it == model_.end() || it->second == kLost)
					fail("map: a block routed to the spare device that list does not show");
				if (out.sector != lay_.spare_offset + it->second * bs + sector % bs)
					fail("map: a spare piece at the wrong sector");
				if (out.sectors !=
				    (len < block_end - sector ? len : block_end - sector))
					fail("map: a spare piece is not the rest of its block");
				break;
			case RC_ROUTE_LOST:
				if (it == model_.end() ||
				    (it->second != kLost && !salvaged_.count(b)))
					fail("map: a block reported lost that list does not show lost or salvaged");
				if (out.sectors !=
				    (len < block_end - sector ? len : block_end - sector))
					fail("map: a lost piece is not the rest of its block");
				break;
			default:
				fail("map: held or unknown route with no message in progress");
			}
			sector += out.sectors;
			len -= out.sectors;
		}
	}

	// One-piece text in maxlen bytes: the longest prefix that fits with its NUL.
	static void check_text_cut(const std::string &whole, const std::string &out,
				   unsigned maxlen)
	{
		if (maxlen && out != whole.substr(0, maxlen - 1))
			fail("a stats or help reply is not the longest prefix that fits", out);
	}

	// A list in maxlen bytes: whole lines of the list, as many as fit with the NUL.
	static void check_list_cut(const std::string &whole, const std::string &out,
				   unsigned maxlen)
	{
		if (!maxlen)
			return;
		if (whole.compare(0, out.size(), out) != 0 || (!out.empty() && out.back() != '\n'))
			fail("a cut list reply is not whole lines of the list", out);
		if (out.size() < whole.size()) {
			const size_t next = whole.find('\n', out.size()) + 1 - out.size();
			if (out.size() + next < maxlen)
				fail("a cut list reply stops before a line that fits", out);
		}
	}

	std::string list_reply(u64 first, u64 max, unsigned maxlen)
	{
		char a1[24], a2[24];
		snprintf(a1, sizeof(a1), "%llu", static_cast<unsigned long long>(first));
		snprintf(a2, sizeof(a2), "%llu", static_cast<unsigned long long>(max));
		const char *argv[3] = {"list", a1, a2};
		int r;
		std::string out = reply(argv, 3, maxlen, &r);
		if (r != 1)
			fail("list did not return 1");
		return out;
	}

	// `list first max` with buffers that end exactly where a line (or its NUL) does, and
	// paged with a small buffer the way the admin guide says: each page starts after the
	// last block of the one before. The pages must add up to the whole list.
	void probe_list(u64 first, u64 max, const std::string &whole, u64 h)
	{
		std::vector<size_t> ends;
		size_t longest = 0;
		for (size_t p = 0, e; (e = whole.find('\n', p)) != std::string::npos; p = e + 1) {
			ends.push_back(e + 1);
			longest = std::max(longest, e + 1 - p);
		}
		if (ends.empty())
			return;
		const size_t k = h % ends.size();
		for (size_t m : {ends[k], ends[k] + 1})
			check_list_cut(whole, list_reply(first, max, static_cast<unsigned>(m)),
				       static_cast<unsigned>(m));

		const unsigned page = static_cast<unsigned>(
			std::max<u64>(longest + 1, whole.size() / 8 + (h >> 8) % 32));
		std::string joined;
		u64 next = first, left = max;
		for (size_t pages = 0; left && pages <= ends.size(); pages++) {
			const std::string out = list_reply(next, left, page);
			check_list_cut(list_text(model_, next, left), out, page);
			if (out.empty())
				break;
			joined += out;
			const size_t last = out.rfind('\n', out.size() - 2);
			const u64 b =
				strtoull(out.c_str() + (last == std::string::npos ? 0 : last + 1),
					 nullptr, 10);
			next = b + 1;
			left -= static_cast<u64>(std::count(out.begin(), out.end(), '\n'));
		}
		if (joined != whole)
			fail("paging through list with a small buffer does not give the whole list",
			     joined + "|" + whole);
	}

	void message(const std::vector<char *> &words, unsigned maxlen, bool parsed)
	{
		const char *verb = words[0];
		u64 a0 = 0, a1 = 1;
		const bool n0 = words.size() > 1 && parse_num(words[1], &a0);
		if (words.size() > 2 && !parse_num(words[2], &a1))
			a1 = 1;
		const bool is_remap = parsed && !strcasecmp(verb, "remap");
		const bool is_unremap = parsed && !strcasecmp(verb, "unremap");
		const u64 first = n0 ? a0 / lay_.bs() : 0;
		const u64 count = a1 > lay_.data_blocks ? lay_.data_blocks : a1;
		if (is_remap && n0)
			for (u64 b = first; b < first + count && b < lay_.data_blocks; b++)
				poke(b);

		const Mapping before = model_;
		const std::map<u64, u64> salvaged_before = salvaged_;
		const bool is_reprobe = parsed && !strcasecmp(verb, "reprobe");
		// reprobe's range: every block, or a0's block and a1 - 1 more.
		const u64 rp_first = words.size() > 1 ? first : 0;
		const u64 rp_end = words.size() > 1 ? rp_first + (words.size() > 2 ? a1 : 1)
						    : lay_.data_blocks;
		int r;
		const std::string out =
			reply(words.data(), static_cast<unsigned>(words.size()), maxlen, &r);
		if (!parsed && r != -kEINVAL)
			fail("a message parse_message refuses did not return -EINVAL", verb);
		const Mapping after = check_state();

		// Only what the message names may change.
		const bool in_range_ok = is_remap && n0 && a0 < lay_.target_len();
		for (const auto &e : before) {
			auto it = after.find(e.first);
			if (it == after.end()) {
				if (!(is_unremap && r == 0 && n0 && e.first == first))
					fail("a mapping disappeared", std::to_string(e.first));
			} else if (it->second != e.second &&
				   !(is_reprobe && r == 1 && e.second == kLost &&
				     e.first >= rp_first && e.first < rp_end)) {
				fail("a mapping changed its spare block", std::to_string(e.first));
			}
		}
		for (const auto &e : after) {
			if (before.count(e.first))
				continue;
			if (!in_range_ok || e.first < first || e.first - first >= a1)
				fail("a block got remapped that the message did not name",
				     std::to_string(e.first));
		}
		if (is_remap && r == 1 && in_range_ok) {
			for (u64 b = first; b < first + a1; b++)
				if (!after.count(b))
					fail("remap returned 1 but a block of it is not remapped",
					     std::to_string(b));
			if (words.size() == 2 && maxlen) {
				const auto it = after.find(first);
				const std::string want = std::to_string(first) + " " +
					(it->second == kLost ? std::string("lost")
							     : std::to_string(it->second));
				if (out != want.substr(0, maxlen - 1))
					fail("remap: the reply does not name the block's place",
					     out);
			}
			if (words.size() == 3 && a1 > 1 && maxlen) {
				u64 moved = 0, lost = 0, already = 0;
				for (u64 b = first; b < first + a1; b++) {
					if (before.count(b))
						already++;
					else
						(after.at(b) == kLost ? lost : moved)++;
				}
				const std::string want = "remapped=" + std::to_string(moved) +
					" lost=" + std::to_string(lost) +
					" already=" + std::to_string(already);
				if (out != want.substr(0, maxlen - 1))
					fail("remap: a range's reply does not count what it did",
					     out);
			}
		}
		if (is_unremap && r == 0 && n0 && after.count(first))
			fail("unremap returned 0 but the block is still remapped");
		if (is_reprobe && r == 1 && maxlen > out.size() + 1) {
			// Every lost or salvaged block of the range is tried: rescued ones are plainly
			// remapped now, the others are still lost or salvaged.
			u64 candidates = 0, rescued = 0;
			for (const auto &e : before) {
				if (e.first < rp_first || e.first >= rp_end ||
				    (e.second != kLost && !salvaged_before.count(e.first)))
					continue;
				candidates++;
				rescued += after.count(e.first) && after.at(e.first) != kLost &&
					!salvaged_.count(e.first);
			}
			const std::string want = "reprobed=" + std::to_string(candidates) +
				" rescued=" + std::to_string(rescued) +
				" still_lost=" + std::to_string(candidates - rescued);
			if (out != want)
				fail("reprobe: the reply does not count the lost blocks of its range",
				     out + " | " + want);
			if (disk_.unreadable.empty() && fault_ == 0 && candidates != rescued)
				fail("reprobe: every sector reads, yet something is still lost",
				     out);
		}
		if (is_reprobe && r == 1 && !out.empty() &&
		    out.compare(0, 9, std::string("reprobed=").substr(0, out.size())) != 0)
			fail("reprobe: a reply that is not reprobed=...", out);

		// A cut reply is a prefix of the whole one; a list is cut between lines only. Both
		// are also tried at the exact sizes where the text (or one more line) just fits.
		const u64 h0 = a0 * 31 + maxlen * 7 + words.size();
		if (r == 1 && parsed && !strcasecmp(verb, "list")) {
			u64 lf = 0, lm = ~0ull;
			if (words.size() > 1)
				lf = a0;
			if (words.size() > 2 && !parse_num(words[2], &lm))
				fail("list: parse_message accepted a count that is not a number");
			const std::string whole = list_text(after, lf, lm);
			std::string full_reply;
			read_list(lf, lm, &full_reply);
			if (full_reply != whole)
				fail("list with arguments is not the matching part of the whole list");
			check_list_cut(whole, out, maxlen);
			probe_list(lf, lm, whole, h0);
		} else if (r == 1 && parsed &&
			   (!strcasecmp(verb, "stats") || !strcasecmp(verb, "help"))) {
			const char *argv[1] = {verb};
			const std::string whole = big_reply(argv, 1);
			check_text_cut(whole, out, maxlen);
			for (unsigned m : {static_cast<unsigned>(whole.size()),
					   static_cast<unsigned>(whole.size() + 1)}) {
				int r2;
				check_text_cut(whole, reply(argv, 1, m, &r2), m);
			}
		}

		// Two random stretches of I/O, derived from the message.
		u64 h = a0 * 0x9e3779b97f4a7c15ull + a1 + maxlen + words.size();
		for (int i = 0; i < 2; i++) {
			h = h * 6364136223846793005ull + 1442695040888963407ull;
			const u64 total = lay_.target_len();
			const u64 sector = (i == 0 && n0 && a0 < total) ? a0 : (h >> 20) % total;
			const u64 room = total - sector;
			const u64 span = 3 * lay_.bs() + 1;
			check_map(sector, 1 + (h >> 8) % (room < span ? room : span));
		}
	}

	const Layout &lay_;
	MemDisk disk_;
	std::string table_line_;
	rc_table table_;
	rc_target *live_ = nullptr;
	bool suspended_ = true; // the live table's state
	rc_target *pending_ = nullptr;
	Mapping model_;                   // what the live table served after the last step
	std::unique_ptr<Mapping> expect_; // set while a failed resume may leave it stale
	std::vector<bool> poked_;
	std::map<u64, u64> salvaged_; // block -> lost sectors, from the last whole list
	int fault_ = 0;
};

void write_seeds(const char *dir)
{
	static const struct {
		unsigned char control, fault_at;
		const char *text;
	} seeds[] = {
		{0x00, 0,
		 "remap 0\nremap 4096\nlist\nstats\nunremap 0\nlist 0 1\nhelp\nclear_stats\n"},
		{0x05, 0,
		 "remap 8 3\n!crash\nlist\n>1 stats\n>0 list\n!reload\nunremap 8\n>20 list\n"},
		{0x10, 3,
		 "remap 16\nremap 24\n!suspend\nremap 32\n!resume\nremap 32\nunremap 16\n"},
		{0x20, 5,
		 "remap 0\nremap 8\nremap 16\nstats\n!reload\nremap 16\nunremap 0\n!crash 80\n"},
		{0x30, 17, "remap 0\nremap 8\nunremap 0\n!load\nremap 40\n!swap\nlist\n"},
		{0x40, 0,
		 "remap 0 30\nremap 40\n!crash\nlist 5 3\n>30 list\nunremap 41\n!crash 356\n"},
		{0x80, 0, "remap 0\nremap 8\nremap 16\nstats\nunremap 8\nremap 16\n"},
		{0xc0, 0, "remap 0\n!crash\nunremap 0\n>9 stats\n"},
		{0x00, 0,
		 "REMAP -1\nremap 18446744073709551616\nlist a\nfoo\n\nremap 2048 0\nhelp me\n"},
		{0x1f, 3,
		 "remap 64\nlist\nreprobe\n!crash\nreprobe 64 1\nstats\nreprobe 0 300\nlist\n"},
		{0x0f, 0,
		 "!bad 67\n!bad 70\nremap 64 2\nlist\nreprobe\n!crash\n!good\nreprobe 64\nlist\n"},
		{0x4f, 0,
		 "!bad 0\n!bad 9\nremap 0 3\n!reload\nreprobe\n!good\n>5 reprobe\nstats\n"},
		{0x8f, 0, "!bad 3\nremap 2\nremap 0 4\nunremap 0\n!good\nreprobe 0 4\nunremap 0\n"},
		{0x5f, 4, "remap 16 2\nreprobe 8\n!reload\nreprobe\n>3 reprobe\nREPROBE 16 1 1\n"},
	};
	int i = 0;
	for (const auto &s : seeds) {
		const std::string path = std::string(dir) + "/seed" + std::to_string(i++);
		FILE *f = fopen(path.c_str(), "wb");
		const size_t n = strlen(s.text);
		if (!f || fputc(s.control, f) == EOF || fputc(s.fault_at, f) == EOF ||
		    fwrite(s.text, 1, n, f) != n || fclose(f) != 0)
			fail("cannot write a seed", path);
	}
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	if (const char *dir = getenv("FUZZ_SEED_DIR"))
		write_seeds(dir);
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const u32 control = data[0];
	const long baseline = rb_user_live_allocs();
	{
		Session s(kLayouts[control >> 6], (control >> 4) & 3, data[1]);
		const char *p = reinterpret_cast<const char *>(data) + 2;
		const char *end = reinterpret_cast<const char *>(data) + size;
		for (size_t i = 0; p < end && i < kMaxMessages; i++) {
			const char *nl = static_cast<const char *>(memchr(p, '\n', end - p));
			const char *stop = nl ? nl : end;
			s.run_line(std::string(p, stop), kMaxlens[(control + i) % 16]);
			p = nl ? nl + 1 : end;
		}
	}
	rb_user_fail_alloc_nth(-1);
	if (rb_user_live_allocs() != baseline)
		fail("allocations through the boundary outlive the targets");
	return 0;
}
