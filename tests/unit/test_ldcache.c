// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for the ld.so.cache reader: the real cache, and crafted images. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ldcache.h"

#define X86_64_LIB 0x0303 /* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 */
#define I386_LIB   0x0003 /* FLAG_ELF_LIBC6, no ABI requirement */

#define NEW_MAGIC "glibc-ld.so.cache1.1"
#define OLD_MAGIC "ld.so-1.7.0"

struct entry {
	uint32_t flags;
	const char *soname;
	const char *path;
};

/* What the callback saw. */
struct seen {
	int count;
	int stop_at; /* return nonzero on this call (1-based), 0: never */
	char soname[8][64];
	char path[8][128];
};

static int record(const char *soname, const char *path, void *ctx)
{
	struct seen *s = ctx;

	if (s->count < 8) {
		snprintf(s->soname[s->count], sizeof(s->soname[0]), "%s", soname);
		snprintf(s->path[s->count], sizeof(s->path[0]), "%s", path);
	}
	s->count++;
	return s->count == s->stop_at ? 42 : 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * Write a new-format table at BUF: header, entries, then strings with
 * offsets relative to BUF. Returns its length.
 */
static size_t build_new(uint8_t *buf, const struct entry *e, size_t n)
{
	size_t i, off = 48 + 24 * n, len;

	memset(buf, 0, off);
	memcpy(buf, NEW_MAGIC, strlen(NEW_MAGIC));
	put32(buf + 20, n);
	buf[28] = 2; /* little endian */
	for (i = 0; i < n; i++) {
		uint8_t *ent = buf + 48 + 24 * i;

		put32(ent, e[i].flags);
		len = strlen(e[i].soname) + 1;
		memcpy(buf + off, e[i].soname, len);
		put32(ent + 4, off);
		off += len;
		len = strlen(e[i].path) + 1;
		memcpy(buf + off, e[i].path, len);
		put32(ent + 8, off);
		off += len;
	}
	put32(buf + 24, off - 48 - 24 * n); /* len_strings */
	return off;
}

/*
 * Write an old-format table: header, entries, strings (offsets relative to
 * the strings). With NEW, append a new-format table at the next 8-byte
 * boundary, as ldconfig of glibc 2.2 to 2.31 did.
 */
static size_t build_old(uint8_t *buf, const struct entry *e, size_t n, const struct entry *new,
			size_t nnew)
{
	size_t i, base = 16 + 12 * n, off = 0, len;

	memset(buf, 0, base);
	memcpy(buf, OLD_MAGIC, strlen(OLD_MAGIC));
	put32(buf + 12, n);
	if (new) {
		base = (base + 7) & ~(size_t)7;
		return base + build_new(buf + base, new, nnew);
	}
	for (i = 0; i < n; i++) {
		uint8_t *ent = buf + 16 + 12 * i;

		put32(ent, e[i].flags);
		len = strlen(e[i].soname) + 1;
		memcpy(buf + base + off, e[i].soname, len);
		put32(ent + 4, off);
		off += len;
		len = strlen(e[i].path) + 1;
		memcpy(buf + base + off, e[i].path, len);
		put32(ent + 8, off);
		off += len;
	}
	return base + off;
}

static const struct entry two[] = {
    {X86_64_LIB, "libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"},
    {X86_64_LIB, "libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"},
};

static int find_ssl(const char *soname, const char *path, void *ctx)
{
	char *out = ctx;

	if (strcmp(soname, "libssl.so.3"))
		return 0;
	snprintf(out, 4096, "%s", path);
	return 1;
}

static void test_real_cache(void **state)
{
	char path[4096] = "";
	int ret;

	(void)state;
	ret = ldcache_for_each_file(NULL, find_ssl, path);
	assert_int_equal(ret, 1);
	assert_true(!strcmp(path, "/lib/x86_64-linux-gnu/libssl.so.3") ||
		    !strcmp(path, "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_int_equal(access(path, R_OK), 0);
}

static void test_real_cache_all(void **state)
{
	struct seen s = {0};

	(void)state;
	assert_int_equal(ldcache_for_each_file(LDCACHE_PATH, record, &s), 0);
	assert_true(s.count > 10);
}

static void test_new_format(void **state)
{
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_new(buf, two, 2);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 2);
	assert_string_equal(s.soname[1], "libssl.so.3");
	assert_string_equal(s.path[1], "/usr/lib/x86_64-linux-gnu/libssl.so.3");
}

static void test_stop(void **state)
{
	static uint8_t buf[4096];
	struct seen s = {.stop_at = 1};
	size_t len;

	(void)state;
	len = build_new(buf, two, 2);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 42);
	assert_int_equal(s.count, 1);
}

/* i386 and x32 libraries cannot be mapped by the x86-64 processes we trace. */
static void test_other_abi_skipped(void **state)
{
	static const struct entry mixed[] = {
	    {I386_LIB, "libc.so.6", "/lib32/libc.so.6"},
	    {X86_64_LIB, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"},
	    {0x0803, "libc.so.6", "/libx32/libc.so.6"},
	    {0x0000, "libz.so.1", "/not/elf"},
	};
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_new(buf, mixed, 4);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
#ifdef __x86_64__
	assert_int_equal(s.count, 1);
	assert_string_equal(s.path[0], "/lib/x86_64-linux-gnu/libc.so.6");
#endif
}

static void test_old_format(void **state)
{
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_old(buf, two, 2, NULL, 0);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 2);
	assert_string_equal(s.soname[0], "libfoo.so.1");
	assert_string_equal(s.path[1], "/usr/lib/x86_64-linux-gnu/libssl.so.3");
}

/* Old header, old entries, then a new table: the new table is the one read. */
static void test_combined_format(void **state)
{
	static const struct entry newer[] = {
	    {X86_64_LIB, "libssl.so.3", "/new/libssl.so.3"},
	};
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_old(buf, two, 2, newer, 1);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 1);
	assert_string_equal(s.path[0], "/new/libssl.so.3");
}

