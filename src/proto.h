/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The protocol seam behind a TLS connection: a parser turns the two
 * plaintext streams of one client connection (what the process wrote, what
 * it read, with holes where the kernel only counted bytes) into completed
 * calls, in a protocol-neutral form. HTTP/1 is the first parser; the
 * connection's first bytes choose it (proto_detect).
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stdint.h>

enum proto_dir {
	PROTO_TX = 0, /* requests, written by the process */
	PROTO_RX = 1, /* responses, read by the process */
};

/* A completed call. Strings are NUL-terminated and valid during the callback only. */
struct proto_call {
	const char *method; /* as sent, e.g. "GET" */
	const char *host;   /* Host / :authority, or from an absolute-form target; "" if none */
	const char *target; /* request-target as sent (query included), maybe cut */
	bool target_truncated;
	int status;	   /* final status code; 0 when the connection ended before one */
	uint64_t start_ns; /* timestamp of the write that carried the request's first byte */
	uint64_t end_ns;   /* timestamp of the read that carried the response's last byte */
};

typedef void (*proto_call_cb)(const struct proto_call *call, void *ctx);

/*
 * One protocol's connection tracker. Every function takes the object made by
 * conn_new. feed() returns 0 when the bytes were consumed (or ignored while
 * resynchronising), -EPROTO when they broke the stream (counted; the
 * connection recovers at the next request), -EPROTONOSUPPORT when the stream
 * is not this protocol at all (the connection is then ignored).
 * flags are PROTO_F_* (how the kernel copied the bytes; HTTP/2 only).
 * skip_until() is the stream offset in DIR below which the parser needs no
 * bytes (0: it needs them all): the kernel then counts body bytes instead of
 * copying them. PROTO_SKIP_TO_REQUEST (in PROTO_TX): the parser needs no
 * byte of either direction until a write that starts a request
 * (proto_request_start), and every byte from that write on.
 */
#define PROTO_SKIP_TO_REQUEST (UINT64_MAX - 1)
struct proto_parser {
	const char *name;
	void *(*conn_new)(proto_call_cb cb, void *ctx, void *stats);
	void (*conn_free)(void *conn);
	int (*feed)(void *conn, enum proto_dir dir, uint64_t ts_ns, uint64_t stream_off,
		    uint32_t len, uint32_t skip, const uint8_t *data, uint32_t data_len,
		    unsigned flags);
	void (*close)(void *conn, uint64_t ts_ns);
	uint64_t (*skip_until)(const void *conn, enum proto_dir dir);
};

/*
 * How the kernel copied an HTTP/2 call's bytes (tls_trace.h TLS_EVF_*):
 * FRAMED: data is the call minus DATA frame payloads, and skip is how many
 * real bytes precede the first frame header starting in the call (len when
 * none does); TAIL_DATA: those bytes are a DATA payload's tail (so none of
 * them is in data); CUT: data ends before the framed bytes did.
 */
#define PROTO_F_FRAMED	  1u
#define PROTO_F_CUT	  2u
#define PROTO_F_TAIL_DATA 4u

enum proto_kind {
	PROTO_UNKNOWN, /* not enough bytes yet to tell */
	PROTO_HTTP1,
	PROTO_HTTP2, /* the client connection preface */
	/* An HTTP/2 connection whose preface we did not see (opened before
	 * the daemon started, or before its process was armed): its first
	 * write seen is a request's HEADERS frame (see proto_detect). */
	PROTO_HTTP2_LATE,
	/* Not HTTP: another protocol's command ("EHLO x", "USER x"), or a
	 * first line that does not end in an HTTP/1 version. */
	PROTO_OTHER,
};

/*
 * What a connection speaks, from the first bytes it wrote (stream offset 0).
 * HTTP/2 joined late: a HEADERS frame (flags END_STREAM, END_HEADERS,
 * PADDED, PRIORITY only; odd stream id; 1..16384 bytes) whose header block
 * starts (after an optional one-byte table size update) with a field named
 * by static entries 1-7 (:authority, :method, :path, :scheme) or by a
 * dynamic entry (a method like DELETE, once inserted): a client's request.
 * A server's HEADERS usually starts with :status (8-14); one taken in by
 * the dynamic-entry case reports nothing (its blocks hold no :method). The kernel applies
 * the same rule to let such a connection in (tls_trace.bpf.c).
 */
enum proto_kind proto_detect(const uint8_t *data, uint32_t len);

/*
 * Do these bytes start like an HTTP/1 request: an HTTP method
 * (tls_http_method, the kernel's list), a space, a target's first byte
 * (tls_target_start) unless the bytes end before it? The kernel's test for a
 * client's first write, and where HTTP/1 resynchronises after a loss.
 */
bool proto_request_start(const uint8_t *data, uint32_t len);

/*
 * The first bytes an HTTP/1 client read on a connection (stream offset 0 of
 * its reads) can only be a response: "HTTP/1.1 200 ...". A greeting or reply
 * of another protocol ("220 ", "+OK", "* OK") says the connection is not
 * HTTP. False only when the bytes cannot start "HTTP/".
 */
bool proto_reply_may_be_http(const uint8_t *data, uint32_t len);

#endif /* PROTO_H */
