/* A stand-in Orchestrator: counts UDP datagrams on 127.0.0.1:PORT with
 * recvmmsg (cheap), prints "datagrams N" on SIGTERM/SIGINT and exits.
 * "udpcount send PORT N": the cost of one sendto() of a call-sized datagram
 * on a connected socket (what the daemon does per call), in ns. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_sig(int s) { stop = 1; }

static int send_cost(int port, long n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	const char msg[] = "0\tGET\t127.0.0.1:12345\t/\t0.512\n";
	struct timespec a, b;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("ns_per_send %.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[1], "send"))
		return send_cost(atoi(argv[2]), atol(argv[3]));
	int port = argc > 1 ? atoi(argv[1]) : 51713, fd, rcv = 8 << 20;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	static char bufs[64][1500];
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	struct sigaction act = {.sa_handler = on_sig}; /* no SA_RESTART */
	unsigned long long n = 0;

	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("udpcount");
		return 1;
	}
	fprintf(stderr, "listening\n");
	while (!stop) {
		for (int i = 0; i < 64; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, msgs, 64, MSG_WAITFORONE, NULL);
		if (r > 0)
			n += r;
		else if (r < 0 && errno != EINTR)
			break;
	}
	/* drain what is queued */
	for (;;) {
		int r = recvmmsg(fd, msgs, 64, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		n += r;
	}
	printf("datagrams %llu\n", n);
	fflush(stdout);
	return 0;
}
