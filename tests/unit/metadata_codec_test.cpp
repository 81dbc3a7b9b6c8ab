// The on-disk format against docs/on-disk-format.rst: the layout arithmetic, golden bytes at the
// documented offsets (checked with a CRC32C written here, independent of the boundary's), round
// trips, and one specific rejection for every corrupted field, flipped byte and torn write.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "metadata_codec.h"

using remap::DataBlock;
using remap::Entry;
using remap::EntryState;
using remap::Geometry;
using remap::Sector;
using remap::SpareBlock;
using remap::Superblock;
using remap::u32;
using remap::u64;
using remap::u8;

namespace {

using Block = std::vector<u8>;

constexpr u32 kBlockSizes[] = {512, 4096, 65536};

// Bitwise reflected CRC32C with the standard inversions, as the doc defines it.
u32 ref_crc32c(const u8 *p, size_t n)
{
	u32 crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

u32 le32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<u32>(p[3]) << 24; }
u64 le64(const u8 *p) { return le32(p) | static_cast<u64>(le32(p + 4)) << 32; }
void put32(u8 *p, u32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = static_cast<u8>(v >> (8 * i));
}
void put64(u8 *p, u64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = static_cast<u8>(v >> (8 * i));
}

// After editing a field on purpose, make the crc right again so the field's own check fires.
void reseal_superblock(Block &b) { put32(&b[508], ref_crc32c(b.data(), 508)); }
void reseal_table_block(Block &b)
{
	put32(&b[60], 0);
	put32(&b[60], ref_crc32c(b.data(), b.size()));
}

std::string str(const char *err) { return err ? err : "(valid)"; }

// A geometry with S spare blocks and a 1000-block data range, both at aligned offsets.
Geometry make_geometry(u32 block_size, u64 spare_blocks, u64 data_blocks = 1000)
{
	const u64 bs = block_size / 512;
	Geometry g;
	const char *err = remap::error_text(Geometry::create(64 * bs, data_blocks * bs, 8 * bs,
							     spare_blocks * bs, block_size, &g));
	EXPECT_EQ(err, nullptr) << err;
	return g;
}

const char *create(u64 data_offset, u64 data_len, u64 spare_offset, u64 spare_len, u32 block_size,
		   Geometry *g = nullptr)
{
	Geometry local;
	return remap::error_text(Geometry::create(data_offset, data_len, spare_offset, spare_len,
						  block_size, g ? g : &local));
}

const u8 kUuid[16] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
		      0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

// A valid superblock with used slots in the middle of the range.
Superblock sample_superblock(const Geometry &g, std::mt19937_64 &rng)
{
	Superblock sb;
	remap::init_superblock(g, &sb);
	sb.seq = 1 + rng() % 1000000;
	for (auto &b : sb.uuid)
		b = static_cast<u8>(rng());
	sb.area = rng() % 2;
	sb.used_slots = rng() % (g.table_slots() + 1);
	const u64 e = g.entries_per_table_block();
	sb.used_blocks = static_cast<u32>((sb.used_slots + e - 1) / e);
	sb.entry_count = sb.used_slots ? rng() % (sb.used_slots + 1) : 0;
	sb.table_crc = static_cast<u32>(rng());
	return sb;
}

Block encode(const Superblock &sb, u32 block_size)
{
	Block b(block_size, 0xa5);
	remap::encode_superblock(sb, b.data(), block_size);
	return b;
}

const char *decode(const Geometry &g, const Block &b, Superblock *out = nullptr)
{
	Superblock local;
	return remap::error_text(remap::decode_superblock(g, b.data(), out ? out : &local));
}

void expect_same(const Superblock &a, const Superblock &b)
{
	EXPECT_EQ(a.seq, b.seq);
	EXPECT_EQ(0, memcmp(a.uuid, b.uuid, sizeof(a.uuid)));
	EXPECT_EQ(a.data_offset, b.data_offset);
	EXPECT_EQ(a.data_len, b.data_len);
	EXPECT_EQ(a.spare_offset, b.spare_offset);
	EXPECT_EQ(a.spare_len, b.spare_len);
	EXPECT_EQ(a.block_size, b.block_size);
	EXPECT_EQ(a.table_blocks, b.table_blocks);
	EXPECT_EQ(a.area, b.area);
	EXPECT_EQ(a.used_blocks, b.used_blocks);
	EXPECT_EQ(a.used_slots, b.used_slots);
	EXPECT_EQ(a.entry_count, b.entry_count);
	EXPECT_EQ(a.table_crc, b.table_crc);
}

// n slots of every kind, valid for g.
std::vector<Entry> sample_entries(const Geometry &g, u32 n, std::mt19937_64 &rng)
{
	const u64 first = g.first_usable_spare().value();
	const u64 usable = g.spare_blocks() - first;
	std::vector<Entry> v(n);
	for (auto &e : v) {
		const u64 data = rng() % g.data_blocks();
		const u32 spare = static_cast<u32>(first + rng() % usable);
		switch (rng() % 4) {
		case 0:
			e = {0, 0, EntryState::Free};
			break;
		case 1:
			e = {data, spare, EntryState::Remapped};
			break;
		case 2:
			e = {data, Entry::kLostSpare, EntryState::Lost};
			break;
		default:
			e = {Entry::kBadSpareData, spare, EntryState::BadSpare};
			break;
		}
	}
	return v;
}

struct TableCase {
	Geometry g;
	u64 seq = 7;
	u32 area = 1;
	u32 index = 0;
	std::vector<Entry> slots;
	Block block;
	u32 crc = 0;

	TableCase(const Geometry &geo, u32 nslots, std::mt19937_64 &rng, u32 idx = 0) :
	    g(geo), index(idx), slots(sample_entries(geo, nslots, rng)),
	    block(geo.block_size(), 0x5a)
	{
		crc = remap::encode_table_block(g, kUuid, seq, area, index, slots.data(),
						static_cast<u32>(slots.size()), block.data());
	}

	const char *decode(const Block &b, std::vector<Entry> *out = nullptr,
			   u32 *crc_out = nullptr) const
	{
		std::vector<Entry> local(g.entries_per_table_block());
		u32 crc_local;
		return remap::error_text(remap::decode_table_block(
			g, kUuid, seq, area, index, static_cast<u32>(slots.size()), b.data(),
			out ? out->data() : local.data(), crc_out ? crc_out : &crc_local));
	}
	const char *decode() const { return decode(block); }
};

} // namespace

