/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The processes that map TLS files (or are about to, after an exec), by pid:
 * what they map, the probes they hold, and their arming state. Bounded:
 * beyond PROC_TABLE_MAX a new process is not tracked (counted).
 */
#ifndef PROC_TABLE_H
#define PROC_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "arm_policy.h"
#include "attach.h"
#include "file_open.h"

#define PROC_TABLE_MAX 65536
/* TLS files one process maps at once (libssl, a second copy, node). */
#define PROC_FILES_MAX 4

struct tls_file;

struct proc_file {
	struct tls_file *file; /* a reference held (file_registry.h) */
	struct probe_set data; /* its data probes for this process */
	bool pending;	       /* an attach job is under way */
	bool predicted;	       /* from the prediction at exec, not (yet) seen mapped */
};

struct tls_proc {
	struct tls_proc *next;
	pid_t pid;
	struct file_id exe;   /* its executable, once known */
	bool awaiting_exe;    /* exec seen; its next mapping is the executable */
	uint64_t last_map_ns; /* time of its latest mapping record handled */
	uint64_t generation;  /* changes when its probes are dropped: stale jobs */
	uint64_t image;	      /* exec count: a file analysed for an older image is stale */
	struct arm_state arm;
	bool excluded; /* --exclude-comm matched at the last look */
	struct proc_file files[PROC_FILES_MAX];
	int nfiles;
};

struct proc_table;

struct proc_table *proc_table_new(void);
/* Frees the entries; their files and probes must have been released. */
void proc_table_free(struct proc_table *t);

struct tls_proc *proc_table_find(struct proc_table *t, pid_t pid);
/* Find or create; NULL when the table is full (counted) or out of memory. */
struct tls_proc *proc_table_get(struct proc_table *t, pid_t pid);
/* Unlink and free (the caller released its files and probes). */
void proc_table_remove(struct proc_table *t, struct tls_proc *p);

/* Call fn for each process; fn may remove the one it is given. */
void proc_table_each(struct proc_table *t, void (*fn)(struct tls_proc *p, void *ctx), void *ctx);

unsigned proc_table_count(const struct proc_table *t);
uint64_t proc_table_dropped(const struct proc_table *t);
/* A new generation number (stale attach results are told apart by it). */
uint64_t proc_table_next_generation(struct proc_table *t);

#endif /* PROC_TABLE_H */
