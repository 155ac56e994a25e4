// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "http1.h"
#include "http1_head.h"
#include "http1_target.h"

/* Room for need bytes in *buf (at most max): doubled from 32. */
static bool reserve(char **buf, uint16_t *cap, size_t need, size_t max)
{
	size_t n = *cap ? *cap : 32;
	char *p;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	if (n < need)
		return false;
	p = realloc(*buf, n);
	if (!p)
		return false;
	*buf = p;
	*cap = n;
	return true;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

void h1_head_begin(struct h1_head *h, uint64_t start_ns)
{
	h->start_ns = start_ns;
	h->target_len = 0;
	h->host_len = 0;
	h->host_ws = 0;
	h->target_truncated = false;
	h->host_long = false;
}

bool h1_head_add_target(struct h1_head *h, const char *at, size_t len)
{
	size_t room = HTTP1_TARGET_MAX - h->target_len;

	if (len > room) {
		h->target_truncated = true;
		len = room;
	}
	if (!len)
		return true;
	if (!reserve(&h->target, &h->target_cap, h->target_len + len, HTTP1_TARGET_MAX))
		return false;
	memcpy(h->target + h->target_len, at, len);
	h->target_len += len;
	return true;
}

void h1_head_host_field(struct h1_head *h)
{
	h->host_len = 0;
	h->host_ws = 0;
}

/*
 * Whitespace is written tentatively past host_len and only counted once a
 * non-whitespace byte follows it, so trailing whitespace never overflows.
 */
bool h1_head_add_host(struct h1_head *h, const char *at, size_t len)
{
	for (size_t i = 0; i < len && !h->host_long; i++) {
		size_t pos = h->host_len + h->host_ws;

		if (is_ws(at[i])) {
			if (!h->host_len)
				continue;
			if (pos < HTTP1_HOST_MAX) {
				if (!reserve(&h->host, &h->host_cap, pos + 1, HTTP1_HOST_MAX))
					return false;
				h->host[pos] = at[i];
			}
			h->host_ws++;
			continue;
		}
		if (pos >= HTTP1_HOST_MAX) {
			h->host_long = true;
			break;
		}
		if (!reserve(&h->host, &h->host_cap, pos + 1, HTTP1_HOST_MAX))
			return false;
		h->host_len += h->host_ws;
		h->host_ws = 0;
		h->host[h->host_len++] = at[i];
	}
	return true;
}

int h1_head_split_absolute(struct h1_head *h)
{
	if (!h->target_len || h->target[0] == '/' || h->target[0] == '*')
		return 0;
	/* The authority may become the host: room for the longest. */
	if (!reserve(&h->host, &h->host_cap, HTTP1_HOST_MAX, HTTP1_HOST_MAX))
		return -EPROTO;
	return http1_split_absolute(h->target, &h->target_len, h->target_truncated, h->host,
				    &h->host_len);
}

void h1_head_release(struct h1_head *h)
{
	free(h->target);
	free(h->host);
	h->target = h->host = NULL;
	h->target_len = h->target_cap = h->host_len = h->host_cap = 0;
}
