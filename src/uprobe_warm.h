/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Keeping uprobe registration fast while processes are starting.
 *
 * Registering or removing a uprobe write-locks one global semaphore of the
 * kernel (dup_mmap_sem, a per-CPU rw-semaphore). When nobody took it for
 * writing during the last RCU grace period, the writer first waits one out:
 * on this 6.18 VM (HZ=250) a per-process attach then takes 7 ms median,
 * 15 ms p90, up to 25 ms, against ~40 us when another registration happened
 * within the last ~25 ms. A one-shot curl makes its first SSL_write about
 * 12 ms after exec: a cold attach loses that call, a warm one does not.
 *
 * So a thread registers a uprobe that does nothing (on a private memfd no
 * process maps, scoped to the daemon's own pid) and removes it, one of the
 * two every 2 ms for a second after each process start (grace periods are
 * short then), and every 20 ms while asked to (system-wide mode, for a while
 * after process starts). A host where no process starts pays nothing: the
 * first client after a quiet spell may find registration cold (measured:
 * see README, "How processes are probed"); kernels whose grace periods are
 * all expedited make no writes at all. Other processes' fork() takes the
 * semaphore's read side, whose slow path while it is warm adds a memory
 * barrier (not measurable in a fork loop).
 */
#ifndef UPROBE_WARM_H
#define UPROBE_WARM_H

#include <stdint.h>

struct tls_trace;

/* Start the thread (idle until asked). -ENOTSUP without uprobe_multi. */
int uprobe_warm_start(struct tls_trace *skel);

/* Keep registrations fast until at least monotonic time until_ns. Cheap:
 * call it for every exec and every attach. */
void uprobe_warm_until(uint64_t until_ns);

/* A process started (exec): write at the fast rate for the next second.
 * Cheap enough for every exec of an exec storm. */
void uprobe_warm_busy(uint64_t now_ns);

/* Stop the thread (before the last detaches: it feeds the reaper). */
void uprobe_warm_stop(void);

/* Placeholder registrations made so far. */
uint64_t uprobe_warm_rounds(void);

#endif /* UPROBE_WARM_H */
