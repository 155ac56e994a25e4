// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /etc/ld.so.cache reader. Layouts (see glibc's sysdeps/generic/dl-cache.h):
 *
 *   new format alone (glibc >= 2.32 default):
 *     header "glibc-ld.so.cache" "1.1" (48 bytes), nlibs 24-byte entries,
 *     strings; string offsets are relative to the new header.
 *   old format (+ optional new format):
 *     header "ld.so-1.7.0" (16 bytes), nlibs 12-byte entries, then either the
 *     new format header at the next 8-byte boundary (offsets relative to it)
 *     or, for really old files, the strings (offsets relative to them).
 *
 * Fields are read with memcpy: the buffer may have any alignment.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldcache.h"

#define OLD_MAGIC      "ld.so-1.7.0"
#define OLD_NLIBS_OFF  12 /* after the 11-byte magic and one byte of padding */
#define OLD_HDR_SIZE   16
#define OLD_ENTRY_SIZE 12 /* int32 flags; uint32 key, value */

#define NEW_MAGIC      "glibc-ld.so.cache1.1" /* magic and version, unterminated */
#define NEW_NLIBS_OFF  20
#define NEW_FLAGS_OFF  28
#define NEW_HDR_SIZE   48
#define NEW_ENTRY_SIZE 24 /* old entry; uint32 osversion; uint64 hwcap */
#define NEW_ALIGN      8  /* alignof(struct cache_file_new) */

/* Entry flags: library type in the low byte, required ABI in the next one. */
#define FLAG_TYPE_MASK	   0x00ff
#define FLAG_ELF	   0x0001
#define FLAG_ELF_LIBC6	   0x0003
#define FLAG_REQUIRED_MASK 0xff00
#define FLAG_X8664_LIB64   0x0300
#define FLAG_AARCH64_LIB64 0x0a00

/* Byte order recorded in the new header's flags since glibc 2.32. */
#define ENDIAN_MASK    0x03
#define ENDIAN_UNSET   0x00
#define ENDIAN_INVALID 0x01
#define ENDIAN_LITTLE  0x02
#define ENDIAN_BIG     0x03

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ENDIAN_HOST ENDIAN_LITTLE
#else
#define ENDIAN_HOST ENDIAN_BIG
#endif

#if defined(__x86_64__) && !defined(__ILP32__)
#define HOST_REQUIRED FLAG_X8664_LIB64
#elif defined(__aarch64__) && !defined(__ILP32__)
#define HOST_REQUIRED FLAG_AARCH64_LIB64
#endif

/*
 * Longest string accepted. Bounds the scan for a terminator, so a hostile
 * file cannot make each entry cost a scan of the whole buffer.
 */
#define STR_MAX PATH_MAX

