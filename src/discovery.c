// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "discovery.h"
#include "ldcache.h"
#include "log.h"

bool discovery_is_tls_lib_name(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(base, "libssl.so", 9) == 0;
}

int tls_lib_set_add(struct tls_lib_set *set, const char *path, pid_t seen_in)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	for (size_t i = 0; i < set->n; i++) {
		if (set->libs[i].dev == st.st_dev && set->libs[i].ino == st.st_ino)
			return 0;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct tls_lib *libs = realloc(set->libs, cap * sizeof(*libs));

		if (!libs)
			return -ENOMEM;
		set->libs = libs;
		set->cap = cap;
	}
	struct tls_lib *lib = &set->libs[set->n];

	if (snprintf(lib->path, sizeof(lib->path), "%s", path) >= (int)sizeof(lib->path))
		return -ENAMETOOLONG;
	lib->dev = st.st_dev;
	lib->ino = st.st_ino;
	lib->seen_in = seen_in;
	set->n++;
	return 1;
}

void tls_lib_set_free(struct tls_lib_set *set)
{
	free(set->libs);
	memset(set, 0, sizeof(*set));
}

/*
 * Prefer the plain path when it names the same file in our mount namespace
 * (readable logs); otherwise go through the process's root (a container).
 */
static void add_mapped(struct tls_lib_set *set, const char *proc_root, pid_t pid,
		       const char *mapped)
{
	char via_root[PATH_MAX];
	struct stat a, b;

	if (snprintf(via_root, sizeof(via_root), "%s/%d/root%s", proc_root, pid, mapped) >=
	    (int)sizeof(via_root))
		return;
	if (stat(via_root, &a) < 0)
		return;
	if (stat(mapped, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		tls_lib_set_add(set, mapped, pid);
	else
		tls_lib_set_add(set, via_root, pid);
}

static void scan_maps(struct tls_lib_set *set, const char *proc_root, pid_t pid)
{
	char file[PATH_MAX], line[PATH_MAX + 128];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%d/maps", proc_root, pid);
	f = fopen(file, "re");
	if (!f)
		return; /* exited meanwhile, or a kernel thread */
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		char *nl;

		/* Only executable mappings of a file: "r-xp ... /path". */
		if (!path || (!strstr(line, " r-xp ") && !strstr(line, " r-xs ")))
			continue;
		nl = strchr(path, '\n');
		if (nl)
			*nl = '\0';
		if (strstr(path, " (deleted)"))
			continue; /* replaced on disk; the discovery issue handles it */
		if (discovery_is_tls_lib_name(path))
			add_mapped(set, proc_root, pid, path);
	}
	fclose(f);
}

static int add_cached(const char *soname, const char *path, void *ctx)
{
	if (discovery_is_tls_lib_name(soname))
		tls_lib_set_add(ctx, path, 0);
	return 0;
}

int discover_tls_libs(struct tls_lib_set *set, const char *proc_root, const char *ldcache_file)
{
	struct dirent *de;
	DIR *dir = opendir(proc_root);
	int err;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		scan_maps(set, proc_root, (pid_t)pid);
	}
	closedir(dir);
	err = ldcache_for_each_file(ldcache_file, add_cached, set);
	if (err)
		log_warn("cannot read %s: %s", ldcache_file, strerror(-err));
	return 0;
}
