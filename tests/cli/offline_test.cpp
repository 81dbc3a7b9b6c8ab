// dump, check and format on metadata images in temp files, through the same entry point as the
// binary (run_cli): intact, empty, damaged in one slot (the module falls back), damaged beyond
// use, and every refusal with its exit status.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli_run.h"
#include "commands.h"
#include "device.h"
#include "metadata_store.h"
#include "offline.h"
#include "spare_io.h"

using dmremap::Device;
using remap::Entry;
using remap::EntryState;
using remap::MetadataStore;

namespace {

// 64 MiB of data (131072 sectors), 16 MiB spare (32768 sectors, 4096 blocks of 4 KiB).
constexpr uint64_t kDataLen = 131072;
constexpr uint64_t kSpareLen = 32768;

class Image : public ::testing::Test {
protected:
	void SetUp() override
	{
		char name[] = "/tmp/dmremap-cli-test.XXXXXX";
		const int fd = mkstemp(name);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kSpareLen * 512)), 0);
		close(fd);
		path_ = name;
	}
	void TearDown() override { unlink(path_.c_str()); }

	CliRun format()
	{
		return cli({"format", path_, "--data-len", std::to_string(kDataLen), "--yes"});
	}

	remap::Geometry geometry(uint32_t block_size = 4096)
	{
		remap::Geometry g;
		EXPECT_EQ(remap::error_text(remap::Geometry::create(0, kDataLen, 0, kSpareLen,
								    block_size, &g)),
			  nullptr);
		return g;
	}

	// Commits the entries with the module's store, as the kernel would.
	void commit(const std::vector<Entry> &entries, uint32_t block_size = 4096,
		    const std::string &path = "")
	{
		const remap::Geometry g = geometry(block_size);
		const Device dev(path.empty() ? path_ : path, Device::Mode::ReadWrite);
		dmremap::SpareIo io(dev, 0, 0);
		MetadataStore store(g, io.ops(), io.ctx());
		ASSERT_EQ(remap::error_text(store.load(remap::Gfp::Kernel)), nullptr);
		std::vector<MetadataStore::SlotChange> changes;
		for (const Entry &e : entries)
			changes.push_back({MetadataStore::SlotChange::kNewSlot, e});
		ASSERT_FALSE(
			store.commit(changes.data(), changes.size(), remap::Gfp::Kernel).is_error());
	}

	void poke(uint64_t byte, unsigned char value)
	{
		std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
		f.seekp(static_cast<std::streamoff>(byte));
		f.put(static_cast<char>(value));
	}
	unsigned char peek(uint64_t byte)
	{
		std::ifstream f(path_, std::ios::binary);
		f.seekg(static_cast<std::streamoff>(byte));
		return static_cast<unsigned char>(f.get());
	}

	std::string path_;
};

TEST_F(Image, EmptyAreaIsCleanAndDumpsAsEmpty)
{
	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 0) << c.out << c.err;
	EXPECT_NE(c.out.find("clean, no metadata"), std::string::npos) << c.out;
	const CliRun d = cli({"dump", path_, "--json"});
	EXPECT_EQ(d.status, 0);
	EXPECT_NE(d.out.find("\"state\":\"empty\""), std::string::npos) << d.out;
}

TEST_F(Image, FormatNeedsYesAndChangesNothingWithout)
{
	const CliRun r = cli({"format", path_, "--data-len", std::to_string(kDataLen)});
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.err.find("refusing to format without --yes"), std::string::npos) << r.err;
	EXPECT_NE(r.out.find("empty (all zero)"), std::string::npos) << r.out;
	EXPECT_EQ(cli({"dump", path_, "--json"}).out.find("\"state\":\"empty\"") !=
			  std::string::npos,
		  true);
}

TEST_F(Image, FormatWritesWhatTheModuleLoads)
{
	const CliRun f = format();
	ASSERT_EQ(f.status, 0) << f.err;
	EXPECT_NE(f.out.find("matching table line: 0 131072 remap <data_dev> 0 "), std::string::npos)
		<< f.out;
	// The module's loader, on the module's geometry, finds a valid commit with no entries.
	EXPECT_EQ(dmremap::spare_area_problem(Device(path_, Device::Mode::ReadOnly), geometry()),
		  "");
	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 0) << c.out;
	EXPECT_NE(c.out.find("clean, seq 1, 0 remapped"), std::string::npos) << c.out;
}