/* The entry table chosen from the file, and the base its strings are relative to. */
struct table {
	const uint8_t *ents;
	size_t nents;
	size_t entsize;
	const uint8_t *strs;
	size_t strs_len;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static bool has_magic(const uint8_t *buf, size_t len, const char *magic)
{
	size_t n = strlen(magic);

	return len >= n && !memcmp(buf, magic, n);
}

static int new_table(const uint8_t *buf, size_t len, struct table *t)
{
	uint8_t endian;
	uint32_t nlibs;

	if (len < NEW_HDR_SIZE || !has_magic(buf, len, NEW_MAGIC))
		return -EINVAL;
	/* A cache written for another byte order would yield garbage offsets. */
	endian = buf[NEW_FLAGS_OFF] & ENDIAN_MASK;
	if (endian == ENDIAN_INVALID || (endian != ENDIAN_UNSET && endian != ENDIAN_HOST))
		return -EINVAL;
	nlibs = rd32(buf + NEW_NLIBS_OFF);
	if (nlibs > (len - NEW_HDR_SIZE) / NEW_ENTRY_SIZE)
		return -EINVAL;
	t->ents = buf + NEW_HDR_SIZE;
	t->nents = nlibs;
	t->entsize = NEW_ENTRY_SIZE;
	t->strs = buf;
	t->strs_len = len;
	return 0;
}

static int old_table(const uint8_t *buf, size_t len, struct table *t)
{
	size_t end, new_off;
	uint32_t nlibs;

	if (len < OLD_HDR_SIZE || !has_magic(buf, len, OLD_MAGIC))
		return -EINVAL;
	nlibs = rd32(buf + OLD_NLIBS_OFF);
	if (nlibs > (len - OLD_HDR_SIZE) / OLD_ENTRY_SIZE)
		return -EINVAL;
	end = OLD_HDR_SIZE + (size_t)nlibs * OLD_ENTRY_SIZE;

	/*
	 * ldconfig of glibc 2.2 to 2.31 appended a new-format copy of the table
	 * by default; like ld.so, prefer it, and fall back to the old entries
	 * when it is absent or broken.
	 */
	new_off = (end + NEW_ALIGN - 1) & ~(size_t)(NEW_ALIGN - 1);
	if (new_off < len && !new_table(buf + new_off, len - new_off, t))
		return 0;

	t->ents = buf + OLD_HDR_SIZE;
	t->nents = nlibs;
	t->entsize = OLD_ENTRY_SIZE;
	t->strs = buf + end;
	t->strs_len = len - end;
	return 0;
}

/* The NUL-terminated string at OFF, or NULL if out of range, unterminated or empty. */
static const char *table_str(const struct table *t, uint32_t off)
{
	size_t max;

	if (off >= t->strs_len)
		return NULL;
	max = t->strs_len - off;
	if (max > STR_MAX)
		max = STR_MAX;
	if (!memchr(t->strs + off, '\0', max) || !t->strs[off])
		return NULL;
	return (const char *)t->strs + off;
}

/* Whether a library with these flags can be loaded by a process of our ABI. */
static bool flags_wanted(uint32_t flags)
{
	uint32_t type = flags & FLAG_TYPE_MASK;

	if (type != FLAG_ELF && type != FLAG_ELF_LIBC6)
		return false;
#ifdef HOST_REQUIRED
	return (flags & FLAG_REQUIRED_MASK) == HOST_REQUIRED;
#else
	return true;
#endif
}

static int table_walk(const struct table *t, ldcache_cb cb, void *ctx)
{
	const char *soname, *path;
	const uint8_t *e;
	size_t i;
	int ret;

	for (i = 0; i < t->nents; i++) {
		e = t->ents + i * t->entsize;
		if (!flags_wanted(rd32(e)))
			continue;
		soname = table_str(t, rd32(e + 4));
		path = table_str(t, rd32(e + 8));
		if (!soname || !path)
			continue;
		ret = cb(soname, path, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int ldcache_parse(const uint8_t *buf, size_t len, ldcache_cb cb, void *ctx)
{
	struct table t;
	int ret;

	if (!buf || !cb)
		return -EINVAL;
	if (has_magic(buf, len, NEW_MAGIC))
		ret = new_table(buf, len, &t);
	else
		ret = old_table(buf, len, &t);
	if (ret)
		return ret;
	return table_walk(&t, cb, ctx);
}

/* Read all of FD (a regular file of at most MAX bytes) into a new buffer. */
static int read_all(int fd, size_t max, uint8_t **bufp, size_t *lenp)
{
	size_t size, len = 0;
	struct stat st;
	uint8_t *buf;
	ssize_t n;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	size = st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	/* A file that shrinks meanwhile is parsed as far as it goes. */
	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return n;
		}
		if (n == 0)
			break;
		len += n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int ldcache_for_each_file(const char *file, ldcache_cb cb, void *ctx)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, ret;

	fd = open(file ? file : LDCACHE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = read_all(fd, LDCACHE_MAX_SIZE, &buf, &len);
	close(fd);
	if (ret)
		return ret;
	ret = ldcache_parse(buf, len, cb, ctx);
	free(buf);
	return ret;
}

static int add_entry(const char *soname, const char *path, void *ctx)
{
	struct ldcache_list *l = ctx;
	struct ldcache_entry *v;

	if (l->n % 256 == 0) {
		v = realloc(l->v, (l->n + 256) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
	}
	l->v[l->n].soname = strdup(soname);
	l->v[l->n].path = strdup(path);
	if (!l->v[l->n].soname || !l->v[l->n].path) {
		free(l->v[l->n].soname);
		free(l->v[l->n].path);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

int ldcache_load(const char *file, struct ldcache_list *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = ldcache_for_each_file(file, add_entry, out);
	if (ret)
		ldcache_list_free(out);
	return ret < 0 ? ret : ret ? -ENOMEM : 0;
}

int ldcache_load_fd(int fd, size_t max_size, struct ldcache_list *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = read_all(fd, max_size, &buf, &len);
	if (ret)
		return ret;
	ret = ldcache_parse(buf, len, add_entry, out);
	free(buf);
	if (ret)
		ldcache_list_free(out);
	return ret < 0 ? ret : ret ? -ENOMEM : 0;
}

void ldcache_list_free(struct ldcache_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].soname);
		free(l->v[i].path);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
