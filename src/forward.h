/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sends datagrams to the Orchestrator over UDP, never blocking the daemon.
 * A DNS-named endpoint is resolved by a background thread, at start, again
 * when sending stops working, and every second while it has never resolved.
 * Datagrams the kernel cannot take yet (no address, no route) are held, the
 * newest 64; there is no back-off that drops them: a call made once the
 * Orchestrator is back is sent.
 */
#ifndef FORWARD_H
#define FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct forward_stats {
	uint64_t sent;	  /* taken by the kernel */
	uint64_t dropped; /* refused (reported by the kernel on a later send, so
			   * also counted as sent), pushed out of a full queue,
			   * other send errors */
};

struct forwarder;

/* Returns NULL with errno set on failure (out of memory, an invalid
 * literal address); an address without a route yet is not a failure. */
struct forwarder *forwarder_new(const struct endpoint *ep);
void forwarder_free(struct forwarder *f);

/* Queue one datagram for the next flush (sent at once when the queue is
 * full); failures are counted (and logged, rate-limited). */
void forwarder_send(struct forwarder *f, const char *buf, size_t len);

/* Send what is queued. Call once per event-loop round. */
void forwarder_flush(struct forwarder *f);

struct forward_stats forwarder_stats(const struct forwarder *f);

#endif /* FORWARD_H */
