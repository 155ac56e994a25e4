// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The discovered-calls summary: templates, rows, folding, bounds, JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>
#include <jansson.h>
#include "call_json.h"
#include "call_rows_json.h"
#include "call_summary.h"
#include "call_template.h"

#define MS 1000000ull

/* ---- templates ------------------------------------------------------------ */

static void check_template(const char *path, const char *want)
{
	char out[CALL_TEMPLATE_MAX + 1];
	int n = call_template(path, out, sizeof(out));

	if (n < 0 || strcmp(out, want)) {
		print_error("template of %s: got %s, want %s\n", path, n < 0 ? "(error)" : out,
			    want);
		fail();
	}
	assert_int_equal(n, strlen(want));
}

static void test_template_folds_ids(void **state)
{
	check_template("/v1/customers/cus_9s6XKzkNRiz8i3/invoices", "/v1/customers/{id}/invoices");
	/* A Stripe id without a digit: mixed case, capitals in a row. */
	check_template("/v1/customers/cus_NffrFeUfNVxHib", "/v1/customers/{id}");
	check_template("/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15/refunds",
		       "/v1/charges/{id}/refunds");
	check_template("/users/12345", "/users/{id}");
	check_template("/users/0", "/users/{id}");
	check_template("/orders/123e4567-e89b-12d3-a456-426614174000/items/7",
		       "/orders/{id}/items/{id}");
	check_template("/blobs/3f786850e387550fdab836ed7e6dc881de23001b", "/blobs/{id}");
	check_template("/commits/5f3a9c1e", "/commits/{id}");
	check_template("/instances/i-0abcd1234ef567890/start", "/instances/{id}/start");
	check_template("/users/jane.doe@example.com/roles", "/users/{id}/roles");
	check_template("/users/jane.doe%40example.com/roles", "/users/{id}/roles");
	check_template("/reports/2024-01-15", "/reports/{id}");
	check_template("/hosts/10.0.0.1", "/hosts/{id}");
	check_template("/items/123.json", "/items/{id}.json");
	check_template("/tokens/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "/tokens/{id}");
	check_template("/orders/AB123456", "/orders/{id}");
	check_template("/objects/aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=", "/objects/{id}");
}

static void test_template_keeps_names(void **state)
{
	check_template("/", "/");
	check_template("*", "*");
	check_template("/v1/customers", "/v1/customers");
	check_template("/v2beta1/projects", "/v2beta1/projects");
	check_template("/oauth2/token", "/oauth2/token");
	check_template("/api/sha256/x86_64", "/api/sha256/x86_64");
	check_template("/debian/dists/bookworm/main/binary-amd64/Packages",
		       "/debian/dists/bookworm/main/binary-amd64/Packages");
	check_template("/v1/listPaymentMethods", "/v1/listPaymentMethods");
	check_template("/static/app.min.js", "/static/app.min.js");
	check_template("/hello/world/", "/hello/world/");
	check_template("//double//slash", "//double//slash");
	check_template("/facade/decade", "/facade/decade");
	check_template("/releases/1.2.3", "/releases/1.2.3");
	check_template("/v1/projects/p:batchGet", "/v1/projects/p:batchGet");
}

static void test_template_too_long(void **state)
{
	char path[600], out[CALL_TEMPLATE_MAX + 1];

	memset(path, 'x', sizeof(path) - 1);
	for (size_t i = 0; i < sizeof(path) - 1; i += 20)
		path[i] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_true(call_template(path, out, sizeof(out)) < 0);
	/* Ids fold first, so a long path of ids fits. */
	strcpy(path, "/a");
	for (int i = 0; i < 40; i++)
		strcat(path, "/123456789012");
	assert_true(call_template(path, out, sizeof(out)) > 0);
}

/* ---- rows ----------------------------------------------------------------- */

static int collect_cb(const struct call_row *row, void *ctx)
{
	char line[CALL_ROW_JSON_MAX], err[200] = "";
	int n = call_row_json(line, sizeof(line), row);

	/* Every row goes through its JSON form and back, as a client reads it. */
	assert_true(n > 0 && line[n - 1] == '\n');
	if (call_rows_add_json(ctx, line, n - 1, err, sizeof(err)))
		fail_msg("%.*s: %s", n - 1, line, err);
	return 0;
}

static struct call_rows *collect(const struct call_summary *s)
{
	struct call_rows *c = calloc(1, sizeof(*c));
	unsigned cursor = 0;

	assert_true(call_summary_walk(s, &cursor, collect_cb, c));
	return c;
}

static void uncollect(struct call_rows *c)
{
	call_rows_free(c);
	free(c);
}

static const struct call_row *find(const struct call_rows *c, const char *method, const char *host,
				   const char *template)
{
	for (unsigned i = 0; i < c->n; i++) {
		const struct call_row *r = &c->v[i];

		if (!strcmp(r->method, method) && !strcmp(r->host, host) &&
		    !strcmp(r->template, template))
			return r;
	}
	return NULL;
}

static uint64_t total(const struct call_rows *c)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < c->n; i++)
		n += c->v[i].count;
	return n;
}

