/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Orchestrator's in-process agent datagram, exactly:
 *
 *     0\t<METHOD>\t<host>\t<path>\t<milliseconds>\n
 *
 * The Orchestrator trims it, drops the leading "0", splits the rest on runs
 * of whitespace into exactly four fields and parses the last as a float. So
 * every field is made non-empty and free of whitespace and control bytes, or
 * the call is not sent at all.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1500-byte Ethernet MTU - 20 (IPv4) - 8 (UDP): never fragmented. */
#define WIRE_DATAGRAM_MAX 1472
#define WIRE_METHOD_MAX	  24
#define WIRE_HOST_MAX	  256

/* A call's fields as they will be sent (also what the log line shows). */
struct wire_call {
	char method[WIRE_METHOD_MAX + 1];
	char host[WIRE_HOST_MAX + 1];
	char path[WIRE_DATAGRAM_MAX + 1];
	double ms;
};

/*
 * Normalise a call: method must be an upper-case token; host is lower-cased
 * and must be a plain host[:port] or [v6]:port; the path loses its query and
 * fragment, bytes outside printable ASCII are %-encoded, and segments that
 * are secrets become ":token" (path_redact.h). @target_cut says
 * the target was already cut short, so its last segment may be partial.
 * Returns 0, or -EINVAL when no valid datagram can be made (logged as
 * malformed by the caller).
 */
int wire_call_make(struct wire_call *out, const char *method, const char *host, const char *target,
		   bool target_cut, uint64_t latency_ns);

/*
 * Encode into buf (at least WIRE_DATAGRAM_MAX bytes). An over-long path is cut
 * after a '/' so the datagram fits. Returns the datagram length or -EINVAL.
 */
int wire_encode(const struct wire_call *call, char *buf, size_t size);

#endif /* WIRE_H */
