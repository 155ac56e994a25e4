// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go crypto/tls back end: a descriptor like OpenSSL's and GnuTLS's, and
 * how its functions are found in a Go executable (go_elf.c). What differs:
 * the functions live in the executable, not in a library; their results
 * are read at return instructions (at_returns), never by return probes;
 * and the verdict says when a Go program cannot be traced, and why.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "go_elf.h"
#include "tls_backend_go.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define GO_WRITE "crypto/tls.(*Conn).Write"
#define GO_READ	 "crypto/tls.(*Conn).Read"

/*
 * Write and Read are required with every return instruction: a call whose
 * result cannot be read is a call that cannot be reported. A Read proven to
 * keep its arguments in their spill slots (go_spill.c) is probed at its
 * returns only (READ_RET_SPILLED), else at its entry too. Every client
 * runs clientHandshake once per connection, every server serverHandshake.
 */
static const struct tls_func_desc go_funcs[] = {
    {TLS_FN_GO_WRITE, GO_WRITE, TLS_PROBE_DATA, true, "go_write_entry", NULL, false},
    {TLS_FN_GO_WRITE_RET, GO_WRITE, TLS_PROBE_DATA, true, "go_write_ret", NULL, true},
    {TLS_FN_GO_READ, GO_READ, TLS_PROBE_DATA, true, "go_read_entry", NULL, false},
    {TLS_FN_GO_READ_RET, GO_READ, TLS_PROBE_DATA, true, "go_read_ret", NULL, true},
    {TLS_FN_GO_READ_RET_SPILLED, GO_READ, TLS_PROBE_DATA, true, "go_read_ret_spilled", NULL, true},
    {TLS_FN_GO_CLOSE, "crypto/tls.(*Conn).Close", TLS_PROBE_DATA, false, "go_close_entry", NULL,
     false},
    {TLS_FN_GO_CLIENT_HS, "crypto/tls.(*Conn).clientHandshake", TLS_PROBE_MARKER, false,
     "go_client_hs_entry", NULL, false},
    {TLS_FN_GO_SERVER_HS, "crypto/tls.(*Conn).serverHandshake", TLS_PROBE_MARKER, false,
     "go_server_hs_entry", NULL, false},
};

const struct tls_backend tls_backend_go = {
    .name = "Go crypto/tls",
    .kind = TLS_KIND_GO,
    .lib_prefix = NULL, /* linked into each Go executable */
    .funcs = go_funcs,
    .nfuncs = NELEM(go_funcs),
};

/* The query for a function name, shared by its entry and returns. */
static struct go_func *query_of(struct go_func *q, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(q[i].name, name) == 0)
			return &q[i];
	}
	return NULL;
}

/* Read's two ways: its returns alone, or its entry and returns. */
static bool applies(const struct tls_func_desc *d, const struct go_func *f)
{
	if (d->fn == TLS_FN_GO_READ_RET_SPILLED)
		return f->args_spilled;
	if (d->fn == TLS_FN_GO_READ || d->fn == TLS_FN_GO_READ_RET)
		return !f->args_spilled;
	return true;
}

static void say(struct tls_verdict *v, const char *status, const char *fmt, const char *a,
		const char *b)
{
	v->kind = TLS_KIND_GO;
	v->status = status;
	snprintf(v->reason, sizeof(v->reason), fmt, a, b);
}

int tls_go_classify(int fd, struct tls_verdict *v)
{
	struct go_func q[NELEM(go_funcs)];
	struct tls_file_syms *syms = &v->syms;
	struct go_build b;
	size_t nq = 0;
	int err;

	err = go_elf_inspect(fd, &b);
	if (err <= 0)
		return err == 0 || err == -ENOEXEC ? -ENOENT : err;
	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < NELEM(go_funcs); i++) {
		struct go_func *f = query_of(q, nq, go_funcs[i].symbol);

		if (!f) {
			f = &q[nq++];
			f->name = go_funcs[i].symbol;
		}
		if (go_funcs[i].at_returns)
			f->want_rets = true;
	}
	err = go_elf_find_funcs(fd, q, nq);
	if (err < 0) {
		say(v, "not-traced", "Go program (%s): its function table cannot be read (%s)",
		    b.version[0] ? b.version : "version unknown", strerror(-err));
		return 0;
	}
	if (!q[0].found && strstr(q[0].why, "not in .symtab or .gopclntab")) {
		/* No crypto/tls.(*Conn).Write: a Go program that makes no TLS
		 * connection of its own. Nothing TLS about it. */
		return -ENOENT;
	}
	if (!b.regabi) {
		say(v, "not-traced",
		    "Go %s passes arguments on the stack (Go before 1.17): only the register "
		    "ABI is traced%s",
		    b.version[0] ? b.version : "version unknown", "");
		return 0;
	}
	memset(syms, 0, sizeof(*syms));
	for (size_t i = 0; i < NELEM(go_funcs); i++) {
		const struct tls_func_desc *d = &go_funcs[i];
		struct go_func *f = query_of(q, nq, d->symbol);

		if (!applies(d, f))
			continue;
		if (!f->found) {
			if (d->required) {
				say(v, "not-traced", "Go crypto/tls: %s not proven: %s", d->symbol,
				    f->why);
				memset(syms, 0, sizeof(*syms));
				return 0;
			}
			continue;
		}
		if (!d->at_returns) {
			syms->offset[d->fn] = f->offset;
			syms->found[d->fn] = true;
			continue;
		}
		if (syms->nret + f->nret > TLS_RET_PROBES_MAX) {
			say(v, "not-traced", "Go crypto/tls: %s has too many return instructions%s",
			    d->symbol, "");
			memset(syms, 0, sizeof(*syms));
			return 0;
		}
		for (unsigned r = 0; r < f->nret; r++) {
			syms->ret_fn[syms->nret] = d->fn;
			syms->ret_offset[syms->nret++] = f->ret_offset[r];
		}
		syms->found[d->fn] = f->nret > 0;
	}
	syms->backend = &tls_backend_go;
	v->kind = TLS_KIND_GO;
	v->traced = true;
	v->status = "traced";
	snprintf(v->reason, sizeof(v->reason),
		 "Go %s crypto/tls found (%s): Write and Read with %u return instructions%s%s%s",
		 b.version[0] ? b.version : "(version unknown)",
		 b.has_symtab ? "symbols" : ".gopclntab", syms->nret,
		 syms->found[TLS_FN_GO_READ_RET_SPILLED] ? " (Read at its returns only)" : "",
		 syms->found[TLS_FN_GO_CLIENT_HS] ? ", clientHandshake" : "",
		 syms->found[TLS_FN_GO_SERVER_HS] ? ", serverHandshake" : "");
	return 0;
}