static void add(struct call_summary *s, const char *method, const char *host, const char *path,
		int status, uint64_t ns, uint32_t pid, const char *comm, uint64_t when)
{
	struct call_seen c = {method, host, path, status, ns, pid, comm, when};

	call_summary_add(s, &c);
}

static void test_rows_count_errors_programs(void **state)
{
	struct call_summary *s = call_summary_new(64, 8);
	const char *comms[] = {"curl", "python3", "node", "java", "ruby"};
	uint64_t t0 = 1764662400ull * 1000000000ull; /* 2025-12-02T08:00:00Z */
	struct call_rows *c;
	const struct call_row *r;
	char id[64];

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "/v1/customers/cus_%dXk%dNRiz8i3/invoices", i, i * 7);
		add(s, "GET", "api.stripe.com", id,
		    i == 3   ? 404
		    : i == 4 ? 0
		    : i == 5 ? 503
			     : 200,
		    (10 + i) * MS, 100 + i, comms[i % 5], t0 + i * 1000000000ull);
	}
	add(s, "POST", "api.stripe.com", "/v1/customers", 200, 5 * MS, 1, "curl", t0);
	c = collect(s);
	assert_int_equal(c->n, 2);
	r = find(c, "GET", "api.stripe.com", "/v1/customers/{id}/invoices");
	assert_non_null(r);
	assert_int_equal(r->count, 10);
	assert_int_equal(r->errors, 3); /* 404, 503 and the one never answered */
	assert_int_equal(r->first_seen_ns, t0);
	assert_int_equal(r->last_seen_ns, t0 + 9 * 1000000000ull);
	assert_true(r->max_ms == 19.0);
	/* The first four programs keep their place; each its latest pids. */
	assert_int_equal(r->nprograms, 4);
	assert_string_equal(r->programs[0].comm, "curl");
	assert_int_equal(r->programs[0].npids, 2);
	assert_int_equal(r->programs[0].pids[0], 100);
	assert_int_equal(r->programs[0].pids[1], 105);
	assert_non_null(find(c, "POST", "api.stripe.com", "/v1/customers"));
	uncollect(c);
	call_summary_free(s);
}

static void test_pids_keep_latest(void **state)
{
	struct call_summary *s = call_summary_new(64, 8);
	struct call_rows *c;

	for (uint32_t pid = 1; pid <= 6; pid++)
		add(s, "GET", "h", "/x", 200, MS, pid, "curl", pid);
	add(s, "GET", "h", "/x", 200, MS, 4, "curl", 7); /* already kept */
	c = collect(s);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->v[0].programs[0].npids, CALL_PIDS_MAX);
	assert_int_equal(c->v[0].programs[0].pids[0], 3);
	assert_int_equal(c->v[0].programs[0].pids[3], 6);
	uncollect(c);
	call_summary_free(s);
}

static void check_near(double got, double want)
{
	if (got < want * 0.9375 || got > want * 1.0625) {
		print_error("got %.3f, want %.3f within 6.25 %%\n", got, want);
		fail();
	}
}

