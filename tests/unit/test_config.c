// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Endpoint parsing (METRIST_ORCHESTRATOR_ENDPOINT) and the kernel check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <stdint.h>
#include <cmocka.h>
#include "config.h"
#include "kernel_check.h"

static void expect_ok(const char *value, enum endpoint_kind kind, const char *host, int port)
{
	struct endpoint ep;

	assert_int_equal(endpoint_parse(value, &ep), 0);
	assert_int_equal(ep.kind, kind);
	assert_string_equal(ep.host, host);
	assert_int_equal(ep.port, port);
}

static void test_default_when_unset_or_empty(void **state)
{
	expect_ok(NULL, ENDPOINT_IPV4, "127.0.0.1", 51713);
	expect_ok("", ENDPOINT_IPV4, "127.0.0.1", 51713);
	expect_ok("  \t", ENDPOINT_IPV4, "127.0.0.1", 51713);
}

static void test_valid_forms(void **state)
{
	expect_ok("10.1.2.3:51712", ENDPOINT_IPV4, "10.1.2.3", 51712);
	expect_ok("[::1]:51713", ENDPOINT_IPV6, "::1", 51713);
	expect_ok("[fe80::1:2]:1", ENDPOINT_IPV6, "fe80::1:2", 1);
	expect_ok("localhost:65535", ENDPOINT_NAME, "localhost", 65535);
	expect_ok("orchestrator.prod-1.example.com:9", ENDPOINT_NAME,
		  "orchestrator.prod-1.example.com", 9);
	expect_ok(" 127.0.0.1:80 \n", ENDPOINT_IPV4, "127.0.0.1", 80);
}

static void test_invalid_forms(void **state)
{
	static const char *const bad[] = {
	    "nohost",	      "1.2.3.4",	 "1.2.3.4:",
	    "1.2.3.4:0",      "1.2.3.4:65536",	 "1.2.3.4:abc",
	    "1.2.3.4:-1",     "1.2.3.4:+80",	 "1.2.3.4:99999999999",
	    "[::1]",	      "[::1]80",	 "[::1]:",
	    "[nothost]:80",   "::1:80",		 ":80",
	    "a b:1",	      "host:1:2",	 "999.1.1.1:80",
	    "1.2.3:80",	      "-bad.example:80", "bad-.example:80",
	    "a..b:80",	      "exa_mple.com:80", "[::1]:80x",
	    "http://host:80", "host:80/",	 "[]:80",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct endpoint ep;

		if (endpoint_parse(bad[i], &ep) != -22)
			fail_msg("accepted invalid endpoint '%s'", bad[i]);
	}
}

static void test_label_and_name_lengths(void **state)
{
	char name[300];
	struct endpoint ep;

	memset(name, 'a', 63);
	strcpy(name + 63, ".com:1");
	assert_int_equal(endpoint_parse(name, &ep), 0);
	memset(name, 'a', 64);
	strcpy(name + 64, ".com:1");
	assert_int_equal(endpoint_parse(name, &ep), -22);
	for (int i = 0; i < 260; i++)
		name[i] = i % 2 ? '.' : 'a';
	strcpy(name + 260, ":1");
	assert_int_equal(endpoint_parse(name, &ep), -22);
}

static void test_format(void **state)
{
	struct endpoint ep;
	char buf[300];

	assert_int_equal(endpoint_parse("[::1]:7", &ep), 0);
	endpoint_format(&ep, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:7");
	assert_int_equal(endpoint_parse("host:8", &ep), 0);
	endpoint_format(&ep, buf, sizeof(buf));
	assert_string_equal(buf, "host:8");
}

static void test_kernel_release(void **state)
{
	unsigned major, minor;

	assert_int_equal(kernel_release_parse("6.18.44-fc-v595", &major, &minor), 0);
	assert_int_equal(major, 6);
	assert_int_equal(minor, 18);
	assert_true(kernel_release_supported(major, minor));
	assert_int_equal(kernel_release_parse("2.6.32", &major, &minor), 0);
	assert_false(kernel_release_supported(major, minor));
	assert_int_equal(kernel_release_parse("5.7.19", &major, &minor), 0);
	assert_false(kernel_release_supported(major, minor));
	assert_int_equal(kernel_release_parse("5.8.0", &major, &minor), 0);
	assert_true(kernel_release_supported(major, minor));
	assert_int_equal(kernel_release_parse("4.19", &major, &minor), 0);
	assert_false(kernel_release_supported(major, minor));
	assert_int_equal(kernel_release_parse("junk", &major, &minor), -22);
	assert_int_equal(kernel_release_parse("6", &major, &minor), -22);
	assert_int_equal(kernel_release_parse("6.", &major, &minor), -22);
	assert_int_equal(kernel_release_parse("99999999999.1", &major, &minor), -22);
}

static void test_uretprobe_seccomp_range(void **state)
{
	assert_false(kernel_release_uretprobe_seccomp_unsafe(6, 10));
	assert_true(kernel_release_uretprobe_seccomp_unsafe(6, 11));
	assert_true(kernel_release_uretprobe_seccomp_unsafe(6, 13));
	assert_false(kernel_release_uretprobe_seccomp_unsafe(6, 14));
	assert_false(kernel_release_uretprobe_seccomp_unsafe(6, 18));
	assert_false(kernel_release_uretprobe_seccomp_unsafe(5, 15));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_when_unset_or_empty),
	    cmocka_unit_test(test_valid_forms),
	    cmocka_unit_test(test_invalid_forms),
	    cmocka_unit_test(test_label_and_name_lengths),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_kernel_release),
	    cmocka_unit_test(test_uretprobe_seccomp_range),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
