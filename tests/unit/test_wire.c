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
#include <regex.h>
#include "path_redact.h"
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

/* Tokens in paths (issue 15): what the log and the datagram carry. */
static const struct {
	const char *target, *sent;
} redacted[] = {
    /* Slack incoming webhook: the secret, whatever it looks like. */
    {"/services/T0123ABCD/B0456EFGH/Vx9rT2LmQw8ZpK4nB7sD1fGh",
     "/services/T0123ABCD/B0456EFGH/:token"},
    {"/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx",
     "/services/T0123ABCD/B0456EFGH/:token"},
    /* Discord, and its Slack-compatible endpoint. */
    {"/api/webhooks/123456789012345678/"
     "AbC-dEf_1234567890123456789012345abcdefghijklmnopqrstuvwxyzABCDEF12",
     "/api/webhooks/123456789012345678/:token"},
    {"/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyzabcdefghij/slack?wait=true",
     "/api/webhooks/123456789012345678/:token/slack"},
    /* Telegram: the "bot" stays, for patterns such as /bot[^/]+/sendMessage. */
    {"/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "/bot:token/sendMessage"},
    {"/file/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/photos/file_1.jpg",
     "/file/bot:token/photos/file_1.jpg"},
    /* A JWT, a GitHub token, a Teams webhook's 32-hex secret, a digest. */
    {"/v1/verify/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "/v1/verify/:token"},
    {"/keys/ghp_16C7e42F292c6912E7710c838347Ae178B4a/check", "/keys/:token/check"},
    {"/webhookb2/0e3f1c2a-1111-4e5b-9c2d-123456789abc@7a1b2c3d-2222-4e5b-9c2d-123456789abc/"
     "IncomingWebhook/0123456789abcdef0123456789abcdef/3c2b1a0f-3333-4e5b-9c2d-123456789abc",
     "/webhookb2/0e3f1c2a-1111-4e5b-9c2d-123456789abc@7a1b2c3d-2222-4e5b-9c2d-123456789abc/"
     "IncomingWebhook/:token/3c2b1a0f-3333-4e5b-9c2d-123456789abc"},
    {"/v2/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "/v2/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"/v2/blobs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "/v2/blobs/:token"},
    /* IFTTT's key; a long opaque id looks the same. */
    {"/trigger/door/with/key/bNHFwiZx7Y5ptS6D-IgAXx", "/trigger/door/with/key/:token"},
    {"/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa", "/v1/payment_intents/:token"},
    /* Kept: numbers, UUIDs, short and hex ids, slugs, names, file names. */
    {"/v1/users/1234567890123456789012/orders", NULL},
    {"/v1/items/550e8400-e29b-41d4-a716-446655440000", NULL},
    {"/objects/5f8d0d55b54764421b7156c9", NULL},
    {"/v1/customers/cus_9s6XKzkNRiz8i3/invoices", NULL},
    {"/blog/how-to-configure-the-system-2023", NULL},
    {"/api/GetUserProfileSettingsForAccount", NULL},
    {"/api/XMLHttpRequestEventTarget/OAuth2AuthorizationCodeFlow", NULL},
    {"/dl/libssl-1.1.1w-0+deb11u1.tar.gz", NULL},
    {"/media/image_1920x1080_final_version.png", NULL},
    {"/services/T0123ABCD/B0456EFGH", NULL},
    {"/api/webhooks/123/short", NULL},
    {"/bot/status", NULL},
    {"/bot123:short/getMe", NULL},
    {"/", NULL},
};

static void test_tokens_in_paths(void **state)
{
	for (size_t i = 0; i < sizeof(redacted) / sizeof(redacted[0]); i++) {
		const char *want = redacted[i].sent ? redacted[i].sent : redacted[i].target;
		char buf[WIRE_DATAGRAM_MAX + 1];
		struct wire_call call;
		struct parsed p;
		int n = make_and_encode("POST", "hooks.example.com", redacted[i].target, false,
					1000000, buf, &call);

		assert_true(n > 0);
		assert_int_equal(orchestrator_parse(buf, n, &p), 0);
		if (strcmp(call.path, want) || strcmp(p.fields[2], want))
			fail_msg("%s\n  sent as %s\n  expected %s", redacted[i].target, call.path,
				 want);
	}
}

/* The Orchestrator searches its url regexes in the path as sent: patterns
 * written for these APIs still match. */
static void test_patterns_still_match(void **state)
{
	static const struct {
		const char *target, *regex;
	} cases[] = {
	    {"/services/T0123ABCD/B0456EFGH/Vx9rT2LmQw8ZpK4nB7sD1fGh", "^/services/"},
	    {"/services/T0123ABCD/B0456EFGH/Vx9rT2LmQw8ZpK4nB7sD1fGh",
	     "^/services/[^/]+/[^/]+/[^/]+$"},
	    {"/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyzabcdefghij",
	     "/api/webhooks/[0-9]+/[^/]+$"},
	    {"/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
	     "^/bot[^/]*/sendMessage$"},
	    {"/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "sendMessage"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_call call;
		regex_t re;

		assert_int_equal(wire_call_make(&call, "POST", "h", cases[i].target, false, 1), 0);
		assert_int_equal(regcomp(&re, cases[i].regex, REG_EXTENDED | REG_NOSUB), 0);
		if (regexec(&re, call.path, 0, NULL, 0))
			fail_msg("%s does not match %s", call.path, cases[i].regex);
		regfree(&re);
	}
}

/* The generic rule on random strings of the shapes keys have: a fixed
 * generator, so the test is the same every run. */
static void test_random_keys_folded(void **state)
{
	static const char *const alphabets[] = {
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
	};
	uint64_t x = 88172645463325252ull;
	unsigned folded = 0, total = 0;

	for (size_t a = 0; a < 2; a++) {
		size_t na = strlen(alphabets[a]);

		for (size_t len = 24; len <= 68; len += 4) {
			for (int k = 0; k < 100; k++) {
				char seg[80];

				for (size_t i = 0; i < len; i++) {
					x ^= x << 13, x ^= x >> 7, x ^= x << 17;
					seg[i] = alphabets[a][x % na];
				}
				folded += path_segment_is_secret(seg, len);
				total++;
			}
		}
	}
	/* 2395 of these 2400 (99.8 %); of 20,000 random 24-character base62
	 * keys, 99.4 % (a simulation of the same rule). Slack's and Discord's
	 * are caught by their place in the path anyway. */
	assert_true(folded * 1000 >= total * 995);
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
	    cmocka_unit_test(test_tokens_in_paths),
	    cmocka_unit_test(test_patterns_still_match),
	    cmocka_unit_test(test_random_keys_folded),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
