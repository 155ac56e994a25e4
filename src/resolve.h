/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Name resolution with c-ares: /etc/hosts then DNS from /etc/resolv.conf,
 * without glibc's NSS plugins, which a self-contained binary cannot load.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * Resolve name to its first address (IPv4 preferred, as the Orchestrator
 * listens on IPv4 by default) with port set. Blocks up to timeout_ms.
 * Returns 0, or a negative errno (-EHOSTUNREACH when nothing was found).
 */
int resolve_name(const char *name, uint16_t port, int timeout_ms, struct sockaddr_storage *out,
		 socklen_t *out_len);

#endif /* RESOLVE_H */
