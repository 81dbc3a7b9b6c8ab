// The table line parser and checker (rc_table_parse, rc_table_check) and the normalized TABLE
// line (rc_status_table) on arbitrary text. Properties:
//   - nothing crashes or reads outside its input, whatever the words;
//   - a refusal returns a negative errno (-EINVAL from the parser) and a non-empty message;
//   - rc_table_check accepts exactly the lines whose ranges are aligned, non-empty, inside
//     their devices and apart on a shared device, on devices that are not zoned and whose
//     spare sectors are no larger than the data device's unless allow_larger_spare_sectors
//     says so (an independent 128-bit reference decides);
//   - whatever it accepts, Geometry refuses at most for the spare area's size;
//   - the normalized line of an accepted table parses and checks again to the same rc_table
//     and prints again to the same text (the round trip a table reload relies on);
//   - status output cut by a small buffer is a NUL-terminated prefix of the whole line.
//
// Input: the table line, then optionally a newline and a device geometry as up to seven numbers
//   <target_len> <data_dev_sectors> <spare_dev_sectors> <data_lbs> <spare_lbs> <same_device>
//   <zoned>
// (missing ones come from the table itself). Every accepted line is also checked against a few
// geometries derived from the line, so the fuzzer reaches acceptance without finding one.
// LLVMFuzzerInitialize writes a few seed lines into $FUZZ_SEED_DIR (see tools/run-fuzzers.sh).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "geometry.h"
#include "remap_boundary.h"

