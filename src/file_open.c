// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>
#include "file_open.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int file_id_of_fd(int fd, struct file_id *id)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	*id = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
	return 0;
}

/*
 * An O_PATH descriptor that is the mapped file: regular, same device and
 * inode. Reopened for reading through /proc/self/fd, which opens exactly
 * that inode (never the path again). Closes path_fd.
 */
static int reopen_checked(int path_fd, const struct file_id *id, const char **why)
{
	static const char *no_reason;
	char self[64];
	struct stat st;
	int fd;

	if (fstat(path_fd, &st)) {
		fd = -errno;
		close(path_fd);
		return fd;
	}
	if (!why)
		why = &no_reason;
	if (!S_ISREG(st.st_mode)) {
		close(path_fd);
		*why = "not a regular file";
		return -EINVAL;
	}
	if (id &&
	    (st.st_ino != id->ino || major(st.st_dev) != id->maj || minor(st.st_dev) != id->min)) {
		close(path_fd);
		*why = "another file than the one mapped (replaced on disk?)";
		return -ESTALE;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", path_fd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	fd = fd < 0 ? -errno : fd;
	close(path_fd);
	return fd;
}

static int openat2_path(int root_fd, const char *path)
{
	struct open_how how = {
	    .flags = O_PATH | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Kernels or seccomp profiles without openat2: a plain walk relative to the
 * root, the last component not followed. Intermediate symlinks may then lead
 * elsewhere, which the identity check catches: a wrong file is refused,
 * never used.
 */
static int fallback_path(int root_fd, const char *path)
{
	int fd;

	while (*path == '/')
		path++;
	fd = openat(root_fd, *path ? path : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int file_open_in_root(int root_fd, const char *path, const struct file_id *id, const char **why)
{
	static const char *no_reason;
	int fd;

	if (!why)
		why = &no_reason;
	*why = NULL;
	if (!path || path[0] != '/')
		return -EINVAL;
	fd = openat2_path(root_fd, path);
	if (fd == -ENOSYS || fd == -EPERM)
		fd = fallback_path(root_fd, path);
	if (fd == -EXDEV || fd == -ELOOP)
		*why = "the path leaves the process's root or crosses a /proc link";
	if (fd < 0)
		return fd;
	return reopen_checked(fd, id, why);
}

int file_stat_in_root(int root_fd, const char *path, struct file_id *id, uint64_t *size)
{
	struct stat st;
	int fd, err = 0;

	if (!path || path[0] != '/')
		return -EINVAL;
	fd = openat2_path(root_fd, path);
	if (fd == -ENOSYS || fd == -EPERM)
		fd = fallback_path(root_fd, path);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	close(fd);
	if (err)
		return err;
	*id = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

/* Open PATH inside the directory DIR (a process's root, or ours). */
static int open_in_dir(const char *dir, const char *path, const struct file_id *id,
		       const char **why)
{
	/* /proc/<pid>/root is a magic link to that process's root: opening it
	 * is the point (O_PATH, a directory, no side effects). */
	int root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	if (root_fd < 0)
		return -errno;
	fd = file_open_in_root(root_fd, path, id, why);
	close(root_fd);
	return fd;
}

int file_open_mapped(const char *proc_root, pid_t pid, const char *path, const struct file_id *id,
		     uint64_t start, uint64_t end, const char **why)
{
	static const char *no_reason;
	const char *why_ours = NULL, *map_why = NULL;
	char dir[PATH_MAX];
	int fd, mfd;

	if (!why)
		why = &no_reason;
	*why = NULL;
	if (pid <= 0)
		return open_in_dir("/", path, id, why);
	/* A container names its files from its own root... */
	snprintf(dir, sizeof(dir), "%s/%d/root", proc_root, pid);
	fd = open_in_dir(dir, path, id, why);
	if (fd >= 0)
		return fd;
	/* ...a chroot'ed process's mappings are named from ours (the kernel
	 * writes paths relative to the reader's root when it can reach them). */
	fd = open_in_dir("/", path, id, &why_ours);
	if (!*why)
		*why = why_ours;
	if (fd >= 0) {
		*why = NULL;
		return fd;
	}
	if (end <= start)
		return fd;
	/* The mapping itself (a file deleted or replaced since; needs
	 * CAP_SYS_ADMIN). A magic link by design: it names the mapped file. */
	snprintf(dir, sizeof(dir), "%s/%d/map_files/%llx-%llx", proc_root, pid,
		 (unsigned long long)start, (unsigned long long)end);
	mfd = open(dir, O_PATH | O_CLOEXEC);
	if (mfd < 0)
		return fd;
	mfd = reopen_checked(mfd, id, &map_why);
	return mfd >= 0 ? mfd : fd;
}

bool file_same_root(const char *proc_root, pid_t pid)
{
	char dir[PATH_MAX];
	struct stat ours, theirs;

	snprintf(dir, sizeof(dir), "%s/%d/root/", proc_root, pid);
	if (stat("/", &ours) || stat(dir, &theirs))
		return false;
	return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

int file_open_local(const char *path, struct file_id *got)
{
	int fd, root_fd;

	if (!path || path[0] != '/')
		return -EINVAL;
	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return -errno;
	fd = openat2_path(root_fd, path);
	if (fd == -ENOSYS || fd == -EPERM)
		fd = fallback_path(root_fd, path);
	close(root_fd);
	if (fd < 0)
		return fd;
	fd = reopen_checked(fd, NULL, NULL);
	if (fd >= 0 && file_id_of_fd(fd, got)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

bool file_pages_cached(int fd, uint64_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t npages;
	unsigned char *vec;
	void *m;
	bool all = false;

	if (page <= 0 || size == 0 || size > SIZE_MAX / 2)
		return false;
	npages = (size + (uint64_t)page - 1) / (uint64_t)page;
	/* mincore() on a shared file mapping reports the page cache, without
	 * reading anything: nothing is faulted in here. */
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return false;
	vec = malloc(npages);
	if (vec && mincore(m, size, vec) == 0) {
		all = true;
		for (size_t i = 0; i < npages && all; i++)
			all = vec[i] & 1;
	}
	free(vec);
	munmap(m, size);
	return all;
}
