// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: ldcache_parse() on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldcache.h"

/* Read every byte of each string, so ASan notices one that is not within the input. */
static int touch(const char *soname, const char *path, void *ctx)
{
	size_t *total = ctx;

	*total += strlen(soname) + strlen(path);
	/* Stop now and then, to cover the early return. */
	return *total > 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t total = 0;
	uint8_t *copy;

	/* An exact-size heap copy: libFuzzer's buffer may have slack after it. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	ldcache_parse(copy, size, touch, &total);
	free(copy);
	return 0;
}
