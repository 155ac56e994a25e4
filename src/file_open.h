/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Opening the file a traced process maps, safely.
 *
 * The path in a mapping record is only a hint: between the mapping and our
 * open, anyone who can write the directory may have put a FIFO there (a
 * blocking open would stall the daemon), a symlink out of a container's root,
 * or another ELF file (probes placed at offsets read from it would land in
 * the wrong code). So the file is opened once, by these rules, and then only
 * used through that descriptor (ELF analysis reads it; probes are attached
 * through /proc/self/fd/N):
 *
 * - the path is resolved inside the process's root (/proc/<pid>/root) with
 *   openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): absolute symlinks and
 *   ".." stay inside that root, /proc magic links are refused; then the same
 *   in ours (a chroot'ed process's paths are written from our root);
 * - it is first opened with O_PATH (no open side effects: a FIFO or device
 *   is never really opened), fstat must show a regular file with the
 *   device and inode of the mapping, and only then is it reopened for
 *   reading (O_RDONLY | O_NONBLOCK | O_CLOEXEC) through that descriptor;
 * - failing that (replaced or deleted on disk, or openat2 missing or
 *   filtered), /proc/<pid>/map_files/<start>-<end> names the mapped file
 *   itself, checked the same way.
 */
#ifndef FILE_OPEN_H
#define FILE_OPEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A file identity: device and inode, as the kernel reports a mapping's. */
struct file_id {
	uint32_t maj, min;
	uint64_t ino;
};

static inline bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->ino == b->ino && a->maj == b->maj && a->min == b->min;
}

/*
 * Open PATH, resolved inside the directory ROOT_FD, if it is a regular file
 * with identity ID. Returns a read-only descriptor, or -errno with *why set
 * to a reason for the log: -ENOENT (not there), -EXDEV or -ELOOP (the path
 * leaves the root or crosses a magic link), -EINVAL (not a regular file),
 * -ESTALE (another file than the one mapped).
 */
int file_open_in_root(int root_fd, const char *path, const struct file_id *id, const char **why);

/*
 * The identity and size of the regular file PATH, resolved inside ROOT_FD
 * as file_open_in_root() does, without opening it for reading (a stat for
 * prediction's lookups). 0 or -errno (-EINVAL: not a regular file).
 */
int file_stat_in_root(int root_fd, const char *path, struct file_id *id, uint64_t *size);

/*
 * Is every page of the open file FD (SIZE bytes) in the page cache? Reading
 * a file that is not can wait on the disk for tens of milliseconds (a cold
 * 2 MB libstdc++: 42 ms measured), which the event loop must not do: such a
 * file is analysed by a worker (file_analysis.h). False when unknown.
 */
bool file_pages_cached(int fd, uint64_t size);

/*
 * Open PATH in our own root for reading (the ld.so cache's libraries, for
 * prediction): a regular file, not opened before it was checked to be one,
 * its identity returned in *got. -errno otherwise.
 */
int file_open_local(const char *path, struct file_id *got);

/*
 * Open the file process PID maps at [start, end) from PATH (as its mount
 * namespace names it), under PROC_ROOT ("/proc"). PID 0 means the daemon's
 * own root, with no map_files fallback. Returns a descriptor as above, or
 * -errno with *why saying why the path was refused (NULL when the file is
 * simply gone). When the path was refused but map_files worked, the
 * descriptor is returned and *why still says why the path was refused.
 */
int file_open_mapped(const char *proc_root, pid_t pid, const char *path, const struct file_id *id,
		     uint64_t start, uint64_t end, const char **why);

/* The identity of an open descriptor. */
int file_id_of_fd(int fd, struct file_id *id);

/* Does process PID see the same root directory as we do (not in a
 * container or chroot)? False when it cannot tell. */
bool file_same_root(const char *proc_root, pid_t pid);

#endif /* FILE_OPEN_H */
