// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "path_redact.h"
#include "wire.h"

static int make_method(char *out, const char *method)
{
	size_t n = strlen(method);

	if (n == 0 || n > WIRE_METHOD_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (method[i] < 'A' || method[i] > 'Z')
			return -EINVAL;
	}
	memcpy(out, method, n + 1);
	return 0;
}

static int host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_' || c == ':' || c == '[' || c == ']' || c == '%';
}

/* Lower-cased; letters, digits and the few characters of host, port and
 * IPv6 literal syntax. Anything else is a lie or an attack: refuse. */
static int make_host(char *out, const char *host)
{
	size_t n = strlen(host);

	if (n == 0 || n > WIRE_HOST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if (!host_char_ok(c))
			return -EINVAL;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

/* Keep up to and including the last '/' at or before max bytes. */
static size_t cut_at_slash(const char *path, size_t len, size_t max)
{
	if (len <= max)
		return len;
	for (size_t i = max; i > 0; i--) {
		if (path[i - 1] == '/')
			return i;
	}
	return 0;
}

static int make_path(char *out, size_t size, const char *target, bool target_cut)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0, room = size - 1;
	bool cut = false;
	const char *p;

	if (target[0] != '/' && strcmp(target, "*") != 0)
		return -EINVAL;
	for (p = target; *p && *p != '?' && *p != '#'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > 0x20 && c < 0x7f) {
			if (n + 1 > room) {
				cut = true;
				break;
			}
			out[n++] = c;
			continue;
		}
		/* Whitespace, control and non-ASCII bytes would break the
		 * Orchestrator's split: send them %-encoded. */
		if (n + 3 > room) {
			cut = true;
			break;
		}
		out[n++] = '%';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	/* A target the parser cut short is a cut path only if the cut fell in
	 * the path: "/graphql?query=<3 KB>" is "/graphql", whole. */
	if (!*p && target_cut)
		cut = true;
	if (cut)
		n = cut_at_slash(out, n, n - 1 + (n > 0 && out[n - 1] == '/'));
	/* Tokens in the path (webhooks, bots) leave neither in the log nor
	 * in the datagram. */
	n = path_redact(out, n);
	if (n == 0)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

int wire_call_make(struct wire_call *out, const char *method, const char *host, const char *target,
		   bool target_cut, uint64_t latency_ns)
{
	if (!method || !host || !target)
		return -EINVAL;
	if (make_method(out->method, method) || make_host(out->host, host) ||
	    make_path(out->path, sizeof(out->path), target, target_cut))
		return -EINVAL;
	out->ms = (double)latency_ns / 1e6;
	return 0;
}

int wire_encode(const struct wire_call *call, char *buf, size_t size)
{
	char ms[32];
	size_t fixed, path_len, keep;
	int n;

	if (size < WIRE_DATAGRAM_MAX || !(call->ms >= 0) || call->ms > 1e12)
		return -EINVAL;
	n = snprintf(ms, sizeof(ms), "%.3f", call->ms);
	if (n <= 0 || n >= (int)sizeof(ms))
		return -EINVAL;
	/* "0" TAB method TAB host TAB path TAB ms LF */
	fixed = 1 + 1 + strlen(call->method) + 1 + strlen(call->host) + 1 + 1 + n + 1;
	if (fixed >= WIRE_DATAGRAM_MAX)
		return -EINVAL;
	path_len = strlen(call->path);
	keep = path_len;
	if (fixed + path_len > WIRE_DATAGRAM_MAX) {
		keep = cut_at_slash(call->path, path_len, WIRE_DATAGRAM_MAX - fixed);
		if (keep == 0)
			return -EINVAL;
	}
	n = snprintf(buf, size, "0\t%s\t%s\t%.*s\t%s\n", call->method, call->host, (int)keep,
		     call->path, ms);
	if (n < 0 || (size_t)n > WIRE_DATAGRAM_MAX)
		return -EINVAL;
	return n;
}
