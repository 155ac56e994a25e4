// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for src/http1.c (HTTP/1 exchange tracking over llhttp). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"
#include "http1_fixture.h"
#include "http1_pending.h"

static void check_stats(const struct tc *t, uint64_t malformed, uint64_t unanswered,
			uint64_t not_http1)
{
	assert_int_equal(t->st.malformed, malformed);
	assert_int_equal(t->st.unanswered, unanswered);
	assert_int_equal(t->st.not_http1, not_http1);
}

static const char get_req[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n"
			      "User-Agent: test\r\n\r\n";
static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			      "Content-Type: text/plain\r\n\r\nhello";

static void test_simple_get(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 100, get_req), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(feed(t, PROTO_RX, 250, ok_resp), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 100, 250);
	http1_conn_close(t->c, 300);
	assert_int_equal(t->n, 1);
	check_stats(t, 0, 0, 0);
}

static void test_keep_alive(void **state)
{
	struct tc *t = *state;
	static const char *paths[] = {"/a", "/b?x=1", "/c"};
	char buf[256];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: h%d.test\r\n\r\n", paths[i],
			 i);
		assert_int_equal(feed(t, PROTO_TX, 1000 * i + 1, buf), 0);
		snprintf(buf, sizeof(buf), "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%.*s",
			 200 + i, i * 3, i * 3, "abcdefghi");
		assert_int_equal(feed(t, PROTO_RX, 1000 * i + 7, buf), 0);
		assert_int_equal(t->n, i + 1);
	}
	check_call(t, 0, "GET", "h0.test", "/a", 200, 1, 7);
	check_call(t, 1, "GET", "h1.test", "/b?x=1", 201, 1001, 1007);
	check_call(t, 2, "GET", "h2.test", "/c", 202, 2001, 2007);
	check_stats(t, 0, 0, 0);
}

static void test_request_split(void **state)
{
	struct tc *t = *state;
	size_t n = strlen(get_req);

	assert_int_equal(feed_n(t, PROTO_TX, 10, get_req, 5), 0);
	assert_int_equal(feed_n(t, PROTO_TX, 11, get_req + 5, 20), 0);
	assert_int_equal(feed_n(t, PROTO_TX, 12, get_req + 25, n - 25), 0);
	assert_int_equal(feed(t, PROTO_RX, 20, ok_resp), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 10, 20);
}

static void test_request_byte_by_byte(void **state)
{
	struct tc *t = *state;
	const char req[] = "POST /upload?id=7 HTTP/1.1\r\nhOsT:  \t api.example.org:8443 \t\r\n"
			   "Content-Length: 4\r\n\r\nbody";
	size_t i, n = strlen(req);

	for (i = 0; i < n; i++)
		assert_int_equal(feed_n(t, PROTO_TX, 100 + i, req + i, 1), 0);
	for (i = 0; i < strlen(ok_resp); i++)
		assert_int_equal(feed_n(t, PROTO_RX, 1000 + i, ok_resp + i, 1), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "POST", "api.example.org:8443", "/upload?id=7", 200, 100,
		   1000 + strlen(ok_resp) - 1);
	check_stats(t, 0, 0, 0);
}

/* Split @resp in two events at every position; the second one ends it. */
static void split_everywhere(const char *resp)
{
	size_t k, n = strlen(resp);

	for (k = 1; k < n; k++) {
		struct tc *t;

		setup((void **)&t);
		assert_int_equal(feed(t, PROTO_TX, 5, get_req), 0);
		assert_int_equal(feed_n(t, PROTO_RX, 10, resp, k), 0);
		assert_int_equal(t->n, 0);
		assert_int_equal(feed_n(t, PROTO_RX, 20, resp + k, n - k), 0);
		assert_int_equal(t->n, 1);
		check_call(t, 0, "GET", "example.com", "/index.html", 200, 5, 20);
		check_stats(t, 0, 0, 0);
		teardown((void **)&t);
	}
}

static const char chunked_resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5;ext=1\r\nhello\r\n"
				   "6;a;b=\"c d\"\r\n world\r\n"
				   "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";

static void test_response_split(void **state)
{
	(void)state;
	split_everywhere(ok_resp);
	split_everywhere(chunked_resp);
}

static void test_chunked(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, chunked_resp), 0);
	assert_int_equal(feed(t, PROTO_TX, 3, "GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 4, ok_resp), 0);
	assert_int_equal(t->n, 2);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 2);
	check_call(t, 1, "GET", "example.com", "/next", 200, 3, 4);
	check_stats(t, 0, 0, 0);
}

