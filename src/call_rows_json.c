// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "call_rows_json.h"

static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int get_string(json_t *obj, const char *key, char **out, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return fail(err, size, "no \"%s\"", key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(err, size, "\"%s\" is not a non-empty string", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static int get_count(json_t *obj, const char *key, bool required, uint64_t *out, char *err,
		     size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return required ? fail(err, size, "no \"%s\"", key) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(err, size, "\"%s\" is not a count", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_ms(json_t *obj, const char *key, double *out, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v)))
		return fail(err, size, "\"%s\" is not a latency in ms", key);
	*out = json_number_value(v);
	return 0;
}

/* "2026-12-02T08:00:00Z", seconds optionally with a fraction. */
static int get_time(json_t *obj, const char *key, uint64_t *out_ns, char *err, size_t size)
{
	json_t *v = json_object_get(obj, key);
	struct tm tm = {0};
	const char *s, *end;
	uint64_t frac = 0, scale = 1000000000;
	time_t t;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(err, size, "\"%s\" is not a time", key);
	s = json_string_value(v);
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end && *end == '.') {
		for (end++; *end >= '0' && *end <= '9' && scale > 1; end++) {
			scale /= 10;
			frac += (uint64_t)(*end - '0') * scale;
		}
	}
	if (!end || strcmp(end, "Z") || (t = timegm(&tm)) < 0)
		return fail(err, size, "\"%s\" is not a UTC time like 2026-12-02T08:00:00Z", key);
	*out_ns = (uint64_t)t * 1000000000 + frac;
	return 0;
}

static int get_program(json_t *v, struct call_program *p, char *err, size_t size)
{
	json_t *comm = json_object_get(v, "comm"), *pids = json_object_get(v, "pids"), *pid;
	size_t i;

	if (!json_is_object(v) || !json_is_string(comm) ||
	    json_string_length(comm) >= sizeof(p->comm))
		return fail(err, size, "a program without a \"comm\" of at most %zu bytes",
			    sizeof(p->comm) - 1);
	memcpy(p->comm, json_string_value(comm), json_string_length(comm) + 1);
	if (!pids)
		return 0;
	if (!json_is_array(pids) || json_array_size(pids) > CALL_PIDS_MAX)
		return fail(err, size, "\"pids\" is not an array of at most %d pids",
			    CALL_PIDS_MAX);
	json_array_foreach(pids, i, pid)
	{
		if (!json_is_integer(pid) || json_integer_value(pid) < 0 ||
		    json_integer_value(pid) > UINT32_MAX)
			return fail(err, size, "a pid is not a number from 0 to %u", UINT32_MAX);
		p->pids[p->npids++] = (uint32_t)json_integer_value(pid);
	}
	return 0;
}

static int get_programs(json_t *obj, struct call_row *row, char *err, size_t size)
{
	json_t *v = json_object_get(obj, "programs"), *p;
	size_t i;
	int ret;

	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > CALL_PROGRAMS_MAX)
		return fail(err, size, "\"programs\" is not an array of at most %d",
			    CALL_PROGRAMS_MAX);
	json_array_foreach(v, i, p)
	{
		ret = get_program(p, &row->programs[row->nprograms], err, size);
		if (ret)
			return ret;
		row->nprograms++;
	}
	return 0;
}

void call_row_release(struct call_row *row)
{
	free((char *)row->method);
	free((char *)row->host);
	free((char *)row->template);
	memset(row, 0, sizeof(*row));
}

