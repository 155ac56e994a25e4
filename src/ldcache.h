/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reader for glibc's /etc/ld.so.cache, the soname -> path table written by
 * ldconfig. Used to find the shared libraries (libssl.so.3, ...) to attach
 * uprobes to without loading them.
 *
 * Both layouts ldconfig ever wrote are understood: the "new" format alone
 * ("glibc-ld.so.cache" "1.1", the only one modern glibc writes) and the old
 * "ld.so-1.7.0" format, with or without a new-format table appended to it.
 * The file is untrusted: every offset is checked, strings are bounded.
 */
#ifndef LDCACHE_H
#define LDCACHE_H

#include <stddef.h>
#include <stdint.h>

#define LDCACHE_PATH "/etc/ld.so.cache"
/* Larger files are refused; a real cache is tens of KiB. */
#define LDCACHE_MAX_SIZE (16u * 1024 * 1024)

/*
 * Called once per library entry, in file order. Strings
 * are NUL-terminated and valid during the call only. Return nonzero to stop.
 */
typedef int (*ldcache_cb)(const char *soname, const char *path, void *ctx);

/*
 * Walk the entries of a cache image. Only entries for the ABI this program
 * was built for are reported (x86-64 libraries on x86-64, not i386 or x32
 * ones), since only those can be mapped by the processes we trace; on
 * architectures we do not know, every ELF entry is reported. Entries whose
 * strings are out of range or unterminated are skipped.
 *
 * Returns 0 when every entry was visited, the callback's nonzero value when
 * it stopped the walk, -EINVAL when the image is not a cache we understand.
 */
int ldcache_parse(const uint8_t *buf, size_t len, ldcache_cb cb, void *ctx);

/*
 * Read FILE (LDCACHE_PATH when NULL), at most LDCACHE_MAX_SIZE bytes, and
 * parse it as ldcache_parse() does. Returns as ldcache_parse(), or a negative
 * errno from open/read (-ENOENT, ...), -EFBIG when the file is too large.
 */
int ldcache_for_each_file(const char *file, ldcache_cb cb, void *ctx);

/* The cache's entries, read once into memory (soname -> path). */
struct ldcache_entry {
	char *soname, *path;
};

struct ldcache_list {
	struct ldcache_entry *v;
	size_t n;
};

/* Read FILE as ldcache_for_each_file() does, into OUT (freed with
 * ldcache_list_free). Returns 0 or -errno; OUT is empty on error. */
int ldcache_load(const char *file, struct ldcache_list *out);
/* The same from a descriptor already open (inside a process's root:
 * predict_roots.c), refusing files over MAX_SIZE bytes (-EFBIG). */
int ldcache_load_fd(int fd, size_t max_size, struct ldcache_list *out);
void ldcache_list_free(struct ldcache_list *l);

#endif /* LDCACHE_H */
