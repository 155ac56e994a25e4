/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The requests of one HTTP/1 connection that wait for their responses, in
 * the order they were sent (responses answer them in that order). Grown as
 * needed: most connections hold one request at a time, so each holds only
 * what its requests use (the target and Host as long as they are), and a
 * pipelining client gets room up to HTTP1_PENDING_MAX.
 */
#ifndef HTTP1_PENDING_H
#define HTTP1_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests sent but not yet answered (pipelining) kept per connection. A
 * connection with more stops being reported: a dropped request would make
 * every later response answer the wrong one. */
#define HTTP1_PENDING_MAX 64

struct h1_pending_req {
	uint64_t start_ns;
	uint8_t method; /* llhttp's enum llhttp_method */
	bool target_truncated;
	const char *host; /* in text, after the target */
	char text[];	  /* target, NUL, host, NUL */
};

struct h1_pending {
	struct h1_pending_req **slot; /* a ring of cap entries */
	unsigned head, count, cap;
};

/* Queue a request. 0, -ENOSPC (HTTP1_PENDING_MAX waiting), -ENOMEM. */
int h1_pending_push(struct h1_pending *q, uint64_t start_ns, uint8_t method, bool target_truncated,
		    const char *target, size_t target_len, const char *host, size_t host_len);

/* The oldest request, or NULL. */
struct h1_pending_req *h1_pending_front(const struct h1_pending *q);
void h1_pending_pop(struct h1_pending *q);

/* Drop every request; returns how many there were. The ring is kept. */
unsigned h1_pending_clear(struct h1_pending *q);
void h1_pending_free(struct h1_pending *q);

#endif /* HTTP1_PENDING_H */
