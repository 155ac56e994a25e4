/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The running daemon's parts (main.c wires them together) and the lines it
 * logs about itself: the counters of every part, periodically and at exit,
 * and where the time went between the stop signal and the exit.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "log.h"
#include "options.h"

/* Exited processes whose connections are ended once per loop round. */
#define EXITED_MAX 256

struct tls_trace;
struct ring_buffer;
struct session_table;
struct forwarder;
struct targets;
struct proc_watch;
struct discovered;

struct daemon {
	struct endpoint endpoint;
	struct tls_trace *skel;
	struct ring_buffer *rb;
	struct session_table *sessions;
	struct forwarder *forwarder;
	struct targets *targets;
	struct proc_watch *watch;
	int epfd;
	uint64_t watch_lost_seen;
	int skip_fd;
	int conns_fd;
	struct options opt;
	struct discovered *discovered; /* the summary, --json, the control socket */
	pid_t exited[EXITED_MAX];      /* TLS processes gone since the ring was read */
	unsigned nexited;
	uint64_t calls, malformed, bad_records;
	struct log_ratelimit malformed_log;
};

/* One "targets (<when>)" and one "stats (<when>)" line: every counter of
 * the control path, the kernel side, the sessions and the forwarder. */
void daemon_log_stats(const struct daemon *d, const char *when);

/* CLOCK_MONOTONIC ns of each step of the way out (0: not reached). */
struct exit_times {
	uint64_t signal;    /* the stop signal came */
	uint64_t loop_left; /* the event loop ended */
	uint64_t detach;    /* forwarding done, detaching starts */
	uint64_t detached;  /* every probe and link gone */
};

/* SIGTERM must end the daemon within a second (issue 15): one line saying
 * where the time went, up to now. */
void daemon_log_exit_times(const struct exit_times *t, uint64_t now);

#endif /* DAEMON_H */
