// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Whatever method, host and target a traced process sends, a datagram we
 * encode must parse as the Orchestrator parses it, fit in 1472 bytes and
 * carry no query string, and its path no segment that is a secret (the
 * redaction is complete: doing it again changes nothing).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "path_redact.h"
#include "wire.h"

static void check(const char *dgram, int n)
{
	char buf[WIRE_DATAGRAM_MAX + 1], *save = NULL, *tok;
	int fields = 0;

	if (n <= 0 || n > WIRE_DATAGRAM_MAX)
		abort();
	memcpy(buf, dgram, n);
	buf[n] = '\0';
	if (buf[0] != '0' || buf[1] != '\t' || buf[n - 1] != '\n' || memchr(buf, '?', n))
		abort();
	for (tok = strtok_r(buf + 1, " \t\r\n\v\f", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n\v\f", &save))
		fields++;
	if (fields != 4)
		abort();
	for (int i = 0; i < n - 1; i++) {
		unsigned char c = dgram[i];

		if (c != '\t' && (c < 0x21 || c > 0x7e))
			abort();
	}
}

static void check_redacted(const char *path)
{
	char again[WIRE_DATAGRAM_MAX + 1];
	size_t len = strlen(path);

	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (path_segment_is_secret(p, n))
			abort();
		if (!slash)
			break;
		p = slash + 1;
	}
	memcpy(again, path, len);
	if (path_redact(again, len) != len || memcmp(again, path, len))
		abort();
}

/* Input: method NUL host NUL target, then a byte for "target was cut". */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 3), *method, *host, *target;
	struct wire_call call;
	char out[WIRE_DATAGRAM_MAX + 1];

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = copy[size + 1] = copy[size + 2] = '\0';
	method = copy;
	host = method + strlen(method) + 1;
	target = host + strlen(host) + 1;
	if (target > copy + size)
		target = copy + size;
	if (!wire_call_make(&call, method, host, target, size && (data[size - 1] & 1),
			    size * 1000003ull)) {
		int n = wire_encode(&call, out, sizeof(out));

		check_redacted(call.path);
		if (n > 0)
			check(out, n);
	}
	free(copy);
	return 0;
}
