/*
 * GnuTLS HTTPS/1.1 client for the end-to-end tests (tests/e2e/test_gnutls.py),
 * built at test time:  cc -O2 -o gnutls_retry_client gnutls_retry_client.c \
 *                         $(pkg-config --cflags --libs gnutls)
 *
 *   gnutls_retry_client [-S SNDBUF] [-R RCVBUF] PORT HOST REQUEST...
 *
 * One TLS connection to 127.0.0.1:PORT over a NON-BLOCKING socket (its send
 * and receive buffers set to SNDBUF/RCVBUF bytes before connecting, default
 * 4096 each), then the REQUESTs one after the other on it (HTTP/1.1
 * keep-alive, "Host: HOST"). Each REQUEST is
 *
 *   METHOD,TARGET,BODY_BYTES,RETRY,LAYOUT
 *
 *   RETRY   how a gnutls_record_send() that returned GNUTLS_E_AGAIN (or
 *           GNUTLS_E_INTERRUPTED) is called again: "null" = with NULL and 0
 *           (GnuTLS: "the same data as before"), "same" = with the very same
 *           pointer and size.
 *   LAYOUT  "joined": the request head and its body in one buffer (the
 *           first record carries the request line and the start of the
 *           body); "split": the head in one send, the body in later ones.
 *
 * A small socket send buffer and a peer that reads slowly (or has a small
 * receive window) make a 16 KiB record not fit: gnutls_record_send() then
 * returns GNUTLS_E_AGAIN with the record kept inside GnuTLS, and the retry
 * completes it. Responses are read with gnutls_record_recv() into a 4 KiB
 * buffer (records arrive in pieces), GNUTLS_E_AGAIN answered by poll().
 * Content-Length and chunked bodies; 1xx skipped; 204/304/HEAD have none.
 *
 * Output (stdout):
 *   CONN local_port=<n> tls=<version> alpn=<protocol or -> handshake_again=<n>
 *   REQ <i> <METHOD> <TARGET> status=<n> body=<bytes> ms=<wall> sends=<n>
 *       again_null=<n> again_same=<n> head_again=<0|1> recv_calls=<n> recv_again=<n>
 *       response=<first 40 bytes of the body, printable>
 *   TOTAL requests=<n> again_null=<n> again_same=<n> recv_again=<n> head_again=<n>
 *   BYE again=<n>
 * head_again=1: the record holding (part of) the request head was the one
 * pending when GNUTLS_E_AGAIN came back, i.e. the request line itself went
 * out through a retry. Exit status 0 when every request got a response.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 20000
#define RECV_CHUNK 4096

static int fd = -1;
static gnutls_session_t session;

struct req {
	const char *method;
	const char *target;
	size_t body;
	int retry_null; /* 1: NULL/0, 0: the same arguments */
	int joined;
};

struct stats {
	unsigned sends, again_null, again_same, head_again, recv_calls, recv_again;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "gnutls_retry_client: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void wait_fd(short events, const char *what)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;

	do {
		r = poll(&p, 1, IO_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		die("poll (%s): %s", what, strerror(errno));
	if (r == 0)
		die("timeout waiting to %s", what);
}

static int is_again(ssize_t r)
{
	return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED;
}

/* ---- sending --------------------------------------------------------------- */

/* Sends buf[0..len) record by record; head_len: how many leading bytes are
 * the request head (for head_again). */
static void send_all(const char *buf, size_t len, size_t head_len, int retry_null, struct stats *st)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = gnutls_record_send(session, buf + off, len - off);

		while (is_again(n)) {
			if (off < head_len)
				st->head_again = 1;
			wait_fd(POLLOUT, "send");
			if (retry_null) {
				st->again_null++;
				n = gnutls_record_send(session, NULL, 0);
			} else {
				st->again_same++;
				n = gnutls_record_send(session, buf + off, len - off);
			}
		}
		if (n < 0)
			die("gnutls_record_send: %s", gnutls_strerror((int)n));
		if (n == 0 || (size_t)n > len - off)
			die("gnutls_record_send returned %zd for %zu bytes", n, len - off);
		off += (size_t)n;
		st->sends++;
	}
}

/* ---- receiving ------------------------------------------------------------- */

static char *rbuf;	    /* bytes received and not consumed yet */
static size_t rlen, rcap;

