// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Connections that are not HTTP: the method list the kernel and the daemon
 * share, detection on the first bytes written and read, and what the
 * connection table then tells the kernel (stop copying it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <llhttp.h>
#include "session.h"
#include "tls_event_fixture.h"

static bool starts_request(const char *s)
{
	return proto_request_start((const uint8_t *)s, strlen(s));
}

static enum proto_kind detect(const char *s)
{
	return proto_detect((const uint8_t *)s, strlen(s));
}

static bool may_be_http(const char *s)
{
	return proto_reply_may_be_http((const uint8_t *)s, strlen(s));
}

/* Every method llhttp parses (letters only: the kernel's test takes no
 * '-'), and none of the commands other client protocols start with. */
static void test_method_list(void **state)
{
	static const char *const others[] = {
	    "EHLO",   "HELO", "MAIL", "RCPT",  "DATA",	  "AUTH",	"STARTTLS",    "USER",
	    "PASS",   "CAPA", "STAT", "LIST",  "RETR",	  "APOP",	"FEAT",	       "PBSZ",
	    "PROT",   "EPSV", "STOR", "MODE",  "ARTICLE", "GROUP",	"CAPABILITY",  "LOGIN",
	    "SELECT", "GETS", "GE",   "POSTS", "OPTION",  "PROPPATCHX", "UNSUBSCRIBES"};
	char line[64];

	(void)state;
	for (int m = HTTP_DELETE; m <= HTTP_SOURCE; m++) {
		const char *name = llhttp_method_name(m);

		if (strchr(name, '-'))
			continue; /* M-SEARCH */
		snprintf(line, sizeof(line), "%s /x", name);
		if (!starts_request(line))
			fail_msg("llhttp's method %s is not in the list", name);
	}
	assert_true(starts_request("PRI * HTTP/2.0"));
	assert_true(starts_request("QUERY /q HTTP/1.1"));
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(line, sizeof(line), "%s x", others[i]);
		if (starts_request(line))
			fail_msg("%s taken for an HTTP method", others[i]);
	}
	assert_false(starts_request("GET")); /* no space yet */
	assert_false(starts_request("get / HTTP/1.1"));
	assert_false(starts_request("A001 CAPABILITY"));
	/* The target: '/', '*', absolute-form, or a host after CONNECT. */
	assert_true(starts_request("OPTIONS * HTTP/1.1"));
	assert_true(starts_request("GET https://h/p HTTP/1.1"));
	assert_true(starts_request("CONNECT h:443 HTTP/1.1"));
	assert_true(starts_request("GET "));
	assert_false(starts_request("DELETE FROM t;"));
	assert_false(starts_request("HEAD 1"));
	assert_false(starts_request("GET key"));
}

/* The first write: another protocol's command, or a first line without an
 * HTTP version, is not HTTP; a write too short to tell still is. */