static void test_head(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n"),
			 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "HEAD", "h", "/big", 200, 1, 2);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	/* The stream is still in step: the next response is parsed. */
	assert_int_equal(feed(t, PROTO_TX, 3, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 4, ok_resp), 0);
	assert_int_equal(t->n, 2);
	check_call(t, 1, "GET", "example.com", "/index.html", 200, 3, 4);
	check_stats(t, 0, 0, 0);
}

static void test_continue(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 10,
			      "PUT /obj HTTP/1.1\r\nHost: s3.test\r\nExpect: 100-continue\r\n"
			      "Content-Length: 10\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 20, "HTTP/1.1 100 Continue\r\n\r\n"), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(feed(t, PROTO_TX, 30, "0123456789"), 0);
	assert_int_equal(
	    feed(t, PROTO_RX, 40, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(feed(t, PROTO_RX, 50, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
			 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "PUT", "s3.test", "/obj", 201, 10, 50);
	check_stats(t, 0, 0, 0);
}

/* A server may answer before the request body was sent. */
static void test_early_response(void **state)
{
	struct tc *t = *state;

	assert_int_equal(
	    feed(t, PROTO_TX, 10, "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"),
	    0);
	assert_int_equal(
	    feed(t, PROTO_RX, 20, "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "POST", "h", "/up", 413, 10, 20);
}

static void test_204_304(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_TX, 3, "GET /y HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(
	    feed(t, PROTO_RX, 4, "HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_TX, 5, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 6, ok_resp), 0);
	assert_int_equal(t->n, 3);
	check_call(t, 0, "DELETE", "h", "/x", 204, 1, 2);
	check_call(t, 1, "GET", "h", "/y", 304, 3, 4);
	check_call(t, 2, "GET", "example.com", "/index.html", 200, 5, 6);
	check_stats(t, 0, 0, 0);
}

static void test_http10_until_close(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, "GET /old HTTP/1.0\r\nHost: legacy\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\npart1"), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), UINT64_MAX);
	assert_int_equal(feed(t, PROTO_RX, 3, "part2"), 0);
	assert_int_equal(feed_hole(t, PROTO_RX, 4, 100000), 0);
	assert_int_equal(t->n, 0);
	http1_conn_close(t->c, 99);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "legacy", "/old", 200, 1, 4);
	check_stats(t, 0, 0, 0);
}

static void test_absolute_form(void **state)
{
	struct tc *t = *state;

	assert_int_equal(
	    feed(t, PROTO_TX, 1,
		 "GET http://user:pw@proxy.example:8080/a/b?x=1 HTTP/1.1\r\n"
		 "Host: ignored.example\r\n\r\n"
		 "GET https://example.com HTTP/1.1\r\n\r\n"
		 "OPTIONS http://example.net?q=2 HTTP/1.1\r\nHost: example.net\r\n\r\n"),
	    0);
	assert_int_equal(feed(t, PROTO_RX, 2,
			      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			      "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n"
			      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			 0);
	assert_int_equal(t->n, 3);
	check_call(t, 0, "GET", "proxy.example:8080", "/a/b?x=1", 200, 1, 2);
	check_call(t, 1, "GET", "example.com", "/", 301, 1, 2);
	check_call(t, 2, "OPTIONS", "example.net", "/?q=2", 200, 1, 2);
	check_stats(t, 0, 0, 0);
}

static void test_query_kept(void **state)
{
	struct tc *t = *state;

	assert_int_equal(
	    feed(t, PROTO_TX, 1, "GET /search?q=a%20b&lang=en#frag HTTP/1.1\r\nHost: h\r\n\r\n"),
	    0);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "h", "/search?q=a%20b&lang=en#frag", 200, 1, 2);
}

static void test_target_truncated(void **state)
{
	struct tc *t = *state;
	static char req[HTTP1_TARGET_MAX + 200];
	size_t n;

	n = (size_t)snprintf(req, sizeof(req), "GET /");
	memset(req + n, 'a', HTTP1_TARGET_MAX + 50);
	n += HTTP1_TARGET_MAX + 50;
	n += (size_t)snprintf(req + n, sizeof(req) - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(feed_n(t, PROTO_TX, 1, req, n), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(t->n, 1);
	assert_true(t->calls[0].target_truncated);
	assert_int_equal(strlen(t->calls[0].target), HTTP1_TARGET_MAX);
	assert_memory_equal(t->calls[0].target, req + 4, HTTP1_TARGET_MAX);
}

static void test_pipelined(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1,
			      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
			      "HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
			      "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "3\r\nabc\r\n0\r\n\r\n"
			      "GET /4 HTTP/1.1\r\nHost: h\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 2,
			      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
			      "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
			      "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
			      "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nn"),
			 0);
	assert_int_equal(t->n, 3);
	assert_int_equal(feed(t, PROTO_RX, 3, "o"), 0);
	assert_int_equal(t->n, 4);
	check_call(t, 0, "GET", "h", "/1", 200, 1, 2);
	check_call(t, 1, "HEAD", "h", "/2", 200, 1, 2);
	check_call(t, 2, "POST", "h", "/3", 201, 1, 2);
	check_call(t, 3, "GET", "h", "/4", 404, 1, 3);
	check_stats(t, 0, 0, 0);
}

static void test_gap_resync(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012"),
			 0);
	/* An RX event was lost, with the body's end (test_http1_gaps.c: a
	 * loss inside a body is passed over). */
	t->off[PROTO_RX] += 7;
	assert_int_equal(feed(t, PROTO_RX, 3, "789"), -EPROTO);
	check_stats(t, 1, 1, 0);
	/* Ignored until a write starts a request: the kernel copies nothing. */
	assert_true(http1_conn_skip_until(t->c, PROTO_TX) == PROTO_SKIP_TO_REQUEST);
	assert_true(http1_conn_skip_until(t->c, PROTO_RX) == UINT64_MAX);
	assert_int_equal(feed(t, PROTO_TX, 4, "garbage"), 0);
	assert_int_equal(feed(t, PROTO_RX, 5, "HTTP/1.1 200 OK\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_TX, 6, "GET /again HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 7, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "h", "/again", 200, 6, 7);
	check_stats(t, 1, 1, 0);
}

/* A gap in the requests, where the next write starts a request. */
static void test_gap_tx(void **state)
{
	struct tc *t = *state;

	t->off[PROTO_TX] = 500;
	assert_int_equal(feed(t, PROTO_TX, 1, get_req), -EPROTO);
	check_stats(t, 1, 0, 0);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 2);
}

static void test_duplicate_overlap(void **state)
{
	struct tc *t = *state;
	size_t n = strlen(get_req);

	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 1, 0, 10, 0, (const uint8_t *)get_req, 10),
			 0);
	/* Same event again, then one that overlaps the first. */
	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 2, 0, 10, 0, (const uint8_t *)get_req, 10),
			 0);
	assert_int_equal(
	    http1_conn_feed(t->c, PROTO_TX, 3, 4, n - 4, 0, (const uint8_t *)get_req + 4, n - 4),
	    0);
	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 4, 0, n, 0, (const uint8_t *)get_req, n),
			 0);
	t->off[PROTO_TX] = n;
	assert_int_equal(feed(t, PROTO_RX, 5, ok_resp), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 5);
	check_stats(t, 0, 0, 0);
}

