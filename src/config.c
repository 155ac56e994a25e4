// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "config.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1..65535, decimal digits only: no sign, no blanks, no hex. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner
 * hyphens, 1..63 characters each, 253 in all; one trailing dot allowed. */
static bool is_dns_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label == 0 || s[len - 1] != '-';
}

/* Only digits and dots: meant as an IPv4 address, never a name. */
static bool looks_numeric(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int parse_host(const char *s, size_t len, struct endpoint *ep)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (len == 0 || len >= sizeof(ep->host))
		return -EINVAL;
	memcpy(ep->host, s, len);
	ep->host[len] = '\0';
	if (s[0] == '[')
		return -EINVAL; /* handled by the caller */
	if (looks_numeric(s, len)) {
		ep->kind = ENDPOINT_IPV4;
		return inet_pton(AF_INET, ep->host, &a4) == 1 ? 0 : -EINVAL;
	}
	if (inet_pton(AF_INET6, ep->host, &a6) == 1)
		return -EINVAL; /* IPv6 literals need brackets: [::1]:51713 */
	ep->kind = ENDPOINT_NAME;
	return is_dns_name(s, len) ? 0 : -EINVAL;
}

static int parse_bracketed(const char *s, size_t len, struct endpoint *ep)
{
	const char *close = memchr(s, ']', len);
	struct in6_addr a6;
	size_t hlen;

	if (!close || close + 1 >= s + len || close[1] != ':')
		return -EINVAL;
	hlen = close - s - 1;
	if (hlen == 0 || hlen >= sizeof(ep->host))
		return -EINVAL;
	memcpy(ep->host, s + 1, hlen);
	ep->host[hlen] = '\0';
	if (inet_pton(AF_INET6, ep->host, &a6) != 1)
		return -EINVAL;
	ep->kind = ENDPOINT_IPV6;
	return parse_port(close + 2, s + len - close - 2, &ep->port);
}

int endpoint_parse(const char *value, struct endpoint *ep)
{
	const char *s = value ? value : "";
	const char *colon;
	size_t len;

	while (is_blank(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len == 0) {
		s = ENDPOINT_DEFAULT;
		len = strlen(s);
	}
	memset(ep, 0, sizeof(*ep));
	if (s[0] == '[')
		return parse_bracketed(s, len, ep);
	colon = memrchr(s, ':', len);
	if (!colon || memchr(s, ':', colon - s))
		return -EINVAL;
	if (parse_host(s, colon - s, ep))
		return -EINVAL;
	return parse_port(colon + 1, s + len - colon - 1, &ep->port);
}

void endpoint_format(const struct endpoint *ep, char *buf, int size)
{
	if (ep->kind == ENDPOINT_IPV6)
		snprintf(buf, size, "[%s]:%u", ep->host, ep->port);
	else
		snprintf(buf, size, "%s:%u", ep->host, ep->port);
}