static void test_first_write(void **state)
{
	(void)state;
	assert_int_equal(detect("EHLO client.example\r\n"), PROTO_OTHER);
	assert_int_equal(detect("USER anonymous\r\n"), PROTO_OTHER);
	assert_int_equal(detect("MAIL FROM:<a@b>\r\n"), PROTO_OTHER);
	assert_int_equal(detect("HEAD 1\r\n"), PROTO_OTHER);		 /* NNTP */
	assert_int_equal(detect("GET some-key\r\n"), PROTO_OTHER);	 /* inline command */
	assert_int_equal(detect("GET / HTTP/2.0\r\n\r\n"), PROTO_OTHER); /* not HTTP/1 */
	assert_int_equal(detect("\x16\x03\x01\x02"), PROTO_OTHER);
	assert_int_equal(detect("DELETE FROM t;\n"), PROTO_OTHER); /* an SQL dump */
	assert_int_equal(detect("CONNECT h:443 HTTP/1.1\r\n\r\n"), PROTO_HTTP1);
	assert_int_equal(detect("OPTIONS * HTTP/1.1\r\n\r\n"), PROTO_HTTP1);
	assert_int_equal(detect("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), PROTO_HTTP1);
	assert_int_equal(detect("GET / HTTP/1.0\n\n"), PROTO_HTTP1);
	assert_int_equal(detect("POST /upload?x=1 HTTP/1.1\r\n"), PROTO_HTTP1);
	/* Split writes: the request line continues in the next write. */
	assert_int_equal(detect("GET /a-long-path-cut-by-the-w"), PROTO_HTTP1);
	assert_int_equal(detect("GE"), PROTO_HTTP1);
	assert_int_equal(detect("GET "), PROTO_HTTP1);
}

/* The first read of an HTTP/1 client is a response. */
static void test_first_read(void **state)
{
	(void)state;
	assert_false(may_be_http("220 smtp.example ESMTP\r\n"));
	assert_false(may_be_http("250-smtp.example\r\n"));
	assert_false(may_be_http("+OK\r\n"));
	assert_false(may_be_http("* OK IMAP4rev1\r\n"));
	assert_false(may_be_http("331 password please\r\n"));
	assert_false(may_be_http("HTTX"));
	assert_true(may_be_http("HTTP/1.1 200 OK\r\n"));
	assert_true(may_be_http("HTTP/1.0 404 Not Found\r\n"));
	assert_true(may_be_http("HT")); /* a read cut short: cannot tell */
	assert_true(may_be_http(""));
}

struct recorder {
	int calls;
	int skips;
	struct tls_conn_skip last_skip;
};

static void record_call(const struct traced_call *c, void *ctx)
{
	(void)c;
	((struct recorder *)ctx)->calls++;
}

static void record_skip(const struct tls_conn_key *key, const struct tls_conn_skip *skip, void *ctx)
{
	struct recorder *r = ctx;

	(void)key;
	r->skips++;
	r->last_skip = *skip;
}

static void feed(struct session_table *t, int dir, uint64_t off, const char *s)
{
	struct tls_conn_ref c = {.pid = 7, .ssl = 0x1000, .conn_id = 5, .comm = "curl"};
	uint32_t len = strlen(s);
	struct tls_event *ev = tls_data_event(c, dir, 100 + off, off, len, s, len);

	session_handle_event(t, ev);
	free(ev);
}

static void assert_skips_all(const struct recorder *r)
{
	assert_true(r->skips >= 1);
	assert_true(r->last_skip.until[TLS_DIR_TX] == TLS_SKIP_ALL);
	assert_true(r->last_skip.until[TLS_DIR_RX] == TLS_SKIP_ALL);
	assert_int_equal(r->last_skip.conn_id, 5);
}

/* SMTP: "EHLO" let in (by an older kernel test): ignored at once, the
 * kernel told to stop copying; nothing later is a call, even HTTP. */
static void test_smtp_is_ignored(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	static const char tx2[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

	(void)state;
	feed(t, TLS_DIR_TX, 0, "EHLO me\r\n");
	assert_skips_all(&r);
	assert_int_equal(session_table_stats(t).not_http, 1);
	feed(t, TLS_DIR_RX, 0, "250 hello\r\n");
	feed(t, TLS_DIR_TX, 9, tx2);
	feed(t, TLS_DIR_RX, 11, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(r.calls, 0);
	assert_int_equal(r.skips, 1); /* told once, not again per record */
	assert_int_equal(session_table_stats(t).not_http, 1);
	assert_int_equal(session_table_stats(t).http1.malformed, 0);
	session_table_free(t);
}

/* A request-looking first write answered by another protocol's reply:
 * the connection is not HTTP, whatever it writes and reads next. */
static void test_reply_decides(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);
	static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	feed(t, TLS_DIR_TX, 0, req);
	assert_false(r.skips && r.last_skip.until[TLS_DIR_TX] == TLS_SKIP_ALL);
	feed(t, TLS_DIR_RX, 0, "+OK ready\r\n");
	assert_skips_all(&r);
	feed(t, TLS_DIR_RX, 11, resp);
	feed(t, TLS_DIR_TX, strlen(req), req);
	feed(t, TLS_DIR_RX, 11 + strlen(resp), resp);
	assert_int_equal(r.calls, 0);
	assert_int_equal(session_table_stats(t).not_http, 1);
	session_table_free(t);
}

/* HTTP/1 as before: one call, no skip of the whole connection. */
static void test_http1_still_reported(void **state)
{
	struct recorder r = {0};
	struct session_ops ops = {.call = record_call, .set_skip = record_skip, .ctx = &r};
	struct session_table *t = session_table_new(16, &ops);

	(void)state;
	feed(t, TLS_DIR_TX, 0, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	feed(t, TLS_DIR_RX, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(r.calls, 1);
	assert_int_equal(session_table_stats(t).not_http, 0);
	assert_false(r.skips && r.last_skip.until[TLS_DIR_TX] == TLS_SKIP_ALL);
	session_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_method_list),	  cmocka_unit_test(test_first_write),
	    cmocka_unit_test(test_first_read),	  cmocka_unit_test(test_smtp_is_ignored),
	    cmocka_unit_test(test_reply_decides), cmocka_unit_test(test_http1_still_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
