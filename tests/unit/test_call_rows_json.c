// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The rows of `calls --json` read back: what call_summary.h documents, and
 * nothing that does not fit struct call_row. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "call_rows_json.h"

/* The example of call_summary.h, verbatim. */
static const char documented[] =
    "{\"method\":\"GET\",\"host\":\"api.stripe.com\",\"template\":\"/v1/customers/{id}/invoices\","
    "\"count\":12,\"errors\":1,\"p50_ms\":41.2,\"p95_ms\":80.1,\"p99_ms\":95.0,\"max_ms\":97.3,"
    "\"first_seen\":\"2026-12-02T08:00:00Z\",\"last_seen\":\"2026-12-02T08:05:12Z\","
    "\"programs\":[{\"comm\":\"curl\",\"pids\":[1234,1301]}]}";

static int parse(const char *text, struct call_row *row, char *err)
{
	return call_row_from_json(text, strlen(text), row, err, 200);
}

static void test_documented_row(void **state)
{
	struct call_row row;
	char err[200] = "";

	assert_int_equal(parse(documented, &row, err), 0);
	assert_string_equal(row.method, "GET");
	assert_string_equal(row.host, "api.stripe.com");
	assert_string_equal(row.template, "/v1/customers/{id}/invoices");
	assert_int_equal(row.count, 12);
	assert_int_equal(row.errors, 1);
	assert_true(row.p50_ms == 41.2 && row.p95_ms == 80.1 && row.p99_ms == 95.0 &&
		    row.max_ms == 97.3);
	assert_int_equal(row.first_seen_ns, 1796198400ull * 1000000000);
	assert_int_equal(row.last_seen_ns, (1796198400ull + 312) * 1000000000);
	assert_int_equal(row.nprograms, 1);
	assert_string_equal(row.programs[0].comm, "curl");
	assert_int_equal(row.programs[0].npids, 2);
	assert_int_equal(row.programs[0].pids[1], 1301);
	call_row_release(&row);
}

static void test_minimal_and_extra_keys(void **state)
{
	struct call_row row;
	char err[200] = "";

	assert_int_equal(
	    parse("{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\",\"count\":0,"
		  "\"future\":{\"a\":[1,2]},\"first_seen\":\"2026-12-02T08:00:00.25Z\","
		  "\"programs\":[{\"comm\":\"0123456789abcde\"}]}",
		  &row, err),
	    0);
	assert_int_equal(row.count, 0);
	assert_int_equal(row.first_seen_ns, 1796198400ull * 1000000000 + 250000000);
	assert_string_equal(row.programs[0].comm, "0123456789abcde");
	assert_int_equal(row.programs[0].npids, 0);
	call_row_release(&row);
}

static void expect_refused(const char *text, const char *reason)
{
	struct call_row row;
	char err[200] = "";

	assert_int_equal(parse(text, &row, err), -EINVAL);
	if (!strstr(err, reason)) {
		fprintf(stderr, "%s: reason '%s', expected '%s'\n", text, err, reason);
		fail();
	}
	assert_null(row.method);
}

#define ROW(rest) "{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\",\"count\":1" rest "}"

