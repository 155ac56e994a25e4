// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Datagram encoding, checked by parsing it the way the Orchestrator does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "wire.h"

struct parsed {
	char fields[4][WIRE_DATAGRAM_MAX];
	double value;
};

/* Trim, drop the leading "0", split on runs of whitespace into exactly 4. */
static int orchestrator_parse(const char *dgram, int len, struct parsed *p)
{
	char buf[WIRE_DATAGRAM_MAX + 1], *s, *end, *tok, *save = NULL;
	int n = 0;

	memcpy(buf, dgram, len);
	buf[len] = '\0';
	s = buf;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s != '0')
		return -1;
	s++;
	for (tok = strtok_r(s, " \t\r\n\v\f", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n\v\f", &save)) {
		if (n == 4)
			return -1;
		strcpy(p->fields[n++], tok);
	}
	if (n != 4)
		return -1;
	p->value = strtod(p->fields[3], &end);
	return *end ? -1 : 0;
}

static int make_and_encode(const char *method, const char *host, const char *target, bool cut,
			   uint64_t ns, char *buf, struct wire_call *call)
{
	if (wire_call_make(call, method, host, target, cut, ns))
		return -1;
	return wire_encode(call, buf, WIRE_DATAGRAM_MAX + 1);
}

static void test_exact_format(void **state)
{
	struct wire_call call;
	char buf[WIRE_DATAGRAM_MAX + 1];
	int n = make_and_encode("GET", "API.Example.com:8443", "/v1/users?api_key=SECRET#frag",
				false, 183274000, buf, &call);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "0\tGET\tapi.example.com:8443\t/v1/users\t183.274\n");
}

static void test_orchestrator_parses_it(void **state)
{
	struct wire_call call;
	struct parsed p;
	char buf[WIRE_DATAGRAM_MAX + 1];
	int n = make_and_encode("DELETE", "[::1]:443", "/a/b/c", false, 1500000, buf, &call);

	assert_true(n > 0);
	assert_int_equal(orchestrator_parse(buf, n, &p), 0);
	assert_string_equal(p.fields[0], "DELETE");
	assert_string_equal(p.fields[1], "[::1]:443");
	assert_string_equal(p.fields[2], "/a/b/c");
	assert_true(p.value > 1.4999 && p.value < 1.5001);
}

static void test_whitespace_and_control_are_encoded(void **state)
{
	struct wire_call call;
	struct parsed p;
	char buf[WIRE_DATAGRAM_MAX + 1];
	int n = make_and_encode("GET", "h", "/a b\tc\x01\xff", false, 1000000, buf, &call);

	assert_true(n > 0);
	assert_int_equal(orchestrator_parse(buf, n, &p), 0);
	assert_string_equal(p.fields[2], "/a%20b%09c%01%FF");
}

static void test_invalid_fields_refused(void **state)
{
	struct wire_call call;

	assert_int_equal(wire_call_make(&call, "get", "h", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "", "h", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "G T", "h", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "a b", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "a\nb", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "a/b", "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "h", "", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "h", "?q=1", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", "h", "relative", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GET", NULL, "/", false, 1), -22);
	assert_int_equal(wire_call_make(&call, "GETTINGMUCHTOOLONGFORAMETHOD", "h", "/", false, 1),
			 -22);
}

static void test_options_star(void **state)
{
	struct wire_call call;
	char buf[WIRE_DATAGRAM_MAX + 1];
	int n = make_and_encode("OPTIONS", "h", "*", false, 0, buf, &call);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "0\tOPTIONS\th\t*\t0.000\n");
}

static void test_long_path_cut_at_slash(void **state)
{
	char target[5000], buf[WIRE_DATAGRAM_MAX + 1];
	struct wire_call call;
	struct parsed p;
	size_t len = 0;
	int n;

	while (len < sizeof(target) - 20)
		len += sprintf(target + len, "/segment%zu", len);
	n = make_and_encode("GET", "host", target, false, 1000, buf, &call);
	assert_true(n > 0 && n <= WIRE_DATAGRAM_MAX);
	assert_int_equal(orchestrator_parse(buf, n, &p), 0);
	/* Cut after a '/', and what is kept is a prefix of the path. */
	assert_int_equal(p.fields[2][strlen(p.fields[2]) - 1], '/');
	assert_memory_equal(p.fields[2], target, strlen(p.fields[2]));
	assert_true(n > WIRE_DATAGRAM_MAX - 40);
}

/* A target cut by the parser inside its query: the path is whole. */
static void test_cut_in_query_keeps_path(void **state)
{
	char target[2049], buf[WIRE_DATAGRAM_MAX + 1];
	struct wire_call call;
	struct parsed p;
	int n;

	memset(target, 'q', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	memcpy(target, "/api/graphql?query=", 19);
	n = make_and_encode("POST", "host", target, true, 1000, buf, &call);
	assert_true(n > 0);
	assert_int_equal(orchestrator_parse(buf, n, &p), 0);
	assert_string_equal(p.fields[2], "/api/graphql");
}

static void test_truncated_target_drops_partial_segment(void **state)
{
	struct wire_call call;

	assert_int_equal(wire_call_make(&call, "GET", "h", "/api/v1/partial-seg", true, 1), 0);
	assert_string_equal(call.path, "/api/v1/");
	assert_int_equal(wire_call_make(&call, "GET", "h", "/api/v1/", true, 1), 0);
	assert_string_equal(call.path, "/api/v1/");
}

static void test_latency_bounds(void **state)
{
	struct wire_call call = {"GET", "h", "/", -1.0};
	char buf[WIRE_DATAGRAM_MAX + 1];

	assert_int_equal(wire_encode(&call, buf, sizeof(buf)), -22);
	call.ms = 1e13;
	assert_int_equal(wire_encode(&call, buf, sizeof(buf)), -22);
	call.ms = 0.0005;
	assert_true(wire_encode(&call, buf, sizeof(buf)) > 0);
	assert_int_equal(wire_encode(&call, buf, 100), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_format),
	    cmocka_unit_test(test_orchestrator_parses_it),
	    cmocka_unit_test(test_whitespace_and_control_are_encoded),
	    cmocka_unit_test(test_invalid_fields_refused),
	    cmocka_unit_test(test_options_star),
	    cmocka_unit_test(test_long_path_cut_at_slash),
	    cmocka_unit_test(test_cut_in_query_keeps_path),
	    cmocka_unit_test(test_truncated_target_drops_partial_segment),
	    cmocka_unit_test(test_latency_bounds),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
