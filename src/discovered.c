// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "call_summary.h"
#include "control.h"
#include "discovered.h"
#include "json_stream.h"
#include "log.h"

struct discovered {
	struct call_summary *summary;
	struct control *control; /* NULL when the socket is not served */
	bool json_out;
};

struct discovered *discovered_new(bool json_out)
{
	struct discovered *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->json_out = json_out;
	d->summary = call_summary_new(CALL_SUMMARY_ROWS_MAX, CALL_SUMMARY_HOSTS_MAX);
	if (!d->summary) {
		free(d);
		return NULL;
	}
	return d;
}

void discovered_free(struct discovered *d)
{
	if (!d)
		return;
	control_close(d->control);
	call_summary_free(d->summary);
	free(d);
}

void discovered_start(struct discovered *d, int epfd)
{
	int err = control_open(CONTROL_SOCKET, d->summary, geteuid(), &d->control);
	struct epoll_event ev = {.events = EPOLLIN};

	if (!err) {
		ev.data.fd = control_fd(d->control);
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
			err = -errno;
			control_close(d->control);
			d->control = NULL;
		}
	}
	if (err)
		log_warn("control socket %s not served (`calls` and `watch` cannot read this "
			 "daemon): %s%s",
			 CONTROL_SOCKET, strerror(-err),
			 err == -EADDRINUSE ? ": another daemon answers on it" : "");
	else
		log_info("control socket %s (root only): `calls` and `watch` read what was "
			 "discovered",
			 CONTROL_SOCKET);
}

/* A kernel timestamp (CLOCK_MONOTONIC) as wall-clock time. */
static uint64_t realtime_of(uint64_t mono_ns)
{
	struct timespec ts;
	uint64_t now = monotonic_ns(), real;

	clock_gettime(CLOCK_REALTIME, &ts);
	real = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return mono_ns && mono_ns <= now && now - mono_ns <= real ? real - (now - mono_ns) : real;
}

void discovered_call(struct discovered *d, const struct wire_call *call, int status,
		     uint64_t latency_ns, uint32_t pid, const char *comm, uint64_t end_ns)
{
	struct call_seen seen = {.method = call->method,
				 .host = call->host,
				 .path = call->path,
				 .status = status,
				 .latency_ns = latency_ns,
				 .pid = pid,
				 .comm = comm,
				 .when_ns = realtime_of(end_ns)};

	call_summary_add(d->summary, &seen);
	if (d->json_out)
		json_stream_call(&seen); /* a closed stdout is seen at the flush */
}

void discovered_event(struct discovered *d, int fd, uint64_t now_ns)
{
	if (d->control && fd == control_fd(d->control))
		control_serve(d->control, now_ns);
}

void discovered_tick(struct discovered *d, uint64_t now_ns)
{
	if (d->control && control_busy(d->control))
		control_serve(d->control, now_ns);
}

bool discovered_flush(struct discovered *d)
{
	int err;

	if (!d->json_out || !(err = json_stream_flush()))
		return true;
	log_info("stdout: %s; stopping (--json)", strerror(-err));
	d->json_out = false;
	return false;
}
