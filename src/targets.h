/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes and files are probed, and when.
 *
 * Files are analysed once, by device and inode, whatever the number of
 * processes mapping them. A file with OpenSSL's functions gets the
 * client/server marker probes for all processes while any process maps it.
 * Each process mapping such a file gets data probes scoped to its pid as soon
 * as the mapping is seen, so a one-shot client's first call is captured;
 * a process seen acting only as a TLS server loses them about a second later
 * and gets them back if it ever sets up a client connection.
 */
#ifndef TARGETS_H
#define TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "proc_watch.h"

struct tls_trace;
struct targets;

struct targets_stats {
	uint64_t files_tls;	  /* files with OpenSSL functions seen */
	uint64_t files_probed;	  /* ... of which some process maps now */
	uint64_t procs_armed;	  /* processes with data probes now */
	uint64_t procs_server;	  /* processes whose data probes were removed: servers */
	uint64_t procs_idle;	  /* ... or none: beyond max_armed, until they connect */
	uint64_t attaches;	  /* data probe sets attached */
	uint64_t attach_failures; /* ... that failed (process gone, limits) */
	uint64_t attach_ns_total; /* time spent attaching */
	uint64_t attach_ns_max;
	uint64_t detaches;
	uint64_t procs_dropped;		/* not tracked: process table full */
	uint64_t procs_seccomp_skipped; /* not probed: seccomp filter on a 6.11-6.13 kernel */
	/* From a mapping record's time to its probes attached (new files in
	 * system-wide mode, new processes in per-process mode). */
	uint64_t map_to_attach_count;
	uint64_t map_to_attach_ns_total;
	uint64_t map_to_attach_ns_max;
};

/*
 * @per_process: data probes per process (scoped to its pid), removed from
 * processes that only serve; false: data probes per file for all processes
 * (every process mapping the file traps, servers included, but no process
 * can make a call before its probes are in).
 * @disarm_delay_ns: how long a server-only process keeps its data probes.
 * @max_armed: how many processes hold data probes before idle ones give
 * theirs back and new ones wait for their first client connection (every
 * probe hit walks the probes of all armed processes; see targets.c).
 */
struct targets *targets_new(struct tls_trace *skel, bool per_process, uint64_t disarm_delay_ns,
			    unsigned max_armed);

/* Probe, for all processes, the TLS libraries the dynamic linker would load
 * (ld.so cache), before any process maps them. System-wide mode only. */
void targets_pin_ldcache(struct targets *t, const char *ldcache_file);
void targets_free(struct targets *t);

/* Walk /proc: every process running now, as if its mappings had just
 * been seen. */
void targets_scan_proc(struct targets *t, const char *proc_root);

/* Events from the perf side-band stream. */
void targets_on_mapping(struct targets *t, const struct proc_mapping *m);
void targets_on_fork(struct targets *t, pid_t parent, pid_t child);
void targets_on_exec(struct targets *t, pid_t pid, uint64_t ts_ns);
/* Returns whether the process was tracked (it mapped a TLS file). */
bool targets_on_exit(struct targets *t, pid_t pid);

/* Install what the attach workers finished (per-process mode). */
void targets_collect_attaches(struct targets *t);

/* This process has an open client connection now (called about once a
 * second for each, from the session table). */
void targets_note_connected(struct targets *t, pid_t pid, uint64_t now_ns);

/* The BPF markers saw a process show new TLS_ROLE_* bits. */
void targets_on_role(struct targets *t, pid_t pid, uint32_t roles);

/* Timers: disarming server-only processes. Call about every 100 ms. */
void targets_tick(struct targets *t, uint64_t now_ns);

/* Remove every probe (in parallel) and wait until they are gone. */
void targets_detach_all(struct targets *t);

struct targets_stats targets_stats(const struct targets *t);

#endif /* TARGETS_H */
