/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small pool of worker threads running queued work items in order of
 * submission. Used for the kernel calls that block for milliseconds (uprobe
 * attach, link close waiting for RCU grace periods), so that they never
 * stall the event loop. Items are caller-allocated and carry their function.
 */
#ifndef WORKQ_H
#define WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct work {
	struct work *next;
	void (*fn)(struct work *w); /* runs on a worker; may free w */
};

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t more, idle;
	struct work *head, *tail;
	unsigned queued, running;
	int threads;	       /* started; 0: items run in the submitting thread */
	bool default_priority; /* workers give up the daemon's raised priority */
};

/*
 * The daemon runs at a raised priority (nice -10) so that arming a new
 * process wins its race with the first TLS write. Threads whose work is not
 * in that race (closing links, analysing files, warming, resolving) call
 * this at start so that they never take a CPU from the traced programs.
 */
void thread_default_priority(void);

#define WORKQ_INIT(q)                                                                              \
	{                                                                                          \
		.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,               \
		.idle = PTHREAD_COND_INITIALIZER                                                   \
	}

/* Start N detached workers with STACK bytes of stack; returns how many run. */
int workq_start(struct workq *q, int n, size_t stack);

/* Queue w (run at once in this thread when no worker runs). */
void workq_submit(struct workq *q, struct work *w);
/* The same, ahead of everything queued. */
void workq_submit_first(struct workq *q, struct work *w);

/* Items queued and not yet picked up by a worker. */
unsigned workq_backlog(struct workq *q);

/* Wait until nothing is queued or running. */
void workq_drain(struct workq *q);

/*
 * Finished items handed back to the event loop: workers push, the loop takes
 * the whole list when the eventfd (in its epoll set) says there is one.
 */
struct workq_done {
	pthread_mutex_t lock;
	struct work *head, *tail;
	int efd;
};

#define WORKQ_DONE_INIT                                                                            \
	{                                                                                          \
		.lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1                                       \
	}

/* Create the eventfd. 0 or -errno. */
int workq_done_init(struct workq_done *d);
/* From a worker (or the loop itself): queue w and wake the loop. */
void workq_done_push(struct workq_done *d, struct work *w);
/* Everything pushed so far, oldest first, linked through ->next; NULL if none. */
struct work *workq_done_take(struct workq_done *d);

#endif /* WORKQ_H */
