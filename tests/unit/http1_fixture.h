/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One HTTP/1 connection under test (src/http1.c), shared by the unit tests
 * of the parser: the calls it reports, recorded, and both streams fed as
 * the session feeds them (offsets, copied bytes, bytes not copied).
 * Include after <cmocka.h>.
 */
#ifndef HTTP1_FIXTURE_H
#define HTTP1_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include "http1.h"

#define MAX_CALLS 256

struct rec_call {
	char method[32];
	char host[HTTP1_HOST_MAX + 1];
	char target[HTTP1_TARGET_MAX + 1];
	bool target_truncated;
	int status;
	uint64_t start_ns;
	uint64_t end_ns;
};

/* One connection under test, with the offsets of both streams. */
struct tc {
	struct http1_conn *c;
	struct http1_stats st;
	uint64_t off[2];
	int n;
	struct rec_call calls[MAX_CALLS];
};

static void record(const struct proto_call *call, void *ctx)
{
	struct tc *t = ctx;
	struct rec_call *r;

	assert_non_null(call->method);
	assert_non_null(call->host);
	assert_non_null(call->target);
	assert_true(strlen(call->host) <= HTTP1_HOST_MAX);
	assert_true(strlen(call->target) <= HTTP1_TARGET_MAX);
	assert_true(t->n < MAX_CALLS);
	r = &t->calls[t->n++];
	snprintf(r->method, sizeof(r->method), "%s", call->method);
	memcpy(r->host, call->host, strlen(call->host) + 1);
	memcpy(r->target, call->target, strlen(call->target) + 1);
	r->target_truncated = call->target_truncated;
	r->status = call->status;
	r->start_ns = call->start_ns;
	r->end_ns = call->end_ns;
}

static int setup(void **state)
{
	struct tc *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->c = http1_conn_new(record, t, &t->st);
	assert_non_null(t->c);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tc *t = *state;

	http1_conn_free(t->c);
	free(t);
	return 0;
}

/* Feed @n bytes of @buf as one fully copied event. */
static inline int feed_n(struct tc *t, enum proto_dir dir, uint64_t ts, const void *buf, uint32_t n)
{
	int ret = http1_conn_feed(t->c, dir, ts, t->off[dir], n, 0, buf, n);

	t->off[dir] += n;
	return ret;
}

static inline int feed(struct tc *t, enum proto_dir dir, uint64_t ts, const char *s)
{
	return feed_n(t, dir, ts, s, strlen(s));
}

/* Feed an event of @len bytes none of which were copied. */
static inline int feed_hole(struct tc *t, enum proto_dir dir, uint64_t ts, uint32_t len)
{
	int ret = http1_conn_feed(t->c, dir, ts, t->off[dir], len, len, NULL, 0);

	t->off[dir] += len;
	return ret;
}

static inline void check_call(const struct tc *t, int i, const char *method, const char *host,
		       const char *target, int status, uint64_t start, uint64_t end)
{
	const struct rec_call *r = &t->calls[i];

	assert_true(i < t->n);
	assert_string_equal(r->method, method);
	assert_string_equal(r->host, host);
	assert_string_equal(r->target, target);
	assert_false(r->target_truncated);
	assert_int_equal(r->status, status);
	assert_int_equal(r->start_ns, start);
	assert_int_equal(r->end_ns, end);
}

#endif /* HTTP1_FIXTURE_H */
