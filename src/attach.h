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

/*
 * How uprobes are attached. uprobe_multi links (Linux 6.6+) are detached
 * without holding the global lock that serialises perf-event uprobe detach,
 * each of which waits for an RCU grace period (0.1-0.2 s measured on 6.18).
 */
enum attach_mode {
	ATTACH_PERF_EVENT,   /* one perf event per probe, any kernel */
	ATTACH_UPROBE_MULTI, /* BPF_TRACE_UPROBE_MULTI links */
};

/* One attached probe: a libbpf link, or the fd of a link we made ourselves. */
struct probe_link {
	struct bpf_link *link;
	int fd;
};

struct attached_lib {
	struct tls_lib lib;
	pid_t pid; /* -1: every process that maps the file */
	struct probe_link links[ATTACH_MAX_LINKS];
	int nlinks;
	char functions[128]; /* attached function names, for the log */
};

/*
 * Choose the attach mode for this kernel and prepare the programs for it.
 * Call after open, before load. Returns the mode chosen.
 */
enum attach_mode attach_prepare(struct tls_trace *skel, bool force_perf_event);
const char *attach_mode_name(enum attach_mode mode);

/*
 * Find the OpenSSL functions in lib's symbols and attach every program that
 * has its function. Fails with -ENOENT when SSL_write or SSL_read is missing
 * (not an OpenSSL we can trace) and with the libbpf error when attaching fails.
 */
int attach_tls_lib(struct tls_trace *skel, const struct tls_lib *lib, pid_t pid,
		   struct attached_lib *out);
void detach_tls_lib(struct attached_lib *a);

/*
 * Detach many libraries at once. Each uprobe detach waits for an RCU grace
 * period (~0.1-0.2 s measured on 6.18), so one by one they take seconds;
 * done from parallel threads the waits overlap.
 */
void detach_tls_libs(struct attached_lib *libs, size_t n);

#endif /* ATTACH_H */