/* Every prefix of a valid cache: no read past the end, never more entries. */
static void test_truncated(void **state)
{
	static uint8_t full[4096];
	size_t len, cut;
	uint8_t *buf;
	int ret;

	(void)state;
	len = build_new(full, two, 2);
	for (cut = 0; cut < len; cut++) {
		struct seen s = {0};

		/* An exact-size heap copy, so ASan sees any overread. */
		buf = malloc(cut ? cut : 1);
		assert_non_null(buf);
		memcpy(buf, full, cut);
		ret = ldcache_parse(buf, cut, record, &s);
		assert_true(ret == 0 || ret == -EINVAL);
		assert_true(s.count < 2);
		if (cut < 48 + 2 * 24)
			assert_int_equal(ret, -EINVAL);
		free(buf);
	}
}

static void test_nlibs_too_large(void **state)
{
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_new(buf, two, 2);
	put32(buf + 20, 1000);
	assert_int_equal(ldcache_parse(buf, len, record, &s), -EINVAL);
	put32(buf + 20, UINT32_MAX);
	assert_int_equal(ldcache_parse(buf, len, record, &s), -EINVAL);
	len = build_old(buf, two, 2, NULL, 0);
	put32(buf + 12, UINT32_MAX / 12 + 1);
	assert_int_equal(ldcache_parse(buf, len, record, &s), -EINVAL);
	assert_int_equal(s.count, 0);
}

static void test_string_out_of_range(void **state)
{
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	len = build_new(buf, two, 2);
	put32(buf + 48 + 4, len);	      /* first soname: just past the end */
	put32(buf + 48 + 24 + 8, UINT32_MAX); /* second path: far past it */
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 0);
}

static void test_unterminated_string(void **state)
{
	struct seen s = {0};
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = malloc(4096);
	assert_non_null(buf);
	len = build_new(buf, two, 2);
	/* Drop the last path's terminator: the buffer ends mid-string. */
	len--;
	buf = realloc(buf, len);
	assert_non_null(buf);
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 1);
	assert_string_equal(s.soname[0], "libfoo.so.1");
	free(buf);
}

static void test_bad_magic_and_endian(void **state)
{
	static const uint8_t junk[64] = "glibc-ld.so.cache1.0";
	static uint8_t buf[4096];
	struct seen s = {0};
	size_t len;

	(void)state;
	assert_int_equal(ldcache_parse(junk, sizeof(junk), record, &s), -EINVAL);
	assert_int_equal(ldcache_parse((const uint8_t *)"", 0, record, &s), -EINVAL);
	assert_int_equal(ldcache_parse(NULL, 0, record, &s), -EINVAL);
	len = build_new(buf, two, 2);
	buf[28] = 3; /* big endian */
	assert_int_equal(ldcache_parse(buf, len, record, &s), -EINVAL);
	buf[28] = 1; /* invalid */
	assert_int_equal(ldcache_parse(buf, len, record, &s), -EINVAL);
	buf[28] = 0; /* unset, as glibc < 2.32 wrote */
	assert_int_equal(ldcache_parse(buf, len, record, &s), 0);
	assert_int_equal(s.count, 2);
}

static void test_files(void **state)
{
	static uint8_t buf[4096];
	char tmp[] = "/tmp/test_ldcache.XXXXXX";
	struct seen s = {0};
	size_t len;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(ldcache_for_each_file("/nonexistent/ld.so.cache", record, &s), -ENOENT);
	assert_int_equal(ldcache_for_each_file("/", record, &s), -EINVAL);
	assert_int_equal(ldcache_for_each_file("/etc/passwd", record, &s), -EINVAL);

	len = build_new(buf, two, 2);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(ldcache_for_each_file(tmp, record, &s), 0);
	assert_int_equal(s.count, 2);
	unlink(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_cache),
	    cmocka_unit_test(test_real_cache_all),
	    cmocka_unit_test(test_new_format),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_other_abi_skipped),
	    cmocka_unit_test(test_old_format),
	    cmocka_unit_test(test_combined_format),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_nlibs_too_large),
	    cmocka_unit_test(test_string_out_of_range),
	    cmocka_unit_test(test_unterminated_string),
	    cmocka_unit_test(test_bad_magic_and_endian),
	    cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