TEST_F(Image, FormatRefusals)
{
	EXPECT_EQ(cli({"format", path_, "--yes"}).status, 2); // no data length
	EXPECT_EQ(cli({"format", path_, "--data-len", "8", "--data-dev", path_, "--yes"}).status,
		  2);
	EXPECT_EQ(cli({"format", path_, "--data-len", "131072", "--block-size", "3000", "--yes"})
			  .status,
		  2);
	// A spare range past the end of the image.
	const CliRun r =
		cli({"format", path_, "--data-len", "131072", "--spare-len", "65536", "--yes"});
	EXPECT_EQ(r.status, 2) << r.err;
	EXPECT_NE(r.err.find("Spare range exceeds the spare device"), std::string::npos) << r.err;
	EXPECT_EQ(cli({"format", "/nonexistent/x", "--data-len", "131072", "--yes"}).status, 1);
}

TEST_F(Image, DumpShowsBothSlotsAndTheTable)
{
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped}, {1024, Entry::kLostSpare, EntryState::Lost}});
	commit({{Entry::kBadSpareData, 40, EntryState::BadSpare}});
	const CliRun d = cli({"dump", path_});
	ASSERT_EQ(d.status, 0) << d.err;
	EXPECT_NE(d.out.find("metadata: valid, seq 3"), std::string::npos) << d.out;
	EXPECT_NE(d.out.find("slot 0: valid, seq 2"), std::string::npos) << d.out;
	EXPECT_NE(d.out.find("slot 1: valid, seq 3, table area 0, 3 entries in 3 slots [active]"),
		  std::string::npos)
		<< d.out;
	EXPECT_NE(d.out.find("  256 36 remapped\n  1024 - lost\n  - 40 bad_spare\n"),
		  std::string::npos)
		<< d.out;

	const CliRun j = cli({"dump", path_, "--json"});
	EXPECT_NE(j.out.find("\"active_slot\":1,\"seq\":3,\"degraded\":false"), std::string::npos)
		<< j.out;
	EXPECT_NE(j.out.find("{\"data_block\":256,\"spare_block\":36,\"state\":\"remapped\"},"
			     "{\"data_block\":1024,\"spare_block\":null,\"state\":\"lost\"},"
			     "{\"data_block\":null,\"spare_block\":40,\"state\":\"bad_spare\"}"),
		  std::string::npos)
		<< j.out;
	EXPECT_EQ(cli({"check", path_}).status, 0);
}

TEST_F(Image, DamagedNewestSlotFallsBackAndCheckReportsIt)
{
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped}}); // seq 2, slot 0
	commit({{512, 37, EntryState::Remapped}}); // seq 3, slot 1 (block 1 = byte 4096)
	poke(4096 + 100, peek(4096 + 100) ^ 0x40); // a bit flip in the newest superblock

	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 1) << c.out;
	EXPECT_NE(c.out.find("superblock slot 1 is damaged: Superblock has a bad checksum"),
		  std::string::npos)
		<< c.out;
	// The module would still load the older commit: dump shows it and succeeds.
	const CliRun d = cli({"dump", path_});
	EXPECT_EQ(d.status, 0);
	EXPECT_NE(d.out.find("metadata: valid, seq 2, degraded"), std::string::npos) << d.out;
	EXPECT_NE(d.out.find("  256 36 remapped\n"), std::string::npos) << d.out;
	EXPECT_EQ(d.out.find("512 37"), std::string::npos) << d.out;
	const CliRun j = cli({"check", path_, "--json"});
	EXPECT_EQ(j.status, 1);
	EXPECT_NE(j.out.find("\"degraded\":true"), std::string::npos) << j.out;
}

TEST_F(Image, DamagedNewestTableIsAProblem)
{
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped}}); // seq 2 in slot 0, table area 1 (blocks 19..)
	const remap::Geometry g = geometry();
	const uint64_t table = g.table_block(1, 0).value() * 4096;
	poke(table + 64, peek(table + 64) ^ 1);
	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 1) << c.out;
	EXPECT_NE(
		c.out.find("table of superblock slot 0 is damaged: Table block has a bad checksum"),
		std::string::npos)
		<< c.out;
}

