/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The coverage report (--list-targets): what is traced on this host and what
 * is not, and why, per process and TLS-relevant file. It reads /proc and the
 * files themselves; it loads no eBPF. One line per item:
 *
 *   pid=<pid> comm=<comm> file=<path> status=<traced|not-traced|unknown>
 *   kind=<openssl|gnutls|nss|go|static-stripped> reason="<why>"
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdio.h>

/* Returns the number of lines printed, or a negative errno. */
int report_targets(FILE *out, const char *proc_root, const char *ldcache_file);

/*
 * Can the daemon watch processes start and map files (proc_watch.h)? If
 * not, one "error: ..." line on err, and a negative errno: the daemon
 * would refuse to run, so the report above it is what it could trace, not
 * what it traces.
 */
int report_discovery(FILE *err);

#endif /* REPORT_H */
