// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lost records (the ring buffer was full: not even the record's header
 * fitted) in an HTTP/1 connection: inside a body whose length is known they
 * are passed over like bytes not copied, and the call is still reported;
 * anywhere else the connection resynchronises at the next request, and
 * the kernel copies nothing of it until then (PROTO_SKIP_TO_REQUEST).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "http1_fixture.h"
#include "session.h"
#include "tls_event_fixture.h"

static void lose(struct tc *t, enum proto_dir dir, uint64_t n)
{
	t->off[dir] += n;
}

static const char req[] = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n";

/* A record lost in the middle of a Content-Length body: the call is
 * reported, ending at the read of its real last byte. */
static void test_gap_inside_length_body(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123"),
			 0);
	lose(t, PROTO_RX, 90);
	assert_int_equal(feed(t, PROTO_RX, 5, "456789"), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "h", "/big", 200, 1, 5);
	assert_int_equal(t->st.gaps_bridged, 1);
	assert_int_equal(t->st.malformed, 0);
	/* The connection goes on. */
	assert_int_equal(feed(t, PROTO_TX, 6, req), 0);
	assert_int_equal(feed(t, PROTO_RX, 7, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
	assert_int_equal(t->n, 2);
}

/* The same inside chunk data, and inside a request's body. */
static void test_gap_inside_chunk_and_upload(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1,
			      "PUT /up HTTP/1.1\r\nHost: h\r\n"
			      "Content-Length: 50\r\n\r\nab"),
			 0);
	lose(t, PROTO_TX, 40);
	assert_int_equal(feed(t, PROTO_TX, 2, "cdefghij"), 0);
	assert_int_equal(feed(t, PROTO_RX, 3,
			      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "40\r\nxy"),
			 0);
	lose(t, PROTO_RX, 60);
	assert_int_equal(feed(t, PROTO_RX, 4, "zw\r\n0\r\n\r\n"), 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "PUT", "h", "/up", 200, 1, 4);
	assert_int_equal(t->st.gaps_bridged, 2);
	assert_int_equal(t->st.malformed, 0);
}

/* A loss that takes the body's last byte: its end time is lost with it,
 * the call is not reported (counted), and nothing is copied until the
 * next request; the one after it is reported exactly. */
static void test_gap_over_the_end(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123"),
			 0);
	lose(t, PROTO_RX, 6);
	assert_int_equal(feed(t, PROTO_RX, 9, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			 -EPROTO);
	assert_int_equal(t->n, 0);
	assert_int_equal(t->st.malformed, 1);
	assert_int_equal(t->st.unanswered, 1);
	assert_true(http1_conn_skip_until(t->c, PROTO_TX) == PROTO_SKIP_TO_REQUEST);
	assert_true(http1_conn_skip_until(t->c, PROTO_RX) == UINT64_MAX);
	/* What the kernel sends meanwhile: counted bytes only. */
	assert_int_equal(http1_conn_feed(t->c, PROTO_RX, 10, t->off[PROTO_RX], 5000, 5000, NULL, 0),
			 0);
	t->off[PROTO_RX] += 5000;
	assert_int_equal(feed(t, PROTO_TX, 11, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_TX), 0);
	assert_int_equal(http1_conn_skip_until(t->c, PROTO_RX), 0);
	assert_int_equal(feed(t, PROTO_RX, 12, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			 0);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "h", "/next", 200, 11, 12);
}

/* A close-delimited body: a loss costs nothing, the end is the last byte
 * seen anyway. */
static void test_gap_in_close_delimited_body(void **state)
{
	struct tc *t = *state;

	assert_int_equal(feed(t, PROTO_TX, 1, req), 0);
	assert_int_equal(feed(t, PROTO_RX, 2, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nab"), 0);
	lose(t, PROTO_RX, 70000);
	assert_int_equal(feed(t, PROTO_RX, 3, "cd"), 0);
	http1_conn_close(t->c, 9);
	assert_int_equal(t->n, 1);
	check_call(t, 0, "GET", "h", "/big", 200, 1, 3);
	assert_int_equal(t->st.malformed, 0);
}

struct recorder {
	int skips;
	struct tls_conn_skip last;
};

static void no_call(const struct traced_call *c, void *ctx)
{
	(void)c;
	(void)ctx;
}

static void record_skip(const struct tls_conn_key *key, const struct tls_conn_skip *skip, void *ctx)
{
	struct recorder *r = ctx;

	(void)key;
	r->skips++;
	r->last = *skip;
}

static void sfeed(struct session_table *t, int dir, uint64_t off, uint32_t len, const char *s)
{
	struct tls_conn_ref c = {.pid = 3, .ssl = 0x10, .conn_id = 9};
	struct tls_event *ev = tls_data_event(c, dir, 0, off, len, s, s ? strlen(s) : 0);

	session_handle_event(t, ev);
	free(ev);
}

/* The kernel is told to skip to the next request once per loss: it leaves
 * that mode by itself at the request, so a second loss tells it again. */
static void test_session_tells_kernel_each_time(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	struct recorder r = {0};
	struct session_ops ops = {.call = no_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(4, &ops);
	uint64_t tx = 0, rx = 0;

	(void)state;
	for (int round = 0; round < 2; round++) {
		sfeed(t, TLS_DIR_TX, tx, strlen(req), req);
		tx += strlen(req);
		sfeed(t, TLS_DIR_RX, rx, strlen(head), head);
		rx += strlen(head) + 10 + 100; /* the body and the next head lost */
		sfeed(t, TLS_DIR_RX, rx, 4, "abcd");
		rx += 4;
		assert_true(r.last.until[TLS_DIR_TX] == TLS_SKIP_TO_REQUEST);
		assert_int_equal(session_table_stats(t).skips_to_request, round + 1);
	}
	session_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_gap_inside_length_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_inside_chunk_and_upload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_over_the_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_in_close_delimited_body, setup, teardown),
	    cmocka_unit_test(test_session_tells_kernel_each_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