TEST_F(Image, DestroyedMetadataIsInvalidEverywhere)
{
	ASSERT_EQ(format().status, 0);
	poke(4096, 'X'); // the only superblock (seq 1, slot 1) loses its magic
	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 1) << c.out;
	EXPECT_NE(c.out.find("the module would refuse it"), std::string::npos) << c.out;
	EXPECT_EQ(cli({"dump", path_}).status, 1);
	const CliRun j = cli({"dump", path_, "--json"});
	EXPECT_NE(j.out.find("\"state\":\"invalid\""), std::string::npos) << j.out;
}

TEST_F(Image, CopyAtAnOffsetReadsTheSame)
{
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped}});
	// The same area 1 MiB into a bigger image, as `dd seek=2048` would leave it.
	std::ifstream src(path_, std::ios::binary);
	const std::string copy = path_ + ".copy";
	{
		std::ofstream dst(copy, std::ios::binary);
		dst << std::string(1 << 20, '\0') << src.rdbuf();
	}
	const CliRun d = cli({"dump", copy, "--offset", "2048"});
	EXPECT_EQ(d.status, 0) << d.err;
	EXPECT_NE(d.out.find("  256 36 remapped"), std::string::npos) << d.out;
	EXPECT_NE(d.out.find("note: the superblock records spare_offset 0; read at offset 2048"),
		  std::string::npos)
		<< d.out;
	unlink(copy.c_str());
}

// Modules before the fresh area rule formatted an area whose two superblock blocks were zero,
// which at 4 KiB left a superblock written at 64 KiB (slot 1 of a 64 KiB geometry) in place
// (today's module refuses that area: MetadataStore.StaleSuperblockOfAnotherBlockSizeIsNotFresh).
// dump must show the metadata the module uses, and say that there is another.
TEST_F(Image, StaleSuperblockOfAnotherBlockSize)
{
	ASSERT_EQ(cli({"format", path_, "--data-len", std::to_string(kDataLen), "--block-size",
		       "65536", "--yes"})
			  .status,
		  0);
	commit({}, 65536); // seq 2, slot 0
	commit({}, 65536); // seq 3, slot 1 at 64 KiB: newer than anything the 4 KiB commits write
	// What the old module's format and one commit at 4 KiB wrote, made on a zero image and
	// laid over this one block by block: its blocks 0, 1 (superblocks) and 19 (a table block);
	// the 64 KiB superblock (block 16) stays.
	const std::string fresh = path_ + ".fresh";
	{
		std::ofstream f(fresh, std::ios::binary);
		f << std::string(kSpareLen * 512, '\0');
	}
	commit({}, 4096, fresh);                                // seq 1, slot 1
	commit({{256, 36, EntryState::Remapped}}, 4096, fresh); // seq 2, slot 0
	{
		std::ifstream in(fresh, std::ios::binary);
		std::fstream out(path_, std::ios::in | std::ios::out | std::ios::binary);
		std::string block(4096, '\0');
		for (uint64_t b = 0; in.read(&block[0], 4096); b++) {
			if (block.find_first_not_of('\0') == std::string::npos)
				continue;
			out.seekp(static_cast<std::streamoff>(b * 4096));
			out.write(block.data(), 4096);
		}
	}
	unlink(fresh.c_str());
	const CliRun d = cli({"dump", path_});
	EXPECT_EQ(d.status, 0) << d.err;
	EXPECT_NE(d.out.find("block_size 4096"), std::string::npos) << d.out;
	EXPECT_NE(d.out.find("  256 36 remapped"), std::string::npos) << d.out;
	EXPECT_NE(
		d.out.find("note: superblocks of 2 different geometries found; showing block size "
			   "4096"),
		std::string::npos)
		<< d.out;
	EXPECT_EQ(cli({"check", path_}).status, 0);
}

TEST(Offline, ExitStatusesFollowFsck)
{
	EXPECT_EQ(cli({"check", "/nonexistent/spare"}).status, 8);
	EXPECT_EQ(cli({"check"}).status, 16);
	EXPECT_EQ(cli({"check", "a", "b"}).status, 16);
	EXPECT_EQ(cli({"check", "--offset", "x", "a"}).status, 16);
	EXPECT_EQ(cli({"dump", "/nonexistent/spare"}).status, 1);
	EXPECT_EQ(cli({"dump"}).status, 2);
}

