/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef HTTP1_TARGET_H
#define HTTP1_TARGET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An absolute-form target ("https://user@h:443/p?q"): its authority (after
 * any userinfo) becomes the host (HTTP1_HOST_MAX bytes at most), and the
 * target keeps the path and query, "/" when it has none. Any other target
 * is left alone. 0, or -EPROTO when the authority was cut or is too long.
 */
int http1_split_absolute(char *target, uint16_t *target_len, bool truncated, char *host,
			 uint16_t *host_len);

#endif /* HTTP1_TARGET_H */
