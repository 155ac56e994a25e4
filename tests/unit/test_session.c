// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The connection table: routing of ring buffer records to connections,
 * SSL* reuse, eviction, expiry, and what it tells the kernel to skip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "session.h"
#include "tls_event_fixture.h"

struct recorder {
	int calls;
	char last_method[16], last_target[256];
	uint32_t last_pid;
	uint64_t last_start, last_end;
	int skips;
	struct tls_conn_skip last_skip;
};

static void record_call(const struct traced_call *c, void *ctx)
{
	struct recorder *r = ctx;

	r->calls++;
	snprintf(r->last_method, sizeof(r->last_method), "%s", c->call->method);
	snprintf(r->last_target, sizeof(r->last_target), "%s", c->call->target);
	r->last_pid = c->pid;
	r->last_start = c->call->start_ns;
	r->last_end = c->call->end_ns;
}

static void record_skip(const struct tls_conn_key *key, const struct tls_conn_skip *skip, void *ctx)
{
	struct recorder *r = ctx;

	r->skips++;
	r->last_skip = *skip;
}

/* Build a DATA record the way the BPF side does. */
static struct tls_event *data_event(uint32_t pid, uint64_t ssl, uint64_t conn_id, int dir,
				    uint64_t ts, uint64_t off, const char *bytes, uint32_t len,
				    uint32_t skip)
{
	struct tls_conn_ref c = {.pid = pid, .ssl = ssl, .conn_id = conn_id, .comm = "client"};

	return tls_data_event(c, dir, ts, off, len, bytes ? bytes + skip : NULL, len - skip);
}

static void feed(struct session_table *t, struct tls_event *ev)
{
	session_handle_event(t, ev);
	free(ev);
}

static const char REQ[] = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

static void exchange(struct session_table *t, uint32_t pid, uint64_t ssl, uint64_t id,
		     uint64_t *off_tx, uint64_t *off_rx, uint64_t ts)
{
	feed(t, data_event(pid, ssl, id, TLS_DIR_TX, ts, *off_tx, REQ, strlen(REQ), 0));
	feed(t, data_event(pid, ssl, id, TLS_DIR_RX, ts + 100, *off_rx, RESP, strlen(RESP), 0));
	*off_tx += strlen(REQ);
	*off_rx += strlen(RESP);
}

static void test_routes_by_process_and_ssl(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	uint64_t tx1 = 0, rx1 = 0, tx2 = 0, rx2 = 0;

	/* Same SSL* value in two processes: two connections. */
	exchange(t, 10, 0x1000, 1, &tx1, &rx1, 1000);
	exchange(t, 11, 0x1000, 2, &tx2, &rx2, 2000);
	exchange(t, 10, 0x1000, 1, &tx1, &rx1, 3000);
	assert_int_equal(r.calls, 3);
	assert_string_equal(r.last_method, "GET");
	assert_string_equal(r.last_target, "/a?x=1");
	assert_int_equal(r.last_pid, 10);
	assert_int_equal(r.last_start, 3000);
	assert_int_equal(r.last_end, 3100);
	assert_int_equal(session_table_stats(t).active, 2);
	session_table_free(t);
}

static void test_close_and_reuse(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	struct tls_event close_ev = {.kind = TLS_EV_CLOSE, .tgid = 5, .ssl = 0x2000, .conn_id = 7};
	uint64_t tx = 0, rx = 0;

	exchange(t, 5, 0x2000, 7, &tx, &rx, 100);
	session_handle_event(t, &close_ev);
	assert_int_equal(session_table_stats(t).active, 0);
	/* A new connection at the same address starts from offset 0. */
	tx = rx = 0;
	exchange(t, 5, 0x2000, 8, &tx, &rx, 500);
	assert_int_equal(r.calls, 2);
	/* A close for the old connection id must not end the new one. */
	session_handle_event(t, &close_ev);
	assert_int_equal(session_table_stats(t).active, 1);
	/* Reuse without a close seen: the new id replaces the old session. */
	tx = rx = 0;
	exchange(t, 5, 0x2000, 9, &tx, &rx, 900);
	assert_int_equal(r.calls, 3);
	assert_int_equal(session_table_stats(t).active, 1);
	session_table_free(t);
}

static void test_eviction_is_bounded(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .ctx = &r};
	struct session_table *t = session_table_new(4, &ops);

	/* No share: one process fills this table (shares: test_session_share.c). */
	session_table_set_share(t, 1000);
	for (uint64_t i = 0; i < 100; i++)
		feed(t, data_event(1, 0x100 + i, i, TLS_DIR_TX, i, 0, REQ, strlen(REQ), 0));
	assert_int_equal(session_table_stats(t).active, 4);
	assert_int_equal(session_table_stats(t).evicted, 96);
	session_table_free(t);
}

static int never_alive(uint32_t pid)
{
	return 0;
}

static void test_expiry_of_exited_processes(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);

	feed(t, data_event(1, 0x1, 1, TLS_DIR_TX, 1000, 0, REQ, strlen(REQ), 0));
	feed(t, data_event(2, 0x1, 2, TLS_DIR_TX, 5000, 0, REQ, strlen(REQ), 0));
	session_expire(t, 6000, 4000, never_alive);
	assert_int_equal(session_table_stats(t).active, 1);
	assert_int_equal(session_table_stats(t).expired, 1);
	session_table_free(t);
}

