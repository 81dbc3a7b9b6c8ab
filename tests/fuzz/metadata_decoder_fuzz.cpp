// Arbitrary bytes through the superblock and table block decoders: they must never crash or read
// outside the block, and whatever they accept must be exactly what the encoder writes for the
// decoded values, so no two different on-disk blocks mean the same metadata.
//
// Input: an 18-byte header, then the block (cut to, or zero-padded to, the block size).
//   [0]      bits 0-1 geometry, bit 2 table block (else superblock), bit 3 fix the crc first
//            (to reach the checks behind it), bit 4 take the expectations from the block
//            itself (its own geometry, uuid, area, index, slots) so the entries get checked
//   [1]      bit 0 area, bit 1 decode as format version 1 (no lost-sectors entries)
//   [2..5] index    [6..9] expected slots    [10..17] max seq
// Random bytes never get past a magic and a crc, so LLVMFuzzerInitialize writes valid blocks
// made by the encoder into $FUZZ_SEED_DIR (tools/run-fuzzers.sh passes it as a seed corpus).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "metadata_codec.h"

using namespace remap;

namespace {

constexpr size_t kHeader = 18;
constexpr u32 kMaxBlock = RC_MAX_BLOCK_SIZE;
const u8 kUuid[kUuidBytes] = {'f', 'u', 'z', 'z', ' ', 'u', 'u', 'i',
			      'd', ' ', 'b', 'y', 't', 'e', 's', '!'};

struct GeometrySpec {
	u32 block_size;
	u64 spare_blocks;
	u64 data_len; // sectors
};

// The smallest spare range, a typical one, the largest blocks, and the largest spare range.
constexpr GeometrySpec kGeometries[4] = {
	{512, 5, 100},
	{4096, 10000, 8ull << 20},
	{65536, 70000, 128 * 1000},
	{512, 0xfffffffe, ~0ull},
};

[[noreturn]] void fail(const char *what)
{
	fprintf(stderr, "metadata_decoder_fuzz: %s\n", what);
	abort();
}

u32 le32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<u32>(p[3]) << 24; }
u64 le64(const u8 *p) { return le32(p) | static_cast<u64>(le32(p + 4)) << 32; }
void put32(u8 *p, u32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = static_cast<u8>(v >> (8 * i));
}

u32 crc32c(const u8 *p, size_t n) { return ~rb_crc32c(~0u, p, n); }

Geometry spec_geometry(unsigned which)
{
	const GeometrySpec &s = kGeometries[which];
	Geometry g;
	const u64 sectors = s.block_size / 512;
	if (remap::error_text(Geometry::create(0, s.data_len, 1u << 20, s.spare_blocks * sectors,
					       s.block_size, &g)))
		fail("a fixed geometry was refused");
	return g;
}

void fuzz_superblock(const Geometry &fixed, bool repair, bool own_geometry, u8 *block)
{
	if (repair)
		put32(block + 508, crc32c(block, 508));
	Geometry g = fixed;
	if (own_geometry &&
	    remap::error_text(Geometry::create(le64(block + 40), le64(block + 48), le64(block + 56),
					       le64(block + 64), le32(block + 72), &g)))
		return;

	Superblock sb;
	if (remap::error_text(decode_superblock(g, block, &sb)))
		return;
	static u8 again[kMaxBlock];
	encode_superblock(sb, again, g.block_size());
	if (memcmp(again, block, kSuperblockBytes) != 0)
		fail("an accepted superblock does not re-encode to the same bytes");
	for (u32 i = kSuperblockBytes; i < g.block_size(); i++) {
		if (again[i])
			fail("encode_superblock left bytes after 512 non-zero");
	}
}

void fuzz_table_block(const Geometry &g, const u8 *header, bool repair, bool own_expectations,
		      u8 *block)
{
	const u32 bs = g.block_size();
	if (repair) {
		put32(block + 60, 0);
		put32(block + 60, crc32c(block, bs));
	}
	u8 uuid[kUuidBytes];
	u32 area = header[1] & 1;
	u32 index = le32(header + 2);
	u32 expected_slots = le32(header + 6);
	u64 max_seq = le64(header + 10);
	memcpy(uuid, kUuid, sizeof(uuid));
	if (own_expectations) {
		memcpy(uuid, block + 16, sizeof(uuid));
		area = le32(block + 32);
		index = le32(block + 36);
		expected_slots = le32(block + 40);
		max_seq = le64(block + 8) + (max_seq & 0xff);
	}

	const u32 version = header[1] & 2 ? 1 : kFormatVersion;
	static Entry out[Geometry::entries_for(kMaxBlock)];
	u32 crc = 0;
	if (remap::error_text(decode_table_block(g, uuid, max_seq, area, index, expected_slots,
						 block, out, &crc, version)))
		return;
	for (u32 i = 0; i < expected_slots; i++) {
		if (out[i].state != EntryState::LostSectors)
			continue;
		if (version < 2)
			fail("a version 1 table accepted a lost-sectors entry");
		if (out[i].run_count() == 0 ||
		    out[i].run_first() + out[i].run_count() > g.block_sectors() ||
		    !g.is_data_block(DataBlock(out[i].data_block)))
			fail("an accepted lost-sectors entry is outside its block or the device");
	}
	if (version < 2) {
		// What version 1 accepts, version 2 accepts the same.
		static Entry out2[Geometry::entries_for(kMaxBlock)];
		u32 crc3 = 0;
		if (remap::error_text(decode_table_block(g, uuid, max_seq, area, index,
							 expected_slots, block, out2, &crc3)) ||
		    crc3 != crc || memcmp(out, out2, sizeof(Entry) * g.entries_per_table_block()))
			fail("version 2 refuses or reads otherwise a table version 1 accepts");
	}
	if (crc != le32(block + 60))
		fail("crc_out is not the block's crc");
	for (u32 i = expected_slots; i < g.entries_per_table_block(); i++) {
		if (out[i].state != EntryState::Free || out[i].data_block || out[i].spare_block)
			fail("a slot past the declared ones is not free");
	}
	static u8 again[kMaxBlock];
	const u32 crc2 = encode_table_block(g, uuid, le64(block + 8), area, index, out,
					    expected_slots, again);
	if (crc2 != crc)
		fail("re-encoding gives another crc");
	if (memcmp(again, block, bs) != 0)
		fail("an accepted table block does not re-encode to the same bytes");
}

