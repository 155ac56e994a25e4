// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

/* A byte written as \xNN: control bytes and non-ASCII (a UTF-8 sequence
 * can encode C1 controls); in a field also the space, which separates
 * fields, and the backslash, so that a field reads back unambiguously. Not
 * the backslash in the rest of a line: fields escaped before are kept. */
static bool escaped(unsigned char c, bool field)
{
	return c < 0x20 || c > 0x7e || (field && (c == ' ' || c == '\\'));
}

/* Copy src (len bytes) escaped into dst; returns the bytes written (at most
 * room, never half an escape). */
static size_t escape(char *dst, size_t room, const char *src, size_t len, bool field)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (!escaped(c, field)) {
			if (n + 1 > room)
				break;
			dst[n++] = (char)c;
			continue;
		}
		if (n + 4 > room)
			break;
		dst[n++] = '\\';
		dst[n++] = 'x';
		dst[n++] = hex[c >> 4];
		dst[n++] = hex[c & 15];
	}
	return n;
}

char *log_field(char *dst, size_t size, const char *src)
{
	size_t n;

	if (size == 0)
		return dst;
	n = escape(dst, size - 1, src, strlen(src), true);
	dst[n] = '\0';
	return dst;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[2048], line[2048];
	va_list ap;
	int head, n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(raw))
		n = sizeof(raw) - 1;
	head = snprintf(line, sizeof(line), "%s: ", level_names[level]);
	n = head + (int)escape(line + head, sizeof(line) - head - 1, raw, n, false);
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
