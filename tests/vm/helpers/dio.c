// SPDX-License-Identifier: GPL-2.0
/*
 * dio: one O_DIRECT read or write at any 512-byte aligned offset and length, which busybox dd
 * cannot do (with bs=512 its direct I/O falls back to buffered I/O, and a buffered read pulls in
 * the whole 4 KiB page around the sectors asked for).
 *
 *   dio read DEV OFFSET LEN    the bytes go to stdout
 *   dio write DEV OFFSET LEN   the bytes come from stdin (exactly LEN of them)
 *
 * OFFSET and LEN are in bytes. Exit 0 when the one pread/pwrite moved all LEN bytes; 1 with
 * "dio: <op> DEV at OFFSET+LEN: <strerror>" on stderr when it failed (the errno is the one the
 * block layer gave: EIO, ENODATA for a medium error ...); 2 for bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: dio read|write DEV OFFSET LEN (bytes, multiples of 512)\n");
	return 2;
}

static int parse(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || (*v % 512) ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long off, len, got = 0;
	int writing, fd;
	ssize_t n;
	void *buf;

	if (argc != 5 || parse(argv[3], &off) || parse(argv[4], &len) || !len)
		return usage();
	if (!strcmp(argv[1], "read"))
		writing = 0;
	else if (!strcmp(argv[1], "write"))
		writing = 1;
	else
		return usage();
	if (posix_memalign(&buf, 4096, len)) {
		fprintf(stderr, "dio: no memory for %llu bytes\n", len);
		return 2;
	}
	if (writing) {
		while (got < len) {
			n = read(0, (char *)buf + got, len - got);
			if (n <= 0) {
				fprintf(stderr, "dio: stdin gave %llu of %llu bytes\n", got, len);
				return 2;
			}
			got += n;
		}
	}
	fd = open(argv[2], (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "dio: open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	n = writing ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	if (n < 0 || (unsigned long long)n != len) {
		fprintf(stderr, "dio: %s %s at %llu+%llu: %s\n", argv[1], argv[2], off, len,
			n < 0 ? strerror(errno) : "short transfer");
		return 1;
	}
	if (!writing && fwrite(buf, 1, len, stdout) != len) {
		fprintf(stderr, "dio: cannot write to stdout\n");
		return 1;
	}
	return close(fd) ? 1 : 0;
}
