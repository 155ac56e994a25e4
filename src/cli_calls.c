// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `calls`: what the running daemon discovered, as a table or as JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "control.h"
#include "control_client.h"

void cli_programs(const struct call_row *row, bool with_pids, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < row->nprograms && n + 1 < size; i++) {
		const struct call_program *p = &row->programs[i];
		int w = snprintf(out + n, size - n, "%s%.*s", i ? (with_pids ? " " : ",") : "",
				 (int)sizeof(p->comm), p->comm);

		n = w < 0 || (size_t)w >= size - n ? size - 1 : n + w;
		for (unsigned j = 0; with_pids && j < p->npids && n + 1 < size; j++) {
			w = snprintf(out + n, size - n, "%s%u%s", j ? "," : "[", p->pids[j],
				     j + 1 == p->npids ? "]" : "");
			n = w < 0 || (size_t)w >= size - n ? size - 1 : n + w;
		}
	}
}

static void usage(const char *prog, FILE *out)
{
	fprintf(out,
		"Usage: %s calls [--json]\n"
		"\n"
		"What the running daemon discovered since it started: one row per method,\n"
		"host and path template (ids in paths folded into {id}), with counts, errors\n"
		"(status >= 400 or no complete response), latency percentiles and programs.\n"
		"Read from %s (root only).\n"
		"\n"
		"--json  one JSON object per row and line, for scripts and jq\n"
		"\n"
		"Exit status: 0 ok, 2 usage, 3 no daemon running, 4 permission denied (run\n"
		"as root), 1 other errors.\n",
		prog, CONTROL_SOCKET);
}

static int print_line(const char *line, size_t len, void *ctx, struct control_error *e)
{
	fwrite(line, 1, len, stdout);
	putchar('\n');
	return 0;
}

/* Hosts in name order, the (other) host last; in a host, most calls first. */
static int row_order(const void *a, const void *b)
{
	const struct call_row *x = *(const struct call_row *const *)a;
	const struct call_row *y = *(const struct call_row *const *)b;
	bool xo = !strcmp(x->host, CALL_TEMPLATE_OTHER), yo = !strcmp(y->host, CALL_TEMPLATE_OTHER);
	int c = xo != yo ? xo - yo : strcmp(x->host, y->host);

	if (c)
		return c;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	c = strcmp(x->template, y->template);
	return c ? c : strcmp(x->method, y->method);
}

static int print_table(struct call_rows *rows)
{
	/* Sorted by pointer: a row copy points into itself, it must not move. */
	const struct call_row **sorted = calloc(rows->n + 1, sizeof(*sorted));
	int wh = 4, wt = 8;
	char progs[160];

	if (!sorted)
		return CLI_EXIT_ERROR;
	for (size_t i = 0; i < rows->n; i++)
		sorted[i] = &rows->v[i];
	qsort(sorted, rows->n, sizeof(*sorted), row_order);
	for (size_t i = 0; i < rows->n; i++) {
		int h = (int)strlen(sorted[i]->host), t = (int)strlen(sorted[i]->template);

		wh = h > wh ? h : wh;
		wt = t > wt ? t : wt;
	}
	printf("%-7s %-*s %-*s %9s %7s %9s %9s %9s %9s  %s\n", "METHOD", wh, "HOST", wt, "TEMPLATE",
	       "CALLS", "ERRORS", "P50_MS", "P95_MS", "P99_MS", "MAX_MS", "PROGRAMS");
	for (size_t i = 0; i < rows->n; i++) {
		const struct call_row *r = sorted[i];

		cli_programs(r, true, progs, sizeof(progs));
		printf("%-7s %-*s %-*s %9llu %7llu %9.1f %9.1f %9.1f %9.1f  %s\n", r->method, wh,
		       r->host, wt, r->template, (unsigned long long)r->count,
		       (unsigned long long)r->errors, r->p50_ms, r->p95_ms, r->p99_ms, r->max_ms,
		       progs);
	}
	if (!rows->n)
		printf("(no calls seen since the daemon started)\n");
	free(sorted);
	return CLI_EXIT_OK;
}

int cli_calls(const char *prog, int argc, char **argv)
{
	struct control_error e = {0};
	struct call_rows rows = {0};
	bool json = false;
	int ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(prog, stdout);
			return CLI_EXIT_OK;
		} else {
			fprintf(stderr, "%s calls: unknown argument '%s'\n", prog, argv[i]);
			usage(prog, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (json) {
		ret = control_query(CONTROL_SOCKET, "calls", print_line, NULL, &e);
	} else {
		ret = control_fetch_rows(CONTROL_SOCKET, &rows, &e);
		if (ret == CLI_EXIT_OK) {
			call_rows_printable(&rows);
			ret = print_table(&rows);
		}
		call_rows_free(&rows);
	}
	if (ret != CLI_EXIT_OK)
		fprintf(stderr, "%s: %s\n", prog, e.msg);
	if (fflush(stdout) != 0 && ret == CLI_EXIT_OK)
		ret = CLI_EXIT_ERROR;
	return ret;
}
