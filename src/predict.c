// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "elf_symbols.h"
#include "file_registry.h"
#include "predict.h"

/* Dependency levels followed: curl -> libcurl -> libssl, and one more. */
#define DEPTH_MAX 3

struct soname_memo {
	int needs_tls;	/* -1 unknown, 0 no, 1 yes: it or a dependency carries TLS */
	char *tls_path; /* the library that does */
};

struct predictor {
	struct ldcache_list cache;
	struct soname_memo *memo; /* one per cache entry */
	predict_lookup_fn lookup;
	void *ctx;
	struct learned_exe learned[LEARNED_MAX];
	unsigned nlearned, learned_next;
};

struct predictor *predict_new(struct ldcache_list *cache, predict_lookup_fn lookup, void *ctx)
{
	struct predictor *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->memo = calloc(cache->n ? cache->n : 1, sizeof(*p->memo));
	if (!p->memo) {
		free(p);
		return NULL;
	}
	for (size_t i = 0; i < cache->n; i++)
		p->memo[i].needs_tls = -1;
	p->cache = *cache;
	memset(cache, 0, sizeof(*cache));
	p->lookup = lookup;
	p->ctx = ctx;
	return p;
}

void predict_free(struct predictor *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->cache.n; i++)
		free(p->memo[i].tls_path);
	free(p->memo);
	ldcache_list_free(&p->cache);
	free(p);
}

const struct learned_exe *predict_learned(struct predictor *p, const struct file_id *exe)
{
	for (unsigned i = 0; i < p->nlearned; i++) {
		if (file_id_equal(&p->learned[i].exe, exe))
			return &p->learned[i];
	}
	return NULL;
}

void predict_learn(struct predictor *p, const struct file_id *exe, const struct file_id *file)
{
	struct learned_exe *l = (struct learned_exe *)predict_learned(p, exe);

	if (!l) {
		if (p->nlearned < LEARNED_MAX)
			l = &p->learned[p->nlearned++];
		else
			l = &p->learned[p->learned_next++ % LEARNED_MAX];
		memset(l, 0, sizeof(*l));
		l->exe = *exe;
	}
	if (!file)
		return;
	/*
	 * Most recently mapped first; when full, the least recent goes. A
	 * program run with one private libssl copy after another (a loop over
	 * LD_LIBRARY_PATHs, containers sharing an executable) otherwise kept
	 * its first four for good and never predicted the copy it maps now.
	 */
	int i;

	for (i = 0; i < l->nfiles && !file_id_equal(&l->files[i], file); i++)
		;
	if (i == l->nfiles && l->nfiles < PROC_FILES_MAX)
		l->nfiles++;
	if (i == PROC_FILES_MAX)
		i--; /* full: the least recent is replaced */
	memmove(&l->files[1], &l->files[0], i * sizeof(l->files[0]));
	l->files[0] = *file;
}

static long soname_index(struct predictor *p, const char *soname)
{
	for (size_t i = 0; i < p->cache.n; i++) {
		if (!strcmp(p->cache.v[i].soname, soname))
			return (long)i;
	}
	return -1;
}

/*
 * Prediction is on the path from exec to armed, so it looks at what is
 * already known first: a soname memoised, or a file analysed before (the
 * system's libssl usually is). Only when that finds nothing are unknown
 * files analysed and their dependencies followed. Analysing every
 * dependency in DT_NEEDED order took 5-9 ms for a first curl (libcurl's
 * libnghttp2, libidn2, librtmp -> libgnutls, ... before libssl), most of a
 * one-shot client's ~12 ms to its first write.
 */
struct walk {
	struct predictor *p;
	int depth;
	bool deep; /* analyse and recurse, or known facts only */
	struct tls_file *found;
};

static struct tls_file *soname_tls(struct predictor *p, size_t i, int depth);
static struct tls_file *memo_hit(struct predictor *p, struct soname_memo *m);

static int visit_needed(const char *soname, void *ctx)
{
	struct walk *w = ctx;
	long i = soname_index(w->p, soname);
	struct soname_memo *m;

	if (i < 0)
		return 0;
	m = &w->p->memo[i];
	if (w->deep)
		w->found = soname_tls(w->p, (size_t)i, w->depth);
	else if (m->needs_tls > 0)
		w->found = memo_hit(w->p, m);
	else if (m->needs_tls < 0)
		w->found = w->p->lookup(w->p->cache.v[i].path, false, w->p->ctx);
	return w->found != NULL;
}

static struct tls_file *needed_tls(struct predictor *p, int fd, int depth)
{
	struct walk w = {p, depth, false, NULL};

	elf_needed_fd(fd, visit_needed, &w);
	if (!w.found && depth < DEPTH_MAX) {
		w.deep = true;
		elf_needed_fd(fd, visit_needed, &w);
	}
	return w.found;
}

/* The memo says this soname leads to TLS: find that file again (it may have
 * been replaced or forgotten since: then the memo is dropped). */
static struct tls_file *memo_hit(struct predictor *p, struct soname_memo *m)
{
	struct tls_file *f = p->lookup(m->tls_path, true, p->ctx);

	if (!f) {
		free(m->tls_path);
		m->tls_path = NULL;
		m->needs_tls = -1;
	}
	return f;
}

/* Does this library, or one it needs, carry TLS? Memoised per soname. */
static struct tls_file *soname_tls(struct predictor *p, size_t i, int depth)
{
	struct soname_memo *m = &p->memo[i];
	const char *path = p->cache.v[i].path;
	struct tls_file *f;
	struct file_id id;
	int fd;

	if (m->needs_tls > 0)
		return memo_hit(p, m);
	if (m->needs_tls == 0)
		return NULL;
	m->needs_tls = 0; /* cuts dependency cycles */
	f = p->lookup(path, true, p->ctx);
	if (!f && (fd = file_open_local(path, &id)) >= 0) {
		f = needed_tls(p, fd, depth + 1);
		close(fd);
	}
	if (f) {
		m->tls_path = strdup(f->path);
		m->needs_tls = m->tls_path ? 1 : -1;
	}
	return f;
}

struct tls_file *predict_from_needed(struct predictor *p, int exe_fd)
{
	return p->cache.n ? needed_tls(p, exe_fd, 0) : NULL;
}

void predict_each_soname(struct predictor *p, const char *prefix,
			 void (*fn)(const char *soname, const char *path, void *ctx), void *ctx)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < p->cache.n; i++) {
		if (!strncmp(p->cache.v[i].soname, prefix, n))
			fn(p->cache.v[i].soname, p->cache.v[i].path, ctx);
	}
}
