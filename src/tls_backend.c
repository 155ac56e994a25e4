// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "elf_symbols.h"
#include "tls_backend.h"
#include "tls_backend_go.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * OpenSSL 1.1.x and 3.x (also 1.0.2 where it has these symbols), in libssl
 * or linked into an executable that keeps its symbols (node). Every client
 * calls SSL_set_connect_state once per connection, no server does (FACTS.md).
 */
static const struct tls_func_desc openssl_funcs[] = {
    {TLS_FN_SSL_WRITE, "SSL_write", TLS_PROBE_DATA, true, "ssl_write_entry", "ssl_write_return",
     false},
    {TLS_FN_SSL_WRITE_EX, "SSL_write_ex", TLS_PROBE_DATA, false, "ssl_write_ex_entry",
     "ssl_write_ex_return", false},
    {TLS_FN_SSL_READ, "SSL_read", TLS_PROBE_DATA, true, "ssl_read_entry", "ssl_read_return", false},
    {TLS_FN_SSL_READ_EX, "SSL_read_ex", TLS_PROBE_DATA, false, "ssl_read_ex_entry",
     "ssl_read_ex_return", false},
    {TLS_FN_SSL_SHUTDOWN, "SSL_shutdown", TLS_PROBE_DATA, false, "ssl_close_entry", NULL, false},
    {TLS_FN_SSL_FREE, "SSL_free", TLS_PROBE_DATA, false, "ssl_close_entry", NULL, false},
    {TLS_FN_SSL_SET_CONNECT_STATE, "SSL_set_connect_state", TLS_PROBE_MARKER, false,
     "ssl_connect_state_entry", NULL, false},
    {TLS_FN_SSL_SET_ACCEPT_STATE, "SSL_set_accept_state", TLS_PROBE_MARKER, false,
     "ssl_accept_state_entry", NULL, false},
};

const struct tls_backend tls_backend_openssl = {
    .name = "OpenSSL",
    .kind = TLS_KIND_OPENSSL,
    .lib_prefix = "libssl.so",
    .funcs = openssl_funcs,
    .nfuncs = NELEM(openssl_funcs),
};

/*
 * GnuTLS 3.x (libgnutls.so.30: wget, git and apt through libcurl-gnutls),
 * or linked into an executable that keeps its symbols. Sends and receives
 * return ssize_t; a send interrupted by GNUTLS_E_AGAIN is retried with the
 * same arguments or (NULL, 0), which the kernel side folds into one write.
 * gnutls_init's flags tell clients (GNUTLS_CLIENT) from servers.
 */
static const struct tls_func_desc gnutls_funcs[] = {
    {TLS_FN_GNUTLS_SEND, "gnutls_record_send", TLS_PROBE_DATA, true, "gnutls_send_entry",
     "gnutls_send_return", false},
    {TLS_FN_GNUTLS_RECV, "gnutls_record_recv", TLS_PROBE_DATA, true, "gnutls_recv_entry",
     "gnutls_recv_return", false},
    {TLS_FN_GNUTLS_BYE, "gnutls_bye", TLS_PROBE_DATA, false, "gnutls_close_entry", NULL, false},
    {TLS_FN_GNUTLS_DEINIT, "gnutls_deinit", TLS_PROBE_DATA, false, "gnutls_close_entry", NULL,
     false},
    {TLS_FN_GNUTLS_INIT, "gnutls_init", TLS_PROBE_MARKER, false, "gnutls_init_entry", NULL, false},
};

const struct tls_backend tls_backend_gnutls = {
    .name = "GnuTLS",
    .kind = TLS_KIND_GNUTLS,
    .lib_prefix = "libgnutls.so",
    .funcs = gnutls_funcs,
    .nfuncs = NELEM(gnutls_funcs),
};

static const struct tls_backend *const backends[] = {&tls_backend_openssl, &tls_backend_gnutls,
						     &tls_backend_go};
/* The back ends found by their symbols in .dynsym/.symtab (libraries). */
static const struct tls_backend *const symbol_backends[] = {&tls_backend_openssl,
							    &tls_backend_gnutls};

void tls_backend_each_lib(void (*fn)(const char *lib_prefix, void *ctx), void *ctx)
{
	for (size_t b = 0; b < NELEM(backends); b++) {
		if (backends[b]->lib_prefix)
			fn(backends[b]->lib_prefix, ctx);
	}
}

const struct tls_func_desc *tls_func_desc(enum tls_func fn)
{
	for (size_t b = 0; b < NELEM(backends); b++) {
		for (size_t i = 0; i < backends[b]->nfuncs; i++) {
			if (backends[b]->funcs[i].fn == fn)
				return &backends[b]->funcs[i];
		}
	}
	return NULL;
}

static int resolve_one(int fd, const struct tls_backend *be, struct tls_file_syms *syms)
{
	struct elf_symbol q[TLS_FN_COUNT];
	int err;

	if (be->nfuncs > NELEM(q))
		return -E2BIG;
	memset(syms, 0, sizeof(*syms));
	for (size_t i = 0; i < be->nfuncs; i++)
		q[i] = (struct elf_symbol){.name = be->funcs[i].symbol};
	err = elf_find_symbols_fd(fd, q, be->nfuncs);
	if (err < 0)
		return err;
	for (size_t i = 0; i < be->nfuncs; i++) {
		enum tls_func fn = be->funcs[i].fn;

		if (q[i].found) {
			syms->found[fn] = true;
			syms->offset[fn] = q[i].offset;
		} else if (be->funcs[i].required) {
			return -ENOENT;
		}
	}
	syms->backend = be;
	return 0;
}

