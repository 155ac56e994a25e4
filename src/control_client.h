/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The client side of the control socket (control.h), for the commands of
 * the same executable that read a running daemon: calls, watch,
 * suggest-config. Errors are told to the user here, once, as one line on
 * stderr, and turned into the commands' exit statuses.
 */
#ifndef CONTROL_CLIENT_H
#define CONTROL_CLIENT_H

#include <stddef.h>
#include "call_rows_json.h"

/* Exit statuses of the client commands. */
#define CLI_EXIT_OK	   0
#define CLI_EXIT_ERROR	   1 /* the daemon answered something unexpected, or an I/O error */
#define CLI_EXIT_USAGE	   2
#define CLI_EXIT_NO_DAEMON 3 /* no daemon listens on the socket */
#define CLI_EXIT_DENIED	   4 /* not root */

/* Why a query failed, in one line ready for "<prog>: <msg>". */
struct control_error {
	char msg[512];
};

/* Called with each line of an answer; non-zero ends the read (and is returned). */
typedef int (*control_line_cb)(const char *line, size_t len, void *ctx, struct control_error *e);

/*
 * Send request to the daemon at path (CONTROL_SOCKET) and call line_cb with
 * each line of the answer, without its '\n'. Returns CLI_EXIT_OK, or another
 * CLI_EXIT_* with e->msg saying why ("cannot reach the daemon at <path>:
 * Permission denied (run as root)").
 */
int control_query(const char *path, const char *request, control_line_cb line_cb, void *ctx,
		  struct control_error *e);

/*
 * Append every row of the summary to @rows (call_rows_free releases them),
 * with the strings exactly as the daemon sent them: call_rows_printable
 * before they go to a terminal. Returns as control_query.
 */
int control_fetch_rows(const char *path, struct call_rows *rows, struct control_error *e);

#endif /* CONTROL_CLIENT_H */