static void recv_more(struct stats *st)
{
	char tmp[RECV_CHUNK];
	ssize_t n;

	for (;;) {
		n = gnutls_record_recv(session, tmp, sizeof(tmp));
		st->recv_calls++;
		if (n > 0)
			break;
		if (n == 0)
			die("connection closed by the server in the middle of a response");
		if (is_again(n)) {
			st->recv_again++;
			if (gnutls_record_check_pending(session) == 0)
				wait_fd(POLLIN, "receive");
			continue;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue; /* a warning alert, a post-handshake message */
		die("gnutls_record_recv: %s", gnutls_strerror((int)n));
	}
	if (rlen + (size_t)n > rcap) {
		rcap = (rlen + (size_t)n) * 2;
		rbuf = realloc(rbuf, rcap);
		if (!rbuf)
			die("out of memory");
	}
	memcpy(rbuf + rlen, tmp, (size_t)n);
	rlen += (size_t)n;
}

static void consume(size_t n)
{
	memmove(rbuf, rbuf + n, rlen - n);
	rlen -= n;
}

/* Index just past the next CRLF at or after 0, reading more as needed. */
static size_t line_end(struct stats *st)
{
	for (;;) {
		char *p = rlen ? memmem(rbuf, rlen, "\r\n", 2) : NULL;

		if (p)
			return (size_t)(p - rbuf) + 2;
		if (rlen > (1 << 20))
			die("response line over 1 MiB");
		recv_more(st);
	}
}

static size_t head_end(struct stats *st)
{
	for (;;) {
		char *p = rlen ? memmem(rbuf, rlen, "\r\n\r\n", 4) : NULL;

		if (p)
			return (size_t)(p - rbuf) + 4;
		if (rlen > (1 << 20))
			die("response head over 1 MiB");
		recv_more(st);
	}
}

/* Reads exactly n body bytes; keeps the first 40 in snippet. */
static void read_body(size_t n, char *snippet, size_t *snip_len, struct stats *st)
{
	while (n > 0) {
		size_t take;

		if (rlen == 0)
			recv_more(st);
		take = rlen < n ? rlen : n;
		for (size_t i = 0; i < take && *snip_len < 40; i++)
			snippet[(*snip_len)++] = isprint((unsigned char)rbuf[i]) && rbuf[i] != ' ' ? rbuf[i] : '.';
		consume(take);
		n -= take;
	}
}

static const char *header_value(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Reads one final response; returns its status, *body_len the body bytes. */
static int read_response(const struct req *r, size_t *body_len, char *snippet, struct stats *st)
{
	size_t snip_len = 0;

	for (;;) {
		size_t end = head_end(st);
		char *head = malloc(end + 1);
		const char *cl, *te;
		int status;

		memcpy(head, rbuf, end);
		head[end] = 0;
		consume(end);
		if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
			die("not an HTTP/1 response: %.60s", head);
		if (status >= 100 && status < 200) { /* interim */
			free(head);
			continue;
		}
		*body_len = 0;
		cl = header_value(head, end, "Content-Length");
		te = header_value(head, end, "Transfer-Encoding");
		if (strcmp(r->method, "HEAD") == 0 || status == 204 || status == 304) {
			/* no body */
		} else if (te && strncasecmp(te, "chunked", 7) == 0) {
			for (;;) {
				size_t le = line_end(st);
				size_t size = strtoul(rbuf, NULL, 16);

				consume(le);
				if (size == 0) {
					for (;;) { /* trailers up to the empty line */
						le = line_end(st);
						consume(le);
						if (le == 2)
							break;
					}
					break;
				}
				read_body(size, snippet, &snip_len, st);
				*body_len += size;
				le = line_end(st);
				consume(le);
			}
		} else if (cl) {
			size_t n = strtoull(cl, NULL, 10);

			read_body(n, snippet, &snip_len, st);
			*body_len = n;
		} else {
			die("response without Content-Length or chunked body (status %d)", status);
		}
		snippet[snip_len] = 0;
		free(head);
		return status;
	}
}

/* ---- set-up ---------------------------------------------------------------- */

static int parse_req(char *spec, struct req *r)
{
	char *f[5];
	int n = 0;

	for (char *p = spec; n < 5; n++) {
		f[n] = p;
		p = strchr(p, ',');
		if (!p) {
			n++;
			break;
		}
		*p++ = 0;
	}
	if (n != 5)
		return -1;
	r->method = f[0];
	r->target = f[1];
	r->body = strtoull(f[2], NULL, 10);
	if (strcmp(f[3], "null") == 0)
		r->retry_null = 1;
	else if (strcmp(f[3], "same") == 0)
		r->retry_null = 0;
	else
		return -1;
	if (strcmp(f[4], "joined") == 0)
		r->joined = 1;
	else if (strcmp(f[4], "split") == 0)
		r->joined = 0;
	else
		return -1;
	return 0;
}

static void tcp_connect(int port, int sndbuf, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int err = 0, one = 1;
	socklen_t el = sizeof(err);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
		die("SO_SNDBUF: %s", strerror(errno));
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die("SO_RCVBUF: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno != EINPROGRESS)
			die("connect: %s", strerror(errno));
		wait_fd(POLLOUT, "connect");
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
			die("connect: %s", strerror(err ? err : errno));
	}
	if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
		die("socket is not non-blocking");
}

int main(int argc, char **argv)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t alpn_want = {(unsigned char *)"http/1.1", 8}, alpn_got;
	struct stats total = {0};
	int sndbuf = 4096, rcvbuf = 4096, opt, port, ret;
	unsigned hs_again = 0, bye_again = 0;
	struct sockaddr_in local;
	socklen_t ll = sizeof(local);
	const char *host;
	int nreq;
	struct req *reqs;

	while ((opt = getopt(argc, argv, "S:R:")) != -1) {
		if (opt == 'S')
			sndbuf = atoi(optarg);
		else if (opt == 'R')
			rcvbuf = atoi(optarg);
		else
			die("usage: gnutls_retry_client [-S SNDBUF] [-R RCVBUF] PORT HOST METHOD,TARGET,BODY,null|same,joined|split...");
	}
	if (argc - optind < 3)
		die("usage: gnutls_retry_client [-S SNDBUF] [-R RCVBUF] PORT HOST METHOD,TARGET,BODY,null|same,joined|split...");
	port = atoi(argv[optind]);
	host = argv[optind + 1];
	nreq = argc - optind - 2;
	reqs = calloc((size_t)nreq, sizeof(*reqs));
	for (int i = 0; i < nreq; i++)
		if (parse_req(argv[optind + 2 + i], &reqs[i]) < 0)
			die("bad request spec %s", argv[optind + 2 + i]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((ret = gnutls_global_init()) < 0)
		die("gnutls_global_init: %s", gnutls_strerror(ret));
	if ((ret = gnutls_certificate_allocate_credentials(&cred)) < 0)
		die("credentials: %s", gnutls_strerror(ret));
	tcp_connect(port, sndbuf, rcvbuf);
	if ((ret = gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0)
		die("gnutls_init: %s", gnutls_strerror(ret));
	if ((ret = gnutls_set_default_priority(session)) < 0)
		die("priority: %s", gnutls_strerror(ret));
	if ((ret = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)) < 0)
		die("gnutls_credentials_set: %s", gnutls_strerror(ret));
	gnutls_alpn_set_protocols(session, &alpn_want, 1, 0);
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
	/* No certificate verification: the tests' servers use a throw-away cert. */
	while ((ret = gnutls_handshake(session)) < 0) {
		if (gnutls_error_is_fatal(ret))
			die("handshake: %s", gnutls_strerror(ret));
		hs_again++;
		if (is_again(ret))
			wait_fd(gnutls_record_get_direction(session) ? POLLOUT : POLLIN, "handshake");
	}
	getsockname(fd, (struct sockaddr *)&local, &ll);
	if (gnutls_alpn_get_selected_protocol(session, &alpn_got) < 0)
		alpn_got.size = 0;
	printf("CONN local_port=%d tls=%s alpn=%.*s handshake_again=%u\n", ntohs(local.sin_port),
	       gnutls_protocol_get_name(gnutls_protocol_get_version(session)),
	       alpn_got.size ? (int)alpn_got.size : 1, alpn_got.size ? (char *)alpn_got.data : "-",
	       hs_again);

	for (int i = 0; i < nreq; i++) {
		const struct req *r = &reqs[i];
		struct stats st = {0};
		char head[2048], snippet[41];
		size_t head_len, body_len = 0;
		char *buf;
		double t0, ms;
		int status;

		if (r->body || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0)
			head_len = (size_t)snprintf(head, sizeof(head),
						    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gnutls-retry-client\r\n"
						    "Accept: */*\r\nContent-Type: application/octet-stream\r\n"
						    "Content-Length: %zu\r\n\r\n",
						    r->method, r->target, host, r->body);
		else
			head_len = (size_t)snprintf(head, sizeof(head),
						    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gnutls-retry-client\r\n"
						    "Accept: */*\r\n\r\n",
						    r->method, r->target, host);
		if (head_len >= sizeof(head))
			die("request head too long");
		buf = malloc(head_len + r->body);
		if (!buf)
			die("out of memory");
		memcpy(buf, head, head_len);
		for (size_t k = 0; k < r->body; k++)
			buf[head_len + k] = (char)('a' + k % 26);

		t0 = now_ms();
		if (r->joined) {
			send_all(buf, head_len + r->body, head_len, r->retry_null, &st);
		} else {
			send_all(buf, head_len, head_len, r->retry_null, &st);
			if (r->body)
				send_all(buf + head_len, r->body, 0, r->retry_null, &st);
		}
		status = read_response(r, &body_len, snippet, &st);
		ms = now_ms() - t0;
		free(buf);
		printf("REQ %d %s %s status=%d body=%zu ms=%.3f sends=%u again_null=%u again_same=%u "
		       "head_again=%u recv_calls=%u recv_again=%u response=%s\n",
		       i, r->method, r->target, status, body_len, ms, st.sends, st.again_null, st.again_same,
		       st.head_again, st.recv_calls, st.recv_again, snippet[0] ? snippet : "-");
		total.again_null += st.again_null;
		total.again_same += st.again_same;
		total.recv_again += st.recv_again;
		total.head_again += st.head_again;
	}
	printf("TOTAL requests=%d again_null=%u again_same=%u recv_again=%u head_again=%u\n", nreq,
	       total.again_null, total.again_same, total.recv_again, total.head_again);

	while ((ret = gnutls_bye(session, GNUTLS_SHUT_WR)) < 0) {
		if (!is_again(ret))
			break; /* the server may already be gone: not the point here */
		bye_again++;
		wait_fd(POLLOUT, "bye");
	}
	printf("BYE again=%u\n", bye_again);
	gnutls_deinit(session);
	close(fd);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	free(reqs);
	free(rbuf);
	return 0;
}