// ------------------------------------------------------------------------------------------
// Geometry
// ------------------------------------------------------------------------------------------

TEST(Geometry, EntriesPerTableBlock)
{
	EXPECT_EQ(make_geometry(512, 100).entries_per_table_block(), 28u);
	EXPECT_EQ(make_geometry(4096, 100).entries_per_table_block(), 252u);
	EXPECT_EQ(make_geometry(65536, 100).entries_per_table_block(), 4092u);
	for (u32 bs : kBlockSizes)
		EXPECT_EQ(64 + 16 * Geometry::entries_for(bs), bs) << "entries fill the block";
}

TEST(Geometry, SmallestSpareRange)
{
	for (u32 bs : kBlockSizes) {
		const u64 sectors = bs / 512;
		Geometry g;
		ASSERT_EQ(create(0, 8 * sectors, 0, 5 * sectors, bs, &g), nullptr);
		EXPECT_EQ(g.spare_blocks(), 5u);
		EXPECT_EQ(g.table_blocks(), 1u);
		EXPECT_EQ(g.first_usable_spare(), SpareBlock(4));
		EXPECT_TRUE(Geometry::holds_metadata(5, g.entries_per_table_block()));
		for (u64 s = 1; s < 5; s++) {
			EXPECT_EQ(str(create(0, 8 * sectors, 0, s * sectors, bs)),
				  "Spare area too small for the metadata and one spare block")
				<< bs << " " << s;
			EXPECT_FALSE(Geometry::holds_metadata(s, g.entries_per_table_block()));
		}
		EXPECT_FALSE(Geometry::holds_metadata(0, g.entries_per_table_block()));
	}
	EXPECT_EQ(Geometry::kMinSpareBlocks, 5u);
}

TEST(Geometry, TableBlocksAreTheSmallestThatDescribeEverySpareBlock)
{
	std::mt19937_64 rng(1);
	for (u32 bs : kBlockSizes) {
		const u64 sectors = bs / 512;
		std::vector<u64> sizes;
		for (u64 s = 5; s < 20000; s++)
			sizes.push_back(s);
		for (int i = 0; i < 2000; i++)
			sizes.push_back(5 + rng() % (Geometry::kMaxSpareBlocks - 4));
		sizes.push_back(Geometry::kMaxSpareBlocks);
		for (u64 s : sizes) {
			Geometry g;
			ASSERT_EQ(create(0, sectors, 0, s * sectors, bs, &g), nullptr) << s;
			const u64 t = g.table_blocks();
			const u64 e = g.entries_per_table_block();
			ASSERT_GE(t, 1u);
			// Enough: T blocks describe every spare block the metadata leaves over.
			ASSERT_GE(t * e, s - 2 - 2 * t) << "bs " << bs << " S " << s;
			// Smallest: one block fewer would not be.
			ASSERT_TRUE(t == 1 || (t - 1) * e < s - 2 - 2 * (t - 1))
				<< "bs " << bs << " S " << s;
			ASSERT_EQ(g.first_usable_spare().value(), 2 + 2 * t);
			ASSERT_LT(g.first_usable_spare().value(), s);
		}
	}
}

TEST(Geometry, LargestSpareRange)
{
	for (u32 bs : kBlockSizes) {
		const u64 sectors = bs / 512;
		const u64 e = Geometry::entries_for(bs);
		Geometry g;
		ASSERT_EQ(create(0, sectors, 0, Geometry::kMaxSpareBlocks * sectors, bs, &g),
			  nullptr);
		EXPECT_EQ(g.spare_blocks(), 0xfffffffeu);
		EXPECT_EQ(g.table_blocks(), (0xfffffffeull - 2 + e + 1) / (e + 2));
		EXPECT_TRUE(g.is_usable_spare(SpareBlock(0xfffffffdu)));
		EXPECT_FALSE(g.is_usable_spare(SpareBlock(0xfffffffeu)));
		EXPECT_EQ(str(create(0, sectors, 0, 0xffffffffull * sectors, bs)),
			  "Spare range too large: at most 4294967294 blocks");
		EXPECT_EQ(str(create(0, sectors, 0, (1ull << 62) / sectors * sectors, bs)),
			  "Spare range too large: at most 4294967294 blocks");
	}
	// A data range may be as large as sector numbers go.
	Geometry g;
	ASSERT_EQ(create(0, ~0ull, 0, 100, 512, &g), nullptr);
	EXPECT_EQ(g.data_blocks(), ~0ull);
	EXPECT_TRUE(g.is_data_block(DataBlock(~0ull - 1)));
	EXPECT_FALSE(g.is_data_block(DataBlock(Entry::kBadSpareData)));
}

TEST(Geometry, RejectsWhatItCannotDescribe)
{
	const std::string bad_bs = "Invalid block_size: must be a power of two from 512 to 65536";
	for (u32 bs : {0u, 1u, 256u, 768u, 4095u, 131072u, 0x80000000u})
		EXPECT_EQ(str(create(0, 1024, 0, 1024, bs)), bad_bs) << bs;
	EXPECT_EQ(str(create(0, 0, 0, 1024, 4096)),
		  "Target length is not a non-zero multiple of block_size");
	EXPECT_EQ(str(create(0, 12, 0, 1024, 4096)),
		  "Target length is not a non-zero multiple of block_size");
	EXPECT_EQ(str(create(4, 1024, 0, 1024, 4096)), "Data offset is not aligned to block_size");
	EXPECT_EQ(str(create(~0ull - 7, 1024, 0, 1024, 4096)),
		  "Data range does not fit in 64-bit sector numbers");
	EXPECT_EQ(str(create(0, 1024, 1, 1024, 4096)), "Spare offset is not aligned to block_size");
	EXPECT_EQ(str(create(0, 1024, 0, 0, 4096)),
		  "Spare length is not a non-zero multiple of block_size");
	EXPECT_EQ(str(create(0, 1024, 0, 1020, 4096)),
		  "Spare length is not a non-zero multiple of block_size");
	EXPECT_EQ(str(create(0, 1024, ~0ull - 7, 1024, 4096)),
		  "Spare range does not fit in 64-bit sector numbers");
}

