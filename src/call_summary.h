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

#endif /* CALL_SUMMARY_H */
