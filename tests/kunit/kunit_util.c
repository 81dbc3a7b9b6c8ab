// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers the KUnit suites of dm-remap-kunit.ko share (declared in kunit_util.h): a word
 * splitter for table and message lines, a deterministic generator, and the DMEMIT truncation
 * check run on every status emitter.
 */
#include <kunit/test.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kunit_util.h"

/* A deterministic generator, so a failing case fails the same way every time. */
u64 rkt_next(u64 *state)
{
	u64 x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

char **rkt_argv(struct kunit *test, const char *line, unsigned int *argc)
{
	char *copy = kunit_kzalloc(test, strlen(line) + 1, GFP_KERNEL);
	char **argv = kunit_kcalloc(test, 32, sizeof(char *), GFP_KERNEL);
	char *p, *word;
	unsigned int n = 0;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, copy);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, argv);
	strcpy(copy, line);
	p = copy;
	while ((word = strsep(&p, " ")) != NULL) {
		if (!*word)
			continue;
		KUNIT_ASSERT_LT(test, n, 31u);
		argv[n++] = word;
	}
	*argc = n;
	return argv;
}

/*
 * DMEMIT rules for every buffer size, with each buffer allocated at exactly its size so that
 * KASAN catches a write past it: always NUL-terminated, never more than fits, a prefix of
 * the full text, and the full text once it fits. Also when appending after earlier text.
 */
void rkt_check_truncation(struct kunit *test, rkt_emit_fn emit, void *ctx)
{
	char *full = kunit_kzalloc(test, 1024, GFP_KERNEL);
	unsigned int len, maxlen, used = 0, prefix;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, full);
	emit(ctx, full, 1024, &used);
	len = strlen(full);
	KUNIT_ASSERT_GT(test, len, 0u);
	KUNIT_ASSERT_LT(test, len, 1000u);
	KUNIT_EXPECT_EQ(test, used, len);

	for (prefix = 0; prefix <= 3; prefix += 3) {
		for (maxlen = prefix + 1; maxlen <= prefix + len + 2; maxlen++) {
			char *buf = kmalloc(maxlen, GFP_KERNEL);

			KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
			memset(buf, 'x', maxlen);
			memcpy(buf, "ab ", prefix);
			if (prefix)
				buf[prefix] = '\0';
			used = prefix;
			emit(ctx, buf, maxlen, &used);
			KUNIT_EXPECT_LE_MSG(test, used, maxlen, "maxlen %u", maxlen);
			KUNIT_EXPECT_TRUE_MSG(test, memchr(buf, '\0', maxlen) != NULL,
					      "maxlen %u: not terminated", maxlen);
			if (memchr(buf, '\0', maxlen)) {
				KUNIT_EXPECT_EQ(test, memcmp(buf, "ab ", prefix), 0);
				KUNIT_EXPECT_EQ_MSG(test, strncmp(buf + prefix, full, strlen(buf + prefix)), 0,
						    "maxlen %u: '%s' is no prefix of '%s'", maxlen,
						    buf + prefix, full);
				if (maxlen > prefix + len)
					KUNIT_EXPECT_STREQ(test, buf + prefix, full);
			}
			kfree(buf);
		}
	}
}
