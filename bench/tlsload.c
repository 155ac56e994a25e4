/* An HTTPS/1.1 load client that no uprobe on a shared libssl can see:
 * OpenSSL is linked statically and the binary is stripped, so it maps no
 * libssl.so and exports no SSL_* symbols. Used to measure what a tracer
 * costs a TLS *server* (nginx) that serves clients the tracer does not trace.
 *
 * Built dynamically (tlsload-dyn) it is an ordinary traced client instead:
 * with RATE it paces each connection to RATE requests/s, so the latency
 * measured is what a probe adds to one request, not the queueing of a
 * saturated closed loop.
 *
 * usage: tlsload PORT CONNECTIONS SECONDS [RATE]
 * One thread per connection, keep-alive, ping-pong GET /.
 * Prints: requests N seconds S rps R p50_us P p99_us Q errors E mean_us M */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NB 200000 /* latency histogram: 1 us buckets up to 200 ms */
static int port, seconds;
static double rate; /* requests/s per connection; 0: as fast as possible */
static SSL_CTX *ctx;
static double t_end;
static char req[128];

struct worker {
	pthread_t th;
	unsigned long long done, errors;
	double sum_us;
	unsigned long long hist[NB];
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static SSL *dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	SSL *s;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return NULL;
	}
	s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) != 1) {
		SSL_free(s);
		close(fd);
		return NULL;
	}
	return s;
}

/* Read one response (headers + Content-Length body). 0 on success. */
static int read_response(SSL *s, char *buf, int cap)
{
	int have = 0, need = -1;

	for (;;) {
		int r = SSL_read(s, buf + have, cap - have - 1);
		if (r <= 0)
			return -1;
		have += r;
		buf[have] = 0;
		if (need < 0) {
			char *end = strstr(buf, "\r\n\r\n"), *cl;
			if (!end)
				continue;
			cl = strcasestr(buf, "\r\ncontent-length:");
			need = (int)(end + 4 - buf) + (cl ? atoi(cl + 17) : 0);
		}
		if (have >= need)
			return 0;
	}
}

static void sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - (time_t)t) * 1e9)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	char buf[16384];
	SSL *s = dial();
	double next = now();

	while (s && now() < t_end) {
		double t0;

		if (rate > 0) {
			next += 1.0 / rate;
			if (next > now())
				sleep_until(next);
			else
				next = now(); /* late: no catch-up burst */
		}
		t0 = now();
		if (SSL_write(s, req, strlen(req)) <= 0 || read_response(s, buf, sizeof(buf))) {
			w->errors++;
			int fd = SSL_get_fd(s);
			SSL_free(s);
			close(fd);
			s = dial();
			continue;
		}
		double us = (now() - t0) * 1e6;
		w->hist[us < NB ? (long)us : NB - 1]++;
		w->sum_us += us;
		w->done++;
	}
	return NULL;
}

static double pct(unsigned long long *h, unsigned long long total, double p)
{
	unsigned long long want = (unsigned long long)(total * p), acc = 0;
	for (int i = 0; i < NB; i++) {
		acc += h[i];
		if (acc > want)
			return i + 0.5;
	}
	return NB;
}

int main(int argc, char **argv)
{
	int nconn;
	struct worker *ws;
	static unsigned long long h[NB];
	unsigned long long total = 0, errors = 0;
	double t0, sum_us = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: tlsload PORT CONNECTIONS SECONDS [RATE]\n");
		return 2;
	}
	port = atoi(argv[1]);
	nconn = atoi(argv[2]);
	seconds = atoi(argv[3]);
	rate = argc > 4 ? atof(argv[4]) : 0;
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ws = calloc(nconn, sizeof(*ws));
	t0 = now();
	t_end = t0 + seconds;
	for (int i = 0; i < nconn; i++)
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	for (int i = 0; i < nconn; i++) {
		pthread_join(ws[i].th, NULL);
		total += ws[i].done;
		errors += ws[i].errors;
		sum_us += ws[i].sum_us;
		for (int b = 0; b < NB; b++)
			h[b] += ws[i].hist[b];
	}
	t0 = now() - t0;
	printf("requests %llu seconds %.3f rps %.1f p50_us %.1f p99_us %.1f errors %llu mean_us %.2f\n",
	       total, t0, total / t0, pct(h, total, 0.5), pct(h, total, 0.99), errors,
	       total ? sum_us / total : 0);
	return 0;
}