TEST(Geometry, LayoutOfTheSpareRange)
{
	const Geometry g = make_geometry(4096, 10000);
	const u32 t = g.table_blocks();
	EXPECT_EQ(t, 40u); // ceil(9998 / 254)
	EXPECT_EQ(g.superblock_block(0), SpareBlock(0));
	EXPECT_EQ(g.superblock_block(1), SpareBlock(1));
	EXPECT_EQ(g.table_block(0, 0), SpareBlock(2));
	EXPECT_EQ(g.table_block(0, t - 1), SpareBlock(1 + t));
	EXPECT_EQ(g.table_block(1, 0), SpareBlock(2 + t));
	EXPECT_EQ(g.table_block(1, t - 1), SpareBlock(1 + 2 * t));
	EXPECT_EQ(g.first_usable_spare(), SpareBlock(2 + 2 * t));
	EXPECT_EQ(g.table_slots(), 40u * 252);
	EXPECT_FALSE(g.is_usable_spare(SpareBlock(1 + 2 * t)));
	EXPECT_TRUE(g.is_usable_spare(SpareBlock(2 + 2 * t)));
	EXPECT_TRUE(g.is_usable_spare(SpareBlock(9999)));
	EXPECT_FALSE(g.is_usable_spare(SpareBlock(10000)));
	EXPECT_TRUE(g.is_data_block(DataBlock(999)));
	EXPECT_FALSE(g.is_data_block(DataBlock(1000)));
}

TEST(Geometry, UnitConversions)
{
	Geometry g;
	// 8 KiB blocks: 16 sectors each; data at sector 1024, spare at sector 4096.
	ASSERT_EQ(create(1024, 16 * 100, 4096, 16 * 50, 8192, &g), nullptr);
	EXPECT_EQ(g.block_sectors(), 16u);
	EXPECT_EQ(g.block_shift(), 4u);
	EXPECT_EQ(g.data_blocks(), 100u);
	EXPECT_EQ(g.data_block(Sector(0)), DataBlock(0));
	EXPECT_EQ(g.data_block(Sector(15)), DataBlock(0));
	EXPECT_EQ(g.data_block(Sector(16)), DataBlock(1));
	EXPECT_EQ(g.data_block(Sector(16 * 99 + 15)), DataBlock(99));
	EXPECT_EQ(g.offset_in_block(Sector(16 * 7 + 5)), 5u);
	EXPECT_EQ(g.first_sector(DataBlock(7)), Sector(112));
	EXPECT_EQ(g.data_dev_sector(Sector(5)), 1029u);
	EXPECT_EQ(g.data_dev_sector(DataBlock(7)), 1024u + 112);
	EXPECT_EQ(g.spare_dev_sector(SpareBlock(0)), 4096u);
	EXPECT_EQ(g.spare_dev_sector(SpareBlock(49)), 4096u + 49 * 16);
}

TEST(Geometry, FromTableLine)
{
	rc_table t{};
	t.data_offset = 2048;
	t.spare_offset = 0;
	t.spare_len = 8 * 1000;
	t.block_size = 4096;
	Geometry g;
	ASSERT_EQ(remap::error_text(Geometry::from_table(t, 8 * 500, &g)), nullptr);
	EXPECT_EQ(g.data_offset(), 2048u);
	EXPECT_EQ(g.data_len(), 4000u);
	EXPECT_EQ(g.spare_offset(), 0u);
	EXPECT_EQ(g.spare_len(), 8000u);
	EXPECT_EQ(g.data_blocks(), 500u);
	EXPECT_EQ(g.spare_blocks(), 1000u);
	t.spare_len = 8 * 4;
	EXPECT_EQ(str(remap::error_text(Geometry::from_table(t, 8 * 500, &g))),
		  "Spare area too small for the metadata and one spare block");
	EXPECT_EQ(g.spare_blocks(), 1000u) << "a failed create leaves *out alone";
}

// ------------------------------------------------------------------------------------------
// Superblock
// ------------------------------------------------------------------------------------------

TEST(MetadataCodec, ReferenceCrcIsStandardCrc32c)
{
	const u8 check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
	EXPECT_EQ(ref_crc32c(check, sizeof(check)), 0xe3069283u);
}

TEST(MetadataCodec, SuperblockGoldenBytes)
{
	Geometry g;
	ASSERT_EQ(create(0x800, 0x100000, 0x40, 0x2000, 4096, &g), nullptr);
	Superblock sb;
	remap::init_superblock(g, &sb);
	sb.seq = 0x0102030405060708ull;
	for (int i = 0; i < 16; i++)
		sb.uuid[i] = static_cast<u8>(0xa0 + i);
	sb.area = 1;
	sb.used_blocks = 2;
	sb.used_slots = 300;
	sb.entry_count = 299;
	sb.table_crc = 0xdeadbeef;
	const Block b = encode(sb, 4096);

	EXPECT_EQ(std::string(reinterpret_cast<const char *>(&b[0]), 8), "DMREMAP1");
	EXPECT_EQ(le32(&b[8]), 2u);  // version
	EXPECT_EQ(le32(&b[12]), 0u); // flags
	const u8 seq_bytes[] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	EXPECT_EQ(0, memcmp(&b[16], seq_bytes, 8)) << "little-endian seq at 16";
	EXPECT_EQ(b[24], 0xa0);
	EXPECT_EQ(b[39], 0xaf);
	EXPECT_EQ(le64(&b[40]), 0x800u);    // data_offset
	EXPECT_EQ(le64(&b[48]), 0x100000u); // data_len
	EXPECT_EQ(le64(&b[56]), 0x40u);     // spare_offset
	EXPECT_EQ(le64(&b[64]), 0x2000u);   // spare_len
	EXPECT_EQ(le32(&b[72]), 4096u);     // block_size
	EXPECT_EQ(le32(&b[76]), 5u);        // table_blocks: S = 1024, ceil(1022 / 254)
	EXPECT_EQ(le32(&b[80]), 1u);        // area
	EXPECT_EQ(le32(&b[84]), 2u);        // used_blocks
	EXPECT_EQ(le64(&b[88]), 300u);      // used_slots
	EXPECT_EQ(le64(&b[96]), 299u);      // entry_count
	const u8 table_crc_bytes[] = {0xef, 0xbe, 0xad, 0xde};
	EXPECT_EQ(0, memcmp(&b[104], table_crc_bytes, 4));
	for (int i = 108; i < 508; i++)
		ASSERT_EQ(b[i], 0) << "reserved byte " << i;
	EXPECT_EQ(le32(&b[508]), ref_crc32c(b.data(), 508));
	EXPECT_EQ(le32(&b[508]), 0x3b0550f9u) << "pinned: a change here is a format change";
	for (size_t i = 512; i < b.size(); i++)
		ASSERT_EQ(b[i], 0) << "tail byte " << i;

	// Version 1 (no lost-sectors entries) is the same bytes but for the version and crc; it
	// still decodes, as itself.
	sb.version = 1;
	const Block v1 = encode(sb, 4096);
	EXPECT_EQ(le32(&v1[8]), 1u);
	EXPECT_EQ(le32(&v1[508]), 0xa54d5510u) << "pinned: version 1 as main wrote it";
	Superblock got;
	ASSERT_EQ(remap::error_text(remap::decode_superblock(g, v1.data(), &got)), nullptr);
	EXPECT_EQ(got.version, 1u);
	ASSERT_EQ(remap::error_text(remap::decode_superblock(g, b.data(), &got)), nullptr);
	EXPECT_EQ(got.version, 2u);

	Superblock out;
	ASSERT_EQ(decode(g, b, &out), nullptr);
	expect_same(sb, out);
}

