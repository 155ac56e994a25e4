/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Logging to stderr, one line per event, so journalctl shows it as is:
 * "<level>: <message>". Debug lines appear only when enabled.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);

/*
 * Lines are buffered and written by log_flush(), which the event loop calls
 * once per round: one write(2) for many call lines instead of one each.
 * Warnings and errors are written at once.
 */
void log_flush(void);
bool log_enabled(enum log_level level);

/*
 * Every line is sanitised as a whole: strings from outside (paths of mapped
 * files, process names, hosts, paths, libbpf's messages) cannot forge a line
 * (newline), drive a terminal (escape sequences) or hide text (NUL, CR).
 * Bytes outside printable ASCII are written as \xNN.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The same escaping for one field of a space-separated "key=value" line
 * (a comm, a path), the space and the backslash escaped too (so the field
 * reads back unambiguously); cut at a whole escape to fit size.
 * Returns dst.
 */
char *log_field(char *dst, size_t size, const char *src);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * A rate limit for repeated problems (an unreachable Orchestrator, a table
 * full): at most max(1, burst) lines per interval, the first line after a
 * quiet interval saying how many were suppressed.
 */
struct log_ratelimit {
	uint64_t interval_ns;
	unsigned burst;
	uint64_t last_ns;
	unsigned used;
	uint64_t suppressed;
};

/* Returns true when a line may be printed now; *suppressed gets the count
 * of lines held back since the last one. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

uint64_t monotonic_ns(void);

#endif /* LOG_H */