void write_seed(const std::string &dir, const std::string &name, const u8 *header, const u8 *block,
		u32 len)
{
	const std::string path = dir + "/" + name;
	FILE *f = fopen(path.c_str(), "wb");
	if (!f || fwrite(header, 1, kHeader, f) != kHeader || fwrite(block, 1, len, f) != len ||
	    fclose(f) != 0)
		fail("cannot write a seed");
}

void write_seeds(const std::string &dir)
{
	static u8 block[kMaxBlock];
	static Entry slots[Geometry::entries_for(kMaxBlock)];
	for (unsigned which = 0; which < 4; which++) {
		const Geometry g = spec_geometry(which);
		const u32 e = g.entries_per_table_block();
		const u64 first = g.first_usable_spare().value();
		const std::string tag = std::to_string(which);

		Superblock sb;
		init_superblock(g, &sb);
		sb.seq = 5;
		memcpy(sb.uuid, kUuid, kUuidBytes);
		sb.area = 1;
		sb.used_slots = e + 3 <= g.table_slots() ? e + 3 : g.table_slots();
		sb.used_blocks = sb.used_slots > e ? 2 : 1;
		sb.entry_count = 3;
		encode_superblock(sb, block, g.block_size());
		for (u8 mode : {0, 8 | 16}) {
			u8 header[kHeader] = {static_cast<u8>(which | mode)};
			write_seed(dir, "sb" + tag + "-" + std::to_string(mode), header, block,
				   kSuperblockBytes);
		}
		sb.version = 1; // as main wrote it
		encode_superblock(sb, block, g.block_size());
		{
			u8 header[kHeader] = {static_cast<u8>(which)};
			write_seed(dir, "sb" + tag + "-v1", header, block, kSuperblockBytes);
		}

		// Every kind of entry, at the ends of the valid ranges.
		const u64 last_data = g.data_blocks() - 1;
		const u32 last_spare = static_cast<u32>(g.spare_blocks() - 1);
		for (u32 i = 0; i < e; i++) {
			switch (i % 5) {
			case 0:
				slots[i] = {i % g.data_blocks(), static_cast<u32>(first + i % 2),
					    EntryState::Remapped};
				if (slots[i].spare_block > last_spare)
					slots[i].spare_block = last_spare;
				break;
			case 1:
				slots[i] = {last_data, Entry::kLostSpare, EntryState::Lost};
				break;
			case 2:
				slots[i] = {Entry::kBadSpareData, last_spare, EntryState::BadSpare};
				break;
			case 3: // the last sectors of the block, or its only one
				slots[i] = {i % g.data_blocks(),
					    Entry::run(g.block_sectors() - 1 -
							       i % g.block_sectors() / 2,
						       1 + i % g.block_sectors() / 2),
					    EntryState::LostSectors};
				break;
			default:
				slots[i] = {0, 0, EntryState::Free};
				break;
			}
		}
		for (u32 n : {e, 7u}) {
			encode_table_block(g, kUuid, 5, 1, 0, slots, n, block);
			u8 header[kHeader] = {static_cast<u8>(which | 4), 1};
			put32(header + 6, n);
			header[10] = 5;
			const std::string name = "tb" + tag + "-" + std::to_string(n);
			write_seed(dir, name, header, block, g.block_size());
			header[0] |= 8 | 16;
			write_seed(dir, name + "-own", header, block, g.block_size());
			header[1] |= 2;
			write_seed(dir, name + "-v1", header, block, g.block_size());
		}
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
	u8 header[kHeader] = {};
	memcpy(header, data, size < kHeader ? size : kHeader);
	const u8 sel = header[0];
	const Geometry g = spec_geometry(sel & 3);

	// A fresh heap block of exactly block_size bytes, so ASan sees any read past its end.
	std::vector<u8> block(g.block_size(), 0);
	if (size > kHeader)
		memcpy(block.data(), data + kHeader,
		       size - kHeader < block.size() ? size - kHeader : block.size());

	if (sel & 4)
		fuzz_table_block(g, header, sel & 8, sel & 16, block.data());
	else
		fuzz_superblock(g, sel & 8, sel & 16, block.data());
	(void)block_is_zero(block.data(), g.block_size());
	return 0;
}
