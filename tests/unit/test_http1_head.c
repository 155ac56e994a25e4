// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The request head kept while it is parsed: grown as needed, cut at the
 * limits, freed once the request is queued. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "http1.h"
#include "http1_head.h"

static void test_grows_as_needed_and_is_freed(void **state)
{
	struct h1_head h = {0};

	(void)state;
	h1_head_begin(&h, 42);
	assert_null(h.target);
	assert_true(h1_head_add_target(&h, "/a", 2));
	assert_int_equal(h.target_cap, 32); /* not the 2 KB limit */
	for (int i = 0; i < 20; i++)
		assert_true(h1_head_add_target(&h, "/abcdefgh", 9));
	assert_int_equal(h.target_len, 182);
	assert_int_equal(h.target_cap, 256);
	assert_memory_equal(h.target, "/a/abcdefgh/abc", 15);
	h1_head_release(&h);
	assert_null(h.target);
	assert_int_equal(h.target_len, 0);
	assert_int_equal(h.target_cap, 0);
}

static void test_target_cut_at_the_limit(void **state)
{
	static char big[HTTP1_TARGET_MAX + 100];
	struct h1_head h = {0};

	(void)state;
	memset(big, 'x', sizeof(big));
	big[0] = '/';
	h1_head_begin(&h, 1);
	assert_true(h1_head_add_target(&h, big, 1000));
	assert_false(h.target_truncated);
	assert_true(h1_head_add_target(&h, big, sizeof(big) - 1000));
	assert_true(h.target_truncated);
	assert_int_equal(h.target_len, HTTP1_TARGET_MAX);
	assert_int_equal(h.target_cap, HTTP1_TARGET_MAX);
	h1_head_release(&h);
}

static void test_host_whitespace_and_length(void **state)
{
	static char big[HTTP1_HOST_MAX + 1];
	struct h1_head h = {0};

	(void)state;
	h1_head_begin(&h, 1);
	h1_head_host_field(&h);
	assert_true(h1_head_add_host(&h, "  api.", 6));
	assert_true(h1_head_add_host(&h, "example.com \t ", 14));
	assert_int_equal(h.host_len, 15);
	assert_memory_equal(h.host, "api.example.com", 15);
	/* A second Host field replaces the value (the parser rejects the request). */
	h1_head_host_field(&h);
	memset(big, 'a', sizeof(big));
	assert_true(h1_head_add_host(&h, big, HTTP1_HOST_MAX));
	assert_false(h.host_long);
	assert_true(h1_head_add_host(&h, big, 1));
	assert_true(h.host_long);
	h1_head_release(&h);
}

static void test_absolute_form(void **state)
{
	static const char t[] = "https://user:pw@Api.Example.com:8443/v1/x?q=1";
	struct h1_head h = {0};

	(void)state;
	h1_head_begin(&h, 1);
	assert_true(h1_head_add_target(&h, t, sizeof(t) - 1));
	assert_int_equal(h1_head_split_absolute(&h), 0);
	assert_int_equal(h.host_len, strlen("Api.Example.com:8443"));
	assert_memory_equal(h.host, "Api.Example.com:8443", h.host_len);
	assert_int_equal(h.target_len, strlen("/v1/x?q=1"));
	assert_memory_equal(h.target, "/v1/x?q=1", h.target_len);
	h1_head_release(&h);
	/* Origin form and no target at all: nothing to split, nothing allocated. */
	h1_head_begin(&h, 2);
	assert_int_equal(h1_head_split_absolute(&h), 0);
	assert_true(h1_head_add_target(&h, "/p", 2));
	assert_int_equal(h1_head_split_absolute(&h), 0);
	assert_null(h.host);
	h1_head_release(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grows_as_needed_and_is_freed),
	    cmocka_unit_test(test_target_cut_at_the_limit),
	    cmocka_unit_test(test_host_whitespace_and_length),
	    cmocka_unit_test(test_absolute_form),
	};
	return cmocka_run_group_tests_name("http1_head", tests, NULL, NULL);
}
