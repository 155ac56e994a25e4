/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Analysing files off the event loop. A large file mapped for the first
 * time (tls_backend.h: an ELF symbol scan, milliseconds for node's 99 MB,
 * longer for a crafted file), or one whose pages are not all cached (read
 * from the disk: tens of ms), is classified by a worker thread, so that no
 * file can stall discovery or the reading of calls. Processes mapping a file while it is
 * being analysed wait for the verdict (they are handed back with it).
 *
 * Only the event loop calls these functions; workers only classify.
 */
#ifndef FILE_ANALYSIS_H
#define FILE_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "file_open.h"
#include "tls_backend.h"
#include "workq.h"

/* A process that mapped the file, as it was then. */
struct analysis_waiter {
	pid_t pid;
	uint64_t image;	 /* its exec count then: a later exec makes it stale */
	uint64_t map_ts; /* when it mapped the file */
};

/* Waiters kept per file; more are counted as dropped (a rescan finds them). */
#define ANALYSIS_WAITERS_MAX 64

struct analysis {
	struct work work;
	struct analysis *next;
	/* in */
	struct file_id id;
	int fd; /* checked descriptor (file_open.h); owned */
	char *path;
	/* out */
	int err;
	struct tls_verdict verdict;
	uint64_t took_ns;
	/* who waits */
	struct analysis_waiter waiters[ANALYSIS_WAITERS_MAX];
	size_t nwaiters;
};

/* Start THREADS workers (0: analyse in the caller, at submission). */
int analysis_start(int threads);
/* Readable when results are ready. */
int analysis_eventfd(void);

/* Being analysed: add W as a waiter and return true (false: not pending).
 * *dropped is set when the waiter list was full. */
bool analysis_wait(const struct file_id *id, const struct analysis_waiter *w, bool *dropped);

/* Analyse the file open on FD (taken) for W (NULL: nobody waits yet; a
 * prediction's library). A SMALL file goes ahead of the queue: a library
 * whose pages were not cached must not wait behind node's 99 MB.
 * -ENOMEM (FD closed). */
int analysis_submit(const struct file_id *id, int fd, const char *path,
		    const struct analysis_waiter *w, bool small);

/* Is this file being analysed? */
bool analysis_is_pending(const struct file_id *id);

/* A child shares its parent's mappings: it waits wherever the parent does. */
void analysis_fork(pid_t parent, pid_t child, uint64_t child_image);

/* Finished analyses, oldest first (a list through ->next); NULL if none.
 * Release each with analysis_free (which closes fd unless taken: -1). */
struct analysis *analysis_done(void);
void analysis_free(struct analysis *a);

/* Wait until every submitted analysis is finished (start-up scan). */
void analysis_drain(void);

/* Analyses submitted and not yet collected. */
size_t analysis_pending(void);

#endif /* FILE_ANALYSIS_H */
