// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "elf_symbols.h"
#include "file_registry.h"
#include "predict.h"
#include "predict_roots.h"

/* Dependency levels followed: curl -> libcurl -> libssl, and one more. */
#define DEPTH_MAX 3

struct predictor {
	struct predict_roots *roots; /* the ld.so caches, one per root */
	predict_lookup_fn lookup;
	void *ctx;
	struct learned_exe learned[LEARNED_MAX];
	unsigned nlearned, learned_next;
};

struct predictor *predict_new(const char *cache_path, predict_lookup_fn lookup, void *ctx)
{
	struct predictor *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->roots = predict_roots_new(cache_path);
	if (!p->roots) {
		free(p);
		return NULL;
	}
	p->lookup = lookup;
	p->ctx = ctx;
	return p;
}

void predict_free(struct predictor *p)
{
	if (!p)
		return;
	predict_roots_free(p->roots);
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

static long soname_index(const struct predict_root *r, const char *soname)
{
	for (size_t i = 0; i < r->cache.n; i++) {
		if (!strcmp(r->cache.v[i].soname, soname))
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
 *
 * And each level is walked breadth first: the libraries an object needs
 * are looked at (known facts), then analysed, and only then followed into
 * their own dependencies. The shallowest TLS library is the one predicted:
 * libcurl's own libssl, not the libgnutls librtmp pulls in (curl maps
 * both, and calls through libssl; depth first, a first curl whose root had
 * nothing known yet was predicted to map libgnutls alone).
 *
 * Everything is resolved in the process's root (root_fd): its cache, its
 * paths, its files (opened inside it, never through ours).
 */
struct walk {
	struct predictor *p;
	struct predict_root *root;
	int root_fd;
	int depth;
	enum { KNOWN, ANALYSE, DEEP } pass; /* known facts, analyse, recurse */
	struct tls_file *found;
	char *found_path; /* PATH_MAX: where the root has the TLS file found */
	bool *deferred;	  /* a lookup could not analyse its file now */
};

/* Is the library at PATH (in the process's root) a TLS file? */
static struct tls_file *look(struct walk *w, const char *path, bool analyse)
{
	struct tls_file *f = w->p->lookup(w->root_fd, path, analyse, w->deferred, w->p->ctx);

	if (f)
		snprintf(w->found_path, PATH_MAX, "%s", path);
	return f;
}

static struct tls_file *soname_tls(struct walk *w, size_t i);
static struct tls_file *memo_hit(struct walk *w, struct soname_memo *m);

static int visit_needed(const char *soname, void *ctx)
{
	struct walk *w = ctx;
	long i = soname_index(w->root, soname);
	struct soname_memo *m;

	if (i < 0)
		return 0;
	m = &w->root->memo[i];
	if (w->pass == DEEP)
		w->found = soname_tls(w, (size_t)i);
	else if (m->needs_tls > 0)
		w->found = memo_hit(w, m);
	else if (m->needs_tls < 0)
		w->found = look(w, w->root->cache.v[i].path, w->pass == ANALYSE);
	return w->found != NULL;
}

static struct tls_file *needed_tls(struct walk *parent, int fd, int depth)
{
	struct walk w = *parent;

	w.depth = depth;
	w.found = NULL;
	for (w.pass = KNOWN; !w.found && w.pass <= DEEP; w.pass++) {
		if (w.pass != KNOWN && depth >= DEPTH_MAX)
			break;
		elf_needed_fd(fd, visit_needed, &w);
	}
	return w.found;
}

/* The memo says this soname leads to TLS: find that file again (it may have
 * been replaced or forgotten since: then the memo is dropped). */
static struct tls_file *memo_hit(struct walk *w, struct soname_memo *m)
{
	struct tls_file *f = look(w, m->tls_path, true);

	if (!f) {
		free(m->tls_path);
		m->tls_path = NULL;
		m->needs_tls = -1;
	}
	return f;
}

/* Does this library, or one it needs, carry TLS? Memoised per soname. */
static struct tls_file *soname_tls(struct walk *w, size_t i)
{
	struct soname_memo *m = &w->root->memo[i];
	const char *path = w->root->cache.v[i].path;
	bool deferred_before = *w->deferred;
	struct tls_file *f;
	int fd;

	if (m->needs_tls > 0)
		return memo_hit(w, m);
	if (m->needs_tls == 0)
		return NULL;
	m->needs_tls = 0; /* cuts dependency cycles */
	*w->deferred = false;
	f = look(w, path, true);
	/* Its dependencies are read only when it was (a file not cached is
	 * not read in the event loop at all). */
	if (!f && !*w->deferred && (fd = file_open_in_root(w->root_fd, path, NULL, NULL)) >= 0) {
		f = needed_tls(w, fd, w->depth + 1);
		close(fd);
	}
	if (!f && *w->deferred)
		m->needs_tls = -1; /* not known yet, not "no": look again */
	*w->deferred |= deferred_before;
	if (f) {
		/* The path as this root names it (the registry's entry keeps
		 * the name of whoever mapped the file first, maybe in another
		 * root). */
		m->tls_path = strdup(w->found_path);
		m->needs_tls = m->tls_path ? 1 : -1;
	}
	return f;
}

struct tls_file *predict_from_needed(struct predictor *p, int root_fd, const struct root_key *key,
				     int exe_fd, uint64_t now_ns, bool *deferred)
{
	char found_path[PATH_MAX];
	struct walk w = {.p = p,
			 .root = predict_roots_get(p->roots, root_fd, key, now_ns),
			 .root_fd = root_fd,
			 .found_path = found_path,
			 .deferred = deferred};

	*deferred = false;
	return w.root ? needed_tls(&w, exe_fd, 0) : NULL;
}

void predict_each_soname(struct predictor *p, int root_fd, const struct root_key *key,
			 uint64_t now_ns, const char *prefix,
			 void (*fn)(const char *soname, const char *path, void *ctx), void *ctx)
{
	struct predict_root *r = predict_roots_get(p->roots, root_fd, key, now_ns);
	size_t n = strlen(prefix);

	for (size_t i = 0; r && i < r->cache.n; i++) {
		if (!strncmp(r->cache.v[i].soname, prefix, n))
			fn(r->cache.v[i].soname, r->cache.v[i].path, ctx);
	}
}
