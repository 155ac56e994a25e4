// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The forwarder against real UDP sockets on 127.0.0.1: an Orchestrator that
 * stops listening and comes back loses nothing sent after it is back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "forward.h"

/* A listener on 127.0.0.1:port (0: any port; *port gets the one bound). */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The datagrams that arrive within timeout_ms, joined as "a|b|". */
static void receive_all(int fd, char *out, size_t size, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t n = 0;

	out[0] = '\0';
	while (poll(&p, 1, timeout_ms) == 1) {
		char buf[2048];
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r <= 0)
			break;
		n += snprintf(out + n, size - n, "%.*s|", (int)r, buf);
		timeout_ms = 100;
	}
}

static void send_now(struct forwarder *f, const char *text)
{
	forwarder_send(f, text, strlen(text));
	forwarder_flush(f);
}

static struct forwarder *forwarder_to(uint16_t port)
{
	struct endpoint ep = {.kind = ENDPOINT_IPV4, .host = "127.0.0.1", .port = port};
	struct forwarder *f = forwarder_new(&ep);

	assert_non_null(f);
	return f;
}

static void test_delivers(void **state)
{
	uint16_t port = 0;
	int fd = listener(&port);
	struct forwarder *f = forwarder_to(port);
	char got[4096];

	send_now(f, "one");
	forwarder_send(f, "two", 3);
	forwarder_send(f, "three", 5);
	forwarder_flush(f);
	receive_all(fd, got, sizeof(got), 1000);
	assert_string_equal(got, "one|two|three|");
	assert_int_equal(forwarder_stats(f).sent, 3);
	assert_int_equal(forwarder_stats(f).dropped, 0);
	forwarder_free(f);
	close(fd);
}

/*
 * The ICMP "port unreachable" of a datagram sent while nobody listened is
 * reported by the kernel on the next send on the connected socket, which is
 * then not sent: that must not cost the first datagram after the listener
 * is back, nor any other sent after it (no back-off that drops).
 */
static void test_listener_back(void **state)
{
	uint16_t port = 0;
	int fd = listener(&port);
	struct forwarder *f = forwarder_to(port);
	char got[4096];

	send_now(f, "before");
	receive_all(fd, got, sizeof(got), 1000);
	assert_string_equal(got, "before|");
	close(fd);
	send_now(f, "down1");
	send_now(f, "down2");
	forwarder_send(f, "down3", 5);
	forwarder_send(f, "down4", 5);
	forwarder_flush(f);
	/* The refusals the kernel reported are counted: all but the last. */
	/* Refusals the kernel reported are counted (how many of the four
	 * depends on when the ICMP replies are handled: at least one). */
	assert_true(forwarder_stats(f).dropped >= 1);
	fd = listener(&port);
	send_now(f, "back1");
	send_now(f, "back2");
	forwarder_send(f, "back3", 5);
	forwarder_send(f, "back4", 5);
	forwarder_flush(f);
	receive_all(fd, got, sizeof(got), 1000);
	assert_string_equal(got, "back1|back2|back3|back4|");
	forwarder_free(f);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delivers),
	    cmocka_unit_test(test_listener_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
