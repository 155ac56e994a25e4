/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Client commands of the daemon's executable, chosen by argv[1] before
 * anything of the daemon starts: they read a running daemon through its
 * control socket (control_client.h) and exit with a CLI_EXIT_* status.
 */
#ifndef CLI_H
#define CLI_H

#include <stddef.h>
#include "call_summary.h"

/* `calls [--json]`: the summary as a table, or as the daemon's JSON lines. */
int cli_calls(const char *prog, int argc, char **argv);

/* `watch`: a live top-like view; one snapshot when stdout is not a terminal. */
int cli_watch(const char *prog, int argc, char **argv);

/* `suggest-config`: the Orchestrator's configuration for the daemon's rows
 * (argv[0] is "suggest-config"; see suggest_cmd.h). */
int cli_suggest_config(int argc, char **argv);

/* "curl[1234,1301] python3[88]", or the comms alone; cut to fit size. */
void cli_programs(const struct call_row *row, bool with_pids, char *out, size_t size);

#endif /* CLI_H */
