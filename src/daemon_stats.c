// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's lines about itself (daemon.h): its counters, gathered from
 * every part, and the time its exit took.
 */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "daemon.h"
#include "forward.h"
#include "proc_watch.h"
#include "session.h"
#include "targets.h"
#include "uprobe_warm.h"
#include "tls_trace.skel.h"

static void read_kernel_stats(const struct daemon *d, uint64_t out[TLS_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(d->skel->maps.stats);
	uint64_t *vals;

	memset(out, 0, sizeof(uint64_t) * TLS_STAT_MAX);
	if (ncpu <= 0)
		return;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return;
	for (uint32_t k = 0; k < TLS_STAT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void daemon_log_stats(const struct daemon *d, const char *when)
{
	uint64_t k[TLS_STAT_MAX];
	struct session_stats s = session_table_stats(d->sessions);
	struct forward_stats f = forwarder_stats(d->forwarder);
	struct targets_stats t = targets_stats(d->targets);

	read_kernel_stats(d, k);
	log_info(
	    "targets (%s): tls_files=%llu files_probed=%llu files_expired=%llu "
	    "files_full=%llu paths_refused=%llu plain_verdicts_evicted=%llu procs_traced=%llu "
	    "procs_server_only=%llu procs_idle=%llu procs_evicted=%llu procs_dropped=%llu "
	    "procs_seccomp_skipped=%llu procs_excluded=%llu files_per_proc_full=%llu attaches=%llu "
	    "attach_failures=%llu attach_avg_us=%llu "
	    "attach_max_us=%llu map_to_attach_avg_us=%llu map_to_attach_max_us=%llu "
	    "detaches=%llu watch_lost=%llu warm_rounds=%llu roles_resent=%llu",
	    when, (unsigned long long)t.files_tls, (unsigned long long)t.files_probed,
	    (unsigned long long)t.files_expired, (unsigned long long)t.files_full,
	    (unsigned long long)t.files_refused, (unsigned long long)t.plain_evicted,
	    (unsigned long long)t.procs_armed, (unsigned long long)t.procs_server,
	    (unsigned long long)t.procs_idle, (unsigned long long)t.procs_evicted,
	    (unsigned long long)t.procs_dropped, (unsigned long long)t.procs_seccomp_skipped,
	    (unsigned long long)t.procs_excluded, (unsigned long long)t.files_per_proc_full,
	    (unsigned long long)t.attaches, (unsigned long long)t.attach_failures,
	    (unsigned long long)(t.attaches ? t.attach_ns_total / t.attaches / 1000 : 0),
	    (unsigned long long)t.attach_ns_max / 1000,
	    (unsigned long long)(t.map_to_attach_count
				     ? t.map_to_attach_ns_total / t.map_to_attach_count / 1000
				     : 0),
	    (unsigned long long)t.map_to_attach_ns_max / 1000, (unsigned long long)t.detaches,
	    (unsigned long long)proc_watch_lost(d->watch), (unsigned long long)uprobe_warm_rounds(),
	    (unsigned long long)k[TLS_STAT_ROLE_RESEND]);
	log_info("stats (%s): calls=%llu sent=%llu send_dropped=%llu malformed_calls=%llu "
		 "events=%llu ringbuf_lost=%llu ringbuf_bytes_dropped=%llu inflight_full=%llu "
		 "read_faults=%llu return_mismatches=%llu "
		 "connections=%llu active=%llu evicted=%llu expired=%llu http_malformed=%llu "
		 "unanswered=%llu not_http1=%llu pipelined_too_deep=%llu h2_undecodable=%llu "
		 "h2_malformed=%llu "
		 "h2_over_cap=%llu h2_lost=%llu h2_unanswered=%llu bad_records=%llu "
		 "copied_bytes=%llu not_http=%llu skips_to_request=%llu http_gaps_bridged=%llu "
		 "over_share=%llu",
		 when, (unsigned long long)d->calls, (unsigned long long)f.sent,
		 (unsigned long long)f.dropped, (unsigned long long)d->malformed,
		 (unsigned long long)k[TLS_STAT_EVENTS],
		 (unsigned long long)k[TLS_STAT_RINGBUF_FULL],
		 (unsigned long long)k[TLS_STAT_DATA_DROPPED],
		 (unsigned long long)k[TLS_STAT_PENDING_FULL],
		 (unsigned long long)k[TLS_STAT_READ_FAULT],
		 (unsigned long long)k[TLS_STAT_RETURN_MISMATCH],
		 (unsigned long long)k[TLS_STAT_CONN_NEW], (unsigned long long)s.active,
		 (unsigned long long)s.evicted, (unsigned long long)s.expired,
		 (unsigned long long)s.http1.malformed, (unsigned long long)s.http1.unanswered,
		 (unsigned long long)s.http1.not_http1, (unsigned long long)s.http1.too_deep,
		 (unsigned long long)s.http2.undecodable, (unsigned long long)s.http2.malformed,
		 (unsigned long long)s.http2.over_cap, (unsigned long long)s.http2.lost,
		 (unsigned long long)s.http2.unanswered, (unsigned long long)d->bad_records,
		 (unsigned long long)s.copied_bytes, (unsigned long long)s.not_http,
		 (unsigned long long)s.skips_to_request, (unsigned long long)s.http1.gaps_bridged,
		 (unsigned long long)s.over_share);
}

static unsigned long long ms_between(uint64_t from, uint64_t to)
{
	return from && to > from ? (unsigned long long)((to - from) / 1000000) : 0;
}

void daemon_log_exit_times(const struct exit_times *t, uint64_t now)
{
	log_info("exit: %llu ms after the signal: %llu ms to leave the loop, %llu ms "
		 "forwarding, %llu ms detaching, %llu ms closing",
		 ms_between(t->signal, now), ms_between(t->signal, t->loop_left),
		 ms_between(t->loop_left, t->detach), ms_between(t->detach, t->detached),
		 ms_between(t->detached, now));
}
