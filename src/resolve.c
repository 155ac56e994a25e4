// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include "log.h"
#include "resolve.h"

struct lookup {
	int done;
	int status;
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* Pick the first IPv4 address, else the first IPv6 one. */
static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *lk = arg;
	struct ares_addrinfo_node *best = NULL;

	lk->done = 1;
	lk->status = status;
	if (status != ARES_SUCCESS || !res)
		goto out;
	for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next) {
		if (n->ai_family == AF_INET) {
			best = n;
			break;
		}
		if (n->ai_family == AF_INET6 && !best)
			best = n;
	}
	if (best && best->ai_addrlen <= sizeof(lk->addr)) {
		memcpy(&lk->addr, best->ai_addr, best->ai_addrlen);
		lk->addr_len = best->ai_addrlen;
	} else {
		lk->status = ARES_ENOTFOUND;
	}
out:
	if (res)
		ares_freeaddrinfo(res);
}

static void wait_for(ares_channel ch, struct lookup *lk, int timeout_ms)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * 1000000;

	while (!lk->done) {
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;
		uint64_t now = monotonic_ns();

		if (now >= deadline)
			break;
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;

			/* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into the
			 * sign bit for the last socket (UBSan): the same test, unsigned. */
			if ((unsigned)bits & (1u << i))
				ev |= POLLIN;
			if ((unsigned)bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev)
				pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
		}
		if (n == 0)
			break;
		int wait = (int)((deadline - now) / 1000000);
		poll(pfd, n, wait > 100 ? 100 : wait + 1);
		for (int i = 0; i < n; i++) {
			ares_socket_t r = pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
					      ? pfd[i].fd
					      : ARES_SOCKET_BAD;
			ares_socket_t w = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;

			ares_process_fd(ch, r, w);
		}
		ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	}
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

int resolve_name(const char *name, uint16_t port, int timeout_ms, struct sockaddr_storage *out,
		 socklen_t *out_len)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct ares_options opts = {.timeout = 2000, .tries = 2};
	struct lookup lk = {0};
	ares_channel ch;

	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS)
		return -ENOSYS;
	if (ares_init_options(&ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
		return -ENOMEM;
	ares_getaddrinfo(ch, name, NULL, &hints, on_addrinfo, &lk);
	wait_for(ch, &lk, timeout_ms);
	ares_destroy(ch); /* calls back with ARES_EDESTRUCTION if still pending */
	if (!lk.done || lk.status == ARES_EDESTRUCTION)
		return -ETIMEDOUT;
	if (lk.status != ARES_SUCCESS)
		return -EHOSTUNREACH;
	if (lk.addr.ss_family == AF_INET)
		((struct sockaddr_in *)&lk.addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&lk.addr)->sin6_port = htons(port);
	*out = lk.addr;
	*out_len = lk.addr_len;
	return 0;
}
