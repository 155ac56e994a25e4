// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for src/call_summary.c, src/call_template.c and the row
 * JSON of src/call_json.c: calls made valid by wire_call_make (as the daemon
 * does) go into a small summary (16 rows, 4 hosts: eviction all the time),
 * and after each one the invariants are checked:
 *   - the rows and hosts stay within their caps, the heap within its bound;
 *   - no call is lost or counted twice: the rows' counts and errors add up;
 *   - every row's JSON line parses back to the same row;
 *   - a template keeps the path's segments and is its own template.
 *
 * Each call is [flags u8][latency u8][len u8][len bytes of path]:
 *   flags bits 0..1 method (GET, POST, DELETE, or the path's first bytes),
 *   bits 2..4 one of 8 hosts, bit 5 the host from the path's bytes instead,
 *   bits 6..7 status (200, 404, 503, 0: never answered).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_json.h"
#include "call_rows_json.h"
#include "call_summary.h"
#include "call_template.h"
#include "wire.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#define ROWS  16
#define HOSTS 4

struct totals {
	uint64_t count, errors;
};

static int check_row(const struct call_row *row, void *ctx)
{
	struct totals *t = ctx;
	char line[CALL_ROW_JSON_MAX];
	struct call_row back;
	char err[200];
	int n = call_row_json(line, sizeof(line), row);

	CHECK(n > 0 && line[n - 1] == '\n');
	CHECK(call_row_from_json(line, (size_t)n - 1, &back, err, sizeof(err)) == 0);
	CHECK(!strcmp(back.method, row->method) && !strcmp(back.host, row->host) &&
	      !strcmp(back.template, row->template));
	CHECK(back.count == row->count && back.errors == row->errors);
	call_row_release(&back);
	CHECK(row->count > 0 && row->errors <= row->count);
	CHECK(row->p50_ms <= row->p95_ms && row->p95_ms <= row->p99_ms &&
	      row->p99_ms <= row->max_ms);
	CHECK(row->nprograms <= CALL_PROGRAMS_MAX);
	t->count += row->count;
	t->errors += row->errors;
	return 0;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static void check_template(const char *path)
{
	char t[CALL_TEMPLATE_MAX + 1], again[CALL_TEMPLATE_MAX + 1];
	int n = call_template(path, t, sizeof(t));

	if (n < 0) {
		CHECK(n == -ENAMETOOLONG);
		return;
	}
	CHECK((size_t)n == strlen(t));
	CHECK(count_char(t, '/') == count_char(path, '/'));
	CHECK(call_template(t, again, sizeof(again)) == n && !strcmp(t, again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "DELETE"};
	static const int statuses[] = {200, 404, 503, 0};
	struct call_summary *s = call_summary_new(ROWS, HOSTS);
	uint64_t added = 0, errors = 0, now = 1764662400ull * 1000000000ull;
	size_t max = call_summary_bytes_max(ROWS, HOSTS);

	CHECK(s != NULL);
	while (size >= 3) {
		uint8_t flags = data[0], lat = data[1];
		size_t len = data[2] < size - 3 ? data[2] : size - 3;
		char target[260], host[64], method[WIRE_METHOD_MAX + 1], comm[4];
		struct wire_call call;
		struct totals t = {0};
		unsigned cursor = 0;

		target[0] = '/';
		memcpy(target + 1, data + 3, len);
		target[len + 1] = '\0';
		data += 3 + len;
		size -= 3 + len;
		snprintf(method, sizeof(method), "%s", methods[(flags & 3) % 3]);
		if ((flags & 3) == 3)
			snprintf(method, sizeof(method), "%.*s", (int)(len < 8 ? len : 8),
				 target + 1);
		if (flags & 0x20)
			snprintf(host, sizeof(host), "%.*s", (int)(len < 40 ? len : 40),
				 target + 1);
		else
			snprintf(host, sizeof(host), "h%u.example", (flags >> 2) & 7);
		check_template(target);
		/* What the daemon summarises: the call as wire_call_make made it. */
		if (wire_call_make(&call, method, host, target, false, (uint64_t)lat << (lat & 31)))
			continue;
		check_template(call.path);
		snprintf(comm, sizeof(comm), "c%u", flags & 3);
		struct call_seen c = {call.method,
				      call.host,
				      call.path,
				      statuses[flags >> 6],
				      (uint64_t)lat << (lat & 31),
				      lat,
				      comm,
				      now += (uint64_t)lat * 1000000};

		call_summary_add(s, &c);
		added++;
		errors += c.status == 0 || c.status >= 400;
		CHECK(call_summary_walk(s, &cursor, check_row, &t));
		CHECK(t.count == added && t.errors == errors);
		struct call_summary_stats st = call_summary_stats(s);

		CHECK(st.rows <= ROWS && st.hosts <= HOSTS && st.bytes <= max);
	}
	call_summary_free(s);
	return 0;
}
