/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * JSON lines for calls: the summary's rows (the control socket, `calls
 * --json`; the form is in call_summary.h) and single calls (the daemon's
 * --json). Written by hand: the daemon writes one per call, without
 * allocating. Rows are read back by call_rows_json.h.
 */
#ifndef CALL_JSON_H
#define CALL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "call_summary.h"
#include "wire.h"

/* Room for any row's line, and any call's (every byte escaped at worst). */
#define CALL_ROW_JSON_MAX   4096
#define CALL_EVENT_JSON_MAX (6 * (WIRE_DATAGRAM_MAX + WIRE_HOST_MAX + 16) + 256)

/*
 * s as a JSON string, quotes included: '"', '\\' and control bytes escaped,
 * bytes above 0x7e as \u00XX (so the output is ASCII, whatever came in).
 * Returns the length written (a NUL follows), or -ENOSPC.
 */
int json_quote(char *out, size_t size, const char *s);

/* RFC 3339 UTC: 2026-12-02T08:00:00Z, or with milliseconds ...00.123Z. */
int json_time_utc(char *out, size_t size, uint64_t realtime_ns, bool with_ms);

/* One row as one line ('\n' included). Returns its length or -ENOSPC. */
int call_row_json(char *out, size_t size, const struct call_row *row);

/*
 * One completed call as one line: {"timestamp":"...Z","method":"GET",
 * "host":"api.example.com","path":"/v1/x","status":200,"latency_ms":12.345,
 * "pid":1234,"comm":"curl"}. Returns its length or -ENOSPC.
 */
int call_event_json(char *out, size_t size, const struct call_seen *call);

#endif /* CALL_JSON_H */