/* A client that exits without closing TLS (node's process.exit()) while
 * its response runs until the connection closes: the call still counts. */
static void test_exit_ends_read_until_close(void **state)
{
	static const char resp[] = "HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n<html>";
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);

	feed(t, data_event(7, 0x1, 1, TLS_DIR_TX, 1000, 0, REQ, strlen(REQ), 0));
	feed(t, data_event(7, 0x1, 1, TLS_DIR_RX, 1500, 0, resp, strlen(resp), 0));
	feed(t, data_event(8, 0x1, 2, TLS_DIR_TX, 1600, 0, REQ, strlen(REQ), 0));
	assert_int_equal(r.calls, 0);
	session_close_pid(t, 7);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_pid, 7);
	assert_int_equal(r.last_end, 1500);
	assert_int_equal(session_table_stats(t).active, 1); /* pid 8's is untouched */
	session_table_free(t);
}

static void test_body_skip_reaches_kernel(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	uint64_t hl = strlen(head);

	feed(t, data_event(1, 0x1, 3, TLS_DIR_TX, 10, 0, REQ, strlen(REQ), 0));
	feed(t, data_event(1, 0x1, 3, TLS_DIR_RX, 20, 0, head, hl, 0));
	assert_true(r.skips >= 1);
	assert_int_equal(r.last_skip.until[TLS_DIR_RX], hl + 100000);
	assert_int_equal(r.last_skip.conn_id, 3);
	/* The body arrives as counted-only events. */
	for (uint64_t off = hl; off < hl + 100000; off += 16000) {
		uint32_t n = hl + 100000 - off < 16000 ? hl + 100000 - off : 16000;

		feed(t, data_event(1, 0x1, 3, TLS_DIR_RX, 30 + off, off, NULL, n, n));
	}
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_end, 30 + hl + 96000);
	session_table_free(t);
}

/* The preface picks the HTTP/2 parser: a request on static-table fields
 * and the response's END_STREAM make one call. */
static void test_http2_is_parsed(void **state)
{
	/* preface, HEADERS(stream 1, END_STREAM|END_HEADERS): :method GET
	 * (static 2), :scheme https (7), :path / (4), :authority "a" */
	static const char tx[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				 "\x00\x00\x06\x01\x05\x00\x00\x00\x01\x82\x87\x84\x41\x01\x61";
	/* HEADERS(stream 1, END_STREAM|END_HEADERS): :status 200 (static 8) */
	static const char rx[] = "\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88";
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);

	feed(t, data_event(1, 0x1, 4, TLS_DIR_TX, 10, 0, tx, sizeof(tx) - 1, 0));
	assert_int_equal(r.calls, 0);
	feed(t, data_event(1, 0x1, 4, TLS_DIR_RX, 20, 0, rx, sizeof(rx) - 1, 0));
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.last_method, "GET");
	assert_string_equal(r.last_target, "/");
	assert_int_equal(r.last_start, 10);
	assert_int_equal(r.last_end, 20);
	session_table_free(t);
}

/* The seam picks by the first bytes: a preface cut short is not yet HTTP/2,
 * an HTTP/2 frame that is no request is not HTTP (test_proto.c: the rest). */
static void test_protocol_detection(void **state)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	(void)state;
	assert_int_equal(proto_detect((const uint8_t *)preface, 24), PROTO_HTTP2);
	assert_int_equal(proto_detect((const uint8_t *)preface, 30), PROTO_HTTP2);
	assert_int_equal(proto_detect((const uint8_t *)preface, 3), PROTO_UNKNOWN);
	assert_int_equal(proto_detect((const uint8_t *)"GET / HTTP/1.1", 14), PROTO_HTTP1);
	assert_int_equal(proto_detect((const uint8_t *)"PROPFIND /", 10), PROTO_HTTP1);
	assert_int_equal(proto_detect((const uint8_t *)"", 0), PROTO_UNKNOWN);
	/* A request's HEADERS frame without the preface: HTTP/2 joined late
	 * (:method GET first); a response's (:status 200 first) is not. */
	assert_int_equal(
	    proto_detect((const uint8_t *)"\x00\x00\x02\x01\x05\x00\x00\x00\x03\x82\x84", 11),
	    PROTO_HTTP2_LATE);
	assert_int_equal(
	    proto_detect((const uint8_t *)"\x00\x00\x01\x01\x05\x00\x00\x00\x03\x88", 10),
	    PROTO_OTHER);
	/* Even stream ids are the server's. */
	assert_int_equal(
	    proto_detect((const uint8_t *)"\x00\x00\x02\x01\x05\x00\x00\x00\x02\x82\x84", 11),
	    PROTO_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes_by_process_and_ssl),
	    cmocka_unit_test(test_protocol_detection),
	    cmocka_unit_test(test_close_and_reuse),
	    cmocka_unit_test(test_eviction_is_bounded),
	    cmocka_unit_test(test_expiry_of_exited_processes),
	    cmocka_unit_test(test_exit_ends_read_until_close),
	    cmocka_unit_test(test_body_skip_reaches_kernel),
	    cmocka_unit_test(test_http2_is_parsed),
	};
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
