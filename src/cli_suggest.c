// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `suggest-config`, its rows from the running daemon's control socket. */
#include <stdio.h>
#include "cli.h"
#include "control.h"
#include "control_client.h"
#include "suggest_cmd.h"

/* The rows as the daemon sent them (not made printable: the patterns must
 * match the calls' strings byte for byte). */
static int fetch_from_daemon(struct call_rows *rows, void *ctx, char *err, size_t err_size)
{
	struct control_error e = {0};
	int ret = control_fetch_rows(ctx, rows, &e);

	if (ret != CLI_EXIT_OK)
		snprintf(err, err_size, "%s", e.msg);
	return ret;
}

int cli_suggest_config(int argc, char **argv)
{
	return suggest_config_command(argc, argv, fetch_from_daemon, (void *)CONTROL_SOCKET);
}
