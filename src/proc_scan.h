/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A snapshot of /proc: the processes running now and their executable file
 * mappings, in the same form as the perf side-band stream reports new ones
 * (struct proc_mapping). Used at start and by the coverage report.
 */
#ifndef PROC_SCAN_H
#define PROC_SCAN_H

#include <sys/types.h>
#include "proc_watch.h"

/* Calls cb for every numeric entry of proc_root (a process); a nonzero
 * return stops. Returns 0 or -errno when proc_root cannot be read. */
int proc_scan_pids(const char *proc_root, int (*cb)(pid_t pid, void *ctx), void *ctx);

/*
 * Calls cb for each executable mapping of a file in /proc/<pid>/maps, with
 * ts_ns 0. A " (deleted)" suffix (the file was replaced or removed on disk)
 * is dropped from the path: /proc/<pid>/map_files still opens it.
 * Returns 0, or -errno when the process is gone.
 */
int proc_scan_maps(const char *proc_root, pid_t pid,
		   void (*cb)(const struct proc_mapping *m, void *ctx), void *ctx);

#endif /* PROC_SCAN_H */