static void test_garbage(void **state)
{
	struct tc *t = *state;
	const uint8_t junk[] = {0x16, 0x03, 0x01, 0x00, 0xff, 'G', 'E', 'T', ' ', 0};

	assert_int_equal(feed_n(t, PROTO_TX, 1, junk, sizeof(junk)), -EPROTO);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(feed(t, PROTO_TX, 3, "get / HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(t->n, 0);
	check_stats(t, 1, 0, 0);
}

static void test_bad_response(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
			 -EPROTO);
	assert_int_equal(t->n, 0);
	check_stats(t, 1, 1, 0);
}

static void test_giant_header(void **state)
{
	struct tc *t = *state;
	static char big[HTTP1_HEAD_MAX + 1024];
	size_t n;
	int i, ret = 0;

	/* In one event. */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(big + n, 'x', sizeof(big) - n - 4);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	assert_int_equal(feed_n(t, PROTO_TX, 1, big, sizeof(big)), -EPROTO);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(t->n, 0);
	check_stats(t, 1, 0, 0);

	/* Across many events: fails before the end of the head. */
	assert_int_equal(feed(t, PROTO_TX, 3, "GET / HTTP/1.1\r\n"), 0);
	for (i = 0; i < 100 && !ret; i++)
		ret = feed(t, PROTO_TX, 4,
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n"
			   "X-Many: 0123456789012345678901234567890123456789\r\n");
	assert_int_equal(ret, -EPROTO);
	assert_true(i > 70);
	assert_int_equal(feed(t, PROTO_TX, 5, "\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 6, ok_resp), 0);
	assert_int_equal(t->n, 0);
	check_stats(t, 2, 0, 0);
}

static void test_bad_host(void **state)
{
	struct tc *t = *state;
	char req[HTTP1_HOST_MAX + 100];

	/* Too long. */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %0*d\r\n\r\n", HTTP1_HOST_MAX + 1, 7);
	assert_int_equal(feed(t, PROTO_TX, 1, req), -EPROTO);
	check_stats(t, 1, 0, 0);
	/* Exactly the maximum, with whitespace around it. */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost:  %0*d  \r\n\r\n", HTTP1_HOST_MAX, 7);
	assert_int_equal(feed(t, PROTO_TX, 2, req), 0);
	assert_int_equal(feed(t, PROTO_RX, 3, ok_resp), 0);
	assert_int_equal(t->n, 1);
	assert_int_equal(strlen(t->calls[0].host), HTTP1_HOST_MAX);
	/* Twice. */
	assert_int_equal(feed(t, PROTO_TX, 4, "GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n"),
			 -EPROTO);
	check_stats(t, 2, 0, 0);
	/* Split over events, and a header that only starts like Host. */
	assert_int_equal(feed(t, PROTO_TX, 5, "GET /s HTTP/1.1\r\nHosts: no\r\nHo"), 0);
	assert_int_equal(feed(t, PROTO_TX, 6, "St: sp"), 0);
	assert_int_equal(feed(t, PROTO_TX, 7, "lit.example \r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 8, ok_resp), 0);
	assert_int_equal(t->n, 2);
	check_call(t, 1, "GET", "split.example", "/s", 200, 5, 8);
	/* No Host at all. */
	assert_int_equal(feed(t, PROTO_TX, 9, "GET /n HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(feed(t, PROTO_RX, 10, ok_resp), 0);
	check_call(t, 2, "GET", "", "/n", 200, 9, 10);
}

static void test_h2_preface(void **state)
{
	struct tc *t = *state;
	const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04";

	assert_int_equal(feed_n(t, PROTO_TX, 1, preface, sizeof(preface)), -EPROTONOSUPPORT);
	check_stats(t, 0, 0, 1);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), -EPROTONOSUPPORT);
	assert_int_equal(feed(t, PROTO_TX, 3, get_req), -EPROTONOSUPPORT);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_TX), UINT64_MAX);
	assert_int_equal(t->n, 0);
	check_stats(t, 0, 0, 1);
}

/* The preface split over writes is still recognised (by llhttp). */
static void test_h2_preface_split(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, "PRI * HT"), 0);
	assert_int_equal(feed(t, PROTO_TX, 2, "TP/2.0\r\n\r\nSM\r\n\r\n"), -EPROTONOSUPPORT);
	check_stats(t, 0, 0, 1);
}

static void test_skip_content_length(void **state)
{
	struct tc *t = *state;
	const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	uint64_t head_end = strlen(head), left = 100000, ts = 20;

	assert_int_equal(feed(t, PROTO_TX, 10, get_req), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_TX), 0);
	assert_int_equal(feed(t, PROTO_RX, ts, head), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), head_end + 100000);
	while (left) {
		uint32_t k = left < 16384 ? left : 16384;

		assert_int_equal(t->n, 0);
		assert_int_equal(feed_hole(t, PROTO_RX, ++ts, k), 0);
		left -= k;
		if (left)
			assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), head_end + 100000);
	}
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 10, ts);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	check_stats(t, 0, 0, 0);
}

