/* What per-process probes cost when many processes map libssl (issue 7).
 *
 * procscale hold N
 *     Forks N children that only pause(); each maps libssl (inherited from
 *     this parent, which links it), so the daemon arms each one. Prints
 *     "held N" once all are forked, kills them when stdin closes.
 * procscale pingpong SECONDS ITERATIONS
 *     A TLS client and a TLS server in this one process, joined by a BIO
 *     pair (no sockets): sleeps SECONDS (time for the daemon to arm it), then
 *     times ITERATIONS rounds of client SSL_write (an HTTP request), server
 *     SSL_read, server SSL_write (a response), client SSL_read. Prints
 *     "ns_per_round R". Four probed calls per round.
 */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int hold(int n)
{
	pid_t *kids = calloc(n, sizeof(*kids));
	char c;

	if (!kids)
		return 1;
	OPENSSL_init_ssl(0, NULL); /* libssl is mapped and in use */
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
		if (kids[i] < 0) {
			perror("fork");
			n = i;
			break;
		}
	}
	printf("held %d\n", n);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}

/* A throw-away self-signed certificate for the in-process server. */
static int server_cert(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *x = X509_new();

	if (!key || !x)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!X509_sign(x, key, EVP_sha256()))
		return -1;
	return SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 ? 0
											     : -1;
}

static int pingpong(int seconds, long iterations)
{
	static const char req[] = "GET /procscale HTTP/1.1\r\nHost: procscale.test\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()), *sctx = SSL_CTX_new(TLS_server_method());
	BIO *cbio, *sbio;
	SSL *c, *s;
	char buf[256];
	double t0;

	if (!cctx || !sctx || server_cert(sctx))
		return 1;
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	BIO_new_bio_pair(&cbio, 65536, &sbio, 65536);
	SSL_set_bio(c, cbio, cbio);
	SSL_set_bio(s, sbio, sbio);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 100 && (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)); i++) {
		SSL_do_handshake(c);
		SSL_do_handshake(s);
	}
	if (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)) {
		fprintf(stderr, "handshake failed\n");
		return 1;
	}
	sleep(seconds);
	t0 = now();
	for (long i = 0; i < iterations; i++) {
		if (SSL_write(c, req, sizeof(req) - 1) <= 0 || SSL_read(s, buf, sizeof(buf)) <= 0 ||
		    SSL_write(s, resp, sizeof(resp) - 1) <= 0 ||
		    SSL_read(c, buf, sizeof(buf)) <= 0) {
			fprintf(stderr, "round %ld failed\n", i);
			return 1;
		}
	}
	printf("ns_per_round %.0f\n", (now() - t0) * 1e9 / iterations);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "pingpong"))
		return pingpong(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: %s hold N | pingpong SECONDS ITERATIONS\n", argv[0]);
	return 2;
}
