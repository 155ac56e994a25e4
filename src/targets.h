/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes and files are probed, and when: the coordinator of the
 * control path. It turns discovery events (perf side-band records, the
 * /proc scan, role records from the BPF markers) into work on:
 *   file_registry  files analysed once by device and inode (safe opening:
 *                  file_open; what a file is: tls_backend), their markers;
 *   proc_table     the processes mapping TLS files and the probes they hold;
 *   arm_policy     the decisions: who gets data probes, who gives them back;
 *   predict        which TLS files an exec will map (arming before mapping);
 *   attach         the kernel work (uprobe links, attach workers, reaper).
 * Files with a TLS back end's functions get the client/server marker probes
 * for all processes while any process maps them; each process mapping one
 * gets data probes scoped to its pid (per-process mode).
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
	uint64_t files_tls;	  /* files with a TLS back end's functions seen */
	uint64_t files_probed;	  /* ... known now and mapped by some process */
	uint64_t files_expired;	  /* ... forgotten after no process mapped them */
	uint64_t files_full;	  /* ... not traced: registry full */
	uint64_t files_refused;	  /* paths refused (FIFO, symlink out, another file) */
	uint64_t plain_evicted;	  /* verdicts on plain files forgotten (cache full) */
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
	uint64_t procs_excluded;	/* not probed: --exclude-comm */
	uint64_t procs_evicted;		/* armed, gave the slot to a new client (cap) */
	uint64_t files_per_proc_full;	/* a process mapped more TLS files than tracked */
	/* From a mapping record's time to its probes attached (new files in
	 * system-wide mode, new processes in per-process mode). */
	uint64_t map_to_attach_count;
	uint64_t map_to_attach_ns_total;
	uint64_t map_to_attach_ns_max;
};

struct targets_config {
	/* Data probes per process (scoped to its pid), removed from processes
	 * that only serve; false: per file for all processes (every process
	 * mapping the file traps, servers included, but no process can make a
	 * call before its probes are in). */
	bool per_process;
	uint64_t disarm_delay_ns; /* how long a server-only process keeps them */
	unsigned max_armed;	  /* processes holding data probes (arm_policy.h) */
	const char *proc_root;	  /* "/proc" */
	const char *ldcache;	  /* "/etc/ld.so.cache", inside each process's root */
	/* Command names (comm) of processes never given data probes: their
	 * calls are not reported (--exclude-comm). */
	const char *const *exclude_comm;
	size_t nexclude_comm;
};

struct targets *targets_new(struct tls_trace *skel, const struct targets_config *cfg);

/* Probe, for all processes, the TLS libraries the dynamic linker would load
 * (the ld.so cache of the host's root: pid 1's), before any process maps
 * them. System-wide mode only. */
void targets_pin_ldcache(struct targets *t);
void targets_free(struct targets *t);

/* Walk /proc: every process running now, as if its mappings had just
 * been seen. */
void targets_scan_proc(struct targets *t);

/* Events from the perf side-band stream. */
void targets_on_mapping(struct targets *t, const struct proc_mapping *m);
void targets_on_fork(struct targets *t, pid_t parent, pid_t child);
void targets_on_exec(struct targets *t, pid_t pid, uint64_t ts_ns);
/* Returns whether the process was tracked (it mapped a TLS file). */
bool targets_on_exit(struct targets *t, pid_t pid);

/* Install what the attach workers finished (per-process mode). */
void targets_collect_attaches(struct targets *t);

/* Act on the file verdicts the analysis workers finished (file_analysis.h). */
void targets_collect_analyses(struct targets *t);

/* A mapping could not be followed (too many processes waiting on one
 * file's analysis): walk /proc again. True once per such event. */
bool targets_need_rescan(struct targets *t);

/* This process has an open client connection now (called about once a
 * second for each, from the session table). */
void targets_note_connected(struct targets *t, pid_t pid, uint64_t now_ns);

/* The BPF markers saw a process show new TLS_ROLE_* bits. */
void targets_on_role(struct targets *t, pid_t pid, uint32_t roles);

/* Timers: disarming server-only processes. Call about every 100 ms. */
void targets_tick(struct targets *t, uint64_t now_ns);

/* Remove every probe (in parallel) and wait until they are gone. */
void targets_detach_all(struct targets *t);

struct targets_stats targets_stats(struct targets *t);

#endif /* TARGETS_H */
