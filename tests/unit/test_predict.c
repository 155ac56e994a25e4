// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prediction at exec: DT_NEEDED chains through the ld.so cache (hits,
 * misses, the memo that keeps the second exec cheap) and learned
 * executables (bounded, oldest replaced). Uses the host's curl and cache. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "file_registry.h"
#include "predict.h"

struct fake {
	struct tls_file ssl;	/* stands for the registry's libssl entry */
	struct tls_file gnutls; /* ... and libgnutls's, when gnutls_too */
	bool gnutls_too;
	int defer_ssl; /* analyses of libssl still to defer (pages not cached) */
	int lookups, analyses;
};

/* libssl.so.3 is "the TLS file"; nothing else is. With gnutls_too,
 * libgnutls.so.30 is one too, and nothing is known before it is analysed. */
static struct tls_file *lookup(int root_fd, const char *path, bool analyse, bool *deferred,
			       void *ctx)
{
	struct fake *f = ctx;
	const char *base = strrchr(path, '/');

	f->lookups++;
	f->analyses += analyse;
	if (f->gnutls_too && !analyse)
		return NULL;
	if (base && !strcmp(base, "/libssl.so.3") && f->defer_ssl > 0) {
		if (!analyse)
			return NULL;
		f->defer_ssl--;
		*deferred = true;
		return NULL;
	}
	if (base && !strcmp(base, "/libssl.so.3"))
		return &f->ssl;
	if (base && !strcmp(base, "/libgnutls.so.30") && f->gnutls_too)
		return &f->gnutls;
	return NULL;
}

static struct predictor *new_predictor(struct fake *f)
{
	if (access(LDCACHE_PATH, R_OK))
		return NULL;
	memset(f, 0, sizeof(*f));
	f->ssl.path = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
	return predict_new(NULL, lookup, f);
}

/* Predicted as for a process of our own root. */
static struct tls_file *predict_path_deferred(struct predictor *p, const char *exe, bool *deferred)
{
	int fd = open(exe, O_RDONLY | O_CLOEXEC);
	struct root_key key;
	int root_fd = predict_root_open("/proc", getpid(), &key);
	struct tls_file *t;

	assert_true(fd >= 0);
	assert_true(root_fd >= 0);
	t = predict_from_needed(p, root_fd, &key, fd, 0, deferred);
	close(fd);
	close(root_fd);
	return t;
}

static struct tls_file *predict_path(struct predictor *p, const char *exe)
{
	bool deferred;
	struct tls_file *t = predict_path_deferred(p, exe, &deferred);

	assert_false(deferred);
	return t;
}

static void test_curl_predicted_through_libcurl(void **state)
{
	struct fake f;
	struct predictor *p = new_predictor(&f);

	(void)state;
	if (!p || access("/usr/bin/curl", R_OK))
		skip();
	/* curl -> libcurl.so.4 -> libssl.so.3: two levels down, through the
	 * known-facts pass and then the deep one. */
	assert_ptr_equal(predict_path(p, "/usr/bin/curl"), &f.ssl);
	assert_true(f.lookups > 2);
	assert_true(f.analyses >= 1);
	/* Memoised: the second exec asks for libcurl's answer once. */
	f.lookups = f.analyses = 0;
	assert_ptr_equal(predict_path(p, "/usr/bin/curl"), &f.ssl);
	assert_int_equal(f.lookups, 1);
	predict_free(p);
}

/* curl maps both libssl (libcurl's own) and libgnutls (librtmp's, listed
 * before libssl in libcurl's DT_NEEDED): the shallowest, libssl, is the one
 * predicted, even when neither was known before (a container's first run). */
static void test_shallowest_tls_library_predicted(void **state)
{
	struct fake f;
	struct predictor *p = new_predictor(&f);

	(void)state;
	if (!p || access("/usr/bin/curl", R_OK))
		skip();
	f.gnutls_too = true;
	assert_ptr_equal(predict_path(p, "/usr/bin/curl"), &f.ssl);
	predict_free(p);
}

/* libssl could not be analysed now (its pages not cached: a worker does
 * it): no verdict, and nothing memoised from it, so the next exec of curl,
 * once libssl is known, is predicted. */
static void test_deferred_library_not_memoised_as_plain(void **state)
{
	struct fake f;
	struct predictor *p = new_predictor(&f);
	bool deferred;

	(void)state;
	if (!p || access("/usr/bin/curl", R_OK))
		skip();
	f.defer_ssl = 100;
	assert_null(predict_path_deferred(p, "/usr/bin/curl", &deferred));
	assert_true(deferred);
	f.defer_ssl = 0;
	assert_ptr_equal(predict_path(p, "/usr/bin/curl"), &f.ssl);
	predict_free(p);
}

static void test_miss(void **state)
{
	struct fake f;
	struct predictor *p = new_predictor(&f);

	(void)state;
	if (!p)
		skip();
	assert_null(predict_path(p, "/bin/true"));
	/* A file that is no ELF at all predicts nothing, and says so quietly. */
	assert_null(predict_path(p, "/etc/hostname"));
	predict_free(p);
}

static void test_learned_bounded(void **state)
{
	struct fake f;
	struct predictor *p = new_predictor(&f);
	struct file_id ssl = {8, 1, 99}, other = {8, 1, 98};
	const struct learned_exe *l;

	(void)state;
	if (!p)
		skip();
	for (uint64_t i = 1; i <= LEARNED_MAX; i++) {
		struct file_id exe = {8, 1, 1000 + i};

		predict_learn(p, &exe, i == 1 ? &ssl : NULL);
	}
	l = predict_learned(p, &(struct file_id){8, 1, 1001});
	assert_non_null(l);
	assert_int_equal(l->nfiles, 1);
	/* The same file is remembered once; a second one is added. */
	predict_learn(p, &l->exe, &ssl);
	predict_learn(p, &l->exe, &other);
	assert_int_equal(l->nfiles, 2);
	/* Most recently mapped first; a fifth file replaces the least recent. */
	assert_true(file_id_equal(&l->files[0], &other));
	for (uint64_t i = 0; i < 3; i++)
		predict_learn(p, &l->exe, &(struct file_id){9, 9, 10 + i});
	assert_int_equal(l->nfiles, PROC_FILES_MAX);
	assert_int_equal(l->files[0].ino, 12);
	assert_true(file_id_equal(&l->files[3], &other)); /* ssl (the oldest) went */
	predict_learn(p, &l->exe, &other);		  /* mapped again: to the front */
	assert_true(file_id_equal(&l->files[0], &other));
	/* One more executable than the table holds: the oldest goes. */
	predict_learn(p, &(struct file_id){8, 1, 5000}, NULL);
	assert_null(predict_learned(p, &(struct file_id){8, 1, 1001}));
	assert_non_null(predict_learned(p, &(struct file_id){8, 1, 5000}));
	assert_non_null(predict_learned(p, &(struct file_id){8, 1, 1002}));
	predict_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_curl_predicted_through_libcurl),
	    cmocka_unit_test(test_shallowest_tls_library_predicted),
	    cmocka_unit_test(test_deferred_library_not_memoised_as_plain),
	    cmocka_unit_test(test_miss),
	    cmocka_unit_test(test_learned_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
