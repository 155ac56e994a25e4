// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "call_json.h"

/* An output buffer that remembers running out of room. */
struct out {
	char *buf;
	size_t size, len;
	bool full;
};

static void put_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put_fmt(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->full = true;
		return;
	}
	o->len += n;
}

static void put_string(struct out *o, const char *s)
{
	int n;

	if (o->full)
		return;
	n = json_quote(o->buf + o->len, o->size - o->len, s);
	if (n < 0)
		o->full = true;
	else
		o->len += n;
}

static int done(struct out *o)
{
	return o->full ? -ENOSPC : (int)o->len;
}

int json_quote(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (size < 3)
		return -ENOSPC;
	out[n++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : NULL;
		char u[7];

		if (!esc && (c < 0x20 || c > 0x7e)) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		size_t len = esc ? strlen(esc) : 1;

		if (n + len + 2 > size) /* room for the closing quote and NUL */
			return -ENOSPC;
		if (esc)
			memcpy(out + n, esc, len);
		else
			out[n] = (char)c;
		n += len;
	}
	out[n++] = '"';
	out[n] = '\0';
	return (int)n;
}

int json_time_utc(char *out, size_t size, uint64_t realtime_ns, bool with_ms)
{
	time_t secs = (time_t)(realtime_ns / 1000000000ull);
	struct tm tm;
	int n;

	if (!gmtime_r(&secs, &tm))
		return -EINVAL;
	if (with_ms)
		n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			     (unsigned)(realtime_ns / 1000000 % 1000));
	else
		n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

int call_row_json(char *buf, size_t size, const struct call_row *r)
{
	struct out o = {.buf = buf, .size = size};
	char first[40], last[40];

	if (json_time_utc(first, sizeof(first), r->first_seen_ns, false) < 0 ||
	    json_time_utc(last, sizeof(last), r->last_seen_ns, false) < 0)
		return -EINVAL;
	put_fmt(&o, "{\"method\":");
	put_string(&o, r->method);
	put_fmt(&o, ",\"host\":");
	put_string(&o, r->host);
	put_fmt(&o, ",\"template\":");
	put_string(&o, r->template);
	put_fmt(&o,
		",\"count\":%llu,\"errors\":%llu,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,"
		"\"max_ms\":%.3f,\"first_seen\":\"%s\",\"last_seen\":\"%s\",\"programs\":[",
		(unsigned long long)r->count, (unsigned long long)r->errors, r->p50_ms, r->p95_ms,
		r->p99_ms, r->max_ms, first, last);
	for (unsigned i = 0; i < r->nprograms && i < CALL_PROGRAMS_MAX; i++) {
		const struct call_program *p = &r->programs[i];
		char comm[sizeof(p->comm) + 1];

		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
		put_fmt(&o, "%s{\"comm\":", i ? "," : "");
		put_string(&o, comm);
		put_fmt(&o, ",\"pids\":[");
		for (unsigned j = 0; j < p->npids && j < CALL_PIDS_MAX; j++)
			put_fmt(&o, "%s%u", j ? "," : "", p->pids[j]);
		put_fmt(&o, "]}");
	}
	put_fmt(&o, "]}\n");
	return done(&o);
}

int call_event_json(char *buf, size_t size, const struct call_seen *c)
{
	struct out o = {.buf = buf, .size = size};
	char when[40];

	if (json_time_utc(when, sizeof(when), c->when_ns, true) < 0)
		return -EINVAL;
	put_fmt(&o, "{\"timestamp\":\"%s\",\"method\":", when);
	put_string(&o, c->method);
	put_fmt(&o, ",\"host\":");
	put_string(&o, c->host);
	put_fmt(&o, ",\"path\":");
	put_string(&o, c->path);
	put_fmt(&o, ",\"status\":%d,\"latency_ms\":%.3f,\"pid\":%u,\"comm\":", c->status,
		(double)c->latency_ns / 1e6, c->pid);
	put_string(&o, c->comm ? c->comm : "");
	put_fmt(&o, "}\n");
	return done(&o);
}
