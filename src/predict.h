/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Predicting, at exec, which TLS files a process will map, so that its data
 * probes are attached as soon as its executable is mapped: the kernel then
 * installs the breakpoints when the library is mapped, and the first call
 * cannot race the attach.
 *
 * Two sources: executables seen before (learned: which TLS files processes
 * running them mapped), and for an executable never seen, its DT_NEEDED
 * chain resolved through the ld.so cache (three levels: curl -> libcurl ->
 * libssl). The ld.so cache describes the daemon's own root only, so DT_NEEDED
 * prediction is for processes that share it; a container's processes are
 * armed from their mapping records (and learned from them).
 */
#ifndef PREDICT_H
#define PREDICT_H

#include <stdbool.h>
#include "file_open.h"
#include "ldcache.h"
#include "proc_table.h"

struct tls_file;
struct predictor;

/*
 * Is the library at PATH (in our root) a TLS file? ANALYSE false: only from
 * what is already known (no file is read beyond a stat); true: analyse it if
 * needed. Returns the registry's entry or NULL.
 */
typedef struct tls_file *(*predict_lookup_fn)(const char *path, bool analyse, void *ctx);

/* Takes the entries of CACHE (left empty). */
struct predictor *predict_new(struct ldcache_list *cache, predict_lookup_fn lookup, void *ctx);
void predict_free(struct predictor *p);

#define LEARNED_MAX 1024

struct learned_exe {
	struct file_id exe;
	struct file_id files[PROC_FILES_MAX]; /* TLS files its processes mapped */
	int nfiles;
};

/* What processes of this executable mapped, or NULL if never seen. */
const struct learned_exe *predict_learned(struct predictor *p, const struct file_id *exe);

/* Remember that EXE maps FILE (NULL: only that it was seen). Files are kept
 * most recently mapped first, PROC_FILES_MAX of them; executables are
 * bounded too, the oldest entry replaced. */
void predict_learn(struct predictor *p, const struct file_id *exe, const struct file_id *file);

/* The TLS file an executable (open on EXE_FD) will load, from its DT_NEEDED
 * chain; known facts first, then analysis. NULL if none. */
struct tls_file *predict_from_needed(struct predictor *p, int exe_fd);

/* Call fn for each cache entry whose soname starts with PREFIX. */
void predict_each_soname(struct predictor *p, const char *prefix,
			 void (*fn)(const char *soname, const char *path, void *ctx), void *ctx);

#endif /* PREDICT_H */
