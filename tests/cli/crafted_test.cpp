// dump, check and format on images whose superblock was crafted to describe a geometry the
// device cannot hold (finding 7): the installed binary, run as a child under a 1 GiB address
// space limit, must report a problem (exit 1) promptly, with a small peak RSS (getrusage of the
// child), and never fail for want of memory. Also the fresh area rule as `check` states it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "cli_run.h"
#include "device.h"
#include "geometry.h"
#include "metadata_codec.h"
#include "metadata_store.h"
#include "offline.h"

namespace {

// A superblock as docs/on-disk-format.rst lays it out, written here field by field (not with
// the codec) so that any geometry can be spelled, however impossible.
struct RawSuperblock {
	uint64_t seq = 1;
	uint64_t data_offset = 0, data_len = 8, spare_offset = 0, spare_len = 0;
	uint32_t block_size = 512, table_blocks = 0, area = 0, used_blocks = 0;
	uint64_t used_slots = 0, entry_count = 0;
	uint32_t table_crc = 0;
};

void put(std::vector<uint8_t> &b, size_t at, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> encode(const RawSuperblock &s)
{
	std::vector<uint8_t> b(512, 0);
	const char magic[] = "DMREMAP1";
	for (int i = 0; i < 8; i++)
		b[i] = static_cast<uint8_t>(magic[i]);
	put(b, 8, 1, 4);  // version
	put(b, 12, 0, 4); // flags
	put(b, 16, s.seq, 8);
	for (int i = 0; i < 16; i++)
		b[24 + i] = static_cast<uint8_t>(0xa0 + i); // uuid
	put(b, 40, s.data_offset, 8);
	put(b, 48, s.data_len, 8);
	put(b, 56, s.spare_offset, 8);
	put(b, 64, s.spare_len, 8);
	put(b, 72, s.block_size, 4);
	put(b, 76, s.table_blocks, 4);
	put(b, 80, s.area, 4);
	put(b, 84, s.used_blocks, 4);
	put(b, 88, s.used_slots, 8);
	put(b, 96, s.entry_count, 8);
	put(b, 104, s.table_crc, 4);
	put(b, 508, rb_crc32c(0xffffffff, b.data(), 508) ^ 0xffffffff, 4);
	return b;
}

// The largest geometry a superblock can claim: 0xfffffffe spare blocks of 512 bytes.
RawSuperblock huge(bool full)
{
	RawSuperblock s;
	const uint64_t spare_blocks = remap::Geometry::kMaxSpareBlocks;
	const uint32_t e = remap::Geometry::entries_for(512);
	s.spare_len = spare_blocks;
	s.table_blocks = static_cast<uint32_t>(remap::Geometry::table_blocks_for(spare_blocks, e));
	if (full) {
		s.used_blocks = s.table_blocks;
		s.used_slots = uint64_t{s.table_blocks} * e;
	}
	return s;
}

std::string write_image(const std::vector<uint8_t> &sb, uint64_t bytes = 1 << 20, uint64_t at = 0)
{
	char name[] = "/tmp/dmremap-crafted.XXXXXX";
	const int fd = mkstemp(name);
	EXPECT_GE(fd, 0);
	EXPECT_EQ(ftruncate(fd, static_cast<off_t>(bytes)), 0);
	EXPECT_EQ(pwrite(fd, sb.data(), sb.size(), static_cast<off_t>(at)),
		  static_cast<ssize_t>(sb.size()));
	close(fd);
	return name;
}

struct Child {
	int status = -1;
	std::string out;
	long max_rss_kib = 0;
	double seconds = 0;
};

// Runs the dmremap binary with args under a 1 GiB address space limit; stdout and stderr are
// captured together.
Child run_binary(const std::vector<std::string> &args)
{
	Child c;
	char out_name[] = "/tmp/dmremap-crafted-out.XXXXXX";
	const int out = mkstemp(out_name);
	EXPECT_GE(out, 0);
	const auto t0 = std::chrono::steady_clock::now();
	const pid_t pid = fork();
	if (pid == 0) {
		const rlimit as{1ul << 30, 1ul << 30};
		setrlimit(RLIMIT_AS, &as);
		dup2(out, 1);
		dup2(out, 2);
		std::vector<char *> argv;
		std::string bin = DMREMAP_BINARY;
		argv.push_back(bin.data());
		std::vector<std::string> copy = args;
		for (auto &a : copy)
			argv.push_back(a.data());
		argv.push_back(nullptr);
		execv(argv[0], argv.data());
		_exit(127);
	}
	int status = 0;
	rusage ru{};
	EXPECT_EQ(wait4(pid, &status, 0, &ru), pid);
	c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	c.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	c.max_rss_kib = ru.ru_maxrss;
	std::vector<char> buf(1 << 16);
	const ssize_t n = pread(out, buf.data(), buf.size(), 0);
	c.out.assign(buf.data(), n > 0 ? static_cast<size_t>(n) : 0);
	close(out);
	unlink(out_name);
	return c;
}

const char kPastTheEnd[] = "describes a spare range of 4294967294 sectors (4294967294 blocks "
			   "of 512 bytes), past the end of the device (2048 sectors from the "
			   "offset): not loaded";

void expect_bounded(const Child &c, const char *what)
{
	EXPECT_EQ(c.status, 1) << what << ": " << c.out;
	EXPECT_NE(c.out.find(kPastTheEnd), std::string::npos) << what << ": " << c.out;
	EXPECT_EQ(c.out.find("allocate"), std::string::npos) << what << ": " << c.out;
	EXPECT_LT(c.max_rss_kib, 64 * 1024) << what;
	EXPECT_LT(c.seconds, 10.0) << what;
	std::printf("%s: exit %d, peak RSS %ld KiB, %.3f s\n", what, c.status, c.max_rss_kib,
		    c.seconds);
}

} // namespace

// The review's images: a 1 MiB image whose slot-0 superblock (valid checksum) claims 2 TiB of
// 512-byte blocks, with an empty and with a "full" table.
TEST(Crafted, HugeGeometryIsAProblemNotAnAllocation)
{
	for (bool full : {false, true}) {
		const std::string img = write_image(encode(huge(full)));
		const std::string name = full ? "full" : "empty";
		expect_bounded(run_binary({"check", img}), ("check " + name).c_str());
		expect_bounded(run_binary({"dump", img}), ("dump " + name).c_str());
		expect_bounded(run_binary({"dump", img, "--json"}),
			       ("dump --json " + name).c_str());
		// format shows what it would overwrite first: the same bounded inspection.
		const Child f =
			run_binary({"format", img, "--data-len", "8", "--block-size", "512"});
		EXPECT_EQ(f.status, 1) << f.out;
		EXPECT_NE(f.out.find("data that is not valid dm-remap metadata"), std::string::npos)
			<< f.out;
		EXPECT_LT(f.max_rss_kib, 64 * 1024);
		unlink(img.c_str());
	}
}

// The same in slot 1 of a 4 KiB geometry (byte 4096), and a spare range one block too long.
TEST(Crafted, AnyGeometryPastTheEndIsNotLoaded)
{
	RawSuperblock s = huge(true);
	s.block_size = 4096;
	const uint32_t e = remap::Geometry::entries_for(4096);
	s.spare_len = 2056; // 257 blocks of 4 KiB in a 1 MiB (256-block) image
	s.table_blocks = static_cast<uint32_t>(remap::Geometry::table_blocks_for(257, e));
	s.used_blocks = s.table_blocks;
	s.used_slots = e;
	const std::string img = write_image(encode(s), 1 << 20, 4096);
	const CliRun c = cli({"check", img});
	EXPECT_EQ(c.status, 1) << c.out << c.err;
	EXPECT_NE(c.out.find("superblock in slot 1 describes a spare range of 2056 sectors (257 "
			     "blocks of 4096 bytes), past the end of the device (2048 sectors from "
			     "the offset): not loaded"),
		  std::string::npos)
		<< c.out;
	unlink(img.c_str());
}

// Finding 11: `check` on an area without superblocks says "the module would refuse it" only
// when it would, and calls it empty only when the module would format it.
TEST(Crafted, CheckStatesTheFreshAreaRule)
{
	const std::vector<uint8_t> x(1, 0x5a);
	// btrfs keeps its superblock at 64 KiB: zero superblock blocks, data behind them.
	std::string img = write_image(x, 16 << 20, 64 * 1024);
	CliRun c = cli({"check", img});
	EXPECT_EQ(c.status, 1) << c.out;
	EXPECT_NE(c.out.find("the area is not zero (byte 65536): the module would refuse it"),
		  std::string::npos)
		<< c.out;
	// The module agrees, for every block size: the spare area fails its fresh check.
	for (uint32_t bs = 512; bs <= 65536; bs <<= 1) {
		remap::Geometry g;
		ASSERT_EQ(remap::error_text(remap::Geometry::create(0, 1 << 20, 0, 32768, bs, &g)),
			  nullptr);
		EXPECT_NE(dmremap::spare_area_problem(
				  dmremap::Device(img, dmremap::Device::Mode::ReadOnly), g),
			  "")
			<< bs;
	}
	unlink(img.c_str());

	// Beyond the first MiB: only a geometry whose fresh area reaches the byte refuses it.
	img = write_image(x, 16 << 20, (1 << 20) + (64 << 10));
	c = cli({"check", img});
	EXPECT_EQ(c.status, 1) << c.out;
	EXPECT_NE(
		c.out.find("the first 1 MiB are zero but byte 1114112 is not: the module refuses "
			   "the area only if its metadata and the 64 KiB after it reach that byte"),
		std::string::npos)
		<< c.out;
	const dmremap::Device dev(img, dmremap::Device::Mode::ReadOnly);
	remap::Geometry small, big;
	ASSERT_EQ(remap::error_text(remap::Geometry::create(0, 1 << 20, 0, 32768, 4096, &small)),
		  nullptr);
	ASSERT_EQ(remap::error_text(remap::Geometry::create(0, 1 << 20, 0, 32768, 512, &big)),
		  nullptr);
	EXPECT_EQ(dmremap::spare_area_problem(dev, small), "") << "fresh area: the first MiB";
	EXPECT_GT(remap::fresh_area_bytes(big), uint64_t{1114112}) << "1.07 MiB of metadata";
	EXPECT_NE(dmremap::spare_area_problem(dev, big), "");
	unlink(img.c_str());

	// Past the 8 MiB any geometry checks: empty as far as the module is concerned.
	img = write_image(x, 16 << 20, 9 << 20);
	c = cli({"check", img});
	EXPECT_EQ(c.status, 0) << c.out;
	EXPECT_NE(c.out.find("clean, no metadata"), std::string::npos) << c.out;
	unlink(img.c_str());
}

// `format` zeroes the whole fresh area, so what it wrote loads as the module loads it even
// over data, and `create`'s check (spare_area_problem) accepts it afterwards.
TEST(Crafted, FormatClearsTheFreshArea)
{
	const std::vector<uint8_t> x(1, 0x5a);
	const std::string img = write_image(x, 16 << 20, 512 * 1024);
	ASSERT_EQ(cli({"format", img, "--data-len", "131072", "--yes"}).status, 0);
	remap::Geometry g;
	ASSERT_EQ(remap::error_text(remap::Geometry::create(0, 131072, 0, 32768, 4096, &g)),
		  nullptr);
	EXPECT_EQ(dmremap::spare_area_problem(dmremap::Device(img, dmremap::Device::Mode::ReadOnly),
					      g),
		  "");
	EXPECT_EQ(cli({"check", img}).status, 0);
	unlink(img.c_str());
}
