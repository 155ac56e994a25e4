/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS back ends: what the daemon needs to know about one TLS library to
 * trace it, as data. A back end is a table of probed functions (symbol,
 * whether it is required, whether its result is needed, whether it is a
 * per-process data probe or a system-wide role marker); the attach layer
 * and the BPF dispatcher read it, keyed by enum tls_func (the attach
 * cookie, see bpf/tls_trace.h for each function's argument and result
 * conventions). Everything after the probe (connection key, sessions,
 * protocol parsers) is shared by all back ends.
 *
 * OpenSSL, GnuTLS and Go crypto/tls are the back ends. Go's functions are
 * found by go_elf.c (symbols or .gopclntab) and its results are read at
 * each return instruction (at_returns), never by a return probe.
 *
 * The same classifier decides, for the daemon and for --list-targets, what
 * a file is and whether it is traced.
 */
#ifndef TLS_BACKEND_H
#define TLS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "bpf/tls_trace.h"

enum tls_probe_kind {
	TLS_PROBE_DATA,	  /* scoped to a process (or all, --system-wide-probes) */
	TLS_PROBE_MARKER, /* for all processes: tells clients from servers */
};

struct tls_func_desc {
	enum tls_func fn; /* the attach cookie the BPF dispatcher switches on */
	const char *symbol;
	enum tls_probe_kind kind;
	bool required;		 /* no tracing without it */
	const char *entry_prog;	 /* per-function program (perf-event attach mode) */
	const char *return_prog; /* its return probe, NULL when the result is not needed */
	bool at_returns;	 /* uprobes on each return instruction of symbol, not its entry */
};

/* What a file is, for the daemon's decisions and the coverage report. */
enum tls_kind {
	TLS_KIND_NONE, /* nothing TLS about it */
	TLS_KIND_OPENSSL,
	TLS_KIND_GNUTLS,
	TLS_KIND_NSS,
	TLS_KIND_GO,
	TLS_KIND_STATIC_STRIPPED,
};

struct tls_backend {
	const char *name; /* "OpenSSL", as the log and --list-targets say it */
	enum tls_kind kind;
	const char *lib_prefix; /* file names of this library ("libssl.so"); NULL: none */
	const struct tls_func_desc *funcs;
	size_t nfuncs;
};

extern const struct tls_backend tls_backend_openssl;
extern const struct tls_backend tls_backend_gnutls;
extern const struct tls_backend tls_backend_go;

/* Call fn for the library file name prefix of each back end ("libssl.so"...). */
void tls_backend_each_lib(void (*fn)(const char *lib_prefix, void *ctx), void *ctx);

/* Does this file name (or path) name a library of a back end? */
bool tls_backend_lib_name(const char *path);

/* Return-instruction probes per file at most (Go: Read's and Write's). */
#define TLS_RET_PROBES_MAX 32

/*
 * Where one file's probed functions are (file offsets), and whose they are.
 * A function probed at its return instructions (at_returns) has its
 * offsets in ret_offset, each with its function in ret_fn.
 */
struct tls_file_syms {
	const struct tls_backend *backend;
	uint64_t offset[TLS_FN_COUNT];
	bool found[TLS_FN_COUNT];
	unsigned nret;
	uint8_t ret_fn[TLS_RET_PROBES_MAX];
	uint64_t ret_offset[TLS_RET_PROBES_MAX];
};

/* The descriptor of a function, whatever its back end; NULL if unknown. */
const struct tls_func_desc *tls_func_desc(enum tls_func fn);

/*
 * Find a back end's functions in the ELF file open on FD. 0 with syms
 * filled, -ENOENT when no back end has its required functions there,
 * -ENOEXEC when it is not a readable ELF file, other -errno.
 */
int tls_backend_resolve(int fd, struct tls_file_syms *syms);

/* "SSL_write,SSL_read,..." for the log. */
void tls_file_describe(const struct tls_file_syms *syms, char *buf, size_t size);

struct tls_verdict {
	enum tls_kind kind;
	bool traced;	    /* syms holds what to probe */
	const char *status; /* "traced", "not-traced", "unknown"; NULL for TLS_KIND_NONE */
	char reason[200];
	struct tls_file_syms syms;
};

const char *tls_kind_name(enum tls_kind kind);

/*
 * Classify the file open on FD. PATH (as the process names it) is used only
 * for its base name; IS_EXE asks for the checks that only make sense for a
 * process's executable (Go, stripped static). Returns 0, or -errno when the
 * file could not be read (a verdict worth retrying later, not remembering).
 */
int tls_classify(int fd, const char *path, bool is_exe, struct tls_verdict *v);

#endif /* TLS_BACKEND_H */
