/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A DATA record built the way the BPF side builds it (tls_trace.h), for the
 * unit tests that feed the session table: LEN bytes of one direction at
 * stream offset OFF, of which only the last COPIED_LEN are carried (COPIED:
 * those bytes, or NULL for zeros); the bytes before them are data_skip.
 * The caller frees it.
 */
#ifndef TLS_EVENT_FIXTURE_H
#define TLS_EVENT_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bpf/tls_trace.h"

struct tls_conn_ref {
	uint32_t pid;
	uint64_t ssl, conn_id;
	const char *comm; /* NULL: none */
};

static inline struct tls_event *tls_data_event(struct tls_conn_ref c, int dir, uint64_t ts,
					       uint64_t off, uint32_t len, const char *copied,
					       uint32_t copied_len)
{
	struct tls_event *ev = calloc(1, sizeof(*ev) + copied_len);

	ev->kind = TLS_EV_DATA;
	ev->dir = dir;
	ev->tgid = c.pid;
	ev->ssl = c.ssl;
	ev->conn_id = c.conn_id;
	ev->ts_ns = ts;
	ev->stream_off = off;
	ev->len = len;
	ev->data_skip = len - copied_len;
	ev->data_len = copied_len;
	if (copied)
		memcpy(ev->data, copied, copied_len);
	if (c.comm)
		strncpy(ev->comm, c.comm, sizeof(ev->comm) - 1);
	return ev;
}

#endif