/* The kernel copies part of a skippable region anyway, and skips a prefix. */
static void test_skip_partial_copy(void **state)
{
	struct tc *t = *state;
	const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	const uint8_t tail[] = "89";

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, head), 0);
	assert_int_equal(feed(t, PROTO_RX, 3, "0123"), 0);
	assert_int_equal(http1_conn_feed(t->c, PROTO_RX, 4, t->off[PROTO_RX], 6, 4, tail, 2), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 4);
}

static void test_skip_request_body(void **state)
{
	struct tc *t = *state;
	const char head[] = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n";

	assert_int_equal(feed(t, PROTO_TX, 1, head), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_TX), strlen(head) + 70000);
	/* Copied prefix, then a hole tail. */
	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 2, t->off[PROTO_TX], 70000, 0,
					 (const uint8_t *)"abc", 3),
			 0);
	t->off[PROTO_TX] += 70000;
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_TX), 0);
	assert_int_equal(feed(t, PROTO_RX, 3, ok_resp), 0);
	check_call(t, 0, "POST", "h", "/p", 200, 1, 3);
}

static void test_skip_chunked(void **state)
{
	struct tc *t = *state;
	const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, head), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	/* A partial chunk size must not be trusted. */
	assert_int_equal(feed(t, PROTO_RX, 3, "80"), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	assert_int_equal(feed(t, PROTO_RX, 4, "00;x=y\r\n"), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), t->off[PROTO_RX] + 0x8000);
	assert_int_equal(feed_hole(t, PROTO_RX, 5, 0x5000), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), t->off[PROTO_RX] + 0x3000);
	assert_int_equal(feed_hole(t, PROTO_RX, 6, 0x3000), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	assert_int_equal(feed(t, PROTO_RX, 7, "\r\n10\r\n"), 0);
	assert_int_equal(feed_hole(t, PROTO_RX, 8, 0x10), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(feed(t, PROTO_RX, 9, "\r\n0\r\n\r\n"), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 9);
	check_stats(t, 0, 0, 0);
}

/* A hole where the parser is not in a body breaks the stream. */
static void test_hole_in_head(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\n"), 0);
	assert_int_equal(feed_hole(t, PROTO_RX, 3, 100), -EPROTO);
	assert_int_equal(t->n, 0);
	check_stats(t, 1, 1, 0);
}

/* 1 GB of body in 16 KB events, none copied. */
static void test_big_body(void **state)
{
	struct tc *t = *state;
	uint64_t total = 1ull << 30, left = total;
	uint64_t ts = 10;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(
	    feed(t, PROTO_RX, ts, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n"), 0);
	while (left) {
		assert_int_equal(feed_hole(t, PROTO_RX, ++ts, 16384), 0);
		left -= 16384;
	}
	/* And one 4 GB read. */
	assert_int_equal(feed(t, PROTO_TX, ++ts, get_req), 0);
	assert_int_equal(
	    feed(t, PROTO_RX, ++ts, "HTTP/1.1 200 OK\r\nContent-Length: 4294967295\r\n\r\n"), 0);
	assert_int_equal(feed_hole(t, PROTO_RX, ++ts, UINT32_MAX), 0);
	assert_int_equal(t->n, 2);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 10 + total / 16384);
	check_call(t, 1, "GET", "example.com", "/index.html", 200, ts - 2, ts);
}

static void test_upgrade(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1,
			      "GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
			      "Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 2,
			      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			      "Connection: Upgrade\r\n\r\n\x81\x05hello"),
			 -EPROTONOSUPPORT);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "ws.example", "/chat", 101, 1, 2);
	assert_int_equal(feed(t, PROTO_TX, 3, "\x81\x85\x01\x02\x03\x04xxxxx"), -EPROTONOSUPPORT);
	assert_int_equal(feed(t, PROTO_RX, 4, ok_resp), -EPROTONOSUPPORT);
	assert_int_equal(t->n, 1);
	check_stats(t, 0, 0, 1);
}

