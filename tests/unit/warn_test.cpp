// REMAP_WARN_ON (src/core/warn.h): the value of its condition, and under test an abort that
// names the check, so a "cannot happen" branch that happens fails the test that reached it.
#include <gtest/gtest.h>

#include "warn.h"

namespace {

int warned_value(int x)
{
	if (REMAP_WARN_ON(x == 3))
		return -1;
	return x;
}

} // namespace

TEST(Warn, FalseConditionIsQuietAndYieldsFalse)
{
	EXPECT_FALSE(REMAP_WARN_ON(1 + 1 == 3));
	EXPECT_EQ(warned_value(2), 2);
}

TEST(Warn, TrueConditionAbortsNamingFileLineAndCondition)
{
	EXPECT_DEATH((void)warned_value(3), "cannot happen at .*warn_test\\.cpp:[0-9]+: x == 3");
}

// The condition is evaluated once, as the kernel's WARN_ON evaluates it.
TEST(Warn, ConditionIsEvaluatedOnce)
{
	int calls = 0;
	auto count = [&] {
		calls++;
		return false;
	};
	EXPECT_FALSE(REMAP_WARN_ON(count()));
	EXPECT_EQ(calls, 1);
}