TEST(MetadataCodec, SuperblockRoundTrip)
{
	std::mt19937_64 rng(2);
	for (u32 bs : kBlockSizes) {
		for (u64 s : {5ull, 31ull, 1000ull, 123457ull}) {
			const Geometry g = make_geometry(bs, s);
			for (int i = 0; i < 200; i++) {
				const Superblock sb = sample_superblock(g, rng);
				const Block b = encode(sb, bs);
				Superblock out;
				ASSERT_EQ(decode(g, b, &out), nullptr) << bs << " " << s;
				expect_same(sb, out);
				ASSERT_EQ(encode(out, bs), b);
			}
		}
	}
}

TEST(MetadataCodec, SuperblockFieldCorruption)
{
	const Geometry g = make_geometry(4096, 100000);
	std::mt19937_64 rng(3);
	Superblock sb = sample_superblock(g, rng);
	sb.used_slots = 1000;
	sb.used_blocks = 4; // ceil(1000 / 252)
	sb.entry_count = 500;
	const Block good = encode(sb, 4096);
	ASSERT_EQ(decode(g, good), nullptr);

	struct Case {
		const char *what;
		std::function<void(Block &)> corrupt;
		bool reseal;
		std::string error;
	};
	const std::string geo = "Superblock geometry does not match the table line: ";
	const std::vector<Case> cases = {
		{"magic", [](Block &b) { b[7] = '2'; }, true, "Superblock has a bad magic"},
		{"version 0", [](Block &b) { put32(&b[8], 0); }, true,
		 "Superblock has an unsupported version"},
		{"version 3", [](Block &b) { put32(&b[8], 3); }, true,
		 "Superblock has an unsupported version"},
		{"flags", [](Block &b) { put32(&b[12], 0x80000000u); }, true,
		 "Superblock has unknown flags"},
		{"flags unsealed", [](Block &b) { put32(&b[12], 1); }, false,
		 "Superblock has a bad checksum"},
		{"crc", [](Block &b) { b[510] ^= 1; }, false, "Superblock has a bad checksum"},
		{"reserved", [](Block &b) { b[300] = 1; }, true,
		 "Superblock has non-zero reserved bytes"},
		{"seq 0", [](Block &b) { put64(&b[16], 0); }, true,
		 "Superblock has sequence number 0"},
		{"data_offset", [](Block &b) { put64(&b[40], le64(&b[40]) + 8); }, true,
		 geo + "data_offset"},
		// The data range may have grown or shrunk since (the loader checks the entries).
		{"data_len shorter", [](Block &b) { put64(&b[48], le64(&b[48]) - 8); }, true,
		 "(valid)"},
		{"data_len longer", [](Block &b) { put64(&b[48], le64(&b[48]) + 8); }, true,
		 "(valid)"},
		{"spare_offset", [](Block &b) { put64(&b[56], 0); }, true, geo + "spare_offset"},
		// The spare area may have grown while T stayed (S 99999 -> 100000 keeps T = 394);
		// not where T grew (S 99000 has T = 390).
		{"spare_len one block shorter", [](Block &b) { put64(&b[64], 99999 * 8); }, true,
		 "(valid)"},
		{"spare_len with a smaller T",
		 [](Block &b) {
			 put64(&b[64], 99000 * 8);
			 put32(&b[76], 390);
		 },
		 true,
		 "The spare area cannot grow in place this far: its table areas would have to grow "
		 "(see \"Growing\" in the admin guide)"},
		{"spare_len", [](Block &b) { put64(&b[64], le64(&b[64]) * 2); }, true,
		 geo + "spare_len (the spare area cannot shrink)"},
		{"block_size", [](Block &b) { put32(&b[72], 8192); }, true, geo + "block_size"},
		{"table_blocks", [](Block &b) { put32(&b[76], le32(&b[76]) + 1); }, true,
		 geo + "table_blocks"},
		{"area", [](Block &b) { put32(&b[80], 2); }, true,
		 "Superblock names a table area other than 0 or 1"},
		{"used_blocks > T", [&g](Block &b) { put32(&b[84], g.table_blocks() + 1); }, true,
		 "Superblock uses more table blocks than an area has"},
		{"used_blocks too many", [](Block &b) { put32(&b[84], 5); }, true,
		 "Superblock used_slots does not match used_blocks"},
		{"used_slots too many", [](Block &b) { put64(&b[88], 4 * 252 + 1); }, true,
		 "Superblock used_slots does not match used_blocks"},
		{"used_slots too few", [](Block &b) { put64(&b[88], 3 * 252); }, true,
		 "Superblock used_slots does not match used_blocks"},
		{"used_slots huge", [](Block &b) { put64(&b[88], ~0ull); }, true,
		 "Superblock used_slots does not match used_blocks"},
		{"entry_count", [](Block &b) { put64(&b[96], 1001); }, true,
		 "Superblock counts more entries than used slots"},
		{"table_crc unsealed", [](Block &b) { b[104] ^= 0x10; }, false,
		 "Superblock has a bad checksum"},
	};
	for (const Case &c : cases) {
		Block b = good;
		c.corrupt(b);
		if (c.reseal)
			reseal_superblock(b);
		EXPECT_EQ(str(decode(g, b)), c.error) << c.what;
	}
}

