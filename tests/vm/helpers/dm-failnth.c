// SPDX-License-Identifier: GPL-2.0
/*
 * dm-failnth: sweeps the kernel's allocation failure points of one device-mapper operation.
 *
 * For n = 1, 2, ... it writes n to /proc/thread-self/fail-nth (with FAILSLAB set to fail
 * sleeping allocations too), makes the operation's ioctl, and reads fail-nth back: 0 means the
 * n-th allocation of this task failed inside the ioctl. The sweep ends at the first n the
 * operation never reaches, when the operation has succeeded unhindered.
 *
 * The ioctls are made here, directly, because fail-nth counts the allocations of the task that
 * set it: set from a shell, exec and the dynamic loader of dmsetup would take the failures.
 *
 *   dm-failnth load NAME TABLE-LINE   each step loads TABLE-LINE (the constructor runs) as the
 *                                     inactive table of NAME, and clears it again if it loaded
 *   dm-failnth remap NAME SECTOR BLOCK  each step sends "remap SECTOR"; a success must show
 *                                     BLOCK (the block holding SECTOR) in "list BLOCK 1" and
 *                                     is undone with "unremap SECTOR"; a failure must not
 *   dm-failnth msg NAME WORD...       each step sends the message (read-only verbs: stats,
 *                                     list ...), which must succeed or fail cleanly
 *
 * A failure must come back as an error of its own (errno printed), never as a success or a
 * hang; the kernel's side (no leak, no report) is checked by the VM runner's kmemleak scan and
 * log watch. Output: one line per step, then "swept N points: F failed cleanly" and exit 0, or
 * a line starting "dm-failnth: FAIL" and exit 1. Exit 2: usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
/* Far more than any one operation allocates; a sweep that gets here is stuck. */
#define MAX_STEPS 20000

static int control_fd = -1;
static int failnth_fd = -1;
static union {
	struct dm_ioctl io;
	char bytes[BUF_SIZE];
} buf;

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("dm-failnth: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

#define FAIL(...) die(1, "FAIL " __VA_ARGS__)

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		die(2, "cannot write %s to %s: %s", value, path, strerror(errno));
	close(fd);
}

/* Makes the n-th fault-injection point of this thread fail (0: none). */
static void arm(unsigned int n)
{
	char text[16];
	int len = snprintf(text, sizeof(text), "%u", n);

	if (pwrite(failnth_fd, text, len, 0) != len)
		die(2, "cannot arm fail-nth: %s", strerror(errno));
}

/* Whether the armed failure happened, and disarms it. */
static bool disarm(void)
{
	char text[16] = "";
	ssize_t len = pread(failnth_fd, text, sizeof(text) - 1, 0);

	if (len <= 0)
		die(2, "cannot read fail-nth: %s", strerror(errno));
	arm(0);
	return atoi(text) == 0;
}

static void prepare(unsigned int cmd, const char *name, size_t payload)
{
	memset(&buf, 0, sizeof(buf));
	buf.io.version[0] = DM_VERSION_MAJOR;
	buf.io.version[1] = 0;
	buf.io.version[2] = 0;
	buf.io.data_size = sizeof(buf);
	buf.io.data_start = sizeof(struct dm_ioctl);
	if (strlen(name) >= sizeof(buf.io.name))
		die(2, "device name %s is too long", name);
	strcpy(buf.io.name, name);
	if (sizeof(struct dm_ioctl) + payload + 1 > sizeof(buf))
		die(2, "ioctl %u: arguments too long", cmd);
}

/* The ioctl's result: 0 or -errno. */
static int dm_call(unsigned long cmd)
{
	return ioctl(control_fd, cmd, &buf) ? -errno : 0;
}

/* Loads "start length type params" as NAME's inactive table. */
static int table_load(const char *name, const char *line)
{
	struct dm_target_spec *spec;
	unsigned long long start, length;
	char type[DM_MAX_TYPE_NAME];
	int used = 0;

	if (sscanf(line, "%llu %llu %15s %n", &start, &length, type, &used) != 3 || !used)
		die(2, "table line \"%s\" is not \"start length type params\"", line);
	prepare(DM_TABLE_LOAD, name, sizeof(*spec) + strlen(line + used));
	buf.io.target_count = 1;
	spec = (struct dm_target_spec *)(buf.bytes + buf.io.data_start);
	spec->sector_start = start;
	spec->length = length;
	strcpy(spec->target_type, type);
	strcpy((char *)(spec + 1), line + used);
	return dm_call(DM_TABLE_LOAD);
}

static int table_clear(const char *name)
{
	prepare(DM_TABLE_CLEAR, name, 0);
	return dm_call(DM_TABLE_CLEAR);
}

/*
 * Sends the words as one message to sector 0 of NAME; on success *reply is the target's
 * answer (empty if it gave none).
 */
