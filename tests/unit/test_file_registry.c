// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The file registry stays bounded and cleans itself: TLS entries live while
 * referenced plus a linger time; plain-file verdicts replace old ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>
#include "file_registry.h"

#define S 1000000000ull

static struct tls_file *add(struct file_registry *r, uint64_t ino)
{
	struct file_id id = {8, 1, ino};
	struct tls_file_syms syms = {.backend = &tls_backend_openssl};

	return file_registry_add(r, &id, open("/dev/null", O_RDONLY), "/x/libssl.so.3", &syms);
}

static void test_tls_entry_lingers_then_goes(void **state)
{
	struct file_registry *r = file_registry_new();
	struct file_id id = {8, 1, 42};
	struct tls_file *f = add(r, 42);

	(void)state;
	assert_non_null(f);
	assert_ptr_equal(file_registry_find(r, &id), f);
	file_ref(f);
	file_ref(f);
	file_unref(f, 10 * S);
	assert_int_equal(file_registry_expire(r, 1000 * S, FILE_LINGER_NS), 0);
	file_unref(f, 20 * S); /* last reference: lingers from now */
	assert_int_equal(file_registry_expire(r, 79 * S, FILE_LINGER_NS), 0);
	/* Referenced again within the linger time: kept. */
	file_ref(f);
	assert_int_equal(file_registry_expire(r, 200 * S, FILE_LINGER_NS), 0);
	file_unref(f, 200 * S);
	assert_int_equal(file_registry_expire(r, 260 * S, FILE_LINGER_NS), 1);
	assert_null(file_registry_find(r, &id));
	assert_int_equal(file_registry_stats(r).expired, 1);
	file_registry_free(r);
}

static void test_tls_table_bounded(void **state)
{
	struct file_registry *r = file_registry_new();
	unsigned i;

	(void)state;
	for (i = 1; i <= TLS_FILES_MAX; i++)
		file_ref(add(r, i));
	assert_null(add(r, 100000));
	assert_int_equal(file_registry_stats(r).full, 1);
	assert_int_equal(file_registry_stats(r).tls_files, TLS_FILES_MAX);
	/* Once unreferenced and expired, room again. */
	for (i = 1; i <= TLS_FILES_MAX; i++) {
		struct file_id id = {8, 1, i};

		file_unref(file_registry_find(r, &id), 1 * S);
	}
	assert_int_equal(file_registry_expire(r, 100 * S, FILE_LINGER_NS), TLS_FILES_MAX);
	assert_non_null(add(r, 100000));
	file_registry_free(r);
}

static void test_plain_cache_never_fills_up(void **state)
{
	struct file_registry *r = file_registry_new();
	struct file_id recent = {8, 1, 7};
	uint64_t i, known = 0;

	(void)state;
	/* Far more distinct files than slots. */
	for (i = 1; i <= 4 * NOT_TLS_CACHE; i++) {
		struct file_id id = {8, 1, 1000 + i};

		file_registry_note_plain(r, &id, i);
	}
	assert_true(file_registry_stats(r).plain_evicted >= 3 * NOT_TLS_CACHE);
	/* The most recent ones are mostly still known; a new one is not. */
	for (i = 3 * NOT_TLS_CACHE + 1; i <= 4 * NOT_TLS_CACHE; i++) {
		struct file_id id = {8, 1, 1000 + i};

		known += file_registry_known_plain(r, &id, 5 * NOT_TLS_CACHE);
	}
	assert_true(known > NOT_TLS_CACHE / 2);
	assert_false(file_registry_known_plain(r, &recent, 5 * NOT_TLS_CACHE));
	file_registry_note_plain(r, &recent, 5 * NOT_TLS_CACHE);
	assert_true(file_registry_known_plain(r, &recent, 5 * NOT_TLS_CACHE));
	file_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_entry_lingers_then_goes),
	    cmocka_unit_test(test_tls_table_bounded),
	    cmocka_unit_test(test_plain_cache_never_fills_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
