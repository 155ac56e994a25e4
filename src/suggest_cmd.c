// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "suggest.h"
#include "suggest_cmd.h"

#define PROG	  "metrist-orchestrator-ebpf-plugin"
#define HOSTS_MAX 256

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s suggest-config [--host HOST]... [--min-count N]\n"
		"       [--from-json FILE|-]\n"
		"\n"
		"Writes the Orchestrator's in-process configuration (the file named by its\n"
		"METRIST_CMA_CONFIG) for the calls the running daemon discovered: one pattern\n"
		"per method, host and path template, anchored regexes that never overlap.\n"
		"\n"
		"--host HOST      only calls to HOST (as sent: name or name:port; repeatable)\n"
		"--min-count N    only templates called at least N times (the others stay\n"
		"                 unmatched rather than counted under another check)\n"
		"--from-json FILE read the rows from FILE ('-': stdin) as `calls --json`\n"
		"                 writes them, instead of asking the daemon\n"
		"\n"
		"Exit status: 0 ok, 2 usage, 3 no daemon running, 4 permission denied (run\n"
		"as root), 1 other errors (no rows to be had).\n",
		PROG);
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int read_json_file(const char *path, struct call_rows *rows, char *err, size_t size)
{
	FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	int ret;

	if (!in) {
		snprintf(err, size, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	ret = call_rows_read_json(in, rows, err, size);
	if (ret == -EINVAL) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", err);
		snprintf(err, size, "%s, %s", strcmp(path, "-") ? path : "stdin", reason);
	} else if (ret) {
		snprintf(err, size, "cannot read %s: %s", path, strerror(-ret));
	}
	if (in != stdin)
		fclose(in);
	return ret;
}

int suggest_config_command(int argc, char **argv, call_rows_fetch_fn fetch, void *ctx)
{
	const char *hosts[HOSTS_MAX], *from_json = NULL;
	struct suggest_opts opts = {.hosts = hosts, .generator = PROG " suggest-config"};
	struct call_rows rows = {0};
	char err[512] = "";
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(arg, "--host") && val && *val && opts.nhosts < HOSTS_MAX) {
			hosts[opts.nhosts++] = val;
			i++;
		} else if (!strcmp(arg, "--min-count") && !parse_count(val, &opts.min_count)) {
			i++;
		} else if (!strcmp(arg, "--from-json") && val && *val) {
			from_json = val;
			i++;
		} else {
			fprintf(stderr, "%s suggest-config: bad or incomplete argument '%s'\n",
				PROG, arg);
			usage(stderr);
			return 2;
		}
	}
	if (from_json)
		ret = read_json_file(from_json, &rows, err, sizeof(err));
	else if (fetch)
		ret = fetch(&rows, ctx, err, sizeof(err));
	else {
		ret = -ENOTSUP;
		snprintf(err, sizeof(err),
			 "this build cannot ask the daemon; use --from-json FILE");
	}
	if (!ret) {
		ret = suggest_config(stdout, rows.v, rows.n, &opts);
		if (ret)
			snprintf(err, sizeof(err), "cannot write the configuration: %s",
				 strerror(-ret));
	}
	if (ret > 0) /* the daemon not reached: told, and the status, as by `calls` */
		fprintf(stderr, "%s: %s\n", PROG, err);
	else if (ret)
		fprintf(stderr, "%s suggest-config: %s\n", PROG, err);
	call_rows_free(&rows);
	return ret > 0 ? ret : ret ? 1 : 0;
}
