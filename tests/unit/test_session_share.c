// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The connection table shared fairly: a process over its share loses its
 * own least recently active connections, a full table takes from the
 * process holding the most, and the kernel is told to forget them too. */
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

#define FORGOTTEN_MAX 64

struct recorder {
	int calls;
	uint32_t last_pid;
	char last_target[64];
	unsigned nforgot;
	struct tls_conn_key forgot[FORGOTTEN_MAX];
	uint64_t forgot_id[FORGOTTEN_MAX];
	unsigned npids;
	uint32_t pids[16];
};

static void record_call(const struct traced_call *c, void *ctx)
{
	struct recorder *r = ctx;

	r->calls++;
	r->last_pid = c->pid;
	snprintf(r->last_target, sizeof(r->last_target), "%s", c->call->target);
}

static void record_forget(const struct tls_conn_key *key, uint64_t conn_id, void *ctx)
{
	struct recorder *r = ctx;

	if (r->nforgot < FORGOTTEN_MAX) {
		r->forgot[r->nforgot] = *key;
		r->forgot_id[r->nforgot] = conn_id;
	}
	r->nforgot++;
}

static void record_pid(uint32_t pid, void *ctx)
{
	struct recorder *r = ctx;

	if (r->npids < 16)
		r->pids[r->npids] = pid;
	r->npids++;
}

static const char HEAD[] = "GET /x HTTP/1.1\r\nHost: h\r\n"; /* never finished */
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static void feed(struct session_table *t, uint32_t pid, uint64_t ssl, int dir, uint64_t ts,
		 uint64_t off, const char *bytes)
{
	/* One id per connection. */
	struct tls_conn_ref c = {.pid = pid, .ssl = ssl, .conn_id = ssl * 10, .comm = "client"};
	uint32_t len = strlen(bytes);
	struct tls_event *ev = tls_data_event(c, dir, ts, off, len, bytes, len);

	session_handle_event(t, ev);
	free(ev);
}

/* A connection of pid starts a request head at ts. */
static void open_conn(struct session_table *t, uint32_t pid, uint64_t ssl, uint64_t ts)
{
	feed(t, pid, ssl, TLS_DIR_TX, ts, 0, HEAD);
}

static void test_over_share_loses_its_own_oldest(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .forget = record_forget, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	struct session_stats st;
	uint64_t ts = 1;

	(void)state;
	session_table_set_share(t, 4);
	/* pid 2's connections are the oldest of the table. */
	open_conn(t, 2, 0x1, ts++);
	open_conn(t, 2, 0x2, ts++);
	for (uint64_t i = 0; i < 10; i++)
		open_conn(t, 1, 0x100 + i, ts++);
	st = session_table_stats(t);
	assert_int_equal(st.active, 6);
	assert_int_equal(st.over_share, 6);
	assert_int_equal(st.evicted, 0);
	/* pid 1's oldest went, in order, and the kernel was told. */
	assert_int_equal(r.nforgot, 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(r.forgot[i].tgid, 1);
		assert_int_equal(r.forgot[i].ssl, 0x100 + i);
		assert_int_equal(r.forgot_id[i], (0x100 + i) * 10);
	}
	/* pid 2 is untouched: its connection still completes a call. */
	feed(t, 2, 0x1, TLS_DIR_TX, ts++, strlen(HEAD), "\r\n");
	feed(t, 2, 0x1, TLS_DIR_RX, ts++, 0, RESP);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_pid, 2);
	assert_string_equal(r.last_target, "/x");
	session_table_free(t);
}

/* The one to go is the least recently *active*, not the first opened. */
static void test_over_share_goes_by_activity(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .forget = record_forget, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	uint64_t ts = 1;

	(void)state;
	session_table_set_share(t, 4);
	for (uint64_t i = 0; i < 4; i++)
		open_conn(t, 1, 0x100 + i, ts++);
	/* The first one sends more of its head: now its most recent. */
	feed(t, 1, 0x100, TLS_DIR_TX, ts++, strlen(HEAD), "Accept: */*\r\n");
	open_conn(t, 1, 0x104, ts++);
	assert_int_equal(r.nforgot, 1);
	assert_int_equal(r.forgot[0].ssl, 0x101);
	/* ...and it still completes its call. */
	feed(t, 1, 0x100, TLS_DIR_TX, ts++, strlen(HEAD) + 13, "\r\n");
	feed(t, 1, 0x100, TLS_DIR_RX, ts++, 0, RESP);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.last_target, "/x");
	assert_int_equal(session_table_stats(t).active, 4);
	session_table_free(t);
}

static void test_full_table_takes_from_the_biggest(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .forget = record_forget, .ctx = &r};
	struct session_table *t = session_table_new(8, &ops);
	struct session_stats st;
	uint64_t ts = 1;

	(void)state;
	session_table_set_share(t, 8);
	/* pid 2's three are the oldest, pid 1 holds five: the table is full. */
	for (uint64_t i = 0; i < 3; i++)
		open_conn(t, 2, 0x200 + i, ts++);
	for (uint64_t i = 0; i < 5; i++)
		open_conn(t, 1, 0x100 + i, ts++);
	open_conn(t, 3, 0x300, ts++);
	st = session_table_stats(t);
	assert_int_equal(st.active, 8);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.over_share, 0);
	assert_int_equal(r.nforgot, 1);
	assert_int_equal(r.forgot[0].tgid, 1);
	assert_int_equal(r.forgot[0].ssl, 0x100);
	session_table_free(t);
}

/* An exit ends only that process's connections; the pids walked are
 * those of the processes holding some, once each. */
/* The default share is a fixed part of the table. */
static void test_default_share(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .forget = record_forget, .ctx = &r};
	struct session_table *t = session_table_new(SESSION_MAX, &ops);
	unsigned share = SESSION_MAX / SESSION_SHARE_DIV;

	(void)state;
	for (uint64_t i = 0; i < share + 10; i++)
		open_conn(t, 1, 0x1000 + i, i + 1);
	open_conn(t, 2, 0x1, share + 100);
	assert_int_equal(session_table_stats(t).active, share + 1);
	assert_int_equal(session_table_stats(t).over_share, 10);
	assert_int_equal(r.nforgot, 10);
	session_table_free(t);
}

static void test_processes_are_walked_once(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .ctx = &r};
	struct session_table *t = session_table_new(64, &ops);
	uint64_t ts = 1;

	(void)state;
	session_table_set_share(t, 64);
	for (uint64_t i = 0; i < 5; i++)
		open_conn(t, 7, 0x700 + i, ts++);
	open_conn(t, 8, 0x800, ts++);
	session_for_each_pid(t, record_pid, &r);
	assert_int_equal(r.npids, 2);
	session_close_pid(t, 7);
	assert_int_equal(session_table_stats(t).active, 1);
	r.npids = 0;
	session_for_each_pid(t, record_pid, &r);
	assert_int_equal(r.npids, 1);
	assert_int_equal(r.pids[0], 8);
	session_close_pid(t, 8);
	session_close_pid(t, 9); /* holds none */
	assert_int_equal(session_table_stats(t).active, 0);
	session_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_over_share_loses_its_own_oldest),
	    cmocka_unit_test(test_over_share_goes_by_activity),
	    cmocka_unit_test(test_full_table_takes_from_the_biggest),
	    cmocka_unit_test(test_default_share),
	    cmocka_unit_test(test_processes_are_walked_once),
	};
	return cmocka_run_group_tests_name("session_share", tests, NULL, NULL);
}
