/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sends datagrams to the Orchestrator over UDP, never blocking the daemon.
 * A DNS-named endpoint is resolved by a background thread, at start and again
 * when sending stops working.
 */
#ifndef FORWARD_H
#define FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct forward_stats {
	uint64_t sent;
	uint64_t dropped; /* not resolved yet, socket errors, refused */
};

struct forwarder;

/* Returns NULL with errno set on failure. */
struct forwarder *forwarder_new(const struct endpoint *ep);
void forwarder_free(struct forwarder *f);

/* Queue one datagram for the next flush (sent at once when the batch is
 * full); failures are counted (and logged, rate-limited). */
void forwarder_send(struct forwarder *f, const char *buf, size_t len);

/* Send what is queued. Call once per event-loop round. */
void forwarder_flush(struct forwarder *f);

struct forward_stats forwarder_stats(const struct forwarder *f);

#endif /* FORWARD_H */
