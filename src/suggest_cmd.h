/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The `suggest-config` command: rows from the running daemon (through
 * @fetch) or from `calls --json` output (--from-json FILE|-), the
 * Orchestrator's configuration for them on stdout.
 */
#ifndef SUGGEST_CMD_H
#define SUGGEST_CMD_H

#include <stddef.h>
#include "call_rows_json.h"

/* Fills @rows with the running daemon's summary, its strings as the daemon
 * sent them. Returns 0, or the command's exit status (> 0: CLI_EXIT_* of
 * control_client.h) with a one-line reason for the user in @err. */
typedef int (*call_rows_fetch_fn)(struct call_rows *rows, void *ctx, char *err, size_t err_size);

/*
 * argv[0] is "suggest-config". @fetch may be NULL (no daemon to ask: only
 * --from-json works). Returns the exit status: 0, 1 (no rows to be had),
 * 2 (bad arguments), or @fetch's (3: no daemon, 4: not root).
 */
int suggest_config_command(int argc, char **argv, call_rows_fetch_fn fetch, void *ctx);

#endif /* SUGGEST_CMD_H */
