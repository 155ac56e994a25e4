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

#endif /* REPORT_H */
