/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the daemon discovered, as the event loop sees it: every forwarded
 * call goes into the summary (call_summary.h) and, with --json, out on
 * stdout as a JSON line (json_stream.h); the control socket (control.h)
 * serves the summary to `calls` and `watch`. One hook per place in the
 * loop, so that main.c only calls them.
 */
#ifndef DISCOVERED_H
#define DISCOVERED_H

#include <stdbool.h>
#include <stdint.h>
#include "wire.h"

struct discovered;

struct discovered *discovered_new(bool json_out);
void discovered_free(struct discovered *d);

/* Listen on the control socket, its descriptor in the loop's epoll set.
 * Failing costs only the client commands: logged, not fatal. */
void discovered_start(struct discovered *d, int epfd);

/* A call as forwarded (the datagram's fields), with what the wire omits.
 * end_ns: the kernel's timestamp (CLOCK_MONOTONIC) of its last byte. */
void discovered_call(struct discovered *d, const struct wire_call *call, int status,
		     uint64_t latency_ns, uint32_t pid, const char *comm, uint64_t end_ns);

/* An epoll event on fd: the control socket's are served, others ignored. */
void discovered_event(struct discovered *d, int fd, uint64_t now_ns);

/* Periodic: connected clients' deadlines. */
void discovered_tick(struct discovered *d, uint64_t now_ns);

/* End of a loop round: the --json lines out. Returns false once stdout is
 * closed (the daemon then stops, as a filter does). */
bool discovered_flush(struct discovered *d);

#endif /* DISCOVERED_H */