namespace {

using u32 = rb_u32;
using u64 = rb_u64;
using u128 = unsigned __int128;

constexpr int kEINVAL = 22;
constexpr size_t kMaxWords = 64;
const char kDataName[] = "253:1";
const char kSpareName[] = "/dev/mapper/spare-dev";

[[noreturn]] void fail(const char *what, const std::string &detail = std::string())
{
	fprintf(stderr, "table_parser_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ",
		detail.c_str());
	abort();
}

// Words of a text the way dm_split_args() would hand them to the constructor (no escapes):
// runs of anything but ASCII whitespace and NUL. The strings live in *storage.
std::vector<char *> split_words(const char *text, size_t len, std::string *storage)
{
	storage->assign(text, len);
	std::vector<char *> words;
	char *p = &(*storage)[0];
	char *end = p + len;
	while (p < end && words.size() < kMaxWords) {
		while (p < end && (*p == '\0' || strchr(" \t\n\v\f\r", *p)))
			*p++ = '\0';
		if (p == end)
			break;
		words.push_back(p);
		while (p < end && *p != '\0' && !strchr(" \t\n\v\f\r", *p))
			p++;
	}
	// The string's own terminator ends the last word.
	return words;
}

u64 sat_add(u64 a, u64 b) { return a + b < a ? ~0ull : a + b; }

u64 fnv1a(const uint8_t *data, size_t size)
{
	u64 h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h;
}

std::string describe(const rc_table &t, const rc_devices &d)
{
	char buf[512];
	snprintf(
		buf, sizeof(buf),
		"table off=%llu spare_off=%llu spare_len=%llu bs=%u rr=%u lw=%llu feat=%#x auto=%d; "
		"devs len=%llu data=%llu spare=%llu lbs=%u/%u same=%d zoned=%d",
		static_cast<unsigned long long>(t.data_offset),
		static_cast<unsigned long long>(t.spare_offset),
		static_cast<unsigned long long>(t.spare_len), t.block_size, t.read_retries,
		static_cast<unsigned long long>(t.spare_low_water), t.explicit_features,
		t.auto_remap, static_cast<unsigned long long>(d.target_len),
		static_cast<unsigned long long>(d.data_dev_sectors),
		static_cast<unsigned long long>(d.spare_dev_sectors), d.data_logical_block,
		d.spare_logical_block, d.same_device, d.zoned);
	return buf;
}

// The devices the glue would report (device numbers and owner do not matter here).
rc_devices devices(u64 target_len, u64 data_sectors, u64 spare_sectors, u32 data_lbs, u32 spare_lbs,
		   int same_device, int zoned = 0)
{
	rc_devices d{};
	d.target_len = target_len;
	d.data_dev_sectors = data_sectors;
	d.spare_dev_sectors = spare_sectors;
	d.data_logical_block = data_lbs;
	d.spare_logical_block = spare_lbs;
	d.same_device = same_device;
	d.zoned = zoned;
	return d;
}

// What rc_table_check must decide, from the documented rules, in arithmetic that cannot wrap.
bool reference_accepts(const rc_table &t, const rc_devices &d)
{
	const u64 bs = t.block_size / 512;
	if (d.zoned)
		return false;
	if (d.spare_logical_block > d.data_logical_block &&
	    !(t.explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS))
		return false;
	if (t.block_size < d.data_logical_block || t.block_size < d.spare_logical_block)
		return false;
	if (d.target_len == 0 || d.target_len % bs || t.data_offset % bs)
		return false;
	const u128 data_end = static_cast<u128>(t.data_offset) + d.target_len;
	const u128 spare_end = static_cast<u128>(t.spare_offset) + t.spare_len;
	if (data_end > d.data_dev_sectors)
		return false;
	if (t.spare_offset % bs || t.spare_len == 0 || t.spare_len % bs)
		return false;
	if (spare_end > d.spare_dev_sectors)
		return false;
	if (d.same_device && t.data_offset < spare_end && t.spare_offset < data_end)
		return false;
	if ((t.explicit_features & RC_FEAT_SPARE_LOW_WATER) && t.spare_low_water > t.spare_len / bs)
		return false;
	return true;
}

bool same_table(const rc_table &a, const rc_table &b)
{
	return a.data_offset == b.data_offset && a.spare_offset == b.spare_offset &&
		a.spare_len == b.spare_len && a.block_size == b.block_size &&
		a.read_retries == b.read_retries && a.spare_low_water == b.spare_low_water &&
		a.explicit_features == b.explicit_features && a.auto_remap == b.auto_remap;
}

std::string status_line(const rc_table &t)
{
	char buf[1024];
	unsigned used = 0;
	rc_status_table(&t, kDataName, kSpareName, buf, sizeof(buf), &used);
	if (used >= sizeof(buf) - 1)
		fail("the normalized table line does not fit in 1 KiB");
	if (strlen(buf) != used)
		fail("rc_status_table: *used is not the length written");
	return buf;
}

std::string ima_line(const rc_table &t)
{
	char buf[1024];
	unsigned used = 0;
	rc_status_ima(&t, kDataName, kSpareName, buf, sizeof(buf), &used);
	if (used >= sizeof(buf) - 1 || strlen(buf) != used)
		fail("rc_status_ima output is too long or *used is wrong");
	return buf;
}

// DMEMIT rules with a buffer of exactly maxlen bytes (so ASan sees an overrun), starting at
// offset start of it: never past maxlen, NUL-terminated, a prefix of the whole output.
void check_cut(const rc_table &t, bool ima, const std::string &whole, unsigned maxlen,
	       unsigned start)
{
	if (start > maxlen)
		start = maxlen;
	std::unique_ptr<char[]> buf(new char[maxlen ? maxlen : 1]);
	memset(buf.get(), 'X', maxlen ? maxlen : 1);
	if (start)
		buf[start - 1] = '\0';
	unsigned used = start;
	if (ima)
		rc_status_ima(&t, kDataName, kSpareName, buf.get(), maxlen, &used);
	else
		rc_status_table(&t, kDataName, kSpareName, buf.get(), maxlen, &used);
	if (used > maxlen)
		fail("status output: *used beyond maxlen");
	if (maxlen == 0)
		return;
	if (start >= maxlen) {
		if (used != start)
			fail("status output: wrote to a full buffer");
		return;
	}
	const char *out = buf.get() + start;
	const void *nul = memchr(out, '\0', maxlen - start);
	if (!nul)
		fail("status output: not NUL-terminated inside maxlen");
	const size_t n = static_cast<const char *>(nul) - out;
	if (whole.compare(0, n, out, n) != 0)
		fail("status output: a cut line is not a prefix of the whole one");
	const bool fits = whole.size() < maxlen - start;
	if (fits && (n != whole.size() || used != start + n))
		fail("status output: a line that fits was cut or miscounted");
	if (!fits && used != maxlen)
		fail("status output: a cut line does not mark the buffer full");
}

void round_trip(const rc_table &checked, const rc_devices &devs)
{
	const std::string line = status_line(checked);
	std::string storage;
	std::vector<char *> words = split_words(line.data(), line.size(), &storage);
	rc_table again;
	const char *error = nullptr;
	if (rc_table_parse(static_cast<unsigned>(words.size()), words.data(), &again, &error))
		fail("the normalized line does not parse",
		     line + " (" + (error ? error : "?") + ")");
	if (!again.data_path || strcmp(again.data_path, kDataName) || !again.spare_path ||
	    strcmp(again.spare_path, kSpareName))
		fail("the normalized line does not name the devices it was given", line);
	error = nullptr;
	if (rc_table_check(&again, &devs, &error))
		fail("the normalized line does not check",
		     line + " (" + (error ? error : "?") + ")");
	if (!same_table(again, checked))
		fail("the normalized line reloads to another table",
		     line + " | " + describe(checked, devs) + " | " + describe(again, devs));
	if (status_line(again) != line)
		fail("the normalized line is not a fixed point", line);
}

void check_one(const rc_table &parsed, const rc_devices &devs, u64 h)
{
	rc_table t = parsed;
	const char *error = nullptr;
	const int r = rc_table_check(&t, &devs, &error);
	const bool expect = reference_accepts(parsed, devs);
	if (r) {
		if (r > 0 || r < -4095)
			fail("rc_table_check returned something that is not a negative errno");
		if (!error || !*error)
			fail("rc_table_check failed without a message");
		if (expect)
			fail("rc_table_check refused a valid line",
			     describe(parsed, devs) + ": " + error);
		return;
	}
	if (!expect)
		fail("rc_table_check accepted an invalid line", describe(parsed, devs));

	// Only the geometry-dependent default may change.
	rc_table only_low_water = parsed;
	only_low_water.spare_low_water = t.spare_low_water;
	if (!same_table(only_low_water, t) || t.data_path != parsed.data_path ||
	    t.spare_path != parsed.spare_path)
		fail("rc_table_check changed more than spare_low_water", describe(t, devs));
	const u64 spare_blocks = t.spare_len / (t.block_size / 512);
	if (t.spare_low_water > spare_blocks)
		fail("spare_low_water exceeds the spare blocks after check", describe(t, devs));

	// The engine's own validation may only add the limits on the spare area's size.
	remap::Geometry geo;
	if (const char *why =
		    remap::error_text(remap::Geometry::from_table(t, devs.target_len, &geo))) {
		if (!strstr(why, "Spare area too small") && !strstr(why, "Spare range too large"))
			fail("Geometry refuses a checked line", describe(t, devs) + ": " + why);
	}

	round_trip(t, devs);

	const std::string whole = status_line(t);
	const std::string ima = ima_line(t);
	const unsigned maxlen = static_cast<unsigned>(h % (whole.size() + 3));
	check_cut(t, false, whole, maxlen, static_cast<unsigned>((h >> 16) % 4));
	check_cut(t, true, ima, static_cast<unsigned>((h >> 24) % (ima.size() + 3)), 0);
}

// Up to six numbers from the text after the table line (strictly: anything else ends it).
size_t parse_numbers(const char *text, size_t len, u64 *out, size_t max)
{
	std::string storage;
	std::vector<char *> words = split_words(text, len, &storage);
	size_t n = 0;
	for (char *w : words) {
		if (n == max || !*w || strspn(w, "0123456789") != strlen(w) || strlen(w) > 20)
			break;
		errno = 0;
		const unsigned long long v = strtoull(w, nullptr, 10);
		if (errno)
			break;
		out[n++] = v;
	}
	return n;
}

void write_seeds(const char *dir)
{
	static const char *const seeds[] = {
		"/dev/sda 0 /dev/sdb 0 8192",
		"/dev/sda 2048 /dev/sdb 0 65536 2 block_size 8192\n65536 1000000 1000000 512 512 0",
		"d 0 s 0 800 7 block_size 512 no_auto_remap read_retries 5 spare_low_water 3",
		"d 0 d 1024 512 1 NO_AUTO_REMAP\n1024 2048 2048 512 512 1",
		"d 0 d 512 1024 2 read_retries 100\n1024 4096 4096 4096 4096 1",
		"d 0 s 0 8 3 block_size 1000",
		"d 0 s 0 8 1 bogus",
		"d 18446744073709551615 s 18446744073709551608 8",
		"d 0 s 0 8 2 read_retries",
		"d 0 s 0 8 4 read_retries 1 read_retries 2",
		"d 0 s 0 64 1 allow_larger_spare_sectors\n8 8 64 512 4096 0 0",
		"d 0 s 0 64 2 allow_larger_spare_sectors no_auto_remap\n8 8 64 512 512 0 1",
		"a b c",
	};
	int i = 0;
	for (const char *s : seeds) {
		const std::string path = std::string(dir) + "/seed" + std::to_string(i++);
		FILE *f = fopen(path.c_str(), "wb");
		if (!f || fwrite(s, 1, strlen(s), f) != strlen(s) || fclose(f) != 0)
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
	const char *text = reinterpret_cast<const char *>(data);
	const void *nl = memchr(text, '\n', size);
	const size_t line_len =
		nl ? static_cast<size_t>(static_cast<const char *>(nl) - text) : size;

	std::string storage;
	std::vector<char *> words = split_words(text, line_len, &storage);
	rc_table parsed;
	memset(&parsed, 0xa5, sizeof(parsed));
	const char *error = nullptr;
	const int r =
		rc_table_parse(static_cast<unsigned>(words.size()), words.data(), &parsed, &error);
	if (r) {
		if (r != -kEINVAL)
			fail("rc_table_parse failed with something other than -EINVAL");
		if (!error || !*error)
			fail("rc_table_parse failed without a message");
		return 0;
	}
	if (words.size() < 5 || parsed.data_path != words[0] || parsed.spare_path != words[2])
		fail("rc_table_parse accepted a line without pointing at its device words");
	if (parsed.block_size < RC_MIN_BLOCK_SIZE || parsed.block_size > RC_MAX_BLOCK_SIZE ||
	    (parsed.block_size & (parsed.block_size - 1)) ||
	    parsed.read_retries > RC_MAX_READ_RETRIES ||
	    (parsed.auto_remap != 0 && parsed.auto_remap != 1))
		fail("rc_table_parse accepted out-of-range values");

	const u64 h = fnv1a(data, size);
	const u64 bs = parsed.block_size / 512;
	const u64 blocks = 1 + (h >> 40) % 64;
	const u64 data_end = sat_add(parsed.data_offset, blocks * bs);
	const u64 spare_end = sat_add(parsed.spare_offset, parsed.spare_len);

	// Exactly fitting devices: valid whenever the line's numbers are aligned and non-empty.
	const rc_devices fit = devices(blocks * bs, data_end, spare_end, 512, 512, 0);
	check_one(parsed, fit, h);
	// One device holding both ranges, 4 KiB logical blocks.
	const u64 both = data_end > spare_end ? data_end : spare_end;
	check_one(parsed, devices(blocks * bs, both, both, 4096, 512, 1), h >> 1);
	// One sector too small on either side, or a target length that is not whole blocks.
	check_one(parsed, devices(blocks * bs, data_end - 1, spare_end, 512, 512, 0), h >> 2);
	check_one(parsed, devices(blocks * bs, data_end, spare_end - 1, 512, 4096, 0), h >> 3);
	check_one(parsed,
		  devices(blocks * bs + (h & 1 ? 1 : 0) + (h & 2 ? bs : 0), both, both,
			  parsed.block_size, 1024, static_cast<int>((h >> 2) & 1)),
		  h >> 4);

	// A zoned device is refused whatever the line says.
	rc_devices zoned = fit;
	zoned.zoned = 1;
	check_one(parsed, zoned, h >> 6);

	// The geometry the input spells out, with the fitting one's values for the rest.
	u64 given[7] = {
		fit.target_len, fit.data_dev_sectors, fit.spare_dev_sectors, 512, 512, 0, 0};
	if (nl) {
		parse_numbers(static_cast<const char *>(nl) + 1, size - line_len - 1, given, 7);
		const rc_devices spelled =
			devices(given[0], given[1], given[2], static_cast<u32>(given[3]),
				static_cast<u32>(given[4]), given[5] != 0, given[6] != 0);
		check_one(parsed, spelled, h >> 5);
	}
	return 0;
}
