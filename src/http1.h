/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.0 and HTTP/1.1 exchange tracking for one client-side TLS connection.
 *
 * The caller feeds the connection's two plaintext streams (what the process
 * wrote: requests; what it read: responses) as they were observed by the
 * probes, possibly with holes where the kernel did not copy body bytes. Each
 * completed request/response pair is reported through a callback. Parsing is
 * done by llhttp (Node.js' parser, shipped by Debian's node-llhttp).
 */
#ifndef HTTP1_H
#define HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto.h"

/* Longest request-target kept; longer ones are cut and flagged. */
#define HTTP1_TARGET_MAX 2048
/* Longest Host value kept (a DNS name is at most 253 bytes, plus a port). */
#define HTTP1_HOST_MAX 320
/* Request or response head larger than this is treated as malformed. */
#define HTTP1_HEAD_MAX (64 * 1024)

/* The parser behind the protocol seam (proto.h). */
extern const struct proto_parser proto_http1;

/* Why bytes were not understood. */
struct http1_stats {
	uint64_t malformed;    /* parse errors, oversized heads, lost stream bytes */
	uint64_t unanswered;   /* requests dropped without a response */
	uint64_t not_http1;    /* streams that are not HTTP/1 (e.g. the HTTP/2 preface) */
	uint64_t too_deep;     /* connections no longer reported: pipelined too deep */
	uint64_t gaps_bridged; /* lost records inside a body, passed over as uncopied bytes */
};

struct http1_conn;

/* @stats: caller-owned counters, shared by many connections; may be NULL. */
struct http1_conn *http1_conn_new(proto_call_cb cb, void *ctx, struct http1_stats *stats);
void http1_conn_free(struct http1_conn *c);

/*
 * Feed one observed write (PROTO_TX) or read (PROTO_RX).
 * @ts_ns:      time of the event (ns, monotonic)
 * @stream_off: offset of the call's first byte in this direction's stream
 * @len:        bytes the call moved
 * @skip:       leading bytes of the call that were not copied (the caller
 *              asked for them to be skipped: body bytes, see skip_until)
 * @data:       the copied bytes that follow, @data_len of them; any bytes
 *              after skip + data_len up to len were not copied either.
 * Returns 0 when the bytes were consumed (including when they were ignored
 * because the connection is resynchronising), -EPROTO when they broke the
 * stream (counted in stats; the connection then waits for a write that starts
 * a new request), -EPROTONOSUPPORT when the stream is not HTTP/1 at all (the
 * connection ignores everything from then on).
 */
int http1_conn_feed(struct http1_conn *c, enum proto_dir dir, uint64_t ts_ns, uint64_t stream_off,
		    uint32_t len, uint32_t skip, const uint8_t *data, uint32_t data_len);

/* The connection ended: a response delimited by the close completes (its last
 * read counts as end time); requests still unanswered are dropped. */
void http1_conn_close(struct http1_conn *c, uint64_t ts_ns);

/*
 * Stream offset in @dir below which the parser needs no bytes (it is inside a
 * Content-Length body or chunk data whose length it knows), or 0 when it needs
 * every byte. The caller hands this to the kernel so bodies are not copied.
 */
uint64_t http1_conn_skip_until(const struct http1_conn *c, enum proto_dir dir);

#endif /* HTTP1_H */
