// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * suggest-config with hostile input, its output read as the Orchestrator
 * reads it (tests/unit/orchestrator_patterns.h: libyaml, PCRE2 search):
 * whatever the rows, the output is one YAML document of printable ASCII
 * lines, `patterns:` keys have one dot, every regex compiles, no call of
 * any row matches two patterns, and each pattern is about one method and
 * one host of the input.
 *
 * First byte: bit 0 picks the input (0: JSON lines as `calls --json`
 * prints them; 1: raw rows, NUL-separated method, host, template triples
 * with any bytes), bits 1-2 --min-count (0-3), bit 3 --host (the first
 * row's host).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/orchestrator_patterns.h"
#include "call_rows_json.h"
#include "suggest.h"
#include "wire.h"

/* Rows whose calls are matched (each against every pattern). */
#define CHECKED_ROWS 48

/* The template with an id in each placeholder. */
static void concrete(const char *t, char *out, size_t size)
{
	size_t n = 0;

	while (*t && n + 4 < size) {
		if (!strncmp(t, CALL_TEMPLATE_PLACEHOLDER, 4)) {
			memcpy(out + n, "Zq9", 3);
			n += 3;
			t += 4;
		} else {
			out[n++] = *t++;
		}
	}
	out[n] = '\0';
}

static size_t distinct_matches(const pcre2_code *re, const struct call_row *rows, size_t n,
			       bool host)
{
	size_t count = 0;

	for (size_t r = 0; r < n; r++) {
		const char *v = host ? rows[r].host : rows[r].method;
		bool first = suggest_row_fits_wire(&rows[r]);

		for (size_t q = 0; q < r && first; q++)
			first = !suggest_row_fits_wire(&rows[q]) ||
				strcmp(v, host ? rows[q].host : rows[q].method);
		count += first && op_search(re, v);
	}
	return count;
}

static void check(const struct call_row *rows, size_t n, const struct suggest_opts *opts)
{
	char *text = NULL, path[WIRE_DATAGRAM_MAX * 2];
	size_t size;
	FILE *f = open_memstream(&text, &size);
	struct op_config cfg;
	bool all_suggested;

	if (!f)
		return;
	if (suggest_config(f, rows, n, opts))
		abort();
	fclose(f);
	for (size_t i = 0; i < size; i++) {
		if (text[i] != '\n' && (text[i] < 0x20 || text[i] > 0x7e))
			abort();
	}
	if (op_load(&cfg, text, size)) {
		fprintf(stderr, "%s\n---\n%s\n", cfg.err, text);
		abort();
	}
	/* Nothing left out that could take a call from its row. */
	all_suggested = !opts->min_count && !opts->nhosts && !strstr(text, "would have to exclude");
	for (size_t r = 0; r < n && r < CHECKED_ROWS; r++) {
		size_t which, m;

		if (!suggest_row_fits_wire(&rows[r]))
			continue;
		concrete(rows[r].template, path, sizeof(path));
		m = op_match(&cfg, rows[r].method, rows[r].host, path, &which);
		if (m > 1 || (all_suggested && m != 1)) {
			fprintf(stderr, "%s %s %s: %zu matches\n---\n%s\n", rows[r].method,
				rows[r].host, path, m, text);
			abort();
		}
	}
	for (size_t i = 0; i < cfg.n; i++) {
		if (distinct_matches(cfg.v[i].re[0], rows, n, false) != 1 ||
		    distinct_matches(cfg.v[i].re[1], rows, n, true) != 1) {
			fprintf(stderr, "%s is not about one method and host\n", cfg.v[i].key);
			abort();
		}
	}
	op_free(&cfg);
	free(text);
}

static void run_json(const uint8_t *data, size_t size, struct suggest_opts *opts)
{
	FILE *f = fmemopen((void *)data, size, "r");
	struct call_rows rows = {0};
	char err[256];

	if (!f)
		return;
	if (!call_rows_read_json(f, &rows, err, sizeof(err))) {
		opts->nhosts = opts->nhosts && rows.n > 0;
		if (opts->nhosts)
			opts->hosts = &rows.v[0].host;
		check(rows.v, rows.n, opts);
	}
	fclose(f);
	call_rows_free(&rows);
}

static void run_raw(const uint8_t *data, size_t size, struct suggest_opts *opts)
{
	char *copy = malloc(size + 1), *s = copy, *fields[3];
	struct call_row *rows = calloc(size / 3 + 1, sizeof(*rows));
	size_t n = 0, k = 0;

	memcpy(copy, data, size);
	copy[size] = '\0';
	while (s <= copy + size) {
		fields[k++] = s;
		s += strlen(s) + 1;
		if (k < 3)
			continue;
		rows[n] = (struct call_row){.method = fields[0],
					    .host = fields[1],
					    .template = fields[2],
					    .count = (n * 7) % 5,
					    .nprograms = 1};
		/* A program name with the host's bytes, cut to the comm size. */
		strncpy(rows[n].programs[0].comm, fields[1], sizeof(rows[n].programs[0].comm));
		n++;
		k = 0;
	}
	opts->nhosts = opts->nhosts && n > 0;
	if (opts->nhosts)
		opts->hosts = &rows[0].host;
	check(rows, n, opts);
	free(rows);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct suggest_opts opts = {.generator = "fuzz"};

	if (size < 1 || size > 8192)
		return 0;
	opts.min_count = (data[0] >> 1) & 3;
	opts.nhosts = (data[0] >> 3) & 1;
	if (data[0] & 1)
		run_raw(data + 1, size - 1, &opts);
	else
		run_json(data + 1, size - 1, &opts);
	return 0;
}
