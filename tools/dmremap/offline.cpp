// SPDX-License-Identifier: GPL-2.0
// See offline.h.
#include "offline.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <sstream>

#include "errors.h"
#include "json.h"
#include "metadata_store.h"
#include "spare_io.h"

namespace dmremap {
namespace {

using remap::Entry;
using remap::EntryState;
using remap::Geometry;
using remap::MetadataStore;
using remap::Superblock;

// Zero over this much of a spare range means no block size has metadata there (two 64 KiB
// superblock blocks at most).
constexpr uint64_t kProbeBytes = 2 * RC_MAX_BLOCK_SIZE;

struct Candidate {
	int slot;
	Superblock sb;
};

std::vector<uint8_t> read_bytes(const Device &dev, uint64_t byte, size_t len)
{
	std::vector<uint8_t> buf(len);
	const int r = dev.read_at(byte, buf.data(), len);
	if (r)
		throw OperationalError(
			errno_message(dev.path() + ": read at byte " + std::to_string(byte), -r));
	return buf;
}

// Every superblock position of any block size that holds an intact superblock of that size.
// damaged collects what is wrong with the superblocks that have the right magic but do not
// decode, so that an area whose only superblock is damaged is reported as such.
std::vector<Candidate> find_superblocks(const Device &dev, uint64_t base, bool *slot0_zero,
					std::vector<std::string> *damaged)
{
	static constexpr char kMagic[] = "DMREMAP1";
	std::vector<Candidate> found;
	Superblock sb;
	auto block = read_bytes(dev, base, remap::kSuperblockBytes);
	*slot0_zero = remap::block_is_zero(block.data(), remap::kSuperblockBytes);
	const char *why = remap::error_text(remap::decode_superblock_fields(block.data(), &sb));
	if (!why)
		found.push_back({0, sb});
	else if (!*slot0_zero)
		damaged->push_back(std::string("slot 0: ") + why);
	for (uint32_t bs = RC_MIN_BLOCK_SIZE; bs <= RC_MAX_BLOCK_SIZE; bs <<= 1) {
		if (base + bs + remap::kSuperblockBytes > dev.bytes())
			break;
		block = read_bytes(dev, base + bs, remap::kSuperblockBytes);
		why = remap::error_text(remap::decode_superblock_fields(block.data(), &sb));
		if (!why && sb.block_size == bs)
			found.push_back({1, sb});
		else if (why && std::equal(kMagic, kMagic + 8, block.begin()))
			damaged->push_back("slot 1 if the block size is " + std::to_string(bs) +
					   ": " + why);
	}
	return found;
}

// The offset of the first non-zero byte in [byte, byte + len) of dev, or len if all are zero.
uint64_t first_nonzero(const Device &dev, uint64_t byte, uint64_t len)
{
	constexpr uint64_t kChunk = 1 << 20;
	for (uint64_t done = 0; done < len;) {
		const uint64_t n = std::min(kChunk, len - done);
		const auto buf = read_bytes(dev, byte + done, n);
		const auto it =
			std::find_if(buf.begin(), buf.end(), [](uint8_t b) { return b != 0; });
		if (it != buf.end())
			return done + static_cast<uint64_t>(it - buf.begin());
		done += n;
	}
	return len;
}

// The store on an area of dev at `offset`, reading and writing whole logical blocks of dev as
// the module does.
struct AreaStore {
	AreaStore(const Device &dev, uint64_t offset, const Geometry &geo) :
	    io(dev, offset, geo.spare_offset()), store(geo, io.ops(), io.ctx(), dev.logical_block())
	{}
	SpareIo io;
	MetadataStore store;
};

// The possible geometries the intact superblocks describe, newest first, once each. More than
// one means a stale superblock of another block size survived a reformat. A geometry whose
// spare range does not fit in the device from `offset` is a problem, never loaded: its sizes
// come from the disk and would size the loader's memory.
std::vector<Geometry> geometries_from(std::vector<Candidate> found, uint64_t room,
				      std::vector<std::string> *bad)
{
	std::sort(found.begin(), found.end(),
		  [](const Candidate &a, const Candidate &b) { return a.sb.seq > b.sb.seq; });
	std::vector<Geometry> out;
	for (const Candidate &c : found) {
		Geometry geo;
		const char *why = remap::error_text(
			Geometry::create(c.sb.data_offset, c.sb.data_len, c.sb.spare_offset,
					 c.sb.spare_len, c.sb.block_size, &geo));
		if (why) {
			bad->push_back(std::string("superblock in slot ") + std::to_string(c.slot) +
				       " describes an impossible geometry: " + why);
			continue;
		}
		if (geo.spare_len() > room) {
			bad->push_back(
				"superblock in slot " + std::to_string(c.slot) +
				" describes a spare range of " + std::to_string(geo.spare_len()) +
				" sectors (" + std::to_string(geo.spare_blocks()) + " blocks of " +
				std::to_string(geo.block_size()) +
				" bytes), past the end of the device (" + std::to_string(room) +
				" sectors from the offset): not loaded");
			continue;
		}
		const bool seen = std::any_of(out.begin(), out.end(), [&](const Geometry &g) {
			return g.block_size() == geo.block_size() &&
				g.data_len() == geo.data_len() &&
				g.data_offset() == geo.data_offset() &&
				g.spare_offset() == geo.spare_offset() &&
				g.spare_len() == geo.spare_len();
		});
		if (!seen)
			out.push_back(geo);
	}
	return out;
}

void throw_if_resource_failure(const remap::Status &loaded, const std::string &path)
{
	const int err = remap::to_errno(loaded);
	if (err == -EIO || err == -ENOMEM)
		throw OperationalError(errno_message(path + ": cannot load the metadata", -err));
}

void inspect_slots(const Device &dev, MetadataReport *r)
{
	const Geometry &geo = r->geo;
	SpareIo io(dev, r->offset, geo.spare_offset());
	std::vector<uint8_t> block(geo.block_size());
	for (uint32_t s = 0; s < 2; s++) {
		SlotReport &slot = r->slots[s];
		const uint64_t sector = geo.spare_dev_sector(geo.superblock_block(s));
		const int err = io.ops()->read(io.ctx(), RB_SPARE_DEV, sector, block.data(),
					       geo.block_size(), 0);
		if (err)
			throw OperationalError(errno_message(
				dev.path() + ": cannot read superblock slot " + std::to_string(s),
				-err));
		if (remap::block_is_zero(block.data(), geo.block_size())) {
			slot.state = SlotReport::State::Empty;
			continue;
		}
		const char *why =
			remap::error_text(remap::decode_superblock(geo, block.data(), &slot.sb));
		slot.state = why ? SlotReport::State::Invalid : SlotReport::State::Valid;
		slot.error = why ? why : "";
	}
}

// Whether each valid slot's own table loads: the other slot is hidden so the store takes it.
void inspect_slot_tables(const Device &dev, MetadataReport *r)
{
	const Geometry &geo = r->geo;
	for (uint32_t s = 0; s < 2; s++) {
		if (r->slots[s].state != SlotReport::State::Valid)
			continue;
		AreaStore a(dev, r->offset, geo);
		a.io.hide(geo.spare_dev_sector(geo.superblock_block(1 - s)));
		MetadataStore &store = a.store;
		const remap::Status loaded = store.load(remap::Gfp::Kernel);
		const char *why = remap::error_text(loaded);
		if (why)
			throw_if_resource_failure(loaded, dev.path());
		r->slots[s].table_error = why ? why : "";
	}
}

bool entry_before(const Entry &a, const Entry &b)
{
	const bool a_bad = a.state == EntryState::BadSpare;
	const bool b_bad = b.state == EntryState::BadSpare;
	if (a_bad != b_bad)
		return b_bad;
	if (a_bad)
		return a.spare_block < b.spare_block;
	// A block's lost-sector runs follow its remapped entry, in sector order.
	if (a.data_block != b.data_block)
		return a.data_block < b.data_block;
	const bool a_run = a.state == EntryState::LostSectors;
	const bool b_run = b.state == EntryState::LostSectors;
	if (a_run != b_run)
		return b_run;
	return a_run && a.run_first() < b.run_first();
}

void load_active(const Device &dev, MetadataReport *r)
{
	const Geometry &geo = r->geo;
	AreaStore a(dev, r->offset, geo);
	MetadataStore &store = a.store;
	const remap::Status loaded = store.load(remap::Gfp::Kernel);
	const char *why = remap::error_text(loaded);
	if (why) {
		throw_if_resource_failure(loaded, dev.path());
		r->state = MetadataReport::State::Invalid;
		r->problems.push_back(std::string("the module would refuse this metadata: ") + why);
		return;
	}
	if (store.fresh()) {
		r->state = MetadataReport::State::Empty;
		return;
	}
	r->state = MetadataReport::State::Loaded;
	r->seq = store.seq();
	r->active_slot = static_cast<int>(store.seq() % 2);
	r->fell_back = store.fell_back();
	std::copy(store.uuid(), store.uuid() + remap::kUuidBytes, r->uuid);
	for (uint64_t i = 0; i < store.used_slots(); i++) {
		if (store.slot(i).state != EntryState::Free)
			r->entries.push_back(store.slot(i));
	}
	std::sort(r->entries.begin(), r->entries.end(), entry_before);
}

void collect_findings(MetadataReport *r)
{
	for (uint32_t s = 0; s < 2; s++) {
		const SlotReport &slot = r->slots[s];
		if (slot.state == SlotReport::State::Invalid)
			r->problems.push_back("superblock slot " + std::to_string(s) +
					      " is damaged: " + slot.error);
	}
	if (r->state != MetadataReport::State::Loaded)
		return;
	const int other = 1 - r->active_slot;
	const SlotReport &older = r->slots[other];
	if (r->fell_back && older.state == SlotReport::State::Valid && !older.table_error.empty())
		r->problems.push_back("the table of superblock slot " + std::to_string(other) +
				      " is damaged: " + older.table_error +
				      " (the module uses the older commit and reports 'degraded')");
	else if (r->fell_back)
		r->notes.push_back("the module would use the commit in slot " +
				   std::to_string(r->active_slot) + " and report 'degraded'");
	if (r->slots[r->active_slot].sb.version < remap::kFormatVersion)
		r->notes.push_back("format version " +
				   std::to_string(r->slots[r->active_slot].sb.version) +
				   ": the module upgrades it to version " +
				   std::to_string(remap::kFormatVersion) +
				   " at its next commit (older dm-remap then refuses the area)");
	if (!r->fell_back && older.state == SlotReport::State::Valid && !older.table_error.empty())
		r->notes.push_back(
			"the older commit in slot " + std::to_string(other) +
			" has no intact table (" + older.table_error +
			"): normal after an interrupted commit; the next commit rewrites it");
}

// How well the module would load the area with this geometry: 2 cleanly, 1 falling back to the
// older commit, 0 not at all (or not readable: a stale geometry may reach past the end).
int load_rank(const Device &dev, uint64_t offset, const Geometry &geo)
{
	AreaStore a(dev, offset, geo);
	if (a.store.load(remap::Gfp::Kernel).is_error())
		return 0;
	return a.store.fell_back() ? 1 : 2;
}

// Of several geometries (newest first), the one the module loads best.
Geometry choose_geometry(const Device &dev, uint64_t offset, const std::vector<Geometry> &geos)
{
	if (geos.size() == 1)
		return geos.front();
	size_t best = 0;
	int best_rank = -1;
	for (size_t i = 0; i < geos.size(); i++) {
		const int rank = load_rank(dev, offset, geos[i]);
		if (rank > best_rank) {
			best = i;
			best_rank = rank;
		}
	}
	return geos[best];
}

} // namespace

MetadataReport inspect_spare(const Device &dev, uint64_t offset)
{
	MetadataReport r;
	r.path = dev.path();
	r.offset = offset;
	const uint64_t base = offset * 512;
	if (offset > dev.sectors() || dev.bytes() - base < remap::kSuperblockBytes)
		throw OperationalError(dev.path() + ": offset " + std::to_string(offset) +
				       " is at or past the end of the device (" +
				       std::to_string(dev.sectors()) + " sectors)");

	bool slot0_zero = false;
	std::vector<std::string> damaged;
	const auto found = find_superblocks(dev, base, &slot0_zero, &damaged);
	if (found.empty()) {
		// The fresh area rule (remap::fresh_area_bytes()) checks at most the first
		// kFreshCapBytes of any geometry, and at least the first kFreshMinBytes of a
		// spare range holding them.
		const uint64_t span = std::min<uint64_t>(remap::kFreshCapBytes, dev.bytes() - base);
		const uint64_t x = slot0_zero ? first_nonzero(dev, base, span) : 0;
		if (x == span) {
			r.state = MetadataReport::State::Empty;
			return r;
		}
		r.state = MetadataReport::State::Invalid;
		for (const auto &d : damaged)
			r.problems.push_back("damaged superblock in " + d);
		if (x < remap::kFreshMinBytes)
			r.problems.push_back(
				"no intact dm-remap superblock found and the area is not "
				"zero (byte " +
				std::to_string(x) +
				"): the module would refuse it ('dmremap format' "
				"discards what is there)");
		else
			r.problems.push_back(
				"no intact dm-remap superblock found; the first " +
				std::to_string(remap::kFreshMinBytes >> 20) +
				" MiB are zero but byte " + std::to_string(x) +
				" is not: the module refuses the area only if its "
				"metadata and the " +
				std::to_string(remap::kFreshBeyondBytes >> 10) +
				" KiB after it reach that byte, else it formats the area and hands out spare "
				"blocks over that data (see 'fresh area' in docs/on-disk-format.rst)");
		return r;
	}
	std::vector<std::string> bad;
	const auto geos = geometries_from(found, dev.sectors() - offset, &bad);
	if (geos.empty()) {
		r.state = MetadataReport::State::Invalid;
		r.problems = bad;
		return r;
	}
	r.geo = choose_geometry(dev, offset, geos);
	r.have_geometry = true;
	if (geos.size() > 1)
		r.notes.push_back("superblocks of " + std::to_string(geos.size()) +
				  " different geometries found; showing block size " +
				  std::to_string(r.geo.block_size()));
	if (r.geo.spare_offset() != offset)
		r.notes.push_back("the superblock records spare_offset " +
				  std::to_string(r.geo.spare_offset()) + "; read at offset " +
				  std::to_string(offset) + " (a copy of the area?)");
	for (const auto &b : bad)
		r.problems.push_back(b);
	inspect_slots(dev, &r);
	load_active(dev, &r);
	inspect_slot_tables(dev, &r);
	collect_findings(&r);
	return r;
}

std::string spare_area_problem(const Device &dev, const Geometry &geo)
{
	if (geo.spare_offset() + geo.spare_len() > dev.sectors())
		return "the spare range extends past the end of " + dev.path();
	AreaStore a(dev, geo.spare_offset(), geo);
	const remap::Status loaded = a.store.load(remap::Gfp::Kernel);
	const char *why = remap::error_text(loaded);
	if (why)
		throw_if_resource_failure(loaded, dev.path());
	return why ? why : "";
}

void format_spare(const Device &dev, const Geometry &geo)
{
	const uint64_t base = geo.spare_offset() * 512;
	const uint64_t len = geo.spare_len() * 512;
	if (geo.spare_offset() + geo.spare_len() > dev.sectors())
		throw OperationalError("the spare range extends past the end of " + dev.path() +
				       " (" + std::to_string(dev.sectors()) + " sectors)");
	const uint64_t metadata = geo.first_usable_spare().value() * geo.block_size();
	// The metadata, the rest of the fresh area (remap::fresh_area_bytes()) and any stale
	// superblock of another block size: what the module checks reads zero until the commit.
	const uint64_t zero_len = std::max<uint64_t>(
		{metadata, remap::fresh_area_bytes(geo), std::min(kProbeBytes, len)});
	const std::vector<uint8_t> zeros(RC_MAX_BLOCK_SIZE, 0);
	for (uint64_t done = 0; done < zero_len;) {
		const uint64_t n = std::min<uint64_t>(zeros.size(), zero_len - done);
		const int r = dev.write_at(base + done, zeros.data(), n);
		if (r)
			throw OperationalError(
				errno_message(dev.path() + ": cannot zero the metadata", -r));
		done += n;
	}
	AreaStore a(dev, geo.spare_offset(), geo);
	MetadataStore &store = a.store;
	const char *why = remap::error_text(store.load(remap::Gfp::Kernel));
	if (why || !store.fresh())
		throw OperationalError(dev.path() +
				       ": the zeroed area does not read back as empty" +
				       (why ? std::string(": ") + why : std::string()));
	const auto committed = store.commit(nullptr, 0, remap::Gfp::Kernel);
	if (committed.is_error())
		throw OperationalError(errno_message(dev.path() + ": cannot write the metadata",
						     -committed.error().code()));
}

const char *state_name(EntryState state)
{
	switch (state) {
	case EntryState::Free:
		return "free";
	case EntryState::Remapped:
		return "remapped";
	case EntryState::Lost:
		return "lost";
	case EntryState::BadSpare:
		return "bad_spare";
	case EntryState::LostSectors:
		return "lost_sectors";
	}
	return "unknown";
}

std::string uuid_text(const uint8_t *uuid)
{
	std::string out;
	char buf[4];
	for (uint32_t i = 0; i < remap::kUuidBytes; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out += '-';
		std::snprintf(buf, sizeof(buf), "%02x", uuid[i]);
		out += buf;
	}
	return out;
}

namespace {

const char *report_state(MetadataReport::State s)
{
	switch (s) {
	case MetadataReport::State::Empty:
		return "empty";
	case MetadataReport::State::Loaded:
		return "valid";
	case MetadataReport::State::Invalid:
		return "invalid";
	}
	return "unknown";
}

const char *slot_state(SlotReport::State s)
{
	switch (s) {
	case SlotReport::State::Empty:
		return "empty";
	case SlotReport::State::Valid:
		return "valid";
	case SlotReport::State::Invalid:
		return "invalid";
	}
	return "unknown";
}

struct Counts {
	uint64_t remapped = 0, lost = 0, bad_spare = 0;
	uint64_t lost_sectors = 0; // 512-byte sectors in lost-sector runs (salvaged blocks)
};

Counts count_entries(const std::vector<Entry> &entries)
{
	Counts c;
	for (const Entry &e : entries) {
		c.remapped += e.state == EntryState::Remapped;
		c.lost += e.state == EntryState::Lost;
		c.bad_spare += e.state == EntryState::BadSpare;
		if (e.state == EntryState::LostSectors)
			c.lost_sectors += e.run_count();
	}
	return c;
}

void slot_text(std::ostringstream &out, uint32_t s, const SlotReport &slot, int active)
{
	out << "slot " << s << ": " << slot_state(slot.state);
	if (slot.state == SlotReport::State::Invalid)
		out << " (" << slot.error << ")";
	if (slot.state == SlotReport::State::Valid) {
		out << ", seq " << slot.sb.seq << ", table area " << slot.sb.area << ", "
		    << slot.sb.entry_count << " entries in " << slot.sb.used_slots << " slots";
		if (slot.sb.version != remap::kFormatVersion)
			out << ", format version " << slot.sb.version;
		if (!slot.table_error.empty())
			out << ", table damaged (" << slot.table_error << ")";
		if (static_cast<int>(s) == active)
			out << " [active]";
	}
	out << '\n';
}

void entry_text(std::ostringstream &out, const Entry &e)
{
	if (e.state == EntryState::BadSpare)
		out << "  - " << e.spare_block << ' ' << state_name(e.state) << '\n';
	else if (e.state == EntryState::Lost)
		out << "  " << e.data_block << " - " << state_name(e.state) << '\n';
	else if (e.state == EntryState::LostSectors) // sectors first+count of a salvaged block
		out << "  " << e.data_block << " sectors " << e.run_first() << '+' << e.run_count()
		    << ' ' << state_name(e.state) << '\n';
	else
		out << "  " << e.data_block << ' ' << e.spare_block << ' ' << state_name(e.state)
		    << '\n';
}

void findings_text(std::ostringstream &out, const MetadataReport &r)
{
	for (const auto &p : r.problems)
		out << "problem: " << p << '\n';
	for (const auto &n : r.notes)
		out << "note: " << n << '\n';
}

} // namespace

std::string dump_text(const MetadataReport &r)
{
	std::ostringstream out;
	out << "device: " << r.path << " (spare area at sector " << r.offset << ")\n";
	out << "metadata: " << report_state(r.state);
	if (r.state == MetadataReport::State::Empty)
		out << " (all zero: the module formats it at the first resume)";
	if (r.state == MetadataReport::State::Loaded)
		out << ", seq " << r.seq << (r.fell_back ? ", degraded (older commit in use)" : "");
	out << '\n';
	if (r.have_geometry) {
		const Geometry &g = r.geo;
		out << "geometry: data_offset " << g.data_offset() << ", data_len " << g.data_len()
		    << ", spare_offset " << g.spare_offset() << ", spare_len " << g.spare_len()
		    << " (sectors), block_size " << g.block_size() << '\n';
		out << "layout: " << g.spare_blocks() << " spare blocks, " << g.table_blocks()
		    << " table block(s) per area, blocks " << g.first_usable_spare().value() << ".."
		    << g.spare_blocks() - 1 << " hold data (" << g.data_blocks()
		    << " data blocks)\n";
		for (uint32_t s = 0; s < 2; s++)
			slot_text(out, s, r.slots[s], r.active_slot);
	}
	if (r.state == MetadataReport::State::Loaded) {
		const Counts c = count_entries(r.entries);
		out << "uuid: " << uuid_text(r.uuid) << '\n';
		out << "table: " << r.entries.size() << " entries (" << c.remapped << " remapped, "
		    << c.lost << " lost, " << c.bad_spare << " bad spare";
		if (c.lost_sectors)
			out << ", " << c.lost_sectors << " sector(s) lost in salvaged blocks";
		out << ")\n";
		out << "  data_block spare_block state\n";
		for (const Entry &e : r.entries)
			entry_text(out, e);
	}
	findings_text(out, r);
	return out.str();
}

namespace {

void geometry_json(JsonWriter &j, const Geometry &g)
{
	j.key("geometry").begin_object();
	j.field("data_offset", uint64_t{g.data_offset()});
	j.field("data_len", uint64_t{g.data_len()});
	j.field("spare_offset", uint64_t{g.spare_offset()});
	j.field("spare_len", uint64_t{g.spare_len()});
	j.field("block_size", uint64_t{g.block_size()});
	j.field("data_blocks", uint64_t{g.data_blocks()});
	j.field("spare_blocks", uint64_t{g.spare_blocks()});
	j.field("table_blocks", uint64_t{g.table_blocks()});
	j.field("first_usable_spare", uint64_t{g.first_usable_spare().value()});
	j.end_object();
}

void slot_json(JsonWriter &j, uint32_t s, const SlotReport &slot)
{
	j.begin_object();
	j.field("slot", uint64_t{s});
	j.field("state", slot_state(slot.state));
	if (slot.state == SlotReport::State::Invalid)
		j.field("error", slot.error);
	if (slot.state == SlotReport::State::Valid) {
		j.field("seq", uint64_t{slot.sb.seq});
		j.field("uuid", uuid_text(slot.sb.uuid));
		j.field("area", uint64_t{slot.sb.area});
		j.field("used_blocks", uint64_t{slot.sb.used_blocks});
		j.field("used_slots", uint64_t{slot.sb.used_slots});
		j.field("entry_count", uint64_t{slot.sb.entry_count});
		j.field("version", uint64_t{slot.sb.version});
		j.field("table_ok", slot.table_error.empty());
		if (!slot.table_error.empty())
			j.field("table_error", slot.table_error);
	}
	j.end_object();
}

void entry_json(JsonWriter &j, const Entry &e)
{
	j.begin_object();
	j.key("data_block");
	if (e.state == EntryState::BadSpare)
		j.null();
	else
		j.value(uint64_t{e.data_block});
	j.key("spare_block");
	if (e.state == EntryState::Lost || e.state == EntryState::LostSectors)
		j.null();
	else
		j.value(uint64_t{e.spare_block});
	j.field("state", state_name(e.state));
	if (e.state == EntryState::LostSectors) {
		j.field("first_sector", uint64_t{e.run_first()});
		j.field("sectors", uint64_t{e.run_count()});
	}
	j.end_object();
}

void strings_json(JsonWriter &j, const char *name, const std::vector<std::string> &list)
{
	j.key(name).begin_array();
	for (const auto &s : list)
		j.value(s);
	j.end_array();
}

} // namespace

std::string dump_json(const MetadataReport &r)
{
	JsonWriter j;
	j.begin_object();
	j.field("device", r.path);
	j.field("offset", uint64_t{r.offset});
	j.field("state", report_state(r.state));
	if (r.have_geometry) {
		geometry_json(j, r.geo);
		j.key("slots").begin_array();
		for (uint32_t s = 0; s < 2; s++)
			slot_json(j, s, r.slots[s]);
		j.end_array();
	}
	if (r.state == MetadataReport::State::Loaded) {
		j.field("active_slot", uint64_t(r.active_slot));
		j.field("seq", uint64_t{r.seq});
		j.field("degraded", r.fell_back);
		j.field("uuid", uuid_text(r.uuid));
		j.key("entries").begin_array();
		for (const Entry &e : r.entries)
			entry_json(j, e);
		j.end_array();
	}
	strings_json(j, "problems", r.problems);
	strings_json(j, "notes", r.notes);
	j.end_object();
	return j.str() + "\n";
}

std::string check_text(const MetadataReport &r)
{
	std::ostringstream out;
	out << r.path << ": ";
	if (!r.problems.empty())
		out << r.problems.size() << " problem(s) found\n";
	else if (r.state == MetadataReport::State::Empty)
		out << "clean, no metadata (all zero: the module formats it at the first resume)\n";
	else {
		const Counts c = count_entries(r.entries);
		out << "clean, seq " << r.seq << ", " << c.remapped << " remapped, " << c.lost
		    << " lost, " << c.bad_spare << " bad spare block(s)";
		if (c.lost_sectors)
			out << ", " << c.lost_sectors << " sector(s) lost in salvaged blocks";
		out << '\n';
	}
	findings_text(out, r);
	return out.str();
}

} // namespace dmremap
