// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Log lines are sanitised: strings from outside cannot forge lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "log.h"

/* What log lines the calls in fn write to stderr. */
static char captured[8192];

static void capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), 2) == 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
}

static void log_hostile(void)
{
	/* A path with a forged line, a comm with a terminal escape. */
	log_warn("TLS library found: %s", "/tmp/x\nerror: forged line\r/libssl.so.3");
	log_warn("comm=%s", "\x1b[31mred\x07");
	log_warn("%s", "back\\slash tab\t nul-free \x7f del");
	log_warn("utf-8 %s", "caf\xc3\xa9 \xc2\x9b c1");
}

static void test_log_line_escaped(void **state)
{
	capture(log_hostile);
	assert_string_equal(
	    captured, "warning: TLS library found: /tmp/x\\x0aerror: forged line\\x0d/libssl.so.3\n"
		      "warning: comm=\\x1b[31mred\\x07\n"
		      "warning: back\\slash tab\\x09 nul-free \\x7f del\n"
		      "warning: utf-8 caf\\xc3\\xa9 \\xc2\\x9b c1\n");
}

static void log_long(void)
{
	char big[3000];

	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warn("%s", big);
}

/* Cut to the line buffer, at a whole escape, still one line. */
static void test_long_line_one_line(void **state)
{
	size_t len;

	capture(log_long);
	len = strlen(captured);
	assert_true(len > 1000 && len < 2048);
	assert_int_equal(captured[len - 1], '\n');
	assert_null(memchr(captured, '\n', len - 1));
	assert_memory_equal(captured + len - 5, "\\x0a\n", 5);
}

static void test_field(void **state)
{
	char out[64];

	assert_string_equal(log_field(out, sizeof(out), "curl"), "curl");
	assert_string_equal(log_field(out, sizeof(out), "my proc\n"), "my\\x20proc\\x0a");
	assert_string_equal(log_field(out, sizeof(out), "/opt/a b/libssl.so"),
			    "/opt/a\\x20b/libssl.so");
	assert_string_equal(log_field(out, sizeof(out), "a\\x0a"), "a\\x5cx0a");
	/* Cut before an escape that does not fit whole. */
	assert_string_equal(log_field(out, 7, "ab\ncd"), "ab\\x0a");
	assert_string_equal(log_field(out, 6, "ab\ncd"), "ab");
	assert_string_equal(log_field(out, 1, "abc"), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_line_escaped),
	    cmocka_unit_test(test_long_line_one_line),
	    cmocka_unit_test(test_field),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
