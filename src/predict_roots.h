/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ld.so caches prediction reads, one per root directory.
 *
 * A process resolves its DT_NEEDED libraries through the ld.so cache of its
 * own root: the host's processes through the host's /etc/ld.so.cache, a
 * container's through the container's. So each distinct root gets its own
 * soname -> path list (and the memo of which sonames lead to TLS), loaded
 * lazily the first time an exec there needs a prediction. The daemon's own
 * root is only one of them: in a container image FROM scratch it has no
 * cache at all, while the node's processes (hostPID) are predicted through
 * theirs.
 *
 * A root is named by what the kernel resolves for the process: the device
 * and inode of the directory /proc/<pid>/root leads to, and the inode of
 * its mount namespace (/proc/<pid>/ns/mnt). The namespace is part of the
 * key because two namespaces can share a root directory and still mount
 * different files over /etc or /usr (a bind mount over ld.so.cache): each
 * is then a root of its own, never one answer for both. (The kernel reuses
 * a freed namespace's inode number: a new namespace over the same root
 * directory may find the entry of a dead one. That costs no safety: files
 * are always opened through the predicted process's own root, and what the
 * entry holds is only paths and which sonames led to TLS, rechecked.)
 *
 * Every file is opened through the process's root descriptor with
 * file_open_in_root (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): a
 * container's cache that is a symlink to "/etc/ld.so.cache" is the
 * container's own file, never the host's, and nothing leads out of a root.
 *
 * Bounded, since a node may run many containers and any of them may write a
 * hostile cache: at most PREDICT_ROOTS_MAX roots, the least recently used
 * one evicted; a cache over ROOT_CACHE_SIZE_MAX bytes is refused; all the
 * caches held add up to at most ROOTS_CACHE_BYTES_MAX bytes of file (least
 * recently used ones evicted to make room). A root without a usable cache
 * (an image FROM scratch, a refused file) is remembered as "none" and tried
 * again only after ROOT_RETRY_NS; a loaded cache is looked at again (one
 * stat) every ROOT_RECHECK_NS and reloaded when ldconfig replaced it.
 */
#ifndef PREDICT_ROOTS_H
#define PREDICT_ROOTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "file_open.h"
#include "ldcache.h"

#define PREDICT_ROOTS_MAX     64
#define ROOT_CACHE_SIZE_MAX   (1u << 20) /* a real cache is tens of KiB */
#define ROOTS_CACHE_BYTES_MAX (8u << 20)
#define ROOT_RETRY_NS	      (60ull * 1000000000)
#define ROOT_RECHECK_NS	      (10ull * 1000000000)

/* What prediction learned about one soname of a root's cache. */
struct soname_memo {
	int needs_tls;	/* -1 unknown, 0 no, 1 yes: it or a dependency carries TLS */
	char *tls_path; /* the library that does, as the root names it */
};

struct root_key {
	uint64_t dev, ino; /* the root directory */
	uint64_t mntns;	   /* the mount namespace's inode (0: unknown) */
};

/* One root: its cache (empty when it has none) and the memo, one per entry. */
struct predict_root {
	struct root_key key;
	struct ldcache_list cache;
	struct soname_memo *memo;
	uint64_t cache_bytes;	 /* size of the file loaded (the budget counts it) */
	struct file_id cache_id; /* the file loaded: ldconfig writes a new one */
	uint64_t check_ns;	 /* look at the file again from then on */
	uint64_t used;		 /* LRU tick */
};

struct predict_roots;

struct predict_roots_stats {
	uint64_t loads;	  /* caches read (first use, replaced, retried) */
	uint64_t none;	  /* ... of which found no usable cache */
	uint64_t evicted; /* roots forgotten: table or byte budget full */
	uint64_t too_big; /* caches refused for their size */
	unsigned roots;	  /* roots held now */
	uint64_t bytes;	  /* cache bytes held now */
};

/* CACHE_PATH: where a root keeps its cache ("/etc/ld.so.cache"), inside it. */
struct predict_roots *predict_roots_new(const char *cache_path);
void predict_roots_free(struct predict_roots *r);

/*
 * The root of process PID (under PROC_ROOT, "/proc"): an O_PATH descriptor
 * of its root directory (to open its files through; the caller closes it)
 * and its key. -errno when the process is gone or not ours to look at.
 */
int predict_root_open(const char *proc_root, pid_t pid, struct root_key *key);

/* The host's root, as predict_root_open() gives it: pid 1's (the node's,
 * when the daemon runs in a container with hostPID), or ours when pid 1's
 * cannot be opened. */
int predict_host_root_open(const char *proc_root, struct root_key *key);

/*
 * The entry of the root open on ROOT_FD (named KEY), loading or reloading
 * its cache if needed at NOW_NS. NULL when that root has no usable cache
 * (or memory ran out). Valid until the next call (it may evict).
 */
struct predict_root *predict_roots_get(struct predict_roots *r, int root_fd,
				       const struct root_key *key, uint64_t now_ns);

struct predict_roots_stats predict_roots_stats(const struct predict_roots *r);

#endif /* PREDICT_ROOTS_H */