int tls_backend_resolve(int fd, struct tls_file_syms *syms)
{
	int err = -ENOENT;

	for (size_t b = 0; b < NELEM(symbol_backends); b++) {
		err = resolve_one(fd, symbol_backends[b], syms);
		if (err != -ENOENT)
			return err;
	}
	memset(syms, 0, sizeof(*syms));
	return err;
}

void tls_file_describe(const struct tls_file_syms *syms, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	if (!syms->backend)
		return;
	for (size_t i = 0; i < syms->backend->nfuncs && used < size; i++) {
		const struct tls_func_desc *d = &syms->backend->funcs[i];

		bool named = false;

		/* A function probed at its entry and at its returns is named once. */
		for (size_t j = 0; j < i; j++)
			named |= syms->found[syms->backend->funcs[j].fn] &&
				 !strcmp(syms->backend->funcs[j].symbol, d->symbol);
		if (syms->found[d->fn] && !named)
			used +=
			    snprintf(buf + used, size - used, "%s%s", used ? "," : "", d->symbol);
	}
}

static const char *const kind_names[] = {
    [TLS_KIND_NONE] = "none",	  [TLS_KIND_OPENSSL] = "openssl",
    [TLS_KIND_GNUTLS] = "gnutls", [TLS_KIND_NSS] = "nss",
    [TLS_KIND_GO] = "go",	  [TLS_KIND_STATIC_STRIPPED] = "static-stripped",
};

const char *tls_kind_name(enum tls_kind kind)
{
	return (unsigned)kind < NELEM(kind_names) ? kind_names[kind] : "?";
}

static bool name_has(const char *path, const char *lib)
{
	const char *base = strrchr(path, '/');

	return strncmp(base ? base + 1 : path, lib, strlen(lib)) == 0;
}

static void set(struct tls_verdict *v, enum tls_kind kind, const char *status, const char *reason)
{
	v->kind = kind;
	v->status = status;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

/* The back end whose library this file name is ("libssl.so.3"), or NULL. */
static const struct tls_backend *backend_of_name(const char *path)
{
	for (size_t b = 0; b < NELEM(backends); b++) {
		if (backends[b]->lib_prefix && name_has(path, backends[b]->lib_prefix))
			return backends[b];
	}
	return NULL;
}

bool tls_backend_lib_name(const char *path)
{
	return backend_of_name(path) != NULL;
}

int tls_classify(int fd, const char *path, bool is_exe, struct tls_verdict *v)
{
	const struct tls_backend *be;
	int err, flags;

	memset(v, 0, sizeof(*v));
	err = tls_backend_resolve(fd, &v->syms);
	if (err == 0) {
		char funcs[160];

		tls_file_describe(&v->syms, funcs, sizeof(funcs));
		v->kind = v->syms.backend->kind;
		v->traced = true;
		v->status = "traced";
		snprintf(v->reason, sizeof(v->reason), "%s functions found: %s",
			 v->syms.backend->name, funcs);
		return 0;
	}
	if (err != -ENOENT && err != -ENOEXEC)
		return err;
	if (err == -ENOENT) {
		/* Go programs carry crypto/tls in the executable. */
		int gerr = tls_go_classify(fd, v);

		if (gerr != -ENOENT)
			return gerr;
		memset(v, 0, sizeof(*v));
	}
	if ((be = backend_of_name(path))) {
		/* Named like a TLS library, without its required functions. */
		size_t n = 0;

		v->kind = be->kind;
		v->status = "not-traced";
		n += snprintf(v->reason, sizeof(v->reason), "no ");
		for (size_t i = 0; i < be->nfuncs && n < sizeof(v->reason); i++) {
			if (be->funcs[i].required)
				n += snprintf(v->reason + n, sizeof(v->reason) - n, "%s%s",
					      n > 3 ? "/" : "", be->funcs[i].symbol);
		}
		if (n < sizeof(v->reason))
			snprintf(v->reason + n, sizeof(v->reason) - n, " symbols (%s)",
				 strerror(-err));
	} else if (name_has(path, "libnss3.so") || name_has(path, "libnspr4.so")) {
		set(v, TLS_KIND_NSS, "not-traced",
		    "NSS/NSPR (Mozilla: PR_Write/PR_Read) is not supported");
	} else if (is_exe && err == -ENOENT && (flags = elf_inspect_fd(fd)) >= 0) {
		if (!(flags & ELF_IS_GO) && !(flags & ELF_HAS_INTERP) &&
		    !(flags & (ELF_HAS_SYMTAB | ELF_HAS_DYNSYM)))
			set(v, TLS_KIND_STATIC_STRIPPED, "unknown",
			    "static executable without symbols: TLS linked into it cannot be "
			    "found");
	}
	return 0;
}
