/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Watching processes come and go and map files, without kprobes: the perf
 * side-band stream (PERF_RECORD_MMAP2 for every executable mapping with its
 * path, device and inode; FORK, EXIT, and COMM on exec), read from one
 * dummy software event per CPU. This is how a library mapped by a process
 * started after the daemon, or dlopen()ed later, is noticed within a wake-up.
 */
#ifndef PROC_WATCH_H
#define PROC_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_mapping {
	pid_t pid;
	const char *path; /* as seen in the process's mount namespace */
	uint32_t maj, min;
	uint64_t ino;
	uint64_t start, end;
	uint64_t ts_ns; /* when it was mapped (CLOCK_MONOTONIC); 0 if unknown */
};

struct proc_watch_ops {
	void (*mapped)(const struct proc_mapping *m, void *ctx);
	void (*forked)(pid_t parent, pid_t child, void *ctx);
	/* ts_ns: when (CLOCK_MONOTONIC), 0 if the record carried no time */
	void (*execed)(pid_t pid, uint64_t ts_ns, void *ctx);
	void (*exited)(pid_t pid, void *ctx);
	void *ctx;
};

struct proc_watch;

/* Open the per-CPU streams, one for every online CPU. NULL with errno set
 * when any cannot be opened (discovery would be blind there). */
struct proc_watch *proc_watch_new(const struct proc_watch_ops *ops);

/* What a user can do about proc_watch_new's errno (may be ""). */
const char *proc_watch_error_hint(int err);
void proc_watch_free(struct proc_watch *w);

/* Register every stream's fd (EPOLLIN) in an epoll set. */
int proc_watch_add_to_epoll(struct proc_watch *w, int epfd);

/* Handle every pending record, oldest first across the CPUs' streams.
 * Returns the number handled. */
int proc_watch_drain(struct proc_watch *w);

/* Records the kernel dropped because we were too slow (PERF_RECORD_LOST). */
uint64_t proc_watch_lost(const struct proc_watch *w);

/*
 * Decode one record (header included) and call ops. Exposed for tests and
 * fuzzing: records come from the kernel, but lengths are checked anyway.
 * Returns 0, or -EINVAL for a record too short for its type.
 */
int proc_watch_parse_record(const void *rec, size_t size, const struct proc_watch_ops *ops,
			    uint64_t *lost);

/* One CPU's ring as the kernel lays it out: a metadata page (struct
 * perf_event_mmap_page), then data_size bytes of records. */
struct proc_watch_ring {
	void *base; /* the metadata page, then data_size bytes of data */
	size_t data_size;
	/* during a drain: the data, what is left, the next record's size and time */
	const uint8_t *data;
	uint64_t tail, head, next_ts;
	uint32_t next_size;
	bool pending;
};

/* proc_watch_drain's work on given rings (exposed for tests): every
 * record between tail and head, merged by time; each ring's tail then
 * moves to the head it saw. */
int proc_watch_drain_rings(struct proc_watch_ring *rings, int n, const struct proc_watch_ops *ops,
			   uint64_t *lost);

#endif /* PROC_WATCH_H */
