// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ld.so caches of prediction, one per root: loaded lazily, a root
 * without one remembered as "none" and retried later, a replaced cache
 * reloaded, at most PREDICT_ROOTS_MAX roots (least recently used evicted)
 * and a byte budget, oversized caches refused, nothing followed out of a
 * root. Roots are temporary directories holding a copy of the host's cache
 * at etc/ld.so.cache; keys are made up (the mount namespace part tells
 * roots sharing one directory apart). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "predict_roots.h"

#define SEC 1000000000ull

struct root_dir {
	char path[64];
	int fd; /* O_PATH of the directory */
};

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The host's cache, padded with zeros to PAD bytes (0: as it is). */
static void put_cache(const struct root_dir *d, size_t pad)
{
	char path[128];
	static char buf[ROOT_CACHE_SIZE_MAX + 4096];
	int fd = open(LDCACHE_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	if (pad > (size_t)n) {
		memset(buf + n, 0, pad - n);
		n = pad;
	}
	/* Written beside and renamed, as ldconfig does: a new inode. */
	snprintf(path, sizeof(path), "%s/etc/ld.so.cache~", d->path);
	write_file(path, buf, n);
	char final[128];

	snprintf(final, sizeof(final), "%s/etc/ld.so.cache", d->path);
	assert_int_equal(rename(path, final), 0);
}

static void make_root(struct root_dir *d, bool with_cache)
{
	char etc[96];

	snprintf(d->path, sizeof(d->path), "/tmp/test_predict_roots.XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(etc, sizeof(etc), "%s/etc", d->path);
	assert_int_equal(mkdir(etc, 0755), 0);
	if (with_cache)
		put_cache(d, 0);
	d->fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(d->fd >= 0);
}

static void remove_root(struct root_dir *d)
{
	char cmd[128];

	close(d->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
	assert_int_equal(system(cmd), 0);
}

static struct root_key key_of(const struct root_dir *d, uint64_t mntns)
{
	struct stat st;

	assert_int_equal(fstat(d->fd, &st), 0);
	return (struct root_key){st.st_dev, st.st_ino, mntns};
}

static int setup(void **state)
{
	return access(LDCACHE_PATH, R_OK) ? -1 : 0;
}

static void test_lazy_and_shared(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	struct root_dir d;
	struct root_key k;
	struct predict_root *e;

	make_root(&d, true);
	k = key_of(&d, 1);
	assert_int_equal(predict_roots_stats(r).loads, 0); /* nothing read up front */
	e = predict_roots_get(r, d.fd, &k, 0);
	assert_non_null(e);
	assert_true(e->cache.n > 10);
	assert_non_null(e->memo);
	assert_int_equal(e->memo[0].needs_tls, -1);
	e->memo[0].needs_tls = 0; /* what prediction learns stays with the root */
	assert_ptr_equal(predict_roots_get(r, d.fd, &k, 1 * SEC), e);
	assert_int_equal(e->memo[0].needs_tls, 0);
	assert_int_equal(predict_roots_stats(r).loads, 1);
	assert_int_equal(predict_roots_stats(r).roots, 1);
	/* The same directory in another mount namespace is another root. */
	k.mntns = 2;
	assert_non_null(predict_roots_get(r, d.fd, &k, 1 * SEC));
	assert_int_equal(predict_roots_stats(r).loads, 2);
	assert_int_equal(predict_roots_stats(r).roots, 2);
	predict_roots_free(r);
	remove_root(&d);
}

static void test_none_remembered_then_retried(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	struct root_dir d;
	struct root_key k;

	make_root(&d, false);
	k = key_of(&d, 1);
	assert_null(predict_roots_get(r, d.fd, &k, 100 * SEC));
	assert_int_equal(predict_roots_stats(r).none, 1);
	/* A cache appears: not looked for on every exec... */
	put_cache(&d, 0);
	assert_null(predict_roots_get(r, d.fd, &k, 100 * SEC + ROOT_RETRY_NS - 1));
	assert_int_equal(predict_roots_stats(r).loads, 1);
	/* ...but after a while. */
	assert_non_null(predict_roots_get(r, d.fd, &k, 100 * SEC + ROOT_RETRY_NS));
	assert_int_equal(predict_roots_stats(r).loads, 2);
	predict_roots_free(r);
	remove_root(&d);
}

static void test_replaced_cache_reloaded(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	struct root_dir d;
	struct root_key k;

	make_root(&d, true);
	k = key_of(&d, 1);
	assert_non_null(predict_roots_get(r, d.fd, &k, 0));
	/* Unchanged: one stat per ROOT_RECHECK_NS, no reload. */
	assert_non_null(predict_roots_get(r, d.fd, &k, ROOT_RECHECK_NS));
	assert_int_equal(predict_roots_stats(r).loads, 1);
	put_cache(&d, 0); /* ldconfig ran */
	assert_non_null(predict_roots_get(r, d.fd, &k, ROOT_RECHECK_NS + 1));
	assert_int_equal(predict_roots_stats(r).loads, 1); /* not yet looked at */
	assert_non_null(predict_roots_get(r, d.fd, &k, 2 * ROOT_RECHECK_NS));
	assert_int_equal(predict_roots_stats(r).loads, 2);
	predict_roots_free(r);
	remove_root(&d);
}

static void test_lru_bound(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	struct root_dir d;
	struct root_key k;
	uint64_t loads;

	make_root(&d, true);
	for (uint64_t i = 0; i < PREDICT_ROOTS_MAX; i++) {
		k = key_of(&d, 100 + i);
		assert_non_null(predict_roots_get(r, d.fd, &k, 0));
	}
	k = key_of(&d, 100);
	assert_non_null(predict_roots_get(r, d.fd, &k, 0)); /* the first, used again */
	k = key_of(&d, 1000);
	assert_non_null(predict_roots_get(r, d.fd, &k, 0)); /* one more root */
	assert_int_equal(predict_roots_stats(r).roots, PREDICT_ROOTS_MAX);
	assert_int_equal(predict_roots_stats(r).evicted, 1);
	loads = predict_roots_stats(r).loads;
	k = key_of(&d, 100);
	assert_non_null(predict_roots_get(r, d.fd, &k, 0)); /* kept */
	assert_int_equal(predict_roots_stats(r).loads, loads);
	k = key_of(&d, 101);
	assert_non_null(predict_roots_get(r, d.fd, &k, 0)); /* the least recent: gone */
	assert_int_equal(predict_roots_stats(r).loads, loads + 1);
	predict_roots_free(r);
	remove_root(&d);
}

static void test_byte_budget_and_size_cap(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	unsigned fit = ROOTS_CACHE_BYTES_MAX / ROOT_CACHE_SIZE_MAX;
	struct root_dir big, huge;
	struct root_key k;

	make_root(&big, false);
	put_cache(&big, ROOT_CACHE_SIZE_MAX); /* as large as allowed */
	big.fd = (close(big.fd), open(big.path, O_PATH | O_DIRECTORY | O_CLOEXEC));
	for (unsigned i = 0; i <= fit; i++) {
		k = key_of(&big, 1 + i);
		assert_non_null(predict_roots_get(r, big.fd, &k, 0));
		assert_true(predict_roots_stats(r).bytes <= ROOTS_CACHE_BYTES_MAX);
	}
	assert_int_equal(predict_roots_stats(r).evicted, 1);
	assert_int_equal(predict_roots_stats(r).roots, fit);

	make_root(&huge, false);
	put_cache(&huge, ROOT_CACHE_SIZE_MAX + 1);
	k = key_of(&huge, 1);
	assert_null(predict_roots_get(r, huge.fd, &k, 0));
	assert_int_equal(predict_roots_stats(r).too_big, 1);
	predict_roots_free(r);
	remove_root(&big);
	remove_root(&huge);
}

/* A root's cache that is a symlink to a file outside it (by its absolute
 * path on the host) is resolved inside the root: not there, no cache. */
static void test_nothing_followed_out_of_a_root(void **state)
{
	struct predict_roots *r = predict_roots_new(NULL);
	struct root_dir outside, d;
	char target[128], link[128];
	struct root_key k;

	make_root(&outside, true);
	make_root(&d, false);
	snprintf(target, sizeof(target), "%s/etc/ld.so.cache", outside.path);
	snprintf(link, sizeof(link), "%s/etc/ld.so.cache", d.path);
	assert_int_equal(symlink(target, link), 0);
	k = key_of(&d, 1);
	assert_null(predict_roots_get(r, d.fd, &k, 0));
	assert_int_equal(predict_roots_stats(r).none, 1);
	/* Through "..": the same. */
	assert_int_equal(unlink(link), 0);
	snprintf(target, sizeof(target), "../../../../../../..%s/etc/ld.so.cache", outside.path);
	assert_int_equal(symlink(target, link), 0);
	assert_null(predict_roots_get(r, d.fd, &k, ROOT_RETRY_NS));
	assert_int_equal(predict_roots_stats(r).none, 2);
	predict_roots_free(r);
	remove_root(&outside);
	remove_root(&d);
}

static void test_root_of_a_process(void **state)
{
	struct root_key k;
	struct stat st;
	int fd = predict_root_open("/proc", getpid(), &k);

	assert_true(fd >= 0);
	assert_int_equal(stat("/", &st), 0);
	assert_true(k.dev == st.st_dev && k.ino == st.st_ino);
	assert_int_equal(stat("/proc/self/ns/mnt", &st), 0);
	assert_true(k.mntns == st.st_ino);
	close(fd);
	assert_true(predict_root_open("/proc", -5, &k) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lazy_and_shared),
	    cmocka_unit_test(test_none_remembered_then_retried),
	    cmocka_unit_test(test_replaced_cache_reloaded),
	    cmocka_unit_test(test_lru_bound),
	    cmocka_unit_test(test_byte_budget_and_size_cap),
	    cmocka_unit_test(test_nothing_followed_out_of_a_root),
	    cmocka_unit_test(test_root_of_a_process),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
