/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/2 (RFC 9113) call tracking for one client-side TLS connection: the
 * frames of both directions are walked incrementally across any split, the
 * header blocks decoded (hpack.h), and each stream becomes one call:
 * :method, :authority (or host), :path, :status, from the write carrying
 * the request's HEADERS to the read carrying the response's END_STREAM.
 *
 * Never a wrong value: a call whose method, authority or path is not known
 * for certain (header table entries from before we watched, or from a lost
 * record) is counted and not reported. Bounded: a connection over a cap
 * (header block size, open streams, table size) is dropped with a counted
 * reason.
 */
#ifndef HTTP2_H
#define HTTP2_H

#include <stddef.h>
#include <stdint.h>
#include "proto.h"

#define H2_BLOCK_MAX	 (64 * 1024) /* one header block, all CONTINUATIONs included */
#define H2_STREAMS_MAX	 1024	     /* streams awaiting their response */
#define H2_AUTHORITY_MAX 320
#define H2_PATH_MAX	 2048
#define H2_METHOD_MAX	 32
#define H2_HELD_MAX	 (2 * 1024 * 1024) /* all connections' blocks and streams together */

/* The parsers behind the protocol seam (proto.h): from the preface, and
 * joined late (PROTO_HTTP2_LATE: the header tables start unknown, the
 * first write and the first read start at frame headers). */
extern const struct proto_parser proto_http2;
extern const struct proto_parser proto_http2_late;

/* Caller-owned counters, shared by all connections. */
struct http2_stats {
	uint64_t undecodable; /* calls not reported: a field not known for certain */
	uint64_t malformed;   /* connections dropped: not valid HTTP/2 or HPACK */
	uint64_t over_cap;    /* connections dropped: a block, table or stream count cap */
	uint64_t lost;	      /* holes in a stream (records lost): tables forgotten */
	uint64_t unanswered;  /* streams ended (reset, refused, closed) before a response */
};

/* Bytes all connections hold in header blocks being assembled and streams
 * awaiting their response (bounded by H2_HELD_MAX: a connection that would
 * go over it is dropped, counted as over_cap). The HPACK tables have their
 * own budget (hpack_bytes_held). */
size_t http2_bytes_held(void);

#endif /* HTTP2_H */
