// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "log.h"

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warning",
    [LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_flush(void)
{
	static char buf[64 * 1024];
	static bool buffered;

	if (!buffered) {
		/* From the first flush on: before it, lines go out at once. */
		setvbuf(stderr, buf, _IOFBF, sizeof(buf));
		buffered = true;
		return;
	}
	fflush(stderr);
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int head, n;

	if (!log_enabled(level))
		return;
	head = snprintf(line, sizeof(line), "%s: ", level_names[level]);
	va_start(ap, fmt);
	n = vsnprintf(line + head, sizeof(line) - head - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = head + (n < (int)sizeof(line) - head - 1 ? n : (int)sizeof(line) - head - 2);
	line[n++] = '\n';
	/* Whole lines into the buffer (stdio locks the stream per call), so
	 * lines from two threads never interleave mid-line. */
	fwrite(line, 1, n, stderr);
	if (level >= LOG_WARN)
		fflush(stderr);
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
	if (rl->last_ns && now_ns - rl->last_ns < rl->interval_ns) {
		if (rl->used < rl->burst) {
			rl->used++;
			*suppressed = 0;
			return true;
		}
		rl->suppressed++;
		return false;
	}
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last_ns = now_ns;
	rl->used = 1;
	return true;
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
