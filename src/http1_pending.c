// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "http1_pending.h"

/* Room for one more: double the ring (1, 2, 4, ... HTTP1_PENDING_MAX). */
static int grow(struct h1_pending *q)
{
	unsigned cap = q->cap ? q->cap * 2 : 1;
	struct h1_pending_req **slot;

	if (cap > HTTP1_PENDING_MAX)
		cap = HTTP1_PENDING_MAX;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (unsigned i = 0; i < q->count; i++)
		slot[i] = q->slot[(q->head + i) % q->cap];
	free(q->slot);
	q->slot = slot;
	q->head = 0;
	q->cap = cap;
	return 0;
}

int h1_pending_push(struct h1_pending *q, uint64_t start_ns, uint8_t method, bool target_truncated,
		    const char *target, size_t target_len, const char *host, size_t host_len)
{
	struct h1_pending_req *r;
	int err;

	if (q->count == HTTP1_PENDING_MAX)
		return -ENOSPC;
	if (q->count == q->cap && (err = grow(q)))
		return err;
	r = malloc(sizeof(*r) + target_len + 1 + host_len + 1);
	if (!r)
		return -ENOMEM;
	r->start_ns = start_ns;
	r->method = method;
	r->target_truncated = target_truncated;
	memcpy(r->text, target, target_len);
	r->text[target_len] = '\0';
	memcpy(r->text + target_len + 1, host, host_len);
	r->text[target_len + 1 + host_len] = '\0';
	r->host = r->text + target_len + 1;
	q->slot[(q->head + q->count) % q->cap] = r;
	q->count++;
	return 0;
}

struct h1_pending_req *h1_pending_front(const struct h1_pending *q)
{
	return q->count ? q->slot[q->head] : NULL;
}

void h1_pending_pop(struct h1_pending *q)
{
	if (!q->count)
		return;
	free(q->slot[q->head]);
	q->slot[q->head] = NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

unsigned h1_pending_clear(struct h1_pending *q)
{
	unsigned n = q->count;

	while (q->count)
		h1_pending_pop(q);
	q->head = 0;
	return n;
}

void h1_pending_free(struct h1_pending *q)
{
	h1_pending_clear(q);
	free(q->slot);
	*q = (struct h1_pending){0};
}