TEST(MetadataCodec, SuperblockUsedSlotsEdges)
{
	const Geometry g = make_geometry(512, 1000); // E = 28, T = ceil(998 / 30) = 34
	ASSERT_EQ(g.table_blocks(), 34u);
	std::mt19937_64 rng(4);
	struct Case {
		u32 used_blocks;
		u64 used_slots;
		u64 entry_count;
		bool valid;
	};
	const Case cases[] = {
		{0, 0, 0, true},      {0, 1, 0, false},    {1, 0, 0, false},    {1, 1, 1, true},
		{1, 28, 28, true},    {1, 29, 0, false},   {2, 29, 29, true},   {2, 28, 0, false},
		{34, 952, 952, true}, {34, 953, 0, false}, {35, 953, 0, false}, {1, 1, 2, false},
		{0, 0, 1, false},
	};
	for (const Case &c : cases) {
		Superblock sb = sample_superblock(g, rng);
		sb.used_blocks = c.used_blocks;
		sb.used_slots = c.used_slots;
		sb.entry_count = c.entry_count;
		EXPECT_EQ(decode(g, encode(sb, 512)) == nullptr, c.valid)
			<< c.used_blocks << " " << c.used_slots << " " << c.entry_count << ": "
			<< str(decode(g, encode(sb, 512)));
	}
}

TEST(MetadataCodec, SuperblockEveryByteAndBitFlipIsRejected)
{
	const Geometry g = make_geometry(512, 777);
	std::mt19937_64 rng(5);
	const Block good = encode(sample_superblock(g, rng), 512);
	ASSERT_EQ(decode(g, good), nullptr);
	for (size_t i = 0; i < 512; i++) {
		Block b = good;
		b[i] ^= 0xff;
		ASSERT_NE(decode(g, b), nullptr) << "byte " << i;
		for (int bit = 0; bit < 8; bit++) {
			b = good;
			b[i] ^= static_cast<u8>(1 << bit);
			ASSERT_NE(decode(g, b), nullptr) << "byte " << i << " bit " << bit;
		}
	}
}

TEST(MetadataCodec, SuperblockIgnoresEverythingAfter512Bytes)
{
	// A superblock update only relies on 512-byte atomicity: whatever became of the rest
	// of a larger block (torn, never written) does not matter.
	const Geometry g = make_geometry(65536, 5000);
	std::mt19937_64 rng(6);
	const Superblock sb = sample_superblock(g, rng);
	Block b = encode(sb, 65536);
	for (size_t i = 512; i < b.size(); i++)
		b[i] = static_cast<u8>(rng());
	Superblock out;
	ASSERT_EQ(decode(g, b, &out), nullptr);
	expect_same(sb, out);
}

TEST(MetadataCodec, PartialAndTornSuperblocksAreRejected)
{
	const Geometry g = make_geometry(4096, 5000);
	std::mt19937_64 rng(7);
	Superblock old_sb = sample_superblock(g, rng);
	Superblock new_sb = old_sb;
	new_sb.seq++;
	new_sb.area ^= 1;
	const Block old_b = encode(old_sb, 4096);
	const Block new_b = encode(new_sb, 4096);
	const Block zero(4096, 0);
	for (size_t k = 0; k < 512; k++) {
		// The first k bytes made it, over a zero block and over the previous superblock.
		Block over_zero = zero, over_old = old_b;
		std::copy(new_b.begin(), new_b.begin() + k, over_zero.begin());
		std::copy(new_b.begin(), new_b.begin() + k, over_old.begin());
		ASSERT_NE(decode(g, over_zero), nullptr) << k;
		// Unless the bytes written so far change nothing, it is neither superblock.
		if (memcmp(over_old.data(), old_b.data(), 512) != 0 &&
		    memcmp(over_old.data(), new_b.data(), 512) != 0) {
			ASSERT_NE(decode(g, over_old), nullptr) << k;
		}
	}
	EXPECT_EQ(str(decode(g, zero)), "Superblock has a bad magic");
}

TEST(MetadataCodec, BlockIsZero)
{
	Block b(4096, 0);
	EXPECT_TRUE(remap::block_is_zero(b.data(), 4096));
	EXPECT_TRUE(remap::block_is_zero(b.data(), 0));
	for (size_t i = 0; i < b.size(); i += 37) {
		b[i] = 0x80;
		EXPECT_FALSE(remap::block_is_zero(b.data(), 4096)) << i;
		EXPECT_TRUE(remap::block_is_zero(b.data(), static_cast<u32>(i)));
		b[i] = 0;
	}
	b[4095] = 1;
	EXPECT_FALSE(remap::block_is_zero(b.data(), 4096));
}

// ------------------------------------------------------------------------------------------
// Table blocks
// ------------------------------------------------------------------------------------------

TEST(MetadataCodec, TableBlockGoldenBytes)
{
	const Geometry g = make_geometry(512, 1000); // E = 28, T = 34, usable from 70
	const Entry slots[] = {
		{0x3e7, 70, EntryState::Remapped},
		{0, 0, EntryState::Free},
		{999, Entry::kLostSpare, EntryState::Lost},
		{Entry::kBadSpareData, 999, EntryState::BadSpare},
	};
	Block b(512, 0xcc);
	const u32 crc = remap::encode_table_block(g, kUuid, 0x0a0b0c0d0e0f1011ull, 1, 33, slots, 4,
						  b.data());

	EXPECT_EQ(std::string(reinterpret_cast<const char *>(&b[0]), 8), "DMRMTABL");
	EXPECT_EQ(le64(&b[8]), 0x0a0b0c0d0e0f1011ull); // seq
	EXPECT_EQ(b[8], 0x11);
	EXPECT_EQ(0, memcmp(&b[16], kUuid, 16));
	EXPECT_EQ(le32(&b[32]), 1u);  // area
	EXPECT_EQ(le32(&b[36]), 33u); // index
	EXPECT_EQ(le32(&b[40]), 4u);  // slots
	for (int i = 44; i < 60; i++)
		ASSERT_EQ(b[i], 0) << "reserved byte " << i;
	// Entry 0 at 64: data, spare, state.
	EXPECT_EQ(b[64], 0xe7);
	EXPECT_EQ(b[65], 0x03);
	EXPECT_EQ(le64(&b[64]), 0x3e7u);
	EXPECT_EQ(le32(&b[72]), 70u);
	EXPECT_EQ(le32(&b[76]), 1u);
	// Entry 1: a free slot is all zero.
	for (int i = 80; i < 96; i++)
		ASSERT_EQ(b[i], 0);
	EXPECT_EQ(le64(&b[96]), 999u);
	EXPECT_EQ(le32(&b[104]), 0xffffffffu);
	EXPECT_EQ(le32(&b[108]), 2u);
	EXPECT_EQ(le64(&b[112]), ~0ull);
	EXPECT_EQ(le32(&b[120]), 999u);
	EXPECT_EQ(le32(&b[124]), 3u);
	for (size_t i = 128; i < 512; i++)
		ASSERT_EQ(b[i], 0) << "tail byte " << i;
	// The crc is taken with its own field as zero.
	Block z = b;
	put32(&z[60], 0);
	EXPECT_EQ(le32(&b[60]), ref_crc32c(z.data(), z.size()));
	EXPECT_EQ(crc, le32(&b[60]));
	EXPECT_EQ(crc, 0x39e09dddu) << "pinned: a change here is a format change";

	std::vector<Entry> out(28);
	u32 crc_out = 0;
	ASSERT_EQ(
		remap::error_text(remap::decode_table_block(g, kUuid, 0x0a0b0c0d0e0f1011ull, 1, 33,
							    4, b.data(), out.data(), &crc_out)),
		nullptr);
	EXPECT_EQ(crc_out, crc);
}

