/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching the BPF programs to one TLS library file as uprobes.
 */
#ifndef ATTACH_H
#define ATTACH_H

#include <sys/types.h>
#include "discovery.h"

struct tls_trace;
struct bpf_link;

/* Entry + return probes on 4 data functions, entry probes on 2 end functions. */
#define ATTACH_MAX_LINKS 12

struct attached_lib {
	struct tls_lib lib;
	pid_t pid; /* -1: every process that maps the file */
	struct bpf_link *links[ATTACH_MAX_LINKS];
	int nlinks;
	char functions[128]; /* attached function names, for the log */
};

/*
 * Find the OpenSSL functions in lib's symbols and attach every program that
 * has its function. Fails with -ENOENT when SSL_write or SSL_read is missing
 * (not an OpenSSL we can trace) and with the libbpf error when attaching fails.
 */
int attach_tls_lib(struct tls_trace *skel, const struct tls_lib *lib, pid_t pid,
		   struct attached_lib *out);
void detach_tls_lib(struct attached_lib *a);

#endif /* ATTACH_H */
