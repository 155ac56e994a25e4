// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>
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

enum proto_kind proto_detect(const uint8_t *data, uint32_t len)
{
	size_t n = len < sizeof(h2_preface) - 1 ? len : sizeof(h2_preface) - 1;

	if (len == 0)
		return PROTO_UNKNOWN;
	if (h2_request_frame(data, len))
		return PROTO_HTTP2_LATE;
	if (memcmp(data, h2_preface, n) != 0)
		return PROTO_HTTP1;
	/* A prefix of the preface: "PRI" could still be an HTTP/1 method. */
	return n == sizeof(h2_preface) - 1 ? PROTO_HTTP2 : PROTO_UNKNOWN;
}