TEST(MetadataCodec, TableBlockRoundTrip)
{
	std::mt19937_64 rng(8);
	for (u32 bs : kBlockSizes) {
		const Geometry g = make_geometry(bs, 200000, 1ull << 40);
		const u32 e = g.entries_per_table_block();
		for (u32 n : {0u, 1u, 2u, e / 2, e - 1, e}) {
			for (int rep = 0; rep < 5; rep++) {
				const u32 index = static_cast<u32>(rng() % g.table_blocks());
				const TableCase tc(g, n, rng, index);
				std::vector<Entry> out(e, Entry{1, 1, EntryState::Lost});
				u32 crc_out = 0;
				ASSERT_EQ(str(tc.decode(tc.block, &out, &crc_out)), "(valid)")
					<< bs << " " << n;
				EXPECT_EQ(crc_out, tc.crc);
				EXPECT_EQ(le32(&tc.block[60]), tc.crc);
				for (u32 i = 0; i < e; i++) {
					const Entry want =
						i < n ? tc.slots[i] : Entry{0, 0, EntryState::Free};
					ASSERT_EQ(out[i].state, want.state) << i;
					ASSERT_EQ(out[i].data_block, want.data_block) << i;
					ASSERT_EQ(out[i].spare_block, want.spare_block) << i;
				}
				Block again(bs, 0xff);
				EXPECT_EQ(remap::encode_table_block(g, kUuid, tc.seq, tc.area,
								    index, out.data(), n,
								    again.data()),
					  tc.crc);
				EXPECT_EQ(again, tc.block);
			}
		}
	}
}

TEST(MetadataCodec, FreeSlotsAreWrittenAsZero)
{
	const Geometry g = make_geometry(512, 100);
	const Entry slots[] = {{42, 77, EntryState::Free}};
	Block b(512, 0xee);
	remap::encode_table_block(g, kUuid, 1, 0, 0, slots, 1, b.data());
	for (int i = 64; i < 80; i++)
		EXPECT_EQ(b[i], 0);
	std::vector<Entry> out(28);
	u32 crc;
	EXPECT_EQ(remap::error_text(remap::decode_table_block(g, kUuid, 1, 0, 0, 1, b.data(),
							      out.data(), &crc)),
		  nullptr);
}

TEST(MetadataCodec, EncodeWritesAtMostEntriesPerBlock)
{
	const Geometry g = make_geometry(512, 100);
	std::mt19937_64 rng(9);
	auto slots = sample_entries(g, 40, rng);
	Block b(512 + 64, 0x77);
	remap::encode_table_block(g, kUuid, 1, 0, 0, slots.data(), 40, b.data());
	EXPECT_EQ(le32(&b[40]), 28u);
	for (size_t i = 512; i < b.size(); i++)
		ASSERT_EQ(b[i], 0x77) << "wrote past the block at " << i;
}

TEST(MetadataCodec, TableBlockHeaderCorruption)
{
	std::mt19937_64 rng(10);
	const Geometry g = make_geometry(4096, 100000);
	const TableCase tc(g, 100, rng, 3);
	ASSERT_EQ(tc.decode(), nullptr);

	struct Case {
		const char *what;
		std::function<void(Block &)> corrupt;
		bool reseal;
		std::string error;
	};
	const std::vector<Case> cases = {
		{"magic", [](Block &b) { b[0] = 'X'; }, true, "Table block has a bad magic"},
		{"crc", [](Block &b) { b[61] ^= 4; }, false, "Table block has a bad checksum"},
		{"entry unsealed", [](Block &b) { b[100] ^= 4; }, false,
		 "Table block has a bad checksum"},
		{"uuid", [](Block &b) { b[31] ^= 1; }, true,
		 "Table block uuid does not match the superblock"},
		{"area", [](Block &b) { put32(&b[32], 0); }, true,
		 "Table block names the wrong table area"},
		{"index", [](Block &b) { put32(&b[36], 4); }, true,
		 "Table block names the wrong index"},
		{"seq 0", [](Block &b) { put64(&b[8], 0); }, true,
		 "Table block has sequence number 0"},
		{"seq newer", [](Block &b) { put64(&b[8], 8); }, true,
		 "Table block is newer than its superblock"},
		{"slots fewer", [](Block &b) { put32(&b[40], 99); }, true,
		 "Table block slot count does not match the superblock"},
		{"slots more", [](Block &b) { put32(&b[40], 101); }, true,
		 "Table block slot count does not match the superblock"},
		{"slots > E", [](Block &b) { put32(&b[40], 253); }, true,
		 "Table block has more slots than a block holds"},
		{"slots huge", [](Block &b) { put32(&b[40], 0xffffffffu); }, true,
		 "Table block has more slots than a block holds"},
		{"reserved", [](Block &b) { b[59] = 1; }, true,
		 "Table block has non-zero reserved bytes"},
		{"after last slot", [](Block &b) { b[64 + 100 * 16] = 1; }, true,
		 "Table block has data after its last slot"},
		{"end of block", [](Block &b) { b[4095] = 1; }, true,
		 "Table block has data after its last slot"},
	};
	for (const Case &c : cases) {
		Block b = tc.block;
		c.corrupt(b);
		if (c.reseal)
			reseal_table_block(b);
		EXPECT_EQ(str(tc.decode(b)), c.error) << c.what;
	}

	// An older block is fine: only blocks whose slots changed are rewritten by a commit.
	Block older = tc.block;
	put64(&older[8], 1);
	reseal_table_block(older);
	EXPECT_EQ(tc.decode(older), nullptr);
}

