// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Safe opening of mapped files: a FIFO, symlinks out of a root, magic
 * links, another file at the path, and the map_files fallback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>
#include <cmocka.h>
#include "file_open.h"

static char root[64];
static int root_fd = -1;

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct file_id id_of(const char *rel)
{
	char path[PATH_MAX];
	int fd;
	struct file_id id;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_PATH | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	close(fd);
	return id;
}

static int setup(void **state)
{
	char path[PATH_MAX];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_file_open.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(path, sizeof(path), "%s/lib", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/etc", root);
	mkdir(path, 0755);
	put("lib/libssl.so.3", "inside");
	put("lib/other.so", "other");
	put("etc/hostname", "root's hostname");
	snprintf(path, sizeof(path), "%s/lib/fifo", root);
	mkfifo(path, 0600);
	snprintf(path, sizeof(path), "%s/lib/abs", root);
	symlink("/etc/hostname", path); /* absolute: must stay in the root */
	snprintf(path, sizeof(path), "%s/lib/up", root);
	symlink("../../../../../../etc/hostname", path);
	root_fd = open(root, O_PATH | O_DIRECTORY);
	return root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	close(root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void read_back(int fd, const char *want)
{
	char buf[64] = {0};

	assert_true(fd >= 0);
	assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
	assert_string_equal(buf, want);
	/* Read-only, close-on-exec. */
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_regular_file(void **state)
{
	struct file_id id = id_of("lib/libssl.so.3");
	const char *why = "unset";

	(void)state;
	read_back(file_open_in_root(root_fd, "/lib/libssl.so.3", &id, &why), "inside");
	assert_null(why);
}

static void test_another_file_refused(void **state)
{
	struct file_id id = id_of("lib/libssl.so.3");
	const char *why = NULL;

	(void)state;
	assert_int_equal(file_open_in_root(root_fd, "/lib/other.so", &id, &why), -ESTALE);
	assert_non_null(why);
}

static void test_fifo_refused_without_blocking(void **state)
{
	struct file_id id = id_of("lib/fifo");
	const char *why = NULL;

	(void)state;
	alarm(5); /* a blocking open would hang here */
	assert_int_equal(file_open_in_root(root_fd, "/lib/fifo", &id, &why), -EINVAL);
	alarm(0);
	assert_non_null(why);
}

static void test_symlinks_stay_in_root(void **state)
{
	struct file_id inside = id_of("etc/hostname");
	const char *why = NULL;

	(void)state;
	/* Both lead to the root's own etc/hostname, never the host's. */
	read_back(file_open_in_root(root_fd, "/lib/abs", &inside, &why), "root's hostname");
	read_back(file_open_in_root(root_fd, "/lib/up", &inside, &why), "root's hostname");
	read_back(file_open_in_root(root_fd, "/../../etc/hostname", &inside, &why),
		  "root's hostname");
}

static void test_magic_links_refused(void **state)
{
	int slash = open("/", O_PATH | O_DIRECTORY);
	struct stat st;
	struct file_id id;
	const char *why = NULL;
	int fd;

	(void)state;
	assert_int_equal(stat("/etc/hostname", &st), 0);
	fd = open("/etc/hostname", O_PATH);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	close(fd);
	/* /proc/self/root is a magic link: a path through it is refused. */
	fd = file_open_in_root(slash, "/proc/self/root/etc/hostname", &id, &why);
	assert_true(fd == -ELOOP || fd == -EXDEV);
	assert_non_null(why);
	close(slash);
}

static void test_relative_path_refused(void **state)
{
	struct file_id id = id_of("lib/libssl.so.3");

	(void)state;
	assert_int_equal(file_open_in_root(root_fd, "lib/libssl.so.3", &id, NULL), -EINVAL);
	assert_int_equal(file_open_in_root(root_fd, NULL, &id, NULL), -EINVAL);
}

/* A file mapped by this process, then renamed away: the path in the
 * mapping record is stale, map_files still opens the mapped file. */
static void test_map_files_fallback(void **state)
{
	char path[PATH_MAX], moved[PATH_MAX];
	struct file_id id = id_of("lib/other.so");
	const char *why = NULL;
	uint64_t start, end;
	void *map;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/lib/other.so", root);
	snprintf(moved, sizeof(moved), "%s/lib/moved.so", root);
	fd = open(path, O_RDONLY);
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	start = (uintptr_t)map;
	end = start + 4096;
	assert_int_equal(rename(path, moved), 0);
	put("lib/other.so", "an impostor");
	fd = file_open_mapped("/proc", getpid(), path, &id, start, end, &why);
	/* The path was refused (another file), the mapping itself opened. */
	assert_non_null(why);
	if (fd < 0 && geteuid() != 0) {
		munmap(map, 4096);
		skip(); /* map_files needs CAP_SYS_ADMIN */
	}
	read_back(fd, "other");
	/* Without the mapping's range there is no fallback. */
	assert_int_equal(file_open_mapped("/proc", getpid(), path, &id, 0, 0, &why), -ESTALE);
	munmap(map, 4096);
}

static void test_local_and_same_root(void **state)
{
	struct file_id id;
	int fd;

	(void)state;
	fd = file_open_local("/etc/hostname", &id);
	assert_true(fd >= 0);
	close(fd);
	assert_true(file_open_local("/dev/null", &id) == -EINVAL);
	assert_true(file_same_root("/proc", getpid()));
}

/* Whether reading a file would wait on the disk: a file just written is in
 * the page cache; once written back and dropped from it, it is not. */
static void test_pages_cached(void **state)
{
	char path[PATH_MAX];
	static char block[3 * 4096 + 100];
	struct statfs sfs;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/lib/big.so", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	assert_true(file_pages_cached(fd, sizeof(block)));
	assert_false(file_pages_cached(fd, 0));
	assert_false(file_pages_cached(-1, sizeof(block)));
	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
		close(fd);
		skip(); /* tmpfs pages cannot leave the cache */
	}
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_false(file_pages_cached(fd, sizeof(block)));
	/* Read back: cached again; then all but the last page is not enough. */
	assert_int_equal(pread(fd, block, sizeof(block), 0), (ssize_t)sizeof(block));
	assert_true(file_pages_cached(fd, sizeof(block)));
	assert_int_equal(posix_fadvise(fd, 3 * 4096, 0, POSIX_FADV_DONTNEED), 0);
	assert_false(file_pages_cached(fd, sizeof(block)));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regular_file),
	    cmocka_unit_test(test_another_file_refused),
	    cmocka_unit_test(test_fifo_refused_without_blocking),
	    cmocka_unit_test(test_symlinks_stay_in_root),
	    cmocka_unit_test(test_magic_links_refused),
	    cmocka_unit_test(test_relative_path_refused),
	    cmocka_unit_test(test_map_files_fallback),
	    cmocka_unit_test(test_local_and_same_root),
	    cmocka_unit_test(test_pages_cached),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
