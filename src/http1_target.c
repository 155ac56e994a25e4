// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The absolute-form request target (RFC 9112 3.2.2): its authority is the host. */
#include <errno.h>
#include <string.h>
#include "http1.h"
#include "http1_target.h"

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_scheme_char(char ch)
{
	return is_alpha(ch) || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.';
}

/*
 * An absolute-form target (scheme://authority/path) names the host itself and
 * a server must ignore Host then (RFC 9112 3.2.2): report the authority as
 * host (without userinfo, which may hold credentials) and the rest as target.
 */
int http1_split_absolute(char *t, uint16_t *target_len, bool truncated, char *host,
			 uint16_t *host_len)
{
	size_t n = *target_len, i = 0, a, e, k, rest;

	if (!n || !is_alpha(t[0]))
		return 0;
	while (i < n && is_scheme_char(t[i]))
		i++;
	if (n - i < 3 || memcmp(t + i, "://", 3) != 0)
		return 0;
	a = i + 3;
	for (e = a; e < n && t[e] != '/' && t[e] != '?' && t[e] != '#'; e++)
		;
	/* The authority was cut: it is far longer than any host. */
	if (e == n && truncated)
		return -EPROTO;
	for (k = a; k < e; k++)
		if (t[k] == '@')
			a = k + 1;
	if (e - a > HTTP1_HOST_MAX)
		return -EPROTO;
	memcpy(host, t + a, e - a);
	*host_len = e - a;

	/* e >= 4, so the path plus a leading '/' still fits. */
	rest = n - e;
	if (rest && t[e] == '/') {
		memmove(t, t + e, rest);
		*target_len = rest;
	} else {
		memmove(t + 1, t + e, rest);
		t[0] = '/';
		*target_len = rest + 1;
	}
	return 0;
}
