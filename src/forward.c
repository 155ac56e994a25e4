// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "forward.h"
#include "workq.h"
#include "log.h"
#include "resolve.h"
#include "wire.h"

/* How long a failing named endpoint waits before it is resolved again. */
#define RERESOLVE_INTERVAL_NS (10ull * 1000000000)
#define RESOLVE_TIMEOUT_MS    5000
/* After "port unreachable", how long datagrams are counted as dropped
 * without being sent; then sending is tried again. */
#define REFUSED_BACKOFF_NS (1000ull * 1000000)

/* Datagrams queued within one event-loop round, sent with one sendmmsg. */
#define BATCH_MAX 64

struct forwarder {
	struct endpoint ep;
	int fd; /* connected UDP socket, -1 until the address is known */
	char batch[BATCH_MAX][WIRE_DATAGRAM_MAX];
	struct mmsghdr msgs[BATCH_MAX];
	struct iovec iovs[BATCH_MAX];
	unsigned nbatch;
	uint64_t refused_until_ns; /* drop without sending until then */
	struct forward_stats stats;
	struct log_ratelimit drop_log;
	uint64_t last_resolve_ns;

	/* Hand-over from the resolver thread to the sending (main) thread. */
	pthread_mutex_t lock;
	pthread_t resolver;
	bool resolving, resolver_started, have_new;
	struct sockaddr_storage new_addr;
	socklen_t new_len;
};