static int message(const char *name, char **words, int count, const char **reply)
{
	struct dm_target_msg *msg;
	size_t len = 0;
	char *text;
	int i, r;

	for (i = 0; i < count; i++)
		len += strlen(words[i]) + 1;
	prepare(DM_TARGET_MSG, name, sizeof(*msg) + len);
	msg = (struct dm_target_msg *)(buf.bytes + buf.io.data_start);
	msg->sector = 0;
	text = msg->message;
	for (i = 0; i < count; i++)
		text += sprintf(text, "%s%s", i ? " " : "", words[i]);
	r = dm_call(DM_TARGET_MSG);
	*reply = "";
	if (!r && (buf.io.flags & DM_DATA_OUT_FLAG))
		*reply = buf.bytes + buf.io.data_start;
	return r;
}

/* A message made of one line of text, outside the sweep (not armed). */
static int simple_message(const char *name, const char *line, const char **reply)
{
	char copy[256], *words[8];
	int count = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	for (char *w = strtok(copy, " "); w && count < 8; w = strtok(NULL, " "))
		words[count++] = w;
	return message(name, words, count, reply);
}

/* Whether "list BLOCK 1" names BLOCK. */
static bool block_listed(const char *name, const char *block)
{
	char line[64];
	const char *reply;
	size_t n = strlen(block);
	int r;

	snprintf(line, sizeof(line), "list %s 1", block);
	r = simple_message(name, line, &reply);
	if (r)
		FAIL("\"%s\" failed outside the sweep: %s", line, strerror(-r));
	return !strncmp(reply, block, n) && reply[n] == ' ';
}

enum step_result { STEP_DONE, STEP_FAILED };

/* One step of a sweep: the operation with the n-th allocation failing. */
static enum step_result step(const char *mode, char **argv, int argc, unsigned int n,
			     bool *injected)
{
	const char *reply = "";
	int r;

	arm(n);
	if (!strcmp(mode, "load")) {
		r = table_load(argv[0], argv[1]);
	} else if (!strcmp(mode, "remap")) {
		char *words[2] = { "remap", argv[1] };

		r = message(argv[0], words, 2, &reply);
	} else {
		r = message(argv[0], argv + 1, argc - 1, &reply);
	}
	*injected = disarm();

	printf("step %u: %s%s%s\n", n, r ? "error " : "ok", r ? strerror(-r) : "",
	       *injected ? " (allocation failed)" : "");
	if (r && !*injected)
		FAIL("step %u: %s failed with nothing injected: %s", n, mode, strerror(-r));

	if (!strcmp(mode, "load") && !r) {
		r = table_clear(argv[0]);
		if (r)
			FAIL("step %u: clearing the loaded table: %s", n, strerror(-r));
	} else if (!strcmp(mode, "remap")) {
		bool listed = block_listed(argv[0], argv[2]);

		if (r && listed)
			FAIL("step %u: remap %s failed but block %s is remapped", n, argv[1],
			     argv[2]);
		if (!r && !listed)
			FAIL("step %u: remap %s succeeded but block %s is not remapped", n,
			     argv[1], argv[2]);
		if (!r) {
			char line[64];

			snprintf(line, sizeof(line), "unremap %s", argv[1]);
			r = simple_message(argv[0], line, &reply);
			if (r)
				FAIL("step %u: %s: %s", n, line, strerror(-r));
		}
		return listed ? STEP_DONE : STEP_FAILED;
	}
	return r ? STEP_FAILED : STEP_DONE;
}

int main(int argc, char **argv)
{
	unsigned int n, failed = 0;
	const char *mode;
	bool injected;

	if (argc < 4 || (strcmp(argv[1], "load") && strcmp(argv[1], "remap") &&
			 strcmp(argv[1], "msg")) ||
	    (!strcmp(argv[1], "load") && argc != 4) || (!strcmp(argv[1], "remap") && argc != 5))
		die(2, "usage: dm-failnth load NAME TABLE-LINE | remap NAME SECTOR BLOCK | "
		       "msg NAME WORD...");
	mode = argv[1];

	/* Sleeping allocations are the ones the target makes; FAILSLAB skips them by default. */
	write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	write_file("/sys/kernel/debug/failslab/verbose", "0");
	control_fd = open("/dev/mapper/control", O_RDWR);
	if (control_fd < 0)
		die(2, "/dev/mapper/control: %s", strerror(errno));
	failnth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (failnth_fd < 0)
		die(2, "/proc/thread-self/fail-nth: %s (no CONFIG_FAULT_INJECTION?)",
		    strerror(errno));
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (n = 1; n <= MAX_STEPS; n++) {
		enum step_result res = step(mode, argv + 2, argc - 2, n, &injected);

		failed += res == STEP_FAILED;
		if (!injected) {
			if (res != STEP_DONE)
				FAIL("step %u: nothing was injected, yet the %s did not happen", n,
				     mode);
			printf("swept %u points: %u failed cleanly\n", n - 1, failed);
			return 0;
		}
	}
	FAIL("the sweep did not end after %u steps", MAX_STEPS);
}
