// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "forward.h"
#include "workq.h"
#include "log.h"
#include "resolve.h"
#include "wire.h"

/* How long a named endpoint that stopped working waits before it is
 * resolved again (it still has an address to send to meanwhile). */
#define RERESOLVE_INTERVAL_NS (10ull * 1000000000)
/* A name that never resolved is tried again this often while datagrams wait
 * for it: they are held (QUEUE_MAX newest), so a short interval only delays
 * them once the name resolves, it does not drop them. */
#define UNRESOLVED_RETRY_NS (1000ull * 1000000)
#define RESOLVE_TIMEOUT_MS  5000
/* A literal address whose socket cannot be connected (no route) is tried
 * again at most this often while datagrams wait. */
#define RECONNECT_INTERVAL_NS (100ull * 1000000)
#define LOG_INTERVAL_NS	      (60ull * 1000000000)

/*
 * Datagrams waiting to be sent, newest kept: a ring. It is flushed once per
 * event-loop round (or when full) with one sendmmsg. What the kernel would
 * not take yet (no address, no route, no buffer) stays in it for the next
 * round; only when it is full is the oldest dropped (and counted).
 */
#define QUEUE_MAX 64

struct forwarder {
	struct endpoint ep;
	int fd; /* connected UDP socket, -1 until it can be opened */
	bool have_addr;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t last_connect_ns;
	char queue[QUEUE_MAX][WIRE_DATAGRAM_MAX];
	uint16_t lens[QUEUE_MAX];
	unsigned head, count;
	struct mmsghdr msgs[QUEUE_MAX];
	struct iovec iovs[QUEUE_MAX];
	struct forward_stats stats;
	struct log_ratelimit drop_log, send_log;
	uint64_t last_resolve_ns;

	/* Hand-over from the resolver thread to the sending (main) thread. */
	pthread_mutex_t lock;
	pthread_t resolver;
	bool resolving, resolver_started, have_new;
	struct sockaddr_storage new_addr;
	socklen_t new_len;
	struct log_ratelimit resolve_log; /* used by the resolver thread only */
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
	uint64_t suppressed;
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
	/* Tried every second while calls wait: one line a minute. */
	if (err && log_ratelimit_ok(&f->resolve_log, monotonic_ns(), &suppressed))
		log_warn("cannot resolve Orchestrator host %s: %s; calls are held (the newest %d) "
			 "and it is tried again%s",
			 f->ep.host,
			 err == -EHOSTUNREACH ? "no address in /etc/hosts or DNS" : strerror(-err),
			 QUEUE_MAX, suppressed ? " (more failures since the last line)" : "");
	return NULL;
}

/* Resolve the name again in the background, unless a resolution is under
 * way or one started less than interval_ns ago. */