int call_row_from_json(const char *text, size_t len, struct call_row *row, char *err,
		       size_t err_size)
{
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	char *method = NULL, *host = NULL, *template = NULL;
	int ret;

	memset(row, 0, sizeof(*row));
	if (!obj)
		return fail(err, err_size, "not JSON: %s", jerr.text);
	if (!json_is_object(obj)) {
		ret = fail(err, err_size, "not a JSON object");
		goto out;
	}
	ret = get_string(obj, "method", &method, err, err_size);
	if (!ret)
		ret = get_string(obj, "host", &host, err, err_size);
	if (!ret)
		ret = get_string(obj, "template", &template, err, err_size);
	row->method = method;
	row->host = host;
	row->template = template;
	if (!ret)
		ret = get_count(obj, "count", true, &row->count, err, err_size);
	if (!ret)
		ret = get_count(obj, "errors", false, &row->errors, err, err_size);
	if (!ret)
		ret = get_ms(obj, "p50_ms", &row->p50_ms, err, err_size);
	if (!ret)
		ret = get_ms(obj, "p95_ms", &row->p95_ms, err, err_size);
	if (!ret)
		ret = get_ms(obj, "p99_ms", &row->p99_ms, err, err_size);
	if (!ret)
		ret = get_ms(obj, "max_ms", &row->max_ms, err, err_size);
	if (!ret)
		ret = get_time(obj, "first_seen", &row->first_seen_ns, err, err_size);
	if (!ret)
		ret = get_time(obj, "last_seen", &row->last_seen_ns, err, err_size);
	if (!ret)
		ret = get_programs(obj, row, err, err_size);
out:
	json_decref(obj);
	if (ret)
		call_row_release(row);
	return ret;
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!strchr(" \t\r\n", s[i]))
			return false;
	}
	return true;
}

static int append(struct call_rows *rows, const struct call_row *row)
{
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct call_row *v = reallocarray(rows->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = *row;
	return 0;
}

/* One line into buf (CALL_ROWS_JSON_LINE_MAX bytes), without its '\n'.
 * Returns its length, -1 at the end, or CALL_ROWS_JSON_LINE_MAX + 1 for a
 * longer line (the rest is read and dropped). */
static long read_line(FILE *in, char *buf)
{
	long len = 0;
	int c;

	while ((c = getc(in)) != EOF && c != '\n') {
		if (len < CALL_ROWS_JSON_LINE_MAX)
			buf[len] = (char)c;
		if (len <= CALL_ROWS_JSON_LINE_MAX)
			len++;
	}
	return c == EOF && len == 0 ? -1 : len;
}

int call_rows_add_json(struct call_rows *rows, const char *text, size_t len, char *err,
		       size_t err_size)
{
	struct call_row row;
	int ret;

	if (rows->n >= CALL_ROWS_MAX)
		return fail(err, err_size, "more than %d rows", CALL_ROWS_MAX);
	ret = call_row_from_json(text, len, &row, err, err_size);
	if (ret)
		return ret;
	ret = append(rows, &row);
	if (ret)
		call_row_release(&row);
	return ret;
}

int call_rows_read_json(FILE *in, struct call_rows *rows, char *err, size_t err_size)
{
	char *line = malloc(CALL_ROWS_JSON_LINE_MAX), reason[200];
	size_t lineno = 0;
	long len;
	int ret = 0;

	if (!line)
		return -ENOMEM;
	while (!ret && (len = read_line(in, line)) >= 0) {
		lineno++;
		if (len > CALL_ROWS_JSON_LINE_MAX)
			ret = fail(reason, sizeof(reason), "longer than %d bytes",
				   CALL_ROWS_JSON_LINE_MAX);
		else if (!blank(line, len))
			ret = call_rows_add_json(rows, line, len, reason, sizeof(reason));
		if (ret == -EINVAL)
			snprintf(err, err_size, "line %zu: %s", lineno, reason);
	}
	if (!ret && ferror(in))
		ret = -EIO;
	free(line);
	return ret;
}

/* The strings are the set's own (strdup'ed by call_row_from_json). */
static void printable_only(const char *s)
{
	for (char *p = (char *)s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

void call_rows_printable(struct call_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		struct call_row *r = &rows->v[i];

		printable_only(r->method);
		printable_only(r->host);
		printable_only(r->template);
		for (unsigned j = 0; j < r->nprograms; j++)
			printable_only(r->programs[j].comm);
	}
}

void call_rows_free(struct call_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++)
		call_row_release(&rows->v[i]);
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}