static void test_percentiles(void **state)
{
	struct call_summary *s = call_summary_new(64, 8);
	struct call_rows *c;

	/* 1..1000 ms, shuffled by a stride coprime with 1000. */
	for (unsigned i = 0; i < 1000; i++)
		add(s, "GET", "h", "/p", 200, (uint64_t)((i * 337) % 1000 + 1) * MS, 1, "x", i);
	c = collect(s);
	assert_int_equal(c->n, 1);
	check_near(c->v[0].p50_ms, 500);
	check_near(c->v[0].p95_ms, 950);
	check_near(c->v[0].p99_ms, 990);
	assert_true(c->v[0].max_ms == 1000.0);
	uncollect(c);

	/* 70,000 fast calls saturate a 16-bit bucket: the shape holds. */
	call_summary_free(s);
	s = call_summary_new(64, 8);
	for (unsigned i = 0; i < 100000; i++)
		add(s, "GET", "h", "/q", 200, (i % 10 == 9 ? 200 : 2) * MS, 1, "x", i);
	c = collect(s);
	assert_int_equal(c->v[0].count, 100000);
	check_near(c->v[0].p50_ms, 2);
	check_near(c->v[0].p95_ms, 200);
	/* Sub-microsecond and hours-long calls stay in range. */
	add(s, "GET", "h", "/r", 200, 0, 1, "x", 1);
	add(s, "GET", "h", "/r", 200, 30000000000000ull, 1, "x", 1);
	uncollect(c);
	c = collect(s);
	assert_true(find(c, "GET", "h", "/r")->max_ms == 30000000.0);
	assert_true(find(c, "GET", "h", "/r")->p99_ms <= 30000000.0);
	uncollect(c);
	call_summary_free(s);
}

/* A full table: new keys take the least used rows, which fold into (other). */
static void test_fold_into_other(void **state)
{
	struct call_summary *s = call_summary_new(16, 4);
	struct call_rows *c;
	const struct call_row *other;
	char path[64];

	/* Endpoints in use, called many times. */
	for (int round = 0; round < 20; round++)
		for (int e = 0; e < 5; e++) {
			snprintf(path, sizeof(path), "/endpoint/e%c", 'a' + e);
			add(s, "GET", "busy.example", path, 200, MS, 1, "curl", round);
		}
	/* Then 1,000 paths seen once each, with a name, not an id. */
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "/once/%c%c%c", 'a' + i % 26, 'a' + i / 26 % 26,
			 'a' + i / 676);
		add(s, "POST", "busy.example", path, 500, 2 * MS, 2, "python3", 100 + i);
	}
	c = collect(s);
	assert_true(c->n <= 16);
	assert_int_equal(total(c), 100 + 1000);
	for (int e = 0; e < 5; e++) {
		snprintf(path, sizeof(path), "/endpoint/e%c", 'a' + e);
		assert_non_null(find(c, "GET", "busy.example", path));
		assert_int_equal(find(c, "GET", "busy.example", path)->count, 20);
	}
	other = find(c, CALL_METHOD_ANY, "busy.example", CALL_TEMPLATE_OTHER);
	assert_non_null(other);
	assert_true(other->count >= 1000 - 16);
	assert_int_equal(other->errors, other->count);
	assert_string_equal(other->programs[0].comm, "python3");
	uncollect(c);

	/* A new endpoint called twice in a row keeps its row despite the flood. */
	add(s, "GET", "busy.example", "/new/endpoint", 200, MS, 3, "node", 5000);
	add(s, "GET", "busy.example", "/new/endpoint", 200, MS, 3, "node", 5001);
	for (int i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/again/%c%c", 'a' + i % 26, 'a' + i / 26);
		add(s, "POST", "busy.example", path, 200, MS, 2, "python3", 6000 + i);
	}
	c = collect(s);
	assert_non_null(find(c, "GET", "busy.example", "/new/endpoint"));
	assert_int_equal(total(c), 100 + 1000 + 2 + 100);
	uncollect(c);
	assert_true(call_summary_stats(s).rows_folded > 0);
	call_summary_free(s);
}