static void test_refused(void **state)
{
	expect_refused("", "not JSON");
	expect_refused("[1]", "not a JSON object");
	expect_refused(ROW("") " x", "not JSON");
	expect_refused(ROW("") ROW(""), "not JSON");
	expect_refused("{\"host\":\"h\",\"template\":\"/\",\"count\":1}", "no \"method\"");
	expect_refused("{\"method\":\"GET\",\"template\":\"/\",\"count\":1}", "no \"host\"");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\",\"count\":1}", "no \"template\"");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\"}", "no \"count\"");
	expect_refused("{\"method\":\"\",\"host\":\"h\",\"template\":\"/\",\"count\":1}",
		       "\"method\" is not a non-empty string");
	expect_refused("{\"method\":7,\"host\":\"h\",\"template\":\"/\",\"count\":1}",
		       "\"method\"");
	expect_refused(ROW(",\"count\":2"), "duplicate");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\",\"count\":-1}",
		       "\"count\" is not a count");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\",\"count\":1.5}",
		       "\"count\" is not a count");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\",\"template\":\"/\","
		       "\"count\":99999999999999999999}",
		       "not JSON");
	expect_refused(ROW(",\"errors\":\"1\""), "\"errors\" is not a count");
	expect_refused(ROW(",\"p50_ms\":-1"), "\"p50_ms\" is not a latency");
	expect_refused(ROW(",\"p99_ms\":\"fast\""), "\"p99_ms\" is not a latency");
	expect_refused(ROW(",\"first_seen\":\"yesterday\""), "\"first_seen\" is not a UTC time");
	expect_refused(ROW(",\"last_seen\":\"2026-12-02T08:00:00+01:00\""), "\"last_seen\"");
	expect_refused(ROW(",\"last_seen\":5"), "\"last_seen\" is not a time");
	expect_refused(ROW(",\"programs\":{}"), "\"programs\" is not an array");
	expect_refused(ROW(",\"programs\":[{\"comm\":\"a\"},{\"comm\":\"b\"},{\"comm\":\"c\"},"
			   "{\"comm\":\"d\"},{\"comm\":\"e\"}]"),
		       "at most 4");
	expect_refused(ROW(",\"programs\":[{\"comm\":\"0123456789abcdef\"}]"), "at most 15 bytes");
	expect_refused(ROW(",\"programs\":[{\"pids\":[]}]"), "without a \"comm\"");
	expect_refused(ROW(",\"programs\":[{\"comm\":\"a\",\"pids\":[1,2,3,4,5]}]"),
		       "at most 4 pids");
	expect_refused(ROW(",\"programs\":[{\"comm\":\"a\",\"pids\":[-1]}]"), "a pid");
	expect_refused(ROW(",\"programs\":[{\"comm\":\"a\",\"pids\":[4294967296]}]"), "a pid");
	/* C strings: no NUL inside; and only UTF-8. */
	expect_refused("{\"method\":\"GET\",\"host\":\"h\\u0000x\",\"template\":\"/\",\"count\":1}",
		       "not JSON");
	expect_refused("{\"method\":\"GET\",\"host\":\"h\xff\",\"template\":\"/\",\"count\":1}",
		       "not JSON");
}

static int read_text(const char *text, size_t len, struct call_rows *rows, char *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int ret;

	assert_non_null(f);
	ret = call_rows_read_json(f, rows, err, 200);
	fclose(f);
	return ret;
}

static void test_lines(void **state)
{
	struct call_rows rows = {0};
	char err[200] = "", text[4096];
	int n = snprintf(text, sizeof(text), "%s\n\n  \r\n%s\n%s", documented, ROW(""), ROW(""));

	/* Blank lines skipped, the last line without its newline read. */
	assert_int_equal(read_text(text, n, &rows, err), 0);
	assert_int_equal(rows.n, 3);
	assert_string_equal(rows.v[2].template, "/");
	call_rows_free(&rows);

	n = snprintf(text, sizeof(text), "%s\n\n%s\n{\"method\":1}\n%s\n", documented, ROW(""),
		     ROW(""));
	assert_int_equal(read_text(text, n, &rows, err), -EINVAL);
	assert_string_equal(err, "line 4: \"method\" is not a non-empty string");
	call_rows_free(&rows);

	/* A NUL in a line is not the end of it. */
	memcpy(text, ROW(""), sizeof(ROW("")));
	text[sizeof(ROW("")) - 1] = '\0';
	memcpy(text + sizeof(ROW("")), "x\n", 2);
	assert_int_equal(read_text(text, sizeof(ROW("")) + 2, &rows, err), -EINVAL);
	assert_string_equal(err, "line 1: not JSON: end of file expected near end of file");
	call_rows_free(&rows);
}

static void test_long_line(void **state)
{
	size_t len = CALL_ROWS_JSON_LINE_MAX + 10;
	char *text = malloc(len + sizeof(ROW("")) + 1), err[200] = "";
	struct call_rows rows = {0};

	memset(text, ' ', len);
	text[len - 1] = '\n';
	memcpy(text + len, ROW(""), sizeof(ROW("")));
	assert_int_equal(read_text(text, len + sizeof(ROW("")) - 1, &rows, err), -EINVAL);
	assert_string_equal(err, "line 1: longer than 65536 bytes");
	call_rows_free(&rows);
	/* One byte under the bound is a line like any other. */
	memset(text, ' ', CALL_ROWS_JSON_LINE_MAX);
	memcpy(text + CALL_ROWS_JSON_LINE_MAX - sizeof(ROW("")) + 1, ROW(""), sizeof(ROW("")) - 1);
	assert_int_equal(read_text(text, CALL_ROWS_JSON_LINE_MAX, &rows, err), 0);
	assert_int_equal(rows.n, 1);
	call_rows_free(&rows);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documented_row), cmocka_unit_test(test_minimal_and_extra_keys),
	    cmocka_unit_test(test_refused),	   cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_long_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
