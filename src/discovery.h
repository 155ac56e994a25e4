/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Finding the TLS library files to probe: those mapped by running processes
 * (/proc/<pid>/maps, resolved through /proc/<pid>/root so a container's own
 * file is found) and those the dynamic linker would load (ld.so cache).
 * A file is listed once, by device and inode, however many processes map it.
 */
#ifndef DISCOVERY_H
#define DISCOVERY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_lib {
	char path[PATH_MAX]; /* path that opens the file from this mount namespace */
	dev_t dev;
	ino_t ino;
	pid_t seen_in; /* a process mapping it, 0 when found in the ld.so cache */
};

struct tls_lib_set {
	struct tls_lib *libs;
	size_t n, cap;
};

/* Is this file name one of the TLS libraries we trace (libssl.so*)? */
bool discovery_is_tls_lib_name(const char *path);

/* Adds the file if its device and inode are new. Returns 1 added, 0 known, <0 error. */
int tls_lib_set_add(struct tls_lib_set *set, const char *path, pid_t seen_in);
void tls_lib_set_free(struct tls_lib_set *set);

/* Scan /proc and the ld.so cache (ldcache_file, normally /etc/ld.so.cache). */
int discover_tls_libs(struct tls_lib_set *set, const char *proc_root, const char *ldcache_file);

#endif /* DISCOVERY_H */