static void start_resolve(struct forwarder *f, uint64_t interval_ns)
{
	uint64_t now = monotonic_ns();
	bool busy;

	if (f->ep.kind != ENDPOINT_NAME ||
	    (f->last_resolve_ns && now - f->last_resolve_ns < interval_ns))
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

static void address_text(const struct sockaddr_storage *a, char *text, size_t size)
{
	const void *in = a->ss_family == AF_INET
			     ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
			     : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;

	if (!inet_ntop(a->ss_family, in, text, size))
		snprintf(text, size, "?");
}

/* (Re)open the connected socket to f->addr, at most once per interval. */
static void connect_socket(struct forwarder *f, bool force)
{
	char text[INET6_ADDRSTRLEN];
	uint64_t now = monotonic_ns(), suppressed;
	int fd;

	if (!force && now - f->last_connect_ns < RECONNECT_INTERVAL_NS)
		return;
	f->last_connect_ns = now;
	fd = open_socket(&f->addr, f->addr_len);
	if (fd < 0) {
		address_text(&f->addr, text, sizeof(text));
		if (log_ratelimit_ok(&f->send_log, now, &suppressed))
			log_warn(
			    "cannot open a UDP socket to the Orchestrator at %s: %s; calls are "
			    "held (the newest %d) and sent once it works",
			    text, strerror(-fd), QUEUE_MAX);
		return;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
}

/* Take an address the resolver thread found, if any. */
static void adopt_new_address(struct forwarder *f)
{
	char text[INET6_ADDRSTRLEN];

	pthread_mutex_lock(&f->lock);
	if (!f->have_new) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	f->have_new = false;
	f->addr = f->new_addr;
	f->addr_len = f->new_len;
	f->have_addr = true;
	pthread_mutex_unlock(&f->lock);
	address_text(&f->addr, text, sizeof(text));
	log_info("Orchestrator %s resolved to %s", f->ep.host, text);
	connect_socket(f, true);
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

	if (!f)
		return NULL;
	f->ep = *ep;
	f->fd = -1;
	f->drop_log.interval_ns = LOG_INTERVAL_NS;
	f->send_log.interval_ns = LOG_INTERVAL_NS;
	f->resolve_log.interval_ns = LOG_INTERVAL_NS;
	pthread_mutex_init(&f->lock, NULL);
	if (ep->kind == ENDPOINT_NAME) {
		start_resolve(f, 0);
		return f;
	}
	if (literal_address(ep, &f->addr, &f->addr_len)) {
		forwarder_free(f);
		errno = EINVAL;
		return NULL;
	}
	/* An address without a route yet (network not up) is not fatal:
	 * calls are held and the socket opened once it can be. */
	f->have_addr = true;
	connect_socket(f, true);
	return f;
}

void forwarder_free(struct forwarder *f)
{
	if (!f)
		return;
	forwarder_flush(f);
	if (f->count)
		log_warn("%u datagram(s) for the Orchestrator not sent at exit", f->count);
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
	/* A name may point elsewhere now. */
	start_resolve(f, RERESOLVE_INTERVAL_NS);
}

void forwarder_send(struct forwarder *f, const char *buf, size_t len)
{
	unsigned slot;

	if (len > WIRE_DATAGRAM_MAX) {
		count_drop(f, "datagram too long");
		return;
	}
	if (f->count == QUEUE_MAX)
		forwarder_flush(f);
	if (f->count == QUEUE_MAX) {
		/* Still nowhere to send: the newest calls are worth more. */
		f->head = (f->head + 1) % QUEUE_MAX;
		f->count--;
		count_drop(f, f->fd < 0 ? "no address or route to the Orchestrator yet"
					: "the kernel does not take datagrams");
	}
	slot = (f->head + f->count) % QUEUE_MAX;
	memcpy(f->queue[slot], buf, len);
	f->lens[slot] = (uint16_t)len;
	f->count++;
}

/* Errors an ICMP reply to an earlier datagram leaves on a connected UDP
 * socket: the kernel reports one on the next send, which it does not make. */
static bool maybe_earlier_error(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == ENETDOWN || err == EPROTO;
}

/* Errors after which the same datagram may be taken later (no route yet,
 * no buffer): it is kept queued. Others drop it. */
static bool worth_keeping(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM ||
	       err == EINTR || err == EACCES || err == EPERM || maybe_earlier_error(err);
}

/* sendmmsg from the queue's head; returns how many were taken or -errno. */
static int send_queued(struct forwarder *f, unsigned from)
{
	int n;

	for (unsigned i = from; i < f->count; i++) {
		unsigned slot = (f->head + i) % QUEUE_MAX;

		f->iovs[i] = (struct iovec){.iov_base = f->queue[slot], .iov_len = f->lens[slot]};
		memset(&f->msgs[i], 0, sizeof(f->msgs[i]));
		f->msgs[i].msg_hdr.msg_iov = &f->iovs[i];
		f->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	n = sendmmsg(f->fd, f->msgs + from, f->count - from, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n > 0 ? n : -EIO;
}

/*
 * One system call for the round's datagrams: a loopback send costs ~5 us,
 * most of it per call, not per byte. No back-off while the Orchestrator is
 * down: every datagram is offered to the kernel, so the first call made
 * after it is back is sent (a refused datagram costs this host one ICMP
 * message, and only when the Orchestrator is on this host).
 */
void forwarder_flush(struct forwarder *f)
{
	unsigned done = 0;
	int retry_err = 0;
	uint64_t suppressed;

	if (f->count == 0)
		return;
	adopt_new_address(f);
	if (f->fd < 0 && f->have_addr)
		connect_socket(f, false);
	if (f->fd < 0) {
		/* Held until the name resolves (tried again meanwhile). */
		start_resolve(f, f->have_addr ? RERESOLVE_INTERVAL_NS : UNRESOLVED_RETRY_NS);
		return;
	}
	while (done < f->count) {
		int n = send_queued(f, done);

		if (n > 0) {
			f->stats.sent += n;
			done += n;
			if (retry_err)
				count_drop(f, strerror(retry_err)); /* an earlier one's */
			retry_err = 0;
			continue;
		}
		if (!retry_err && maybe_earlier_error(-n)) {
			/* Perhaps an earlier datagram's refusal: this one was
			 * not sent; offer it once more. */
			retry_err = -n;
			continue;
		}
		retry_err = 0;
		if (worth_keeping(-n)) {
			/* Not taken now (no route, no buffer): next round. */
			if (log_ratelimit_ok(&f->send_log, monotonic_ns(), &suppressed))
				log_warn("cannot send to Orchestrator %s:%u: %s; %u call(s) held "
					 "(the newest %d are kept)",
					 f->ep.host, f->ep.port, strerror(-n), f->count - done,
					 QUEUE_MAX);
			start_resolve(f, RERESOLVE_INTERVAL_NS);
			break;
		}
		count_drop(f, strerror(-n));
		done++;
	}
	f->head = (f->head + done) % QUEUE_MAX;
	f->count -= done;
}

struct forward_stats forwarder_stats(const struct forwarder *f)
{
	return f->stats;
}
