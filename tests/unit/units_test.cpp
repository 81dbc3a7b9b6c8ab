// Typed units keep their type through arithmetic, and Geometry converts between sectors and
// blocks: the conversions the engine's fault repair and map() use instead of shifts.
#include <gtest/gtest.h>

#include <type_traits>

#include "geometry.h"

namespace {

using remap::DataBlock;
using remap::Geometry;
using remap::Sector;
using remap::SpareBlock;
using remap::u64;

static_assert(std::is_same_v<decltype(DataBlock(1) + u64{2}), DataBlock>, "block + count");
static_assert(std::is_same_v<decltype(DataBlock(3) - DataBlock(1)), u64>, "block - block");
static_assert(std::is_same_v<decltype(Sector(3) - u64{1}), Sector>, "sector - count");
// Indexes of different units never meet in one expression.
template <typename A, typename B, typename = void> struct Subtracts : std::false_type {};
template <typename A, typename B>
struct Subtracts<A, B, std::void_t<decltype(std::declval<A>() - std::declval<B>())>>
    : std::true_type {};
static_assert(Subtracts<DataBlock, DataBlock>::value, "same unit");
static_assert(!Subtracts<DataBlock, SpareBlock>::value, "a data block minus a spare block");
static_assert(!Subtracts<Sector, DataBlock>::value, "a sector minus a block");

Geometry geometry(unsigned block_size)
{
	Geometry g;
	EXPECT_FALSE(Geometry::create(0, 1 << 20, 0, 1 << 16, block_size, &g).is_error());
	return g;
}

} // namespace

TEST(Units, IndexArithmetic)
{
	DataBlock b(10);
	EXPECT_EQ(b + 5, DataBlock(15));
	EXPECT_EQ(b - 4, DataBlock(6));
	EXPECT_EQ(DataBlock(15) - b, 5u);
	EXPECT_EQ(++b, DataBlock(11));
	EXPECT_EQ(b++, DataBlock(11));
	EXPECT_EQ(b, DataBlock(12));
	b += 8;
	EXPECT_EQ(b, DataBlock(20));
	b -= 20;
	EXPECT_EQ(b, DataBlock(0));
	constexpr Sector s = Sector(7) + 1;
	static_assert(s.value() == 8, "constexpr");
}

TEST(Units, GeometryConvertsSectorRangesToBlocks)
{
	const Geometry g = geometry(4096); // 8 sectors a block
	EXPECT_EQ(g.first_sector(DataBlock(3)), Sector(24));
	EXPECT_EQ(g.end_sector(DataBlock(3)), Sector(32));
	EXPECT_EQ(g.sectors_of(3), 24u);
	// One sector, a whole block, a range across a boundary, one ending on a boundary.
	EXPECT_EQ(g.last_block(Sector(9), 1), DataBlock(1));
	EXPECT_EQ(g.blocks_touched(Sector(9), 1), 1u);
	EXPECT_EQ(g.last_block(Sector(8), 8), DataBlock(1));
	EXPECT_EQ(g.blocks_touched(Sector(8), 8), 1u);
	EXPECT_EQ(g.last_block(Sector(7), 2), DataBlock(1));
	EXPECT_EQ(g.blocks_touched(Sector(7), 2), 2u);
	EXPECT_EQ(g.blocks_touched(Sector(7), 17), 3u); // sectors 7 to 23
	EXPECT_EQ(g.blocks_touched(Sector(7), 18), 4u);
	EXPECT_EQ(g.offset_in_block(Sector(29)), 5u);

	const Geometry big = geometry(65536); // 128 sectors a block
	EXPECT_EQ(big.end_sector(DataBlock(0)), Sector(128));
	EXPECT_EQ(big.blocks_touched(Sector(127), 2), 2u);
	EXPECT_EQ(big.sectors_of(2), 256u);
}
