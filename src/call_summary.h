/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the daemon discovered since it started, bounded: one row per
 * (method, host, path template). A template folds the path segments that
 * vary (numbers, UUIDs, long hex/base64 ids, e-mail-like segments) into
 * CALL_TEMPLATE_PLACEHOLDER, so /v1/customers/cus_9s6XKzkNRiz8i3/invoices
 * and its siblings are one row. Each row keeps counts, a fixed-size latency
 * histogram and the programs that made the calls. Rows are capped; when
 * full, the least used rows of a host fold into that host's "(other)" row.
 *
 * Fed from the event loop with each call as it is sent (the path already
 * normalised and redacted as on the wire), read by the control socket.
 */
#ifndef CALL_SUMMARY_H
#define CALL_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CALL_TEMPLATE_PLACEHOLDER "{id}"
/* The path template of a host's row of folded rows. */
#define CALL_TEMPLATE_OTHER "(other)"
/* Programs kept per row, pids kept per program. */
#define CALL_PROGRAMS_MAX 4
#define CALL_PIDS_MAX	  4

struct call_program {
	char comm[16];
	uint32_t pids[CALL_PIDS_MAX];
	unsigned npids;
};

/*
 * One row as the control socket reports it. `calls --json` prints one JSON
 * object per row, one per line:
 *   {"method":"GET","host":"api.stripe.com","template":"/v1/customers/{id}/invoices",
 *    "count":12,"errors":1,"p50_ms":41.2,"p95_ms":80.1,"p99_ms":95.0,"max_ms":97.3,
 *    "first_seen":"2026-12-02T08:00:00Z","last_seen":"2026-12-02T08:05:12Z",
 *    "programs":[{"comm":"curl","pids":[1234,1301]}]}
 */
struct call_row {
	const char *method;
	const char *host;
	const char *template; /* CALL_TEMPLATE_OTHER for a host's folded row */
	uint64_t count;
	uint64_t errors; /* status >= 400, or the response never completed */
	double p50_ms, p95_ms, p99_ms, max_ms;
	uint64_t first_seen_ns, last_seen_ns; /* CLOCK_REALTIME */
	struct call_program programs[CALL_PROGRAMS_MAX];
	unsigned nprograms;
};

/*
 * A host's "(other)" row has method CALL_METHOD_ANY. When the host table is
 * full, the least used host's rows all fold into one row whose host, like
 * its template, is CALL_TEMPLATE_OTHER.
 */
#define CALL_METHOD_ANY "*"
/*
 * Bounds. Rows: 1024 distinct (method, host, template) keys, (other) rows
 * included, ~0.75 KB each (mostly the histogram); hosts: 256. Templates
 * longer than CALL_TEMPLATE_MAX count in their host's (other) row.
 * call_summary_bytes_max() says what the defaults cost at most (~1.1 MB).
 */
#define CALL_SUMMARY_ROWS_MAX  1024
#define CALL_SUMMARY_HOSTS_MAX 256
#define CALL_TEMPLATE_MAX      256

/* One completed call, as fed to the summary. */
struct call_seen {
	const char *method, *host, *path; /* as sent on the wire */
	int status;			  /* 0: the response never completed */
	uint64_t latency_ns;
	uint32_t pid;
	const char *comm;
	uint64_t when_ns; /* CLOCK_REALTIME */
};

struct call_summary;

/* 1 <= hosts_max and hosts_max + 2 <= rows_max < 65535: every host may hold an (other) row. */
struct call_summary *call_summary_new(unsigned rows_max, unsigned hosts_max);
void call_summary_free(struct call_summary *s);
void call_summary_add(struct call_summary *s, const struct call_seen *call);

/*
 * Rows in slot order, from slot *cursor on, until cb returns non-zero (that
 * row is not consumed) or the rows end. *cursor is where to go on from, so a
 * reader can take the rows in pieces between calls of call_summary_add (a
 * row folded in between may then be missed or seen twice). Returns true when
 * every row was given.
 */
typedef int (*call_row_cb)(const struct call_row *row, void *ctx);
bool call_summary_walk(const struct call_summary *s, unsigned *cursor, call_row_cb cb, void *ctx);

struct call_summary_stats {
	unsigned rows, hosts;
	uint64_t rows_folded;  /* rows folded into their host's (other) row */
	uint64_t hosts_folded; /* hosts folded into the (other) host */
	size_t bytes;	       /* heap held now */
};

struct call_summary_stats call_summary_stats(const struct call_summary *s);
/* The most heap a summary with these bounds ever holds. */
size_t call_summary_bytes_max(unsigned rows_max, unsigned hosts_max);

#endif /* CALL_SUMMARY_H */
