/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Predicting, at exec, which TLS files a process will map, so that its data
 * probes are attached as soon as its executable is mapped: the kernel then
 * installs the breakpoints when the library is mapped, and the first call
 * cannot race the attach.
 *
 * Two sources: executables seen before (learned: which TLS files processes
 * running them mapped), and for an executable never seen, its DT_NEEDED
 * chain resolved through the ld.so cache of the process's own root (three
 * levels: curl -> libcurl -> libssl): a container's processes through the
 * container's cache and libraries, the host's through the host's, whatever
 * the daemon's own root holds (predict_roots.h). The learned executables
 * and the registry of files are shared by all roots: they are keyed by
 * device and inode, and the same file in two roots is one file.
 */
#ifndef PREDICT_H
#define PREDICT_H

#include <stdbool.h>
#include "file_open.h"
#include "ldcache.h"
#include "predict_roots.h"
#include "proc_table.h"

struct tls_file;
struct predictor;

/*
 * Is the library at PATH, resolved inside the root directory ROOT_FD (a
 * process's), a TLS file? ANALYSE false: only from what is already known (no
 * file is read beyond a stat); true: analyse it if needed. Returns the
 * registry's entry or NULL. A file that cannot be analysed now (large, or
 * its pages not cached: the event loop does not wait on the disk) sets
 * *DEFERRED: NULL then means "not known yet", not "no".
 */
typedef struct tls_file *(*predict_lookup_fn)(int root_fd, const char *path, bool analyse,
					      bool *deferred, void *ctx);

/* CACHE_PATH: where each root keeps its ld.so cache (NULL: LDCACHE_PATH). */
struct predictor *predict_new(const char *cache_path, predict_lookup_fn lookup, void *ctx);
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
 * chain through the cache of the root open on ROOT_FD (named KEY:
 * predict_root_open); known facts first, then analysis. NULL if none (or
 * that root has no cache). *DEFERRED: a library on the way could not be
 * analysed now, so NULL is no verdict (nothing memoised from it; predict
 * again at the next exec). */
struct tls_file *predict_from_needed(struct predictor *p, int root_fd, const struct root_key *key,
				     int exe_fd, uint64_t now_ns, bool *deferred);

/* Call fn for each entry of that root's cache whose soname starts with
 * PREFIX (paths as that root names them). */
void predict_each_soname(struct predictor *p, int root_fd, const struct root_key *key,
			 uint64_t now_ns, const char *prefix,
			 void (*fn)(const char *soname, const char *path, void *ctx), void *ctx);

#endif /* PREDICT_H */
