/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's command line: its flags into struct options, and the
 * commands that need no daemon set-up (--version, --help, --list-targets).
 */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PROG_NAME "metrist-orchestrator-ebpf-plugin"

/* Calls logged one by one after start, without --log-calls. */
#define CALLS_LOGGED_AT_START 20
/* --exclude-comm names at most. */
#define EXCLUDE_COMM_MAX 16
/* How many processes hold data probes before idle ones give theirs back. */
#define MAX_ARMED_DEFAULT 64
/* `health [--max-stall SECONDS]`: the default stall allowed. */
#define HEALTH_MAX_STALL_S 30.0

struct options {
	bool per_process;	/* data probes per process (the default from 6.6) */
	bool probe_mode_forced; /* --system-wide-probes or --per-process-probes */
	unsigned max_armed;
	char *exclude_comm[EXCLUDE_COMM_MAX]; /* --exclude-comm, pointers into argv */
	size_t nexclude_comm;
	bool log_calls;
	bool json_out; /* --json */
};

/* options_parse: the first argument is the `health` command. */
#define OPTIONS_HEALTH (-2)

/*
 * Parse argv into opt (its defaults set by the caller). -1: run the daemon;
 * OPTIONS_HEALTH; else the exit status of a command done here (--version,
 * --help, --list-targets) or of invalid arguments (2).
 */
int options_parse(int argc, char **argv, struct options *opt);
void options_usage(FILE *out);

#endif /* OPTIONS_H */
