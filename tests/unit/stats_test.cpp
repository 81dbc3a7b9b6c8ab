// The `stats` line Stats::emit() writes: its keys, order and spelling are a contract (new keys
// only ever appended), and a small buffer holds a prefix of it, never more.
#include <gtest/gtest.h>

#include <string>

#include "stats.h"

namespace {

using remap::Stats;
using remap::StatsGauges;
using remap::TextBuffer;

std::string emit(const Stats &s, const StatsGauges &g, unsigned maxlen = 4096)
{
	std::string buf(maxlen, '\x7f');
	unsigned used = 0;
	TextBuffer out(buf.data(), maxlen, &used);
	s.emit(out, g);
	EXPECT_LE(used, maxlen);
	return std::string(buf.c_str());
}

// Every field a different value, so a swapped pair shows.
void fill(Stats *s, StatsGauges *g)
{
	g->remapped = 1;
	g->lost = 2;
	g->spare_used = 3;
	g->spare_free = 4;
	g->spare_total = 5;
	g->spare_bad = 6;
	s->read_errors.add(7);
	s->write_errors.add(8);
	s->auto_remaps.add(9);
	s->manual_remaps.add(10);
	g->cache_hits = 11;
	g->cache_misses = 12;
	g->metadata = "degraded";
	g->seq = 13;
	s->count_redone_write(3000);
	s->count_redone_write(9000);
	s->count_redone_write(1500);
	s->medium_errors.add(14);
	s->transient_errors.add(15);
	s->nospc_errors.add(16);
	s->readahead_errors.add(17);
	s->outages.add(18);
	s->reprobed.add(19);
	s->rescued.add(20);
	g->lost_sectors = 18446744073709551615ull;
	g->spare_failed = true;
	g->read_only = true;
}

const char kFull[] =
	"remapped=1 lost=2 spare_used=3 spare_free=4 spare_total=5 bad_spare=6 read_errors=7 "
	"write_errors=8 auto_remaps=9 manual_remaps=10 cache_hits=11 cache_misses=12 "
	"metadata=degraded seq=13 redone_writes=3 redo_last_ns=1500 redo_avg_ns=4500 "
	"redo_max_ns=9000 medium_errors=14 transient_errors=15 nospc_errors=16 "
	"readahead_errors=17 outages=18 reprobed=19 rescued=20 lost_sectors=18446744073709551615 "
	"spare=failed mode=ro";

} // namespace

TEST(Stats, EmitsEveryKeyInContractOrder)
{
	Stats s;
	StatsGauges g;
	fill(&s, &g);
	EXPECT_EQ(emit(s, g), kFull);
}

TEST(Stats, FreshCountersAndDefaultGauges)
{
	EXPECT_EQ(emit(Stats{}, StatsGauges{}),
		  "remapped=0 lost=0 spare_used=0 spare_free=0 spare_total=0 bad_spare=0 "
		  "read_errors=0 write_errors=0 auto_remaps=0 manual_remaps=0 cache_hits=0 "
		  "cache_misses=0 metadata=ok seq=0 redone_writes=0 redo_last_ns=0 redo_avg_ns=0 "
		  "redo_max_ns=0 medium_errors=0 transient_errors=0 nospc_errors=0 "
		  "readahead_errors=0 outages=0 reprobed=0 rescued=0 lost_sectors=0 spare=ok "
		  "mode=rw");
}

TEST(Stats, ClearZeroesEveryCounter)
{
	Stats s;
	StatsGauges g;
	fill(&s, &g);
	s.clear();
	const std::string line = emit(s, g);
	EXPECT_NE(line.find(" read_errors=0 write_errors=0 auto_remaps=0 manual_remaps=0 "),
		  std::string::npos)
		<< line;
	EXPECT_NE(line.find(" redone_writes=0 redo_last_ns=0 redo_avg_ns=0 redo_max_ns=0 "
			    "medium_errors=0 transient_errors=0 nospc_errors=0 readahead_errors=0 "
			    "outages=0 reprobed=0 rescued=0 "),
		  std::string::npos)
		<< line;
}

// Cut at every length, the line is the prefix one snprintf of the whole line would leave.
TEST(Stats, SmallBuffersHoldAPrefixNeverMore)
{
	Stats s;
	StatsGauges g;
	fill(&s, &g);
	const std::string full = kFull;
	for (unsigned maxlen = 1; maxlen <= full.size() + 1; maxlen++) {
		const std::string cut = emit(s, g, maxlen);
		EXPECT_EQ(cut, full.substr(0, maxlen - 1)) << maxlen;
	}
}
