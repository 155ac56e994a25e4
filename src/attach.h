/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching the BPF programs to a TLS library file as uprobes.
 *
 * Two kinds of probe sets per file:
 * - markers (SSL_set_connect_state/SSL_set_accept_state) for all processes:
 *   called once per connection, they tell clients from servers;
 * - data probes (SSL_write/SSL_read(_ex), SSL_shutdown/SSL_free) for one
 *   process: a uprobe scoped to a pid costs other processes nothing, so TLS
 *   servers do not pay for a tracer of outgoing calls.
 */
#ifndef ATTACH_H
#define ATTACH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
#include "bpf/tls_trace.h"
#include "tls_backend.h"
#include "workq.h"

struct tls_trace;
struct bpf_link;
struct tls_file;

/*
 * How uprobes are attached. uprobe_multi links (Linux 6.6+) take one fd for
 * many functions and detach without the global lock that serialises
 * perf-event uprobe detach (each waits for an RCU grace period, 0.1-0.2 s
 * measured on 6.18).
 */
enum attach_mode {
	ATTACH_PERF_EVENT,   /* one perf event per probe, any kernel */
	ATTACH_UPROBE_MULTI, /* BPF_TRACE_UPROBE_MULTI links */
};

/* One attached probe: a libbpf link, or the fd of a link we made ourselves. */
struct probe_link {
	struct bpf_link *link;
	int fd;
};

/* Perf mode needs one link per function and direction. */
#define PROBE_SET_MAX (2 * TLS_FN_COUNT + TLS_RET_PROBES_MAX)

struct probe_set {
	struct probe_link links[PROBE_SET_MAX];
	int nlinks;
};

/*
 * Choose the attach mode for this kernel and prepare the programs for it.
 * Call after open, before load. Returns the mode chosen.
 */
enum attach_mode attach_prepare(struct tls_trace *skel, bool force_perf_event);
const char *attach_mode_name(enum attach_mode mode);

/*
 * Probes go on the file open on FILE_FD (file_open.h), through
 * /proc/self/fd/N: the inode the daemon checked, never a path resolved
 * again. The descriptor is only borrowed.
 */

/* Data probes of the file's back end for one process (pid > 0), or for all
 * (pid -1). */
int attach_data_probes(struct tls_trace *skel, int file_fd, const struct tls_file_syms *syms,
		       pid_t pid, struct probe_set *out);

/* Client/server markers, for all processes. 0 links when the file has none. */
int attach_marker_probes(struct tls_trace *skel, int file_fd, const struct tls_file_syms *syms,
			 struct probe_set *out);

/* A uprobe that does nothing, on one offset of a file, for one process
 * (uprobe_multi kernels only, else -ENOTSUP). See uprobe_warm.h. */
int attach_placeholder_probe(struct tls_trace *skel, int file_fd, uint64_t offset, pid_t pid,
			     struct probe_set *out);

/* Can this kernel attach the placeholder (uprobe_warm.h)? */
bool attach_has_uprobe_multi(void);

/*
 * Detach in the background: detaching waits for RCU grace periods, which
 * must not stall event processing. Link ownership moves to the reaper;
 * *set is emptied. detach_reaper_drain() waits for all pending detaches.
 */
void probe_set_detach_async(struct probe_set *set);
void detach_reaper_drain(void);

/*
 * Attaching in the background. Attaching to a process can take milliseconds
 * (the kernel write-locks the memory map of every process mapping the file),
 * and one slow attach must not hold back the next process's: a few worker
 * threads attach while the event loop goes on. Completed jobs are collected
 * with attach_jobs_done(); the eventfd becomes readable when one is ready.
 */
struct attach_job {
	struct work work;	 /* first: the worker's handle (workq.h) */
	struct attach_job *next; /* on the done list */
	/* in */
	pid_t pid;
	int fd; /* the file's, owned by the job (closed by its owner when done) */
	struct tls_file_syms syms;
	uint64_t generation;   /* the owner's, to spot a stale result */
	struct tls_file *file; /* the owner's file object (a reference it holds) */
	uint64_t map_ts;       /* when the mapping that asked for it happened */
	bool urgent;	       /* the process maps the file now: ahead of predicted ones */
	/* out */
	struct probe_set set;
	int err;
	uint64_t took_ns;
	uint64_t done_ns; /* monotonic time the probes were in */
};

int attach_jobs_start(struct tls_trace *skel, int threads);
int attach_jobs_eventfd(void);
/* Takes ownership of job. */
void attach_jobs_submit(struct attach_job *job);
/* Completed jobs, oldest first, as a list the caller frees; NULL if none. */
struct attach_job *attach_jobs_done(void);
/* Wait until no job is queued or running. */
void attach_jobs_drain(void);

#endif /* ATTACH_H */
