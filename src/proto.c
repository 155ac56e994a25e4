// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>
#include <linux/types.h>
#include "bpf/tls_trace.h"
#include "proto.h"

/* RFC 9113 3.4: every HTTP/2 client connection starts with these 24 bytes. */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static bool h2_request_frame(const uint8_t *d, uint32_t len)
{
	uint32_t flen, i = 9, idx;
	uint8_t b;

	if (len < 10)
		return false;
	flen = (uint32_t)d[0] << 16 | d[1] << 8 | d[2];
	if (d[3] != 1 || (d[4] & ~0x2d) || (d[5] & 0x80) || !(d[8] & 1) || flen == 0 ||
	    flen > 16384)
		return false;
	if (d[4] & 0x08)
		i += 1; /* pad length */
	if (d[4] & 0x20)
		i += 5; /* priority */
	if (i >= len || i >= 9 + flen)
		return false;
	b = d[i];
	if ((b & 0xe0) == 0x20) { /* a table size update that fits one byte */
		if ((b & 0x1f) == 0x1f || ++i >= len || i >= 9 + flen)
			return false;
		b = d[i];
	}
	if (b & 0x80)
		idx = b & 0x7f; /* indexed field */
	else if ((b & 0xc0) == 0x40)
		idx = b & 0x3f; /* literal, indexed name, incremental indexing */
	else if ((b & 0xe0) == 0)
		idx = b & 0x0f; /* literal, indexed name, without/never indexing */
	else
		return false;
	/* A request's pseudo-headers (static 1-7), or an entry of the dynamic
	 * table (a method like DELETE once inserted); not :status (8-14). */
	return (idx >= 1 && idx <= 7) || idx > 61;
}

/* Length of the upper-case token data starts with, and whether it is an
 * HTTP method (packed as the kernel packs it). */
static uint32_t method_token(const uint8_t *d, uint32_t len, bool *known, uint64_t *plo)
{
	uint64_t lo = 0, hi = 0;
	uint32_t i;

	for (i = 0; i < len && i <= TLS_REQ_TOKEN_MAX && d[i] >= 'A' && d[i] <= 'Z'; i++) {
		if (i < 8)
			lo |= (uint64_t)d[i] << (8 * i);
		else if (i < 12)
			hi |= (uint64_t)d[i] << (8 * (i - 8));
	}
	*known = i >= TLS_REQ_TOKEN_MIN && i <= TLS_REQ_TOKEN_MAX && tls_http_method(lo, hi);
	*plo = lo;
	return i;
}

bool proto_request_start(const uint8_t *data, uint32_t len)
{
	uint64_t lo;
	bool known;
	uint32_t i = method_token(data, len, &known, &lo);

	return known && i < len && data[i] == ' ' &&
	       (i + 1 == len || tls_target_start(data[i + 1], lo));
}

/* A request line ends in " HTTP/1.0" or " HTTP/1.1" (RFC 9112 3). */
static bool ends_in_version(const uint8_t *line, uint32_t len)
{
	static const char v[] = " HTTP/1.";

	if (len && line[len - 1] == '\r')
		len--;
	return len > sizeof(v) && memcmp(line + len - sizeof(v), v, sizeof(v) - 1) == 0 &&
	       (line[len - 1] == '0' || line[len - 1] == '1');
}

/*
 * A first write that the kernel let in but that is no HTTP/1 request: not
 * a method, a space and a target's start (the kernel's own test: its
 * records may come from an older program, or from a test), or a whole
 * first line without an HTTP version
 * ("HEAD 1\r\n": NNTP; "GET key\r\n": an inline key-value command).
 */
static bool other_protocol(const uint8_t *data, uint32_t len)
{
	const uint8_t *nl;
	uint64_t lo;
	bool known;
	uint32_t i = method_token(data, len, &known, &lo);

	if (i == len || (known && i + 1 == len && data[i] == ' '))
		return false; /* cut by the write's end: cannot tell */
	if (!proto_request_start(data, len))
		return true;
	nl = memchr(data, '\n', len);
	return nl && !ends_in_version(data, nl - data);
}

bool proto_reply_may_be_http(const uint8_t *data, uint32_t len)
{
	static const char http[] = "HTTP/";
	uint32_t n = len < sizeof(http) - 1 ? len : sizeof(http) - 1;

	return memcmp(data, http, n) == 0;
}

enum proto_kind proto_detect(const uint8_t *data, uint32_t len)
{
	size_t n = len < sizeof(h2_preface) - 1 ? len : sizeof(h2_preface) - 1;

	if (len == 0)
		return PROTO_UNKNOWN;
	if (h2_request_frame(data, len))
		return PROTO_HTTP2_LATE;
	if (memcmp(data, h2_preface, n) != 0)
		return other_protocol(data, len) ? PROTO_OTHER : PROTO_HTTP1;
	/* A prefix of the preface: "PRI" could still be an HTTP/1 method. */
	return n == sizeof(h2_preface) - 1 ? PROTO_HTTP2 : PROTO_UNKNOWN;
}
