/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The request head being parsed on one HTTP/1 connection: what is kept of
 * it (target, Host value). Both grow as their bytes come (most are a few
 * dozen bytes, the limits are kilobytes) and are freed once the request is
 * queued: a connection between requests, or waiting for its answer, holds
 * no head buffer.
 */
#ifndef HTTP1_HEAD_H
#define HTTP1_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct h1_head {
	uint64_t start_ns;
	char *target; /* NULL until its first byte; not NUL-terminated */
	char *host;
	uint16_t target_len, target_cap;
	uint16_t host_len, host_cap;
	uint32_t host_ws; /* whitespace seen after the last Host value byte */
	uint8_t method;
	bool target_truncated; /* cut at HTTP1_TARGET_MAX */
	bool host_long;	       /* over HTTP1_HOST_MAX: the request is malformed */
};

/* A new request begins (its buffers, if any, are reused). */
void h1_head_begin(struct h1_head *h, uint64_t start_ns);

/* Request-target bytes; beyond HTTP1_TARGET_MAX they are cut. False: out of memory. */
bool h1_head_add_target(struct h1_head *h, const char *at, size_t len);

/* A Host field starts: its value replaces any earlier one. */
void h1_head_host_field(struct h1_head *h);

/* Host value bytes, without leading and trailing whitespace. False: out of memory. */
bool h1_head_add_host(struct h1_head *h, const char *at, size_t len);

/* An absolute-form target names the host itself (http1_target.h): 0 or -EPROTO. */
int h1_head_split_absolute(struct h1_head *h);

/* The buffers go back: the request was queued, or is lost. */
void h1_head_release(struct h1_head *h);

#endif /* HTTP1_HEAD_H */
