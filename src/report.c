// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "attach.h"
#include "elf_symbols.h"
#include "ldcache.h"
#include "proc_scan.h"
#include "report.h"

enum kind { KIND_NONE, KIND_OPENSSL, KIND_GNUTLS, KIND_NSS, KIND_GO, KIND_STATIC_STRIPPED };

static const char *const kind_names[] = {
    [KIND_NONE] = "none", [KIND_OPENSSL] = "openssl", [KIND_GNUTLS] = "gnutls",
    [KIND_NSS] = "nss",	  [KIND_GO] = "go",	      [KIND_STATIC_STRIPPED] = "static-stripped",
};

struct verdict {
	dev_t dev;
	ino_t ino;
	enum kind kind;
	const char *status;
	char reason[200];
};

/* Verdicts of the files seen so far in this run, by device and inode. */
struct cache {
	struct verdict *v;
	size_t n, cap;
};

static bool name_has(const char *path, const char *lib)
{
	const char *base = strrchr(path, '/');

	return strncmp(base ? base + 1 : path, lib, strlen(lib)) == 0;
}

static void classify(const char *path, bool is_exe, struct verdict *v)
{
	struct tls_file_syms syms;
	int err = tls_file_resolve(path, &syms), flags;

	if (err == 0) {
		char funcs[160];

		tls_file_describe(&syms, funcs, sizeof(funcs));
		v->kind = KIND_OPENSSL;
		v->status = "traced";
		snprintf(v->reason, sizeof(v->reason), "OpenSSL functions found: %s", funcs);
		return;
	}
	if (name_has(path, "libssl.so")) {
		v->kind = KIND_OPENSSL;
		v->status = "not-traced";
		snprintf(v->reason, sizeof(v->reason), "no SSL_write/SSL_read symbols (%s)",
			 strerror(-err));
		return;
	}
	if (name_has(path, "libgnutls.so")) {
		v->kind = KIND_GNUTLS;
		v->status = "not-traced";
		snprintf(v->reason, sizeof(v->reason), "GnuTLS is not supported yet");
		return;
	}
	if (name_has(path, "libnss3.so")) {
		v->kind = KIND_NSS;
		v->status = "not-traced";
		snprintf(v->reason, sizeof(v->reason), "NSS (Mozilla) is not supported");
		return;
	}
	if (!is_exe)
		return;
	flags = elf_inspect(path);
	if (flags < 0)
		return;
	if (flags & ELF_IS_GO) {
		v->kind = KIND_GO;
		v->status = "not-traced";
		snprintf(v->reason, sizeof(v->reason), "Go crypto/tls is not supported yet");
	} else if (!(flags & ELF_HAS_INTERP) && !(flags & (ELF_HAS_SYMTAB | ELF_HAS_DYNSYM))) {
		v->kind = KIND_STATIC_STRIPPED;
		v->status = "unknown";
		snprintf(v->reason, sizeof(v->reason),
			 "static executable without symbols: TLS linked into it cannot be found");
	}
}

static const struct verdict *lookup(struct cache *c, const char *path, bool is_exe,
				    const struct stat *st)
{
	struct verdict *v;

	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].dev == st->st_dev && c->v[i].ino == st->st_ino)
			return &c->v[i];
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct verdict *nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		c->v = nv;
		c->cap = cap;
	}
	v = &c->v[c->n++];
	memset(v, 0, sizeof(*v));
	v->dev = st->st_dev;
	v->ino = st->st_ino;
	classify(path, is_exe, v);
	return v;
}

static void read_comm(const char *proc_root, pid_t pid, char *comm, size_t size)
{
	char file[64];
	FILE *f;

	snprintf(comm, size, "?");
	snprintf(file, sizeof(file), "%s/%d/comm", proc_root, pid);
	f = fopen(file, "re");
	if (!f)
		return;
	if (fgets(comm, size, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
	for (char *p = comm; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			*p = '?';
	}
}

struct process_ctx {
	FILE *out;
	struct cache *cache;
	const char *proc_root;
	char comm[32];
	struct stat exe_st;
	ino_t seen[64];
	int nseen, lines;
};

/* One executable mapping of the process, classified (once per file). */
static void report_mapping(const struct proc_mapping *m, void *ctx)
{
	struct process_ctx *pc = ctx;
	char path[PATH_MAX];
	const struct verdict *v;
	struct stat st;

	for (int i = 0; i < pc->nseen; i++) {
		if (pc->seen[i] == (ino_t)m->ino)
			return;
	}
	if (pc->nseen < 64)
		pc->seen[pc->nseen++] = m->ino;
	snprintf(path, sizeof(path), "%s/%d/root%s", pc->proc_root, m->pid, m->path);
	if (stat(path, &st) < 0 || st.st_ino != (ino_t)m->ino)
		return;
	v = lookup(pc->cache, path,
		   st.st_ino == pc->exe_st.st_ino && st.st_dev == pc->exe_st.st_dev, &st);
	if (!v || v->kind == KIND_NONE)
		return;
	fprintf(pc->out, "pid=%d comm=%s file=%s status=%s kind=%s reason=\"%s\"\n", m->pid,
		pc->comm, m->path, v->status, kind_names[v->kind], v->reason);
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

	if (pid == getpid())
		return 0;
	snprintf(file, sizeof(file), "%s/%d/exe", sc->proc_root, pid);
	if (stat(file, &pc.exe_st) < 0)
		return 0; /* kernel thread, or gone */
	read_comm(sc->proc_root, pid, pc.comm, sizeof(pc.comm));
	proc_scan_maps(sc->proc_root, pid, report_mapping, &pc);
	sc->lines += pc.lines;
	return 0;
}

struct cached_ctx {
	FILE *out;
	int lines;
};

static int report_cached(const char *soname, const char *path, void *ctx)
{
	struct cached_ctx *cc = ctx;
	struct tls_file_syms syms;

	if (strncmp(soname, "libssl.so", 9) != 0 || access(path, R_OK) != 0)
		return 0;
	if (tls_file_resolve(path, &syms) == 0)
		fprintf(cc->out,
			"pid=- comm=- file=%s status=traced kind=openssl reason=\"in the ld.so "
			"cache: probed in every process that maps it\"\n",
			path);
	else
		fprintf(cc->out,
			"pid=- comm=- file=%s status=not-traced kind=openssl reason=\"no "
			"SSL_write/SSL_read symbols\"\n",
			path);
	cc->lines++;
	return 0;
}

int report_targets(FILE *out, const char *proc_root, const char *ldcache_file)
{
	struct scan_ctx sc = {.out = out, .proc_root = proc_root};
	struct cached_ctx cc = {out, 0};
	int err = proc_scan_pids(proc_root, report_process, &sc);

	free(sc.cache.v);
	if (err)
		return err;
	ldcache_for_each_file(ldcache_file, report_cached, &cc);
	return sc.lines + cc.lines;
}
