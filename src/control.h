/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The control socket: how `calls`, `watch` (and `suggest-config`) read the
 * running daemon's summary. A Unix stream socket, mode 0600 in a directory
 * only root can enter (the systemd unit's RuntimeDirectory, mode 0700), and
 * every peer's uid checked (SO_PEERCRED).
 *
 * Protocol: the client writes one request line, the daemon answers with
 * lines and closes the connection.
 *   "calls\n"  every row of the summary, one JSON object per line (the form
 *              in call_summary.h), in no particular order
 * A refusal or an unknown request is one line {"error":"<why>"}.
 *
 * Served from the daemon's event loop, never blocking it: non-blocking
 * sockets, at most CONTROL_CLIENTS_MAX clients, a deadline for each, and a
 * fixed buffer per client refilled from the summary as the socket drains, so
 * a slow or stuck client costs at most its buffer until its deadline.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "call_summary.h"

#define CONTROL_DIR	     "/run/metrist-orchestrator-ebpf-plugin"
#define CONTROL_SOCKET	     CONTROL_DIR "/control.sock"
#define CONTROL_REQUEST_MAX  64
#define CONTROL_CLIENTS_MAX  8
#define CONTROL_BUFFER_BYTES 16384
/* A client has this long to send its request and read the answer. */
#define CONTROL_DEADLINE_NS (10ull * 1000000000)

struct control;

/*
 * Listen on path, creating its directory (0700) if missing. Only peers with
 * uid 0 or allowed_uid (the daemon's own) are answered. Refuses, without
 * touching it, a path held by a live daemon (-EADDRINUSE) or by something
 * that is not a socket (-EEXIST), and a directory not owned by us or
 * writable by others (-EPERM). Returns 0 and *out, or a negative errno.
 */
int control_open(const char *path, const struct call_summary *summary, uid_t allowed_uid,
		 struct control **out);

/* An epoll descriptor, readable when control_serve has something to do. */
int control_fd(const struct control *c);

/* Accept, read requests, write answers, drop clients past their deadline. */
void control_serve(struct control *c, uint64_t now_ns);

/* Clients connected: control_serve must also run for their deadlines. */
bool control_busy(const struct control *c);

/* Close every connection and remove the socket (if it is still ours). */
void control_close(struct control *c);

#endif /* CONTROL_H */