static void test_too_long_template_goes_to_other(void **state)
{
	struct call_summary *s = call_summary_new(16, 4);
	char path[400];
	struct call_rows *c;

	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	for (size_t i = 20; i < sizeof(path) - 1; i += 20)
		path[i] = '/';
	add(s, "GET", "h.example", path, 200, MS, 1, "curl", 1);
	c = collect(s);
	assert_int_equal(c->n, 1);
	assert_non_null(find(c, CALL_METHOD_ANY, "h.example", CALL_TEMPLATE_OTHER));
	uncollect(c);
	call_summary_free(s);
}

static void test_host_cap(void **state)
{
	struct call_summary *s = call_summary_new(32, 3);
	struct call_rows *c;
	char host[64];

	for (int i = 0; i < 50; i++)
		add(s, "GET", "keep.example", "/a", 200, MS, 1, "curl", i);
	for (int i = 0; i < 30; i++)
		add(s, "GET", "also.example", "/b", 200, MS, 1, "curl", i);
	/* 200 hosts seen once each. */
	for (int i = 0; i < 200; i++) {
		snprintf(host, sizeof(host), "h%d.example", i);
		add(s, "GET", host, "/c", 200, MS, 2, "node", 100 + i);
	}
	c = collect(s);
	assert_int_equal(total(c), 50 + 30 + 200);
	assert_non_null(find(c, "GET", "keep.example", "/a"));
	assert_non_null(find(c, "GET", "also.example", "/b"));
	assert_non_null(find(c, CALL_METHOD_ANY, CALL_TEMPLATE_OTHER, CALL_TEMPLATE_OTHER));
	assert_true(find(c, CALL_METHOD_ANY, CALL_TEMPLATE_OTHER, CALL_TEMPLATE_OTHER)->count >=
		    198);
	assert_true(call_summary_stats(s).hosts <= 3);
	assert_true(call_summary_stats(s).hosts_folded >= 198);
	uncollect(c);
	call_summary_free(s);
}

/*
 * 100,000 distinct paths at the default bounds, on 100 hosts: the rows, the
 * hosts and the heap stay bounded (measured by malloc, not by the summary's
 * own count), no call is lost, and the endpoints called all along keep
 * their rows.
 */
/* Heap in use: small blocks and the mmap'd large ones. */
static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_100k_paths_bounded(void **state)
{
	size_t before = heap_bytes(), peak = 0, max;
	struct call_summary *s = call_summary_new(CALL_SUMMARY_ROWS_MAX, CALL_SUMMARY_HOSTS_MAX);
	struct call_summary_stats st;
	struct call_rows *c;
	char path[128], host[64];
	uint64_t n = 0;

	max = call_summary_bytes_max(CALL_SUMMARY_ROWS_MAX, CALL_SUMMARY_HOSTS_MAX);
	print_message("bound: %zu bytes (%zu bytes a row)\n", max, max / CALL_SUMMARY_ROWS_MAX);
	assert_true(max < 1300 * 1024);
	for (int i = 0; i < 100000; i++) {
		unsigned v = (unsigned)i * 2654435761u;

		snprintf(host, sizeof(host), "api%u.example.com", i % 100);
		/* Long names that are not ids: every path is its own template. */
		snprintf(path, sizeof(path), "/v1/things/%c%c%c%c/sub/%c%c%c-abcdefghijklmnopqrst",
			 'a' + v % 26, 'a' + v / 26 % 26, 'a' + v / 676 % 26, 'a' + v / 17576 % 26,
			 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676 % 26);
		add(s, "GET", host, path, 200, (uint64_t)(i % 1000) * MS, (uint32_t)i, "flood", i);
		n++;
		if (i % 10 == 0) {
			add(s, "GET", "api.stripe.com", "/v1/customers/cus_9s6XKzkNRiz8i3", 200, MS,
			    1, "curl", i);
			n++;
		}
		if (i % 1000 == 0) {
			size_t now = heap_bytes() - before;

			if (now > peak)
				peak = now;
		}
	}
	st = call_summary_stats(s);
	print_message("rows %u hosts %u folded %llu/%llu bytes %zu heap peak %zu\n", st.rows,
		      st.hosts, (unsigned long long)st.rows_folded,
		      (unsigned long long)st.hosts_folded, st.bytes, peak);
	assert_true(st.rows <= CALL_SUMMARY_ROWS_MAX && st.rows > CALL_SUMMARY_ROWS_MAX - 10);
	assert_true(st.hosts <= CALL_SUMMARY_HOSTS_MAX);
	assert_true(st.bytes <= max);
	assert_true(peak <= max);
	c = collect(s);
	assert_int_equal(total(c), n);
	assert_non_null(find(c, "GET", "api.stripe.com", "/v1/customers/{id}"));
	assert_int_equal(find(c, "GET", "api.stripe.com", "/v1/customers/{id}")->count, 10000);
	uncollect(c);
	call_summary_free(s);
}

