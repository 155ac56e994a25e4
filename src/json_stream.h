/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The daemon's --json output: each completed call as one JSON line on
 * stdout (call_event_json), logs staying on stderr. Lines are buffered and
 * written once per event-loop round, like the log. A full pipe blocks the
 * write (lines are never dropped; the ring buffer absorbs a short stall);
 * a reader gone (EPIPE) ends the output, and the daemon stops like any
 * filter whose output was closed.
 */
#ifndef JSON_STREAM_H
#define JSON_STREAM_H

#include "call_summary.h"

/* Buffer one call's line. Returns 0, or -EPIPE once stdout is closed. */
int json_stream_call(const struct call_seen *call);

/* Write what is buffered. Returns 0, or -EPIPE (or another write error). */
int json_stream_flush(void);

#endif /* JSON_STREAM_H */
