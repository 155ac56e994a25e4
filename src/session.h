/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The table of traced TLS connections, keyed by (process, SSL*). It routes
 * each ring buffer event to its connection's protocol parser (chosen by the
 * connection's first bytes, proto.h) and reports completed calls. Bounded,
 * and shared fairly: one process holds at most a share of the table (its
 * own least recently active connection goes when it opens one more); a
 * full table gives up a connection of the process holding the most; idle
 * connections of exited processes are expired. A connection forgotten to
 * make room is forgotten by the kernel too (ops.forget).
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdint.h>
#include <linux/types.h>
#include "bpf/tls_trace.h"
#include "http1.h"
#include "http2.h"
#include "proto.h"

/* Connections tracked at once; matches the kernel's conns map. */
#define SESSION_MAX 16384
/*
 * One process holds at most SESSION_MAX / SESSION_SHARE_DIV of them (1024,
 * ~0.7 MB of parser state): more than any client needs in flight at once,
 * and an idle HTTP/1 connection given up costs nothing (the kernel lets it
 * in again at its next request).
 */
#define SESSION_SHARE_DIV 16

/* A completed call with the process that made it. */
struct traced_call {
	const struct proto_call *call;
	uint32_t pid;
	const char *comm;
};

struct session_ops {
	void (*call)(const struct traced_call *call, void *ctx);
	/* Tell the kernel which bytes it need not copy, or that it need not
	 * trace the connection at all (TLS_SKIP_ALL). May be NULL. */
	void (*set_skip)(const struct tls_conn_key *key, const struct tls_conn_skip *skip,
			 void *ctx);
	/* The connection was forgotten to make room: the kernel may stop
	 * tracing it (if its conn_id is still conn_id). May be NULL. */
	void (*forget)(const struct tls_conn_key *key, uint64_t conn_id, void *ctx);
	void *ctx;
};

struct session_stats {
	uint64_t active;
	uint64_t evicted;	   /* forgotten because the table was full */
	uint64_t over_share;	   /* forgotten because their process was over its share */
	uint64_t expired;	   /* forgotten because their process exited */
	uint64_t copied_bytes;	   /* plaintext bytes the kernel copied to us (data records) */
	uint64_t not_http;	   /* connections of another protocol (SMTP, FTP...): ignored */
	uint64_t skips_to_request; /* lost place: kernel told to copy nothing until a request */
	struct http1_stats http1;
	struct http2_stats http2;
};

struct session_table;

struct session_table *session_table_new(unsigned max, const struct session_ops *ops);
void session_table_free(struct session_table *t);

/* Most connections one process may hold (default max / SESSION_SHARE_DIV). */
void session_table_set_share(struct session_table *t, unsigned share);

/* Route one ring buffer record (already length-checked by the caller). */
void session_handle_event(struct session_table *t, const struct tls_event *ev);

/*
 * Forget connections idle for idle_ns whose process no longer exists
 * (pid_alive decides; NULL means "ask /proc"). Call about once a second.
 */
void session_expire(struct session_table *t, uint64_t now_ns, uint64_t idle_ns,
		    int (*pid_alive)(uint32_t pid));

/* The process exited: its connections are over, as if each had been closed
 * (a response read until the connection closes ends at its last byte).
 * Walks only that process's connections (a per-process chain). */
void session_close_pid(struct session_table *t, uint32_t pid);

/* Call fn with the pid of every process holding open connections (once each). */
void session_for_each_pid(const struct session_table *t, void (*fn)(uint32_t pid, void *ctx),
			  void *ctx);

struct session_stats session_table_stats(const struct session_table *t);

#endif /* SESSION_H */
