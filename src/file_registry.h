/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The files the daemon has analysed, by device and inode, so that a file is
 * analysed once however many processes map it.
 *
 * - TLS files (a back end's functions found) are entries with the checked
 *   descriptor probes attach through (file_open.h), the offsets, and the
 *   probes that belong to the file rather than to a process: the role
 *   markers (and, with --system-wide-probes, the data probes). They are
 *   reference-counted (each process mapping one holds a reference, so does
 *   each attach job); the probes stay while references exist and for
 *   linger_ns after the last one goes (a program run again and again finds
 *   them in place), then the entry is freed. At most TLS_FILES_MAX entries.
 * - Files without TLS are remembered in a fixed-size cache of identities
 *   only: when it is full, the oldest of a few candidate slots is replaced.
 *   Forgetting costs a re-analysis, never a missed library: a host that ran
 *   9,000 distinct executables still analyses the next new libssl.
 */
#ifndef FILE_REGISTRY_H
#define FILE_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include "attach.h"
#include "file_open.h"
#include "tls_backend.h"

#define TLS_FILES_MAX  1024
#define NOT_TLS_CACHE  8192 /* slots; a power of two */
#define FILE_LINGER_NS (60ull * 1000000000)

struct tls_file {
	struct tls_file *next;
	struct file_id id;
	int fd;	    /* checked descriptor (file_open.h); probes attach through it */
	char *path; /* as the first process mapping it named it: for logs */
	struct tls_file_syms syms;
	struct probe_set markers;  /* for all processes */
	struct probe_set data_all; /* --system-wide-probes: data probes for all */
	unsigned refs;		   /* processes mapping it, attach jobs, the ld.so pin */
	uint64_t idle_since_ns;	   /* refs dropped to 0 then; 0 while referenced */
	uint64_t markers_retry_ns; /* marker attach failed: retry after this */
	bool pinned;		   /* referenced by the ld.so cache pin (system-wide) */
};

struct file_registry;

struct file_registry *file_registry_new(void);
/* Detaches every probe of every entry (asynchronously) and frees all. */
void file_registry_free(struct file_registry *r);

struct tls_file *file_registry_find(struct file_registry *r, const struct file_id *id);

/* Remember a TLS file. Takes FD (closed with the entry). NULL when the
 * table is full of referenced files (counted) or out of memory: FD is
 * closed then too. The new entry has no reference yet. */
struct tls_file *file_registry_add(struct file_registry *r, const struct file_id *id, int fd,
				   const char *path, const struct tls_file_syms *syms);

void file_ref(struct tls_file *f);
/* Drop a reference; at 0 the entry lingers (file_registry_expire). */
void file_unref(struct tls_file *f, uint64_t now_ns);

/*
 * Free entries unreferenced for linger_ns (their probes are detached in the
 * background). Returns how many were freed. Call every few seconds.
 */
unsigned file_registry_expire(struct file_registry *r, uint64_t now_ns, uint64_t linger_ns);

/* Files without TLS: known (a cache hit refreshes it) / remember one. */
bool file_registry_known_plain(struct file_registry *r, const struct file_id *id, uint64_t now_ns);
void file_registry_note_plain(struct file_registry *r, const struct file_id *id, uint64_t now_ns);

/* Call fn for each TLS file. */
void file_registry_each(struct file_registry *r, void (*fn)(struct tls_file *f, void *ctx),
			void *ctx);

struct file_registry_stats {
	unsigned tls_files;	/* entries now */
	unsigned referenced;	/* ... of which mapped or pinned */
	uint64_t tls_seen;	/* TLS files added since start */
	uint64_t expired;	/* entries freed after lingering */
	uint64_t full;		/* TLS files not remembered: table full */
	uint64_t plain_evicted; /* plain-file verdicts replaced (cache full) */
};
struct file_registry_stats file_registry_stats(const struct file_registry *r);

#endif /* FILE_REGISTRY_H */