TEST(MetadataCodec, TableEntryRules)
{
	const Geometry g = make_geometry(512, 1000, 500); // usable spare 70 .. 999
	ASSERT_EQ(g.first_usable_spare(), SpareBlock(70));
	struct Case {
		u64 data;
		u32 spare;
		u32 state;
		std::string error; // "" when valid
	};
	const std::vector<Case> cases = {
		{0, 0, 0, ""},
		{1, 0, 0, "Free table slot is not all zero"},
		{0, 1, 0, "Free table slot is not all zero"},
		{0, 70, 1, ""},
		{499, 999, 1, ""},
		{500, 70, 1, "Remapped entry has an out-of-range data block"},
		{~0ull, 70, 1, "Remapped entry has an out-of-range data block"},
		{0, 69, 1, "Remapped entry has an out-of-range spare block"},
		{0, 1, 1, "Remapped entry has an out-of-range spare block"},
		{0, 1000, 1, "Remapped entry has an out-of-range spare block"},
		{0, 0xffffffffu, 1, "Remapped entry has an out-of-range spare block"},
		{499, 0xffffffffu, 2, ""},
		{500, 0xffffffffu, 2, "Lost entry has an out-of-range data block"},
		{5, 70, 2, "Lost entry has a spare block"},
		{5, 0, 2, "Lost entry has a spare block"},
		{~0ull, 70, 3, ""},
		{~0ull, 999, 3, ""},
		{5, 70, 3, "Bad-spare entry has a data block"},
		{~0ull, 69, 3, "Bad-spare entry has an out-of-range spare block"},
		{~0ull, 1000, 3, "Bad-spare entry has an out-of-range spare block"},
		{~0ull, 0xffffffffu, 3, "Bad-spare entry has an out-of-range spare block"},
		// Lost sectors (version 2): a run of 512-byte sectors in the block (one, here).
		{5, Entry::run(0, 1), 4, ""},
		{499, Entry::run(0, 1), 4, ""},
		{500, Entry::run(0, 1), 4, "Lost-sectors entry has an out-of-range data block"},
		{~0ull, Entry::run(0, 1), 4, "Lost-sectors entry has an out-of-range data block"},
		{5, 0, 4, "Lost-sectors entry has a run outside its block"},
		{5, Entry::run(1, 0), 4, "Lost-sectors entry has a run outside its block"},
		{5, Entry::run(0, 2), 4, "Lost-sectors entry has a run outside its block"},
		{5, Entry::run(1, 1), 4, "Lost-sectors entry has a run outside its block"},
		{5, 0xffffffffu, 4, "Lost-sectors entry has a run outside its block"},
		{0, 0, 5, "Table entry has an unknown state"},
		{5, 70, 0x101, "Table entry has an unknown state"},
		{5, 70, 0x104, "Table entry has an unknown state"},
		{5, 70, 0xffffffffu, "Table entry has an unknown state"},
	};
	for (const Case &c : cases) {
		// The entry under test sits between two valid ones.
		const Entry ok = {7, 80, EntryState::Remapped};
		const Entry ok2 = {8, 81, EntryState::Remapped};
		Entry slots[3] = {ok, ok, ok2};
		Block b(512);
		remap::encode_table_block(g, kUuid, 3, 0, 0, slots, 3, b.data());
		put64(&b[80], c.data);
		put32(&b[88], c.spare);
		put32(&b[92], c.state);
		reseal_table_block(b);
		std::vector<Entry> out(28);
		u32 crc;
		const char *err = remap::error_text(remap::decode_table_block(
			g, kUuid, 3, 0, 0, 3, b.data(), out.data(), &crc));
		EXPECT_EQ(err ? std::string(err) : "", c.error)
			<< c.data << " " << c.spare << " " << c.state;
		if (!err) {
			EXPECT_EQ(out[1].data_block, c.data);
			EXPECT_EQ(out[1].spare_block, c.spare);
			EXPECT_EQ(static_cast<u32>(out[1].state), c.state);
		}
		// A version 1 table knows no lost-sectors entries.
		err = remap::error_text(remap::decode_table_block(g, kUuid, 3, 0, 0, 3, b.data(),
								  out.data(), &crc, 1));
		EXPECT_EQ(err ? std::string(err) : "",
			  c.state == 4 ? std::string("Table entry has an unknown state") : c.error)
			<< "version 1: " << c.data << " " << c.spare << " " << c.state;
	}
}

// Runs at a larger block size: first and count within the block's sectors (8 at 4 KiB, 128
// at 64 KiB), little-endian 16-bit halves of the spare field.
TEST(MetadataCodec, LostSectorRunsAtEachBlockSize)
{
	for (u32 bs : {4096u, 65536u}) {
		const Geometry g = make_geometry(bs, 1000, 500);
		const u32 n = bs / 512;
		Entry slots[2] = {
			{7, static_cast<u32>(g.first_usable_spare().value()), EntryState::Remapped},
			{7, Entry::run(n - 3, 3), EntryState::LostSectors}};
		Block b(bs);
		remap::encode_table_block(g, kUuid, 3, 0, 0, slots, 2, b.data());
		const u32 at = 64 + 16 + 8;
		EXPECT_EQ(b[at], static_cast<u8>(n - 3));
		EXPECT_EQ(b[at + 1], 0);
		EXPECT_EQ(b[at + 2], 3);
		EXPECT_EQ(b[at + 3], 0);
		EXPECT_EQ(le32(&b[at + 4]), 4u);
		std::vector<Entry> out(g.entries_per_table_block());
		u32 crc;
		ASSERT_EQ(remap::error_text(remap::decode_table_block(g, kUuid, 3, 0, 0, 2,
								      b.data(), out.data(), &crc)),
			  nullptr);
		EXPECT_EQ(out[1].state, EntryState::LostSectors);
		EXPECT_EQ(out[1].run_first(), n - 3);
		EXPECT_EQ(out[1].run_count(), 3u);
		put32(&b[at], Entry::run(n - 3, 4));
		reseal_table_block(b);
		EXPECT_STREQ(remap::error_text(remap::decode_table_block(
				     g, kUuid, 3, 0, 0, 2, b.data(), out.data(), &crc)),
			     "Lost-sectors entry has a run outside its block");
	}
}