static int stop_after_two(const struct call_row *row, void *ctx)
{
	unsigned *seen = ctx;

	if (*seen == 2)
		return 1;
	(*seen)++;
	return 0;
}

static void test_walk_in_pieces(void **state)
{
	struct call_summary *s = call_summary_new(16, 4);
	unsigned cursor = 0, seen = 0, pieces = 0;
	char path[32];

	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/r/%c", 'a' + i);
		add(s, "GET", "h", path, 200, MS, 1, "x", 1);
	}
	while (!call_summary_walk(s, &cursor, stop_after_two, &seen)) {
		pieces++;
		seen = 0;
	}
	assert_int_equal(pieces, 2); /* 2 + 2 + 1 */
	call_summary_free(s);
}

/* ---- JSON ------------------------------------------------------------------ */

static void test_json_escaping(void **state)
{
	struct call_program prog = {.comm = "we\"ird\\na\x01", .pids = {7}, .npids = 1};
	struct call_row row = {.method = "GET",
			       .host = "h.example",
			       .template = "/a\"b\\c/\x7f\x80",
			       .count = 3,
			       .first_seen_ns = 1764662400ull * 1000000000ull,
			       .last_seen_ns = 1764662412ull * 1000000000ull + 999000000,
			       .nprograms = 1};
	struct call_seen call = {
	    "GET",   "h.example", "/x\"y", 0,
	    1234567, 42,	  "a\\b",  1764662400ull * 1000000000ull + 5000000};
	char line[CALL_EVENT_JSON_MAX];
	json_t *obj;
	int n;

	row.programs[0] = prog;
	n = call_row_json(line, sizeof(line), &row);
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_null(memchr(line, '\x01', n));
	obj = json_loadb(line, n, 0, NULL);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "template")),
			    "/a\"b\\c/\x7f\xc2\x80");
	assert_string_equal(json_string_value(json_object_get(obj, "first_seen")),
			    "2025-12-02T08:00:00Z");
	assert_string_equal(json_string_value(json_object_get(obj, "last_seen")),
			    "2025-12-02T08:00:12Z");
	json_decref(obj);

	n = call_event_json(line, sizeof(line), &call);
	assert_true(n > 0);
	obj = json_loadb(line, n, 0, NULL);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "timestamp")),
			    "2025-12-02T08:00:00.005Z");
	assert_string_equal(json_string_value(json_object_get(obj, "path")), "/x\"y");
	assert_string_equal(json_string_value(json_object_get(obj, "comm")), "a\\b");
	assert_int_equal(json_integer_value(json_object_get(obj, "status")), 0);
	assert_true(json_real_value(json_object_get(obj, "latency_ms")) == 1.235);
	json_decref(obj);

	/* Too small a buffer is an error, never a cut line. */
	assert_int_equal(call_event_json(line, 40, &call), -ENOSPC);
	assert_int_equal(json_quote(line, 4, "ab"), -ENOSPC);
	assert_int_equal(json_quote(line, 5, "ab"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_folds_ids),
	    cmocka_unit_test(test_template_keeps_names),
	    cmocka_unit_test(test_template_too_long),
	    cmocka_unit_test(test_rows_count_errors_programs),
	    cmocka_unit_test(test_pids_keep_latest),
	    cmocka_unit_test(test_percentiles),
	    cmocka_unit_test(test_fold_into_other),
	    cmocka_unit_test(test_too_long_template_goes_to_other),
	    cmocka_unit_test(test_host_cap),
	    cmocka_unit_test(test_100k_paths_bounded),
	    cmocka_unit_test(test_walk_in_pieces),
	    cmocka_unit_test(test_json_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
