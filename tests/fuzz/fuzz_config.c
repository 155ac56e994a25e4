// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Any METRIST_ORCHESTRATOR_ENDPOINT value: parsed or refused, never a crash,
 * and what is accepted formats back to a value that parses the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "kernel_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1), again[300];
	struct endpoint ep, ep2;
	unsigned major, minor;

	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	if (endpoint_parse(value, &ep) == 0) {
		if (ep.port == 0 || strlen(ep.host) == 0)
			abort();
		endpoint_format(&ep, again, sizeof(again));
		if (endpoint_parse(again, &ep2) || memcmp(&ep, &ep2, sizeof(ep)))
			abort();
	}
	kernel_release_parse(value, &major, &minor);
	free(value);
	return 0;
}