TEST(Offline, GarbageIsNotMetadata)
{
	char name[] = "/tmp/dmremap-cli-garbage.XXXXXX";
	const int fd = mkstemp(name);
	ASSERT_GE(fd, 0);
	const std::string junk(256 * 1024, 'j');
	ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
	close(fd);
	const CliRun c = cli({"check", name});
	EXPECT_EQ(c.status, 1);
	EXPECT_NE(c.out.find("no intact dm-remap superblock"), std::string::npos) << c.out;
	EXPECT_EQ(cli({"check", name, "--offset", "100000"}).status, 8); // past the end
	unlink(name);
}

} // namespace

// Format version 2: a salvaged block's lost-sector runs, in dump (text and JSON) and check;
// a version 1 area is named and noted; a run the module would refuse is a problem.
TEST_F(Image, LostSectorRunsAndFormatVersions)
{
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped},
		{256, Entry::run(5, 1), EntryState::LostSectors},
		{256, Entry::run(1, 2), EntryState::LostSectors}});
	const CliRun d = cli({"dump", path_});
	ASSERT_EQ(d.status, 0) << d.err;
	EXPECT_NE(
		d.out.find(
			"table: 3 entries (1 remapped, 0 lost, 0 bad spare, 3 sector(s) lost in salvaged blocks)"),
		std::string::npos)
		<< d.out;
	EXPECT_NE(
		d.out.find(
			"  256 36 remapped\n  256 sectors 1+2 lost_sectors\n  256 sectors 5+1 lost_sectors\n"),
		std::string::npos)
		<< d.out;
	const CliRun j = cli({"dump", path_, "--json"});
	EXPECT_NE(j.out.find("{\"data_block\":256,\"spare_block\":null,\"state\":\"lost_sectors\","
			     "\"first_sector\":1,\"sectors\":2}"),
		  std::string::npos)
		<< j.out;
	EXPECT_NE(j.out.find("\"version\":2"), std::string::npos) << j.out;
	const CliRun c = cli({"check", path_});
	EXPECT_EQ(c.status, 0) << c.out;
	EXPECT_NE(
		c.out.find(
			"1 remapped, 0 lost, 0 bad spare block(s), 3 sector(s) lost in salvaged blocks"),
		std::string::npos)
		<< c.out;

	// The newest commit (seq 2, slot 0) re-stamped as version 1: a version 1 table cannot
	// hold lost-sector runs, so the module would fall back to the empty commit in slot 1.
	auto stamp_v1 = [&](uint32_t slot) {
		std::vector<uint8_t> b(4096);
		{
			std::ifstream f(path_, std::ios::binary);
			f.seekg(static_cast<std::streamoff>(slot * 4096));
			f.read(reinterpret_cast<char *>(b.data()), 4096);
		}
		remap::Superblock sb;
		ASSERT_EQ(remap::error_text(remap::decode_superblock_fields(b.data(), &sb)),
			  nullptr);
		sb.version = 1;
		remap::encode_superblock(sb, b.data(), 4096);
		std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
		f.seekp(static_cast<std::streamoff>(slot * 4096));
		f.write(reinterpret_cast<const char *>(b.data()), 4096);
	};
	stamp_v1(0);
	const CliRun bad = cli({"check", path_});
	EXPECT_EQ(bad.status, 1) << bad.out;
	EXPECT_NE(bad.out.find("Table entry has an unknown state"), std::string::npos) << bad.out;

	// A version 1 area without runs loads; dump names the version, check notes the upgrade.
	ASSERT_EQ(format().status, 0);
	commit({{256, 36, EntryState::Remapped}});
	stamp_v1(0);
	stamp_v1(1);
	const CliRun d1 = cli({"dump", path_});
	EXPECT_EQ(d1.status, 0) << d1.out;
	EXPECT_NE(
		d1.out.find(
			"slot 0: valid, seq 2, table area 1, 1 entries in 1 slots, format version 1"),
		std::string::npos)
		<< d1.out;
	const CliRun c1 = cli({"check", path_});
	EXPECT_EQ(c1.status, 0) << c1.out;
	EXPECT_NE(c1.out.find("note: format version 1: the module upgrades it to version 2"),
		  std::string::npos)
		<< c1.out;
}
