/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's one setting: METRIST_ORCHESTRATOR_ENDPOINT=<host>:<port>.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdint.h>

#define ENDPOINT_ENV	 "METRIST_ORCHESTRATOR_ENDPOINT"
#define ENDPOINT_DEFAULT "127.0.0.1:51713"
/* A DNS name is at most 253 characters. */
#define ENDPOINT_HOST_MAX 254

enum endpoint_kind {
	ENDPOINT_IPV4,
	ENDPOINT_IPV6,
	ENDPOINT_NAME,
};

struct endpoint {
	enum endpoint_kind kind;
	char host[ENDPOINT_HOST_MAX]; /* without the IPv6 brackets */
	uint16_t port;
};

/*
 * Parse "<ipv4>:<port>", "[<ipv6>]:<port>" or "<dns-name>:<port>". NULL or
 * empty (after trimming blanks) means the default. Returns 0 or -EINVAL.
 */
int endpoint_parse(const char *value, struct endpoint *ep);

/* "host:port" as a user would write it, for logs. */
void endpoint_format(const struct endpoint *ep, char *buf, int size);

#endif /* CONFIG_H */
