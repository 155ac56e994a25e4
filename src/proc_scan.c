// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proc_scan.h"

int proc_scan_pids(const char *proc_root, int (*cb)(pid_t pid, void *ctx), void *ctx)
{
	DIR *dir = opendir(proc_root);
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (cb((pid_t)pid, ctx))
			break;
	}
	closedir(dir);
	return 0;
}

int proc_scan_maps(const char *proc_root, pid_t pid,
		   void (*cb)(const struct proc_mapping *m, void *ctx), void *ctx)
{
	char file[PATH_MAX], line[PATH_MAX + 256];
	FILE *maps;

	snprintf(file, sizeof(file), "%s/%d/maps", proc_root, pid);
	maps = fopen(file, "re");
	if (!maps)
		return -errno; /* exited meanwhile, or a kernel thread */
	while (fgets(line, sizeof(line), maps)) {
		unsigned long long start, end, off, ino;
		unsigned maj, min;
		char perms[8], *deleted;
		int pos = 0;

		/* "start-end perms offset maj:min inode   /path" */
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off,
			   &maj, &min, &ino, &pos) < 7 ||
		    perms[2] != 'x' || pos == 0 || line[pos] != '/')
			continue;
		line[strcspn(line, "\n")] = '\0';
		deleted = strstr(line + pos, " (deleted)");
		if (deleted && deleted[10] == '\0')
			*deleted = '\0';
		struct proc_mapping m = {
		    .pid = pid,
		    .path = line + pos,
		    .maj = maj,
		    .min = min,
		    .ino = ino,
		    .start = start,
		    .end = end,
		};
		cb(&m, ctx);
	}
	fclose(maps);
	return 0;
}
