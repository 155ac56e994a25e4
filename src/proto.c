// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "proto.h"

/* RFC 9113 3.4: every HTTP/2 client connection starts with these 24 bytes. */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum proto_kind proto_detect(const uint8_t *data, uint32_t len)
{
	size_t n = len < sizeof(h2_preface) - 1 ? len : sizeof(h2_preface) - 1;

	if (len == 0)
		return PROTO_UNKNOWN;
	if (memcmp(data, h2_preface, n) != 0)
		return PROTO_HTTP1;
	/* A prefix of the preface: "PRI" could still be an HTTP/1 method. */
	return n == sizeof(h2_preface) - 1 ? PROTO_HTTP2 : PROTO_UNKNOWN;
}