TEST(MetadataCodec, TableBlockEveryByteAndBitFlipIsRejected)
{
	std::mt19937_64 rng(11);
	const Geometry g = make_geometry(512, 777);
	const TableCase tc(g, 20, rng, 2);
	ASSERT_EQ(tc.decode(), nullptr);
	for (size_t i = 0; i < 512; i++) {
		Block b = tc.block;
		b[i] ^= 0xff;
		ASSERT_NE(tc.decode(b), nullptr) << "byte " << i;
		for (int bit = 0; bit < 8; bit++) {
			b = tc.block;
			b[i] ^= static_cast<u8>(1 << bit);
			ASSERT_NE(tc.decode(b), nullptr) << "byte " << i << " bit " << bit;
		}
	}
}

TEST(MetadataCodec, TornAndPartialTableBlocksAreRejected)
{
	std::mt19937_64 rng(12);
	const Geometry g = make_geometry(4096, 100000);
	TableCase old_tc(g, 252, rng, 5);
	TableCase new_tc(g, 252, rng, 5);
	ASSERT_NE(old_tc.block, new_tc.block);
	const Block zero(4096, 0);
	// Torn at every sector boundary, in both directions, over the old block and over zeros.
	for (size_t k = 512; k < 4096; k += 512) {
		for (const Block *under :
		     std::initializer_list<const Block *>{&old_tc.block, &zero}) {
			Block head = *under, tail = *under;
			std::copy(new_tc.block.begin(), new_tc.block.begin() + k, head.begin());
			std::copy(new_tc.block.begin() + k, new_tc.block.end(), tail.begin() + k);
			EXPECT_NE(new_tc.decode(head), nullptr) << k;
			EXPECT_NE(new_tc.decode(tail), nullptr) << k;
		}
	}
	// Cut short at every 16 bytes.
	for (size_t k = 0; k < 4096; k += 16) {
		Block b = zero;
		std::copy(new_tc.block.begin(), new_tc.block.begin() + k, b.begin());
		EXPECT_NE(new_tc.decode(b), nullptr) << k;
	}
	EXPECT_EQ(str(new_tc.decode(zero)), "Table block has a bad magic");
}

TEST(MetadataCodec, SlotsInTableBlock)
{
	const Geometry g = make_geometry(4096, 100000); // E = 252
	EXPECT_EQ(remap::slots_in_table_block(g, 0, 0), 0u);
	EXPECT_EQ(remap::slots_in_table_block(g, 1, 0), 1u);
	EXPECT_EQ(remap::slots_in_table_block(g, 252, 0), 252u);
	EXPECT_EQ(remap::slots_in_table_block(g, 252, 1), 0u);
	EXPECT_EQ(remap::slots_in_table_block(g, 253, 0), 252u);
	EXPECT_EQ(remap::slots_in_table_block(g, 253, 1), 1u);
	EXPECT_EQ(remap::slots_in_table_block(g, 1000, 3), 1000u - 3 * 252);
	EXPECT_EQ(remap::slots_in_table_block(g, 1000, 4), 0u);
	EXPECT_EQ(remap::slots_in_table_block(g, ~0ull, 0xffffffffu), 252u);
}

TEST(MetadataCodec, TableCrc)
{
	EXPECT_EQ(remap::table_crc(nullptr, 0), 0u) << "the CRC32C of nothing";
	std::mt19937_64 rng(13);
	for (u32 n : {1u, 2u, 63u, 64u, 65u, 128u, 1000u}) {
		std::vector<u32> crcs(n);
		std::vector<u8> bytes;
		for (auto &c : crcs) {
			c = static_cast<u32>(rng());
			for (int i = 0; i < 4; i++)
				bytes.push_back(static_cast<u8>(c >> (8 * i)));
		}
		EXPECT_EQ(remap::table_crc(crcs.data(), n), ref_crc32c(bytes.data(), bytes.size()))
			<< n;
		if (n > 1) {
			std::swap(crcs[0], crcs[n - 1]);
			EXPECT_NE(remap::table_crc(crcs.data(), n),
				  ref_crc32c(bytes.data(), bytes.size()))
				<< "order matters";
		}
	}
}

TEST(MetadataCodec, AWholeTableChecksOut)
{
	// What the loader will do: blocks 0 .. used_blocks-1 with the slot counts the
	// superblock implies, their crcs hashed into table_crc.
	std::mt19937_64 rng(14);
	const Geometry g = make_geometry(512, 5000);
	const u64 used_slots = 28 * 3 + 5;
	Superblock sb;
	remap::init_superblock(g, &sb);
	sb.seq = 9;
	memcpy(sb.uuid, kUuid, 16);
	sb.area = 0;
	sb.used_slots = used_slots;
	sb.used_blocks = 4;
	std::vector<u32> crcs;
	std::vector<Block> blocks;
	for (u32 i = 0; i < sb.used_blocks; i++) {
		const u32 n = remap::slots_in_table_block(g, used_slots, i);
		auto slots = sample_entries(g, n, rng);
		for (auto &e : slots)
			sb.entry_count += e.state != EntryState::Free;
		Block b(512);
		crcs.push_back(remap::encode_table_block(g, kUuid, 1 + i, 0, i, slots.data(), n,
							 b.data()));
		blocks.push_back(b);
	}
	sb.table_crc = remap::table_crc(crcs.data(), static_cast<u32>(crcs.size()));
	Superblock got;
	ASSERT_EQ(decode(g, encode(sb, 512), &got), nullptr);
	std::vector<u32> got_crcs;
	for (u32 i = 0; i < got.used_blocks; i++) {
		std::vector<Entry> out(28);
		u32 crc;
		ASSERT_EQ(remap::error_text(remap::decode_table_block(
				  g, got.uuid, got.seq, got.area, i,
				  remap::slots_in_table_block(g, got.used_slots, i),
				  blocks[i].data(), out.data(), &crc)),
			  nullptr);
		got_crcs.push_back(crc);
	}
	EXPECT_EQ(remap::table_crc(got_crcs.data(), got.used_blocks), got.table_crc);
}
