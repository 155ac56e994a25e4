// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Any bytes as a perf side-band record: decoded or refused, never a crash,
 * and a reported path is always a NUL-terminated absolute path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proc_watch.h"

static void on_mapped(const struct proc_mapping *m, void *ctx)
{
	if (m->path[0] != '/' || strlen(m->path) >= 4096)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_watch_ops ops = {.mapped = on_mapped};
	uint64_t lost = 0;
	/* Aligned copy, as records are in the ring. */
	uint64_t *copy = malloc(size + 8);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	proc_watch_parse_record(copy, size, &ops, &lost);
	free(copy);
	return 0;
}
