// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "file_open.h"
#include "ldcache.h"
#include "log.h"
#include "predict_roots.h"
#include "proc_scan.h"
#include "proc_watch.h"
#include "report.h"
#include "tls_backend.h"

/* Verdicts of the files seen so far in this run, by identity. */
struct cached_verdict {
	struct file_id id;
	bool ok; /* the file could be read and classified */
	struct tls_verdict v;
};

struct cache {
	struct cached_verdict *v;
	size_t n, cap;
};

/* The daemon's own classifier (tls_backend.h), on the file opened the way
 * the daemon opens it (file_open.h): the report says what the daemon does. */
static const struct tls_verdict *lookup(struct cache *c, const char *proc_root,
					const struct proc_mapping *m, bool is_exe)
{
	struct file_id id = {m->maj, m->min, m->ino};
	struct cached_verdict *cv;
	int fd;

	for (size_t i = 0; i < c->n; i++) {
		if (file_id_equal(&c->v[i].id, &id))
			return c->v[i].ok ? &c->v[i].v : NULL;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cached_verdict *nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		c->v = nv;
		c->cap = cap;
	}
	cv = &c->v[c->n++];
	memset(cv, 0, sizeof(*cv));
	cv->id = id;
	fd = file_open_mapped(proc_root, m->pid, m->path, &id, m->start, m->end, NULL);
	if (fd < 0)
		return NULL;
	cv->ok = tls_classify(fd, m->path, is_exe, &cv->v) == 0;
	close(fd);
	return cv->ok ? &cv->v : NULL;
}

/* comm and paths are the processes' to choose: escaped (log.h), so each
 * line keeps its fields. */
static void read_comm(const char *proc_root, pid_t pid, char *comm, size_t size)
{
	char file[64], raw[64] = "?";
	FILE *f;
	size_t n;

	snprintf(file, sizeof(file), "%s/%d/comm", proc_root, pid);
	f = fopen(file, "re");
	if (f) {
		/* The kernel ends it with a newline; it may hold others. */
		n = fread(raw, 1, sizeof(raw) - 1, f);
		if (n > 0 && raw[n - 1] == '\n')
			n--;
		raw[n] = '\0';
		fclose(f);
	}
	log_field(comm, size, raw);
}

struct process_ctx {
	FILE *out;
	struct cache *cache;
	const char *proc_root;
	char comm[4 * 15 + 1];
	struct file_id exe;
	ino_t seen[64];
	int nseen, lines;
};

/* One executable mapping of the process, classified (once per file). */
static void report_mapping(const struct proc_mapping *m, void *ctx)
{
	struct process_ctx *pc = ctx;
	struct file_id id = {m->maj, m->min, m->ino};
	const struct tls_verdict *v;
	char path[4 * PATH_MAX];

	for (int i = 0; i < pc->nseen; i++) {
		if (pc->seen[i] == (ino_t)m->ino)
			return;
	}
	if (pc->nseen < 64)
		pc->seen[pc->nseen++] = m->ino;
	v = lookup(pc->cache, pc->proc_root, m, file_id_equal(&id, &pc->exe));
	if (!v || v->kind == TLS_KIND_NONE)
		return;
	fprintf(pc->out, "pid=%d comm=%s file=%s status=%s kind=%s reason=\"%s\"\n", m->pid,
		pc->comm, log_field(path, sizeof(path), m->path), v->status, tls_kind_name(v->kind),
		v->reason);
	pc->lines++;
}

struct scan_ctx {
	FILE *out;
	struct cache cache;
	const char *proc_root;
	int lines;
};

static int report_process(pid_t pid, void *ctx)
{
	struct scan_ctx *sc = ctx;
	struct process_ctx pc = {.out = sc->out, .cache = &sc->cache, .proc_root = sc->proc_root};
	char file[PATH_MAX];
	struct stat st;

	if (pid == getpid())
		return 0;
	snprintf(file, sizeof(file), "%s/%d/exe", sc->proc_root, pid);
	if (stat(file, &st) < 0)
		return 0; /* kernel thread, or gone */
	pc.exe = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
	read_comm(sc->proc_root, pid, pc.comm, sizeof(pc.comm));
	proc_scan_maps(sc->proc_root, pid, report_mapping, &pc);
	sc->lines += pc.lines;
	return 0;
}

/*
 * The host's ld.so cache's TLS libraries: what a process loading one would
 * get. The host's is pid 1's root's (the node's when the daemon runs in a
 * container with hostPID, whose own root may have no cache at all), or
 * ours when pid 1's is out of reach; the
 * cache and its libraries are opened inside that root, as the daemon's
 * prediction does (predict_roots.h).
 */
static int report_cached(FILE *out, const char *proc_root, const char *ldcache_file)
{
	struct ldcache_list l;
	struct root_key key;
	int lines = 0, root_fd, fd;

	root_fd = predict_host_root_open(proc_root, &key);
	if (root_fd < 0)
		return 0;
	fd = file_open_in_root(root_fd, ldcache_file, NULL, NULL);
	if (fd < 0 || ldcache_load_fd(fd, LDCACHE_MAX_SIZE, &l)) {
		if (fd >= 0)
			close(fd);
		close(root_fd);
		return 0;
	}
	close(fd);
	for (size_t i = 0; i < l.n; i++) {
		struct tls_verdict v;
		char path[4 * PATH_MAX];

		if (!tls_backend_lib_name(l.v[i].soname))
			continue;
		fd = file_open_in_root(root_fd, l.v[i].path, NULL, NULL);
		if (fd < 0)
			continue;
		if (tls_classify(fd, l.v[i].path, false, &v) == 0 && v.kind != TLS_KIND_NONE) {
			fprintf(out,
				"pid=- comm=- file=%s status=%s kind=%s reason=\"in the ld.so "
				"cache: %s\"\n",
				log_field(path, sizeof(path), l.v[i].path), v.status,
				tls_kind_name(v.kind),
				v.traced ? "probed in each process that maps it" : v.reason);
			lines++;
		}
		close(fd);
	}
	ldcache_list_free(&l);
	close(root_fd);
	return lines;
}

int report_targets(FILE *out, const char *proc_root, const char *ldcache_file)
{
	struct scan_ctx sc = {.out = out, .proc_root = proc_root};
	int err = proc_scan_pids(proc_root, report_process, &sc);

	free(sc.cache.v);
	if (err)
		return err;
	return sc.lines + report_cached(out, proc_root, ldcache_file);
}

int report_discovery(FILE *err)
{
	struct proc_watch_ops ops = {0};
	struct proc_watch *w = proc_watch_new(&ops);
	int e = errno;

	if (w) {
		proc_watch_free(w);
		return 0;
	}
	fprintf(err,
		"error: cannot open the perf side-band stream that reports new processes and "
		"mappings (perf_event_open): %s%s%s; the daemon would not start (nothing started "
		"after it could be traced)\n",
		strerror(e), *proc_watch_error_hint(e) ? ": " : "", proc_watch_error_hint(e));
	return -e;
}