static void test_upgrade_declined(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1,
			      "GET /h2c HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
			      "Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAA\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 2, ok_resp), 0);
	assert_int_equal(feed(t, PROTO_TX, 3, get_req), 0);
	assert_int_equal(feed(t, PROTO_RX, 4, ok_resp), 0);
	assert_int_equal(t->n, 2);
	check_call(t, 0, "GET", "h", "/h2c", 200, 1, 2);
	check_call(t, 1, "GET", "example.com", "/index.html", 200, 3, 4);
	check_stats(t, 0, 0, 0);
}

static void test_connect(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1,
			      "CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n"),
			 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 Connection established\r\n\r\n"),
			 -EPROTONOSUPPORT);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "CONNECT", "db.example:5432", "db.example:5432", 200, 1, 2);
	assert_int_equal(feed(t, PROTO_TX, 3, "\x16\x03\x01"), -EPROTONOSUPPORT);
	check_stats(t, 0, 0, 1);
}

/* Pipelined as deep as kept: every response answers its own request. */
static void test_pending_deep(void **state)
{
	struct tc *t = *state;
	char buf[64];
	int i;

	for (int round = 0; round < 2; round++) {
		int n0 = t->n;

		for (i = 0; i < HTTP1_PENDING_MAX; i++) {
			snprintf(buf, sizeof(buf), "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
			assert_int_equal(feed(t, PROTO_TX, 1000 * round + 1 + i, buf), 0);
		}
		for (i = 0; i < HTTP1_PENDING_MAX; i++)
			assert_int_equal(feed(t, PROTO_RX, 1000 * round + 500 + i, ok_resp), 0);
		assert_int_equal(t->n, n0 + HTTP1_PENDING_MAX);
		for (i = 0; i < HTTP1_PENDING_MAX; i++) {
			snprintf(buf, sizeof(buf), "/%d", i);
			check_call(t, n0 + i, "GET", "h", buf, 200, 1000 * round + 1 + i,
				   1000 * round + 500 + i);
		}
	}
	check_stats(t, 0, 0, 0);
	assert_int_equal(t->st.too_deep, 0);
}

/*
 * One more than kept: the connection is no longer reported (a dropped
 * request would make every later response answer the wrong one). The old
 * code dropped the oldest request and reported /1 with /0's response.
 */
static void test_pending_overflow(void **state)
{
	struct tc *t = *state;
	char buf[64];
	int i;

	for (i = 0; i < HTTP1_PENDING_MAX; i++) {
		snprintf(buf, sizeof(buf), "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
		assert_int_equal(feed(t, PROTO_TX, 1 + i, buf), 0);
	}
	snprintf(buf, sizeof(buf), "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
	assert_int_equal(feed(t, PROTO_TX, 1 + i, buf), -EPROTONOSUPPORT);
	assert_int_equal(t->st.too_deep, 1);
	check_stats(t, 0, HTTP1_PENDING_MAX, 0);
	for (i = 0; i < HTTP1_PENDING_MAX + 1; i++)
		feed(t, PROTO_RX, 100 + i, ok_resp);
	assert_int_equal(t->n, 0);
}

static void test_close_unanswered(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, get_req), 0);
	assert_int_equal(feed(t, PROTO_TX, 2, get_req), 0);
	/* A response cut by the close completes at its last byte seen (the
	 * spec: when the end cannot be known, the last byte seen counts); the
	 * second request never got an answer. */
	assert_int_equal(feed(t, PROTO_RX, 3, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
			 0);
	http1_conn_close(t->c, 4);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "example.com", "/index.html", 200, 1, 3);
	check_stats(t, 0, 1, 0);
	/* Nothing more after the close. */
	assert_int_equal(feed(t, PROTO_RX, 5, "def"), 0);
	http1_conn_close(t->c, 6);
	assert_int_equal(t->n, 1);
	check_stats(t, 0, 1, 0);
}

static void test_orphan_response(void **state)
{
	struct tc *t = *state;

	assert_int_equal(
	    feed(t, PROTO_RX, 1, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_int_equal(t->n, 0);
	check_stats(t, 0, 0, 0);
}

static void test_bad_args(void **state)
{
	struct tc *t = *state;

	/* Lengths that contradict each other are clamped, not trusted. */
	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 1, 0, 3, 10, (const uint8_t *)"GET", 3),
			 -EPROTO);
	assert_int_equal(http1_conn_feed(t->c, PROTO_TX, 1, UINT64_MAX - 1, 10, 0,
					 (const uint8_t *)"GET / HTTP", 10),
			 0);
	assert_int_equal(http1_conn_feed(t->c, 7, 1, 0, 1, 0, (const uint8_t *)"G", 1), -EINVAL);
	assert_int_equal(http1_conn_skip_until(NULL, PROTO_TX), 0);
	http1_conn_close(NULL, 0);
	http1_conn_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(test_simple_get),
	    T(test_keep_alive),
	    T(test_request_split),
	    T(test_request_byte_by_byte),
	    T(test_response_split),
	    T(test_chunked),
	    T(test_head),
	    T(test_continue),
	    T(test_early_response),
	    T(test_204_304),
	    T(test_http10_until_close),
	    T(test_absolute_form),
	    T(test_query_kept),
	    T(test_target_truncated),
	    T(test_pipelined),
	    T(test_pending_deep),
	    T(test_gap_resync),
	    T(test_gap_tx),
	    T(test_duplicate_overlap),
	    T(test_garbage),
	    T(test_bad_response),
	    T(test_giant_header),
	    T(test_bad_host),
	    T(test_h2_preface),
	    T(test_h2_preface_split),
	    T(test_skip_content_length),
	    T(test_skip_partial_copy),
	    T(test_skip_request_body),
	    T(test_skip_chunked),
	    T(test_hole_in_head),
	    T(test_big_body),
	    T(test_upgrade),
	    T(test_upgrade_declined),
	    T(test_connect),
	    T(test_pending_overflow),
	    T(test_close_unanswered),
	    T(test_orphan_response),
	    T(test_bad_args),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
