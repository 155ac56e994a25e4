/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Private to the control path's coordinator (targets.h), split by concern:
 *   targets.c          construction, discovery events, start-up, the end;
 *   targets_files.c    which mapped files are TLS (analysis verdicts, the
 *                      safe opening's refusals) and the probes a file owns;
 *   targets_arming.c   who holds data probes: arm_policy's decisions applied
 *                      (attach jobs, detaches, roles, timers).
 */
#ifndef TARGETS_IMPL_H
#define TARGETS_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "arm_policy.h"
#include "file_registry.h"
#include "log.h"
#include "predict.h"
#include "proc_table.h"
#include "proc_watch.h"
#include "targets.h"

#define SWEEP_PERIOD_NS (5ull * 1000000000)
/* Uprobe registration is kept fast this long after a process starts: the
 * next client of a script or a loop attaches in ~40 us, not a grace period
 * (uprobe_warm.h). */
#define WARM_WINDOW_NS (10ull * 1000000000)
/* A process is idle after this long without a client connection. */
#define IDLE_MIN_NS (10ull * 1000000000)
/* A failed marker attach is tried again by the next process mapping the
 * file, at most this often. */
#define MARKER_RETRY_NS (1000ull * 1000000)
#define IDLE_CHECK_NS	(1000ull * 1000000)

struct targets {
	struct tls_trace *skel;
	const char *proc_root;
	const char *ldcache; /* the ld.so cache's path inside every root */
	struct arm_config arm;
	const char *const *exclude_comm;
	size_t nexclude_comm;
	struct file_registry *files;
	struct proc_table *procs;
	struct predictor *predict;
	unsigned narmed;	 /* processes with arm.armed */
	bool predicting;	 /* arming for files an exec is predicted to map */
	bool rescan;		 /* a mapping could not be followed: walk /proc again */
	uint64_t cur_map_ts;	 /* time of the mapping being handled, 0 if none */
	uint64_t next_disarm_ns; /* earliest pending server-only check */
	uint64_t last_sweep_ns, last_idle_check_ns;
	struct log_ratelimit refused_log, attach_fail_log;
	struct targets_stats stats;
};

/* targets_files.c */
struct tls_file *file_for_mapping(struct targets *t, const struct proc_mapping *m);
/* Files up to this size may be analysed in the event loop. */
#define ANALYSE_INLINE_MAX (8 << 20)
/* May the event loop read this file (open on FD)? Only when it
 * is small and every page is cached: the loop never waits on the disk
 * (file_open.h). Otherwise a worker reads it, a small file first. */
enum loop_read {
	LOOP_READ_NOW,
	LOOP_READ_UNCACHED, /* small, but some pages are not cached */
	LOOP_READ_LARGE,    /* over ANALYSE_INLINE_MAX, or of unknown size (0) */
};
enum loop_read file_loop_read(int fd);
struct tls_file *file_for_path(int root_fd, const char *path, bool analyse, bool *deferred,
			       void *ctx);
void file_attach_shared(struct targets *t, struct tls_file *f);
uint64_t note_map_to_attach(struct targets *t, uint64_t map_ts, uint64_t in_ns);

/* targets_arming.c */
void proc_add_file(struct targets *t, struct tls_proc *p, struct tls_file *f);
void proc_clear(struct targets *t, struct tls_proc *p);
void proc_remove(struct targets *t, struct tls_proc *p);
void drop_probes(struct targets *t, struct tls_proc *p);

#endif /* TARGETS_IMPL_H */
