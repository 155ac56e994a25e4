// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * suggest-config: names, escaping, unique keys, disjoint patterns, and the
 * round trip: the YAML written, read and matched the way the Orchestrator
 * does (orchestrator_patterns.h: libyaml, PCRE2 search, first match), takes
 * every call of every suggested row to exactly one pattern, its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "orchestrator_patterns.h"
#include "suggest.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Ids as the summary folds them: numbers, prefixed ids, UUIDs, hex, mail. */
static const char *const ids[] = {"12345",
				  "cus_9s6XKzkNRiz8i3",
				  "550e8400-e29b-41d4-a716-446655440000",
				  "deadbeefdeadbeefdeadbeef",
				  "someone@example.com",
				  "x",
				  "QmFzZTY0"};

static char *run_suggest(const struct call_row *rows, size_t n, const struct suggest_opts *opts)
{
	char *text = NULL;
	size_t size;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	assert_int_equal(suggest_config(f, rows, n, opts), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void load(struct op_config *cfg, const char *text)
{
	if (op_load(cfg, text, strlen(text))) {
		fprintf(stderr, "%s\n---\n%s\n", cfg->err, text);
		fail();
	}
}

/* The template with its k-th id in every placeholder (k varies per place). */
static void concrete_path(const char *template, size_t k, char *out, size_t size)
{
	size_t n = 0, place = 0;

	while (*template && n + 64 < size) {
		if (!strncmp(template, "{id}", 4)) {
			n +=
			    snprintf(out + n, size - n, "%s", ids[(k + place++) % ARRAY_SIZE(ids)]);
			template += 4;
		} else {
			out[n++] = *template ++;
		}
	}
	out[n] = '\0';
}

/* ---- names ----------------------------------------------------------------- */

static void expect_monitor_name(const char *host, const char *want)
{
	char buf[SUGGEST_MONITOR_MAX + 1];

	suggest_monitor_name(host, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_monitor_names(void **state)
{
	expect_monitor_name("api.stripe.com", "stripe");
	expect_monitor_name("hooks.slack.com", "slack");
	expect_monitor_name("api.github.com", "github");
	expect_monitor_name("stripe.com", "stripe");
	expect_monitor_name("api.stripe.com:443", "stripe");
	expect_monitor_name("www.bbc.co.uk", "bbc");
	expect_monitor_name("sqs.us-east-1.amazonaws.com", "amazonaws");
	expect_monitor_name("my_corp.example.org", "example");
	expect_monitor_name("localhost", "localhost");
	expect_monitor_name("localhost:8443", "localhost");
	expect_monitor_name("127.0.0.1:8443", "ip-127-0-0-1-8443");
	expect_monitor_name("127.0.0.1", "ip-127-0-0-1");
	expect_monitor_name("[::1]:8443", "ip6-1-8443");
	expect_monitor_name("[fe80::1%25eth0]:443", "ip6-fe80-1-25eth0-443");
	expect_monitor_name("a_b.c", "a-b");
	expect_monitor_name("...", "host");
	expect_monitor_name("-", "host");
	expect_monitor_name("", "host");
}

static void expect_check_name(const char *method, const char *template, const char *want)
{
	char buf[SUGGEST_CHECK_MAX + 1];

	suggest_check_name(method, template, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_check_names(void **state)
{
	expect_check_name("GET", "/v1/customers/{id}/invoices", "GetCustomerInvoices");
	expect_check_name("GET", "/v1/customers", "GetCustomers");
	expect_check_name("GET", "/v1/customers/{id}", "GetCustomer");
	expect_check_name("GET", "/v1/customers/search", "GetCustomersSearch");
	expect_check_name("DELETE", "/v2beta1/companies/{id}", "DeleteCompany");
	expect_check_name("POST", "/api/chat.postMessage", "PostChatPostMessage");
	expect_check_name("POST", "/services/{id}/{id}/{id}", "PostService");
	expect_check_name("GET", "/repos/{id}/{id}/issues", "GetRepoIssues");
	expect_check_name("GET", "/v1/addresses/{id}", "GetAddress");
	expect_check_name("GET", "/batches/{id}", "GetBatch");
	expect_check_name("GET", "/status/{id}", "GetStatus");
	expect_check_name("GET", "/files/{id}.json", "GetFilesJson");
	expect_check_name("GET", "/", "GetRoot");
	expect_check_name("GET", "/v1", "GetRoot");
	expect_check_name("GET", "/{id}", "GetById");
	expect_check_name("OPTIONS", "*", "OptionsServer");
	expect_check_name("PROPFIND", "/dav/a%20b", "PropfindDavA20b");
	expect_check_name("GET", "/it's/a.b+c(d)/x", "GetItSABCDX");
}

static void test_check_names_bounded(void **state)
{
	char template[1500], buf[SUGGEST_CHECK_MAX + 1];
	size_t n = 0;

	while (n + 12 < sizeof(template))
		n += snprintf(template + n, sizeof(template) - n, "/segment%zu", n);
	assert_true(suggest_check_name("GET", template, buf, sizeof(buf)) <= SUGGEST_CHECK_MAX);
	for (const char *p = buf; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9'));
	assert_int_equal(suggest_check_name("GET", "/v1", buf, 4), 3);
	assert_string_equal(buf, "Get");
}

/* ---- overlap ---------------------------------------------------------------- */

static void test_overlap(void **state)
{
	assert_true(suggest_templates_may_overlap("/v1/customers/{id}", "/v1/customers/search"));
	assert_true(suggest_templates_may_overlap("/a/{id}/b", "/a/x/{id}"));
	assert_true(suggest_templates_may_overlap("/files/{id}.json", "/files/{id}"));
	assert_true(suggest_templates_may_overlap("/f/a{id}", "/f/{id}b"));
	assert_true(suggest_templates_may_overlap("/f/{id}.{id}", "/f/x.y"));
	assert_false(suggest_templates_may_overlap("/f/{id}.{id}", "/f/xy"));
	assert_false(suggest_templates_may_overlap("/v1/customers/{id}", "/v1/customers"));
	assert_false(suggest_templates_may_overlap("/v1/customers/{id}", "/v1/customers/"));
	assert_false(suggest_templates_may_overlap("/v1/customers/{id}", "/v1/customers/a/b"));
	assert_false(suggest_templates_may_overlap("/v1/{id}", "/v2/{id}"));
	assert_false(suggest_templates_may_overlap("/files/{id}.json", "/files/{id}.xml"));
	assert_false(suggest_templates_may_overlap("/f/a{id}", "/f/b{id}"));
	assert_false(suggest_templates_may_overlap("/f/{id}.json", "/f/.json"));
	assert_false(suggest_templates_may_overlap("*", "/"));
	assert_true(suggest_templates_may_overlap("/same", "/same"));
}

/* ---- escaping and YAML quoting ------------------------------------------------- */

static void test_escaping(void **state)
{
	/* Every printable byte the wire lets through, metacharacters and the
	 * YAML quote among them. */
	static const char path[] = "/a.b+c(d)[e]{f}|g^h$i?j*k\\l#m'n\"o%20p:q@r!s&t=u,v;w~x`y<z>";
	struct call_row rows[] = {
	    {.method = "GET", .host = "[fe80::1%25eth0]:8443", .template = path, .count = 1},
	};
	struct suggest_opts opts = {0};
	struct op_config cfg;
	char *text = run_suggest(rows, 1, &opts);
	size_t which;

	load(&cfg, text);
	assert_int_equal(cfg.n, 1);
	assert_string_equal(cfg.v[0].source[1], "^\\[fe80::1%25eth0\\]:8443$");
	assert_string_equal(
	    cfg.v[0].source[2],
	    "^/a\\.b\\+c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$i\\?j\\*k\\\\l\\#m'n\"o%20p:q@r!"
	    "s&t=u,v;w~x`y<z>$");
	assert_int_equal(op_match(&cfg, "GET", "[fe80::1%25eth0]:8443", path, &which), 1);
	/* Each metacharacter stands for itself only. */
	assert_int_equal(op_match(&cfg, "GET", "[fe80::1%25eth0]:8443",
				  "/aXb+c(d)[e]{f}|g^h$i?j*k\\l#m'n\"o%20p:q@r!s&t=u,v;w~x`y<z>",
				  &which),
			 0);
	assert_int_equal(op_match(&cfg, "GET", "f", path, &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "[fe80::1%25eth0]:8443", "/a.b", &which), 0);
	op_free(&cfg);
	free(text);
}

/* Anchors: a search for ^GET$ does not find GETX, nor api.stripe.com in
 * xapi.stripe.com, nor /v1/customers in /v1/customers/x. */
static void test_anchored(void **state)
{
	struct call_row rows[] = {
	    {.method = "GET", .host = "api.stripe.com", .template = "/v1/customers", .count = 1},
	};
	struct suggest_opts opts = {0};
	struct op_config cfg;
	char *text = run_suggest(rows, 1, &opts);
	size_t which;

	load(&cfg, text);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers", &which), 1);
	assert_int_equal(op_match(&cfg, "GETX", "api.stripe.com", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "XGET", "api.stripe.com", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "get", "api.stripe.com", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "xapi.stripe.com", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com:443", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "apixstripe.com", "/v1/customers", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/x", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/x/v1/customers", &which), 0);
	op_free(&cfg);
	free(text);
}

/* ---- unique keys --------------------------------------------------------------- */

static void test_unique_keys(void **state)
{
	struct call_row rows[] = {
	    /* Same check name: the placeholders differ, the words do not. */
	    {.method = "GET",
	     .host = "api.github.com",
	     .template = "/repos/{id}/issues",
	     .count = 9},
	    {.method = "GET",
	     .host = "api.github.com",
	     .template = "/repos/{id}/{id}/issues",
	     .count = 5},
	    {.method = "GET",
	     .host = "api.github.com",
	     .template = "/v3/repos/{id}/issues",
	     .count = 1},
	    /* Same monitor and check from another host of the same owner. */
	    {.method = "GET",
	     .host = "uploads.github.com",
	     .template = "/repos/{id}/issues",
	     .count = 2},
	};
	struct suggest_opts opts = {0};
	struct op_config cfg;
	char *text = run_suggest(rows, ARRAY_SIZE(rows), &opts);
	size_t which;

	load(&cfg, text); /* fails on a key twice */
	assert_int_equal(cfg.n, 4);
	/* The busiest row of a host keeps the plain name. */
	assert_int_equal(op_match(&cfg, "GET", "api.github.com", "/repos/1/issues", &which), 1);
	assert_string_equal(cfg.v[which].key, "github.GetRepoIssues");
	assert_non_null(strstr(text, "github.GetRepoIssues2:"));
	assert_non_null(strstr(text, "github.GetRepoIssues3:"));
	assert_non_null(strstr(text, "github.GetRepoIssues4:"));
	op_free(&cfg);
	free(text);
}

/* ---- the round trip: expectations from suggest.h's rules, not its code ------------ */

/* Does the path fit the template, {id} standing for 1+ bytes other than '/'? */
static bool template_fits(const char *t, const char *p)
{
	if (!*t)
		return !*p;
	if (!strncmp(t, "{id}", 4)) {
		for (const char *q = p; *q && *q != '/'; q++) {
			if (template_fits(t + 4, q + 1))
				return true;
		}
		return false;
	}
	return *p == *t && template_fits(t + 1, p + 1);
}

/* A segment's kind: literal 0, text and {id} 1, {id} alone 2. */
static int kind(const char *seg, size_t len)
{
	char buf[2048];
	bool text = false;

	snprintf(buf, sizeof(buf), "%.*s", (int)len, seg);
	for (char *p = buf; *p;) {
		if (!strncmp(p, "{id}", 4))
			p += 4;
		else
			text = true, p++;
	}
	return !strstr(buf, "{id}") ? 0 : text ? 1 : 2;
}

/* suggest.h: "more specific compares segments from the left: a literal
 * segment before one that mixes text and placeholders, before a
 * placeholder alone" (then bytes, then the shorter, then fewer segments). */
static bool more_specific(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		int c;

		if (kind(a, la) != kind(b, lb))
			return kind(a, la) < kind(b, lb);
		c = memcmp(a, b, la < lb ? la : lb);
		if (c || la != lb)
			return c ? c < 0 : la < lb;
		if (!a[la] || !b[lb])
			return !a[la] && b[lb];
		a += la + 1;
		b += lb + 1;
	}
}

static bool host_listed(const struct suggest_opts *opts, const char *host)
{
	for (size_t k = 0; k < opts->nhosts; k++) {
		if (!strcmp(opts->hosts[k], host))
			return true;
	}
	return opts->nhosts == 0;
}

/* The row whose pattern a call should match: among the rows of its method
 * and host (within --host) whose template fits, the most specific, whether
 * suggested or left out by --min-count. SIZE_MAX: none. */
static size_t expected_owner(const struct call_row *rows, size_t n, const struct suggest_opts *opts,
			     const char *method, const char *host, const char *path)
{
	size_t best = SIZE_MAX;

	for (size_t r = 0; r < n; r++) {
		if (strcmp(rows[r].method, method) || strcmp(rows[r].host, host) ||
		    !host_listed(opts, host) || !template_fits(rows[r].template, path))
			continue;
		if (best == SIZE_MAX || more_specific(rows[r].template, rows[best].template))
			best = r;
	}
	return best;
}

static bool suggested(const struct call_row *row, const struct suggest_opts *opts)
{
	return row->count >= opts->min_count && host_listed(opts, row->host) &&
	       strcmp(row->template, CALL_TEMPLATE_OTHER);
}

/*
 * Every call of the rows, and the calls of each row sent to every other
 * host, match exactly the pattern of the row they belong to, or none when
 * that row is not suggested; every pattern belongs to one row, one method,
 * one host.
 */
static void check_round_trip(const struct call_row *rows, size_t n, const struct suggest_opts *opts,
			     const char *text)
{
	struct op_config cfg;
	size_t *pattern_of = calloc(n, sizeof(*pattern_of)), *row_of, expected_patterns = 0;
	char path[2048];

	load(&cfg, text);
	row_of = calloc(cfg.n + 1, sizeof(*row_of));
	for (size_t i = 0; i < cfg.n; i++)
		row_of[i] = SIZE_MAX;
	for (size_t r = 0; r < n; r++) {
		pattern_of[r] = SIZE_MAX;
		expected_patterns += suggested(&rows[r], opts);
	}
	assert_int_equal(cfg.n, expected_patterns);
	for (size_t r = 0; r < n; r++) {
		if (!strcmp(rows[r].template, CALL_TEMPLATE_OTHER))
			continue;
		for (size_t h = 0; h < n; h++) {
			const char *host = rows[h].host;

			for (size_t k = 0; k < ARRAY_SIZE(ids); k++) {
				size_t owner, which = SIZE_MAX, matches;

				concrete_path(rows[r].template, k, path, sizeof(path));
				owner = expected_owner(rows, n, opts, rows[r].method, host, path);
				matches = op_match(&cfg, rows[r].method, host, path, &which);
				if (owner == SIZE_MAX || !suggested(&rows[owner], opts)) {
					if (matches)
						fprintf(stderr, "%s %s %s matches %s\n",
							rows[r].method, host, path,
							cfg.v[which].key);
					assert_int_equal(matches, 0);
					continue;
				}
				if (matches != 1)
					fprintf(stderr, "%s %s %s: %zu matches\n", rows[r].method,
						host, path, matches);
				assert_int_equal(matches, 1);
				/* One pattern per row, one row per pattern. */
				if (pattern_of[owner] == SIZE_MAX && row_of[which] == SIZE_MAX) {
					pattern_of[owner] = which;
					row_of[which] = owner;
				}
				assert_int_equal(pattern_of[owner], which);
				assert_int_equal(row_of[which], owner);
			}
		}
	}
	for (size_t i = 0; i < cfg.n; i++) {
		size_t hosts = 0, methods = 0;

		assert_int_not_equal(row_of[i], SIZE_MAX);
		for (size_t r = 0; r < n; r++) {
			bool first_host = true, first_method = true;

			for (size_t q = 0; q < r; q++) {
				first_host = first_host && strcmp(rows[q].host, rows[r].host);
				first_method =
				    first_method && strcmp(rows[q].method, rows[r].method);
			}
			hosts += first_host && op_search(cfg.v[i].re[1], rows[r].host);
			methods += first_method && op_search(cfg.v[i].re[0], rows[r].method);
		}
		assert_int_equal(hosts, 1);
		assert_int_equal(methods, 1);
	}
	op_free(&cfg);
	free(pattern_of);
	free(row_of);
}

static const struct call_row mix[] = {
    {.method = "GET",
     .host = "api.stripe.com",
     .template = "/v1/customers/{id}/invoices",
     .count = 120},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/customers/{id}", .count = 80},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/customers/search", .count = 7},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/customers", .count = 40},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/customers/{id}/{id}", .count = 3},
    {.method = "GET",
     .host = "api.stripe.com",
     .template = "/v1/customers/search/{id}",
     .count = 3},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/{id}/search", .count = 3},
    {.method = "GET", .host = "api.stripe.com", .template = "/v1/{id}/{id}", .count = 1},
    {.method = "POST", .host = "api.stripe.com", .template = "/v1/customers/{id}", .count = 12},
    {.method = "POST", .host = "api.stripe.com", .template = "/v1/charges", .count = 50},
    {.method = "GET", .host = "api.stripe.com", .template = CALL_TEMPLATE_OTHER, .count = 30},
    {.method = "POST",
     .host = "hooks.slack.com",
     .template = "/services/{id}/{id}/{id}",
     .count = 10},
    {.method = "POST", .host = "slack.com", .template = "/api/chat.postMessage", .count = 10},
    {.method = "GET", .host = "api.github.com", .template = "/repos/{id}/{id}/issues", .count = 4},
    {.method = "GET", .host = "api.github.com", .template = "/repos/{id}/issues", .count = 4},
    {.method = "GET", .host = "api.github.com", .template = "/user", .count = 4},
    {.method = "GET", .host = "uploads.github.com", .template = "/user", .count = 4},
    {.method = "GET", .host = "127.0.0.1:8443", .template = "/files/{id}.json", .count = 2},
    {.method = "GET", .host = "127.0.0.1:8443", .template = "/files/{id}", .count = 9},
    {.method = "GET", .host = "127.0.0.1:8443", .template = "/files/a{id}", .count = 2},
    {.method = "GET", .host = "127.0.0.1:8443", .template = "/files/{id}.{id}", .count = 2},
    {.method = "GET", .host = "127.0.0.1:8443", .template = "/files/{id}/{id}.json", .count = 2},
    {.method = "GET", .host = "127.0.0.1:9443", .template = "/files/{id}", .count = 2},
    {.method = "GET", .host = "127.0.0.1", .template = "/files/{id}", .count = 2},
    {.method = "GET", .host = "localhost:8443", .template = "/files/{id}", .count = 2},
    {.method = "GET", .host = "[::1]:8443", .template = "/", .count = 2},
    {.method = "GET", .host = "[::1]:8443", .template = "//", .count = 2},
    {.method = "OPTIONS", .host = "[::1]:8443", .template = "*", .count = 2},
    {.method = "GET", .host = "apixstripe.com", .template = "/v1/customers", .count = 2},
    {.method = "GET", .host = "a.b.c", .template = "/it's/{id}/\"q\"#x", .count = 2},
    {.method = "GET", .host = "a.b.c", .template = "/it's/{id}/{id}", .count = 2},
};

static void test_round_trip(void **state)
{
	struct suggest_opts opts = {0};
	char *text = run_suggest(mix, ARRAY_SIZE(mix), &opts);

	check_round_trip(mix, ARRAY_SIZE(mix), &opts, text);
	free(text);
}

/* Given in another order, the same document. */
static void test_order_independent(void **state)
{
	struct call_row reversed[ARRAY_SIZE(mix)];
	struct suggest_opts opts = {0};
	char *a, *b;

	for (size_t i = 0; i < ARRAY_SIZE(mix); i++)
		reversed[i] = mix[ARRAY_SIZE(mix) - 1 - i];
	a = run_suggest(mix, ARRAY_SIZE(mix), &opts);
	b = run_suggest(reversed, ARRAY_SIZE(reversed), &opts);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* The more specific keeps its paths: search is not a customer id. */
static void test_specific_wins(void **state)
{
	struct suggest_opts opts = {0};
	char *text = run_suggest(mix, ARRAY_SIZE(mix), &opts);
	struct op_config cfg;
	size_t which;

	load(&cfg, text);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/search", &which),
			 1);
	assert_string_equal(cfg.v[which].key, "stripe.GetCustomersSearch");
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/cus_1", &which), 1);
	assert_string_equal(cfg.v[which].key, "stripe.GetCustomer");
	assert_string_equal(cfg.v[which].source[2],
			    "^(?!(?:/v1/customers/search)$)/v1/customers/[^/]+$");
	assert_int_equal(op_match(&cfg, "GET", "127.0.0.1:8443", "/files/x.json", &which), 1);
	assert_string_equal(cfg.v[which].key, "ip-127-0-0-1-8443.GetFilesJson");
	op_free(&cfg);
	free(text);
}

/* Under --min-count: no pattern, and its calls are not taken by another. */
static void test_min_count(void **state)
{
	struct suggest_opts opts = {.min_count = 8};
	char *text = run_suggest(mix, ARRAY_SIZE(mix), &opts);
	struct op_config cfg;
	size_t which;

	check_round_trip(mix, ARRAY_SIZE(mix), &opts, text);
	load(&cfg, text);
	assert_int_equal(
	    op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/cus_1/cus_2", &which), 0);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/cus_1", &which), 1);
	assert_int_equal(op_match(&cfg, "GET", "api.stripe.com", "/v1/customers/search", &which),
			 0);
	assert_non_null(strstr(text, "  # GET api.stripe.com /v1/customers/search: 7 calls, under "
				     "--min-count 8"));
	op_free(&cfg);
	free(text);
}

static void test_hosts(void **state)
{
	const char *hosts[] = {"api.github.com", "127.0.0.1:8443"};
	struct suggest_opts opts = {.hosts = hosts, .nhosts = 2};
	char *text = run_suggest(mix, ARRAY_SIZE(mix), &opts);
	/* A name without its port picks all its ports. */
	const char *by_name[] = {"127.0.0.1"};
	struct suggest_opts name_opts = {.hosts = by_name, .nhosts = 1};
	char *all_ports = run_suggest(mix, ARRAY_SIZE(mix), &name_opts);
	struct op_config cfg;

	check_round_trip(mix, ARRAY_SIZE(mix), &opts, text);
	assert_null(strstr(text, "stripe"));
	load(&cfg, all_ports);
	assert_int_equal(cfg.n, 7);
	op_free(&cfg);
	free(text);
	free(all_ports);
}

/* A host's (other) row: no pattern (it would take every path), a comment. */
static void test_other_row(void **state)
{
	struct call_row rows[] = {
	    {.method = "GET",
	     .host = "api.stripe.com",
	     .template = CALL_TEMPLATE_OTHER,
	     .count = 30},
	};
	struct suggest_opts opts = {0};
	char *text = run_suggest(rows, 1, &opts);
	struct op_config cfg;

	load(&cfg, text);
	assert_int_equal(cfg.n, 0);
	assert_non_null(strstr(text, "patterns: {}\n"));
	assert_non_null(strstr(text, "# GET api.stripe.com: 30 calls to paths too rarely used"));
	op_free(&cfg);
	free(text);
}

/* Rows that could not have come from the wire (a hand-edited or hostile
 * file): no pattern, a comment that cannot break the document. */
static void test_hostile_rows(void **state)
{
	struct call_row rows[] = {
	    {.method = "get", .host = "a.com", .template = "/x", .count = 1},
	    {.method = "GET",
	     .host = "a.com\n  evil.Key: {method: x}",
	     .template = "/x",
	     .count = 1},
	    {.method = "GET", .host = "A.com", .template = "/x", .count = 1},
	    {.method = "GET", .host = "a.com", .template = "/x\n#y: 'z", .count = 1},
	    {.method = "GET", .host = "a.com", .template = "/x y", .count = 1},
	    {.method = "GET", .host = "a.com", .template = "/\xc3\xa9", .count = 1},
	    {.method = "GET", .host = "a.com", .template = "x", .count = 1},
	    {.method = "GET", .host = "a.com", .template = "", .count = 1},
	    {.method = "", .host = "a.com", .template = "/", .count = 1},
	    {.method = "GET", .host = "", .template = "/", .count = 1},
	    {.method = "GET",
	     .host = "a.com",
	     .template = "/ok'{id}",
	     .count = 1,
	     .programs = {{.comm = "ev\nil: 'x\\"}, {.comm = "0123456789abcdef"}},
	     .nprograms = 9},
	    {.method = "GET", .host = "a.com", .template = "/ok'{id}", .count = 1},
	    {.method = "GET", .host = "a\tb", .template = CALL_TEMPLATE_OTHER, .count = 1},
	};
	struct suggest_opts opts = {.generator = "gen\nerated: 'x"};
	char *text = run_suggest(rows, ARRAY_SIZE(rows), &opts);
	struct op_config cfg;

	load(&cfg, text);
	assert_int_equal(cfg.n, 1);
	assert_string_equal(cfg.v[0].key, "a.GetOk");
	assert_string_equal(cfg.v[0].source[2], "^/ok'[^/]+$");
	for (const char *p = text; *p; p++)
		assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
	assert_non_null(strstr(text, "programs: ev\\x0ail: 'x\\x5c 0123456789abcdef"));
	assert_non_null(strstr(text, "# GET a\\x09b (other): not a call as sent on the wire"));
	op_free(&cfg);
	free(text);
}

/* A template overlapping more specific ones past SUGGEST_URL_REGEX_MAX is
 * left out, and still the calls of the others match only theirs. */
static void test_too_wide(void **state)
{
	enum { N = 400 };
	struct call_row rows[N + 1];
	char(*templates)[64] = calloc(N, 64);
	struct suggest_opts opts = {0};
	char *text;

	for (size_t i = 0; i < N; i++) {
		snprintf(templates[i], 64, "/users/user-name-number-%zu", i);
		rows[i] = (struct call_row){
		    .method = "GET", .host = "h.io", .template = templates[i], .count = 1};
	}
	rows[N] = (struct call_row){
	    .method = "GET", .host = "h.io", .template = "/users/{id}", .count = 100};
	text = run_suggest(rows, N + 1, &opts);
	assert_non_null(strstr(text, "# GET h.io /users/{id}: would have to exclude 400 more "
				     "specific templates"));
	{
		struct op_config cfg;
		size_t which;

		load(&cfg, text);
		assert_int_equal(cfg.n, N);
		assert_int_equal(op_match(&cfg, "GET", "h.io", "/users/user-name-number-7", &which),
				 1);
		assert_int_equal(op_match(&cfg, "GET", "h.io", "/users/12", &which), 0);
		op_free(&cfg);
	}
	free(text);
	free(templates);
}

/* The same call in two rows (summaries joined): one pattern, the busier
 * row's, whatever the order. */
static void test_duplicate_rows(void **state)
{
	struct call_row rows[] = {
	    {.method = "GET", .host = "h.io", .template = "/a/{id}", .count = 1},
	    {.method = "GET", .host = "h.io", .template = "/a/{id}", .count = 9},
	    {.method = "GET", .host = "h.io", .template = "/a/{id}", .count = 2},
	};
	struct call_row reversed[] = {rows[2], rows[1], rows[0]};
	struct suggest_opts opts = {.min_count = 5};
	char *a = run_suggest(rows, 3, &opts), *b = run_suggest(reversed, 3, &opts);
	struct op_config cfg;

	assert_string_equal(a, b);
	load(&cfg, a);
	assert_int_equal(cfg.n, 1);
	assert_non_null(strstr(a, "# 9 calls"));
	op_free(&cfg);
	free(a);
	free(b);
}

static void test_write_error(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	struct suggest_opts opts = {0};

	assert_non_null(f);
	assert_int_equal(suggest_config(f, mix, ARRAY_SIZE(mix), &opts), -EIO);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_monitor_names),
	    cmocka_unit_test(test_check_names),
	    cmocka_unit_test(test_check_names_bounded),
	    cmocka_unit_test(test_overlap),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_anchored),
	    cmocka_unit_test(test_unique_keys),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_order_independent),
	    cmocka_unit_test(test_specific_wins),
	    cmocka_unit_test(test_min_count),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_other_row),
	    cmocka_unit_test(test_hostile_rows),
	    cmocka_unit_test(test_too_wide),
	    cmocka_unit_test(test_duplicate_rows),
	    cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