static int open_socket(const struct sockaddr_storage *addr, socklen_t len)
{
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Connected: the kernel reports an unreachable port as ECONNREFUSED on
	 * a later send, which is our cue that the endpoint stopped working. */
	if (connect(fd, (const struct sockaddr *)addr, len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void *resolver_main(void *arg)
{
	struct forwarder *f = arg;
	struct sockaddr_storage addr;
	socklen_t len;
	int err;

	thread_default_priority();
	err = resolve_name(f->ep.host, f->ep.port, RESOLVE_TIMEOUT_MS, &addr, &len);

	pthread_mutex_lock(&f->lock);
	if (!err) {
		f->new_addr = addr;
		f->new_len = len;
		f->have_new = true;
	}
	f->resolving = false;
	pthread_mutex_unlock(&f->lock);
	if (err)
		log_warn("cannot resolve Orchestrator host %s: %s; will retry", f->ep.host,
			 strerror(-err));
	return NULL;
}

static void start_resolve(struct forwarder *f)
{
	uint64_t now = monotonic_ns();
	bool busy;

	if (f->ep.kind != ENDPOINT_NAME ||
	    (f->last_resolve_ns && now - f->last_resolve_ns < RERESOLVE_INTERVAL_NS))
		return;
	pthread_mutex_lock(&f->lock);
	busy = f->resolving;
	pthread_mutex_unlock(&f->lock);
	if (busy)
		return;
	if (f->resolver_started)
		pthread_join(f->resolver, NULL);
	f->last_resolve_ns = now;
	f->resolving = true;
	f->resolver_started = pthread_create(&f->resolver, NULL, resolver_main, f) == 0;
	if (!f->resolver_started)
		f->resolving = false;
}

/* Take an address the resolver thread found, if any. */
static void adopt_new_address(struct forwarder *f)
{
	char text[INET6_ADDRSTRLEN] = "?";
	int fd;

	pthread_mutex_lock(&f->lock);
	if (!f->have_new) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	f->have_new = false;
	fd = open_socket(&f->new_addr, f->new_len);
	if (f->new_addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&f->new_addr)->sin_addr, text,
			  sizeof(text));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&f->new_addr)->sin6_addr, text,
			  sizeof(text));
	pthread_mutex_unlock(&f->lock);
	if (fd < 0) {
		log_warn("cannot open UDP socket to %s: %s", text, strerror(-fd));
		return;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	log_info("Orchestrator %s resolved to %s", f->ep.host, text);
}

static int literal_address(const struct endpoint *ep, struct sockaddr_storage *addr, socklen_t *len)
{
	memset(addr, 0, sizeof(*addr));
	if (ep->kind == ENDPOINT_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;

		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		*len = sizeof(*in);
		return inet_pton(AF_INET, ep->host, &in->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(ep->port);
	*len = sizeof(*in6);
	return inet_pton(AF_INET6, ep->host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

struct forwarder *forwarder_new(const struct endpoint *ep)
{
	struct forwarder *f = calloc(1, sizeof(*f));
	struct sockaddr_storage addr;
	socklen_t len;

	if (!f)
		return NULL;
	f->ep = *ep;
	f->fd = -1;
	f->drop_log.interval_ns = 60ull * 1000000000;
	pthread_mutex_init(&f->lock, NULL);
	if (ep->kind == ENDPOINT_NAME) {
		start_resolve(f);
		return f;
	}
	if (literal_address(ep, &addr, &len) == 0)
		f->fd = open_socket(&addr, len);
	if (f->fd < 0) {
		errno = -f->fd;
		forwarder_free(f);
		return NULL;
	}
	return f;
}

void forwarder_free(struct forwarder *f)
{
	if (!f)
		return;
	forwarder_flush(f);
	if (f->resolver_started)
		pthread_join(f->resolver, NULL);
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static void count_drop(struct forwarder *f, const char *why)
{
	uint64_t suppressed;

	f->stats.dropped++;
	if (log_ratelimit_ok(&f->drop_log, monotonic_ns(), &suppressed))
		log_warn("datagram to Orchestrator %s:%u not delivered: %s (%llu dropped in all)",
			 f->ep.host, f->ep.port, why, (unsigned long long)f->stats.dropped);
	start_resolve(f);
}

void forwarder_send(struct forwarder *f, const char *buf, size_t len)
{
	if (len > WIRE_DATAGRAM_MAX) {
		count_drop(f, "datagram too long");
		return;
	}
	if (f->nbatch == BATCH_MAX)
		forwarder_flush(f);
	memcpy(f->batch[f->nbatch], buf, len);
	f->iovs[f->nbatch] = (struct iovec){.iov_base = f->batch[f->nbatch], .iov_len = len};
	f->nbatch++;
}

/* One system call for the round's datagrams: a loopback send costs ~5 us,
 * most of it per call, not per byte. */
void forwarder_flush(struct forwarder *f)
{
	unsigned done = 0;

	if (f->nbatch == 0)
		return;
	adopt_new_address(f);
	if (f->fd < 0) {
		for (unsigned i = 0; i < f->nbatch; i++)
			count_drop(f, "address not resolved yet");
		f->nbatch = 0;
		return;
	}
	for (unsigned i = 0; i < f->nbatch; i++) {
		memset(&f->msgs[i], 0, sizeof(f->msgs[i]));
		f->msgs[i].msg_hdr.msg_iov = &f->iovs[i];
		f->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if (monotonic_ns() < f->refused_until_ns) {
		/* Nobody listens: every datagram would only come back as an ICMP
		 * error, which costs this host more than the send itself. */
		for (unsigned i = 0; i < f->nbatch; i++)
			count_drop(f, "Orchestrator not listening (port unreachable)");
		f->nbatch = 0;
		return;
	}
	while (done < f->nbatch) {
		int n =
		    sendmmsg(f->fd, f->msgs + done, f->nbatch - done, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0) {
			/* The first unsent one failed: count it, go on with the rest. */
			if (n < 0 && errno == ECONNREFUSED)
				f->refused_until_ns = monotonic_ns() + REFUSED_BACKOFF_NS;
			count_drop(f, n < 0 ? strerror(errno) : "not sent");
			done++;
			continue;
		}
		f->stats.sent += n;
		done += n;
	}
	f->nbatch = 0;
}

struct forward_stats forwarder_stats(const struct forwarder *f)
{
	return f->stats;
}
