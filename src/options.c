// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's command line (options.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "kernel_check.h"
#include "log.h"
#include "options.h"
#include "report.h"
#include "single_instance.h"

#ifndef VERSION
#define VERSION "0.0.0"
#endif

void options_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--version] [--help] [--verbose] [--log-calls] [--list-targets]\n"
		"       [--system-wide-probes | --per-process-probes] [--max-armed N] [--json]\n"
		"       [--exclude-comm=NAME[,NAME...]]\n"
		"       %s suggest-config [--help] [--host HOST]... [--min-count N]\n"
		"       %s calls [--json] | watch   (read the running daemon; see --help of each)\n"
		"\n"
		"Reports every outgoing HTTPS call on this host (method, host, path,\n"
		"latency) to a Metrist Orchestrator over UDP, by tracing TLS libraries\n"
		"with eBPF uprobes. Runs as root; needs Linux %d.%d or later.\n"
		"\n"
		"Environment:\n"
		"  %s=<host>:<port>   where to send calls (default %s);\n"
		"      host is an IPv4 address, [IPv6] address or DNS name\n"
		"\n"
		"--log-calls  log every call reported (default: the first %d)\n"
		"--json  also print each call as one JSON line on stdout (logs stay on stderr)\n"
		"--list-targets  print what is traced on this host and what is not, and why,\n"
		"      per process and TLS library (loads no eBPF), then exit\n"
		"--system-wide-probes  probe the data functions of each TLS library once,\n"
		"      for all processes, servers included (each of their TLS reads and\n"
		"      writes then costs ~11 us); the default probes each process on its\n"
		"      own and removes the probes of processes that only serve TLS\n"
		"--per-process-probes  the per-process mode even on kernels before 6.6,\n"
		"      where the default is system-wide (per-process attaches are slow there)\n"
		"--max-armed N  how many processes hold data probes (default %d; each\n"
		"      costs every traced TLS call ~0.13 us); beyond that, processes idle\n"
		"      the longest give theirs back and new ones get theirs at their first\n"
		"      client connection\n"
		"--exclude-comm=NAME[,NAME...]  never trace processes with these command\n"
		"      names (as in /proc/<pid>/comm: 15 characters at most), e.g. health\n"
		"      checkers; they get no data probes and none of their calls is reported\n"
		"\n"
		"%s health [--max-stall SECONDS]  exit 0 when the daemon runs on this host and\n"
		"      its event loop went round in the last SECONDS (default %.0f), else 1\n"
		"\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT; 1 cannot run (kernel, privileges);\n"
		"2 invalid arguments or endpoint; %d another instance already runs on this host\n",
		PROG_NAME, PROG_NAME, PROG_NAME, KERNEL_MIN_MAJOR, KERNEL_MIN_MINOR, ENDPOINT_ENV,
		ENDPOINT_DEFAULT, CALLS_LOGGED_AT_START, MAX_ARMED_DEFAULT, PROG_NAME,
		HEALTH_MAX_STALL_S, SINGLE_INSTANCE_EXIT);
}

int options_parse(int argc, char **argv, struct options *d)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", PROG_NAME, VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			options_usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--list-targets")) {
			int n = report_targets(stdout, "/proc", "/etc/ld.so.cache");

			if (n < 0)
				fprintf(stderr, "%s: cannot read /proc: %s\n", PROG_NAME,
					strerror(-n));
			fflush(stdout);
			return n < 0 || report_discovery(stderr) < 0 ? 1 : 0;
		}
		if (!strcmp(argv[i], "health") && i == 1)
			return OPTIONS_HEALTH;
		if (!strcmp(argv[i], "--json")) {
			d->json_out = true;
			continue;
		}
		if (!strcmp(argv[i], "--log-calls")) {
			d->log_calls = true;
			continue;
		}
		if (!strcmp(argv[i], "--system-wide-probes")) {
			d->per_process = false;
			d->probe_mode_forced = true;
			continue;
		}
		if (!strcmp(argv[i], "--max-armed") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end || end == argv[i] || argv[i][0] == '-' || v > 65536) {
				fprintf(stderr, "%s: --max-armed wants 0 to 65536, not '%s'\n",
					PROG_NAME, argv[i]);
				return 2;
			}
			d->max_armed = (unsigned)v;
			continue;
		}
		if (!strncmp(argv[i], "--exclude-comm=", 15)) {
			for (char *save = NULL, *name = strtok_r(argv[i] + 15, ",", &save); name;
			     name = strtok_r(NULL, ",", &save)) {
				if (strlen(name) > 15 || d->nexclude_comm == EXCLUDE_COMM_MAX) {
					fprintf(
					    stderr,
					    "%s: --exclude-comm takes up to %d command names of "
					    "at most 15 characters (as in /proc/<pid>/comm)\n",
					    PROG_NAME, EXCLUDE_COMM_MAX);
					return 2;
				}
				d->exclude_comm[d->nexclude_comm++] = name;
			}
			continue;
		}
		if (!strcmp(argv[i], "--per-process-probes")) {
			d->per_process = true; /* the default, except before Linux 6.6 */
			d->probe_mode_forced = true;
			continue;
		}
		if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			log_set_level(LOG_DEBUG);
			continue;
		}
		fprintf(stderr, "%s: unknown argument '%s'\n", PROG_NAME, argv[i]);
		options_usage(stderr);
		return 2;
	}
	return -1;
}
