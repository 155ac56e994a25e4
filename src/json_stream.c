// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <unistd.h>
#include "call_json.h"
#include "json_stream.h"

/* Many lines per write(2) at thousands of calls a second. */
#define STREAM_BUFFER (64 * 1024)

static char buf[STREAM_BUFFER];
static size_t used;
static int failed; /* the first write error: nothing is written after it */

int json_stream_flush(void)
{
	size_t off = 0;

	while (!failed && off < used) {
		ssize_t n = write(STDOUT_FILENO, buf + off, used - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			failed = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	used = 0;
	return failed;
}

int json_stream_call(const struct call_seen *call)
{
	int n;

	if (failed)
		return failed;
	if (STREAM_BUFFER - used < CALL_EVENT_JSON_MAX && json_stream_flush())
		return failed;
	n = call_event_json(buf + used, STREAM_BUFFER - used, call);
	if (n > 0)
		used += (size_t)n;
	return 0;
}
