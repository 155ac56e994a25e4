/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading the summary's rows back from their JSON form (one object per
 * line, as `calls --json` prints them; see call_summary.h), with jansson.
 * Strict on what the rows are made of (types, ranges, the bounds of struct
 * call_row); keys it does not know are ignored, so that a newer daemon's
 * extra fields do not break an older reader.
 */
#ifndef CALL_ROWS_JSON_H
#define CALL_ROWS_JSON_H

#include <stddef.h>
#include <stdio.h>
#include "call_summary.h"

/* Bounds on what is read: a line, and rows in all. */
#define CALL_ROWS_JSON_LINE_MAX (64 * 1024)
#define CALL_ROWS_MAX		65536

/* Rows whose strings the set owns (freed by call_rows_free). */
struct call_rows {
	struct call_row *v;
	size_t n, cap;
};

/*
 * Parse one JSON object into @row (its strings allocated, release with
 * call_row_release). Returns 0, -EINVAL with a reason in @err, or -ENOMEM.
 */
int call_row_from_json(const char *text, size_t len, struct call_row *row, char *err,
		       size_t err_size);
void call_row_release(struct call_row *row);

/*
 * Parse one JSON object (call_row_from_json) and append it to @rows, at
 * most CALL_ROWS_MAX in all. Returns 0, -EINVAL with a reason, or -ENOMEM.
 */
int call_rows_add_json(struct call_rows *rows, const char *text, size_t len, char *err,
		       size_t err_size);

/*
 * Append every row of @in (JSON lines; blank lines skipped) to @rows. On a
 * bad line, returns -EINVAL with "line N: reason" in @err; -ENOMEM, -EIO.
 */
int call_rows_read_json(FILE *in, struct call_rows *rows, char *err, size_t err_size);
void call_rows_free(struct call_rows *rows);

/*
 * For a terminal: every byte of the rows' strings that is not printable
 * ASCII (a control byte could start an escape sequence) becomes '?'. Not
 * for rows that are turned into configuration, which must keep the strings
 * as the daemon sent them.
 */
void call_rows_printable(struct call_rows *rows);

#endif /* CALL_ROWS_JSON_H */
