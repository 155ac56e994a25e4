// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for src/http1.c.
 *
 * The input is a sequence of operations on one connection (replaced by a new
 * one after a close). Each operation starts with one byte:
 *
 *   bit 0      direction (0 = TX, 1 = RX)
 *   bits 1..3  what to do:
 *              0..3  event fully copied: [len u8][len bytes]
 *              4     event with holes: [pre u8][len u8][post u8][len bytes];
 *                    pre and post count 64-byte units when bit 7 of the
 *                    op byte is set; post 0xff: an event whose len is
 *                    shorter than its skip + data_len (or its skip)
 *              5     hole up to what skip_until() says (the kernel skipping)
 *              6     [g u8]: bit 7 set: re-send the last g & 0x7f bytes
 *                    (duplicate/overlap) [len u8][len bytes]; 0x7f: jump
 *                    to the end of the offset space; else lose g + 1 bytes
 *              7     TX: close the connection and start a new one; RX:
 *                    close it and keep feeding it
 *   bits 4..7  time step: ts grows by this plus one (timestamps increase)
 *
 * Data running past the end of the input is cut.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

struct fz {
	struct http1_conn *c;
	struct http1_stats st;
	uint64_t off[2];   /* next offset of each stream */
	uint64_t fed[2];   /* end of the furthest event fed in each stream */
	uint64_t ts;	   /* last timestamp fed */
	uint64_t first_ts; /* first timestamp fed to the current connection */
	int dead;
	int closed;
};

static void check_str(const char *s, size_t max)
{
	CHECK(s != NULL);
	CHECK(strnlen(s, max + 1) <= max);
}

static void on_call(const struct proto_call *call, void *ctx)
{
	struct fz *f = ctx;

	check_str(call->method, 32);
	CHECK(call->method[0] != '\0');
	check_str(call->host, HTTP1_HOST_MAX);
	check_str(call->target, HTTP1_TARGET_MAX);
	CHECK(call->target_truncated == (call->target_truncated & 1));
	CHECK(call->status == 101 || (call->status >= 200 && call->status <= 999));
	CHECK(call->start_ns >= f->first_ts && call->start_ns <= f->ts);
	CHECK(call->end_ns >= call->start_ns && call->end_ns <= f->ts);
}

static void fz_open(struct fz *f)
{
	f->c = http1_conn_new(on_call, f, &f->st);
	CHECK(f->c != NULL);
	f->off[0] = f->off[1] = 0;
	f->fed[0] = f->fed[1] = 0;
	f->first_ts = f->ts + 1;
	f->dead = 0;
	f->closed = 0;
}

static void check_skip(struct fz *f, int dir)
{
	uint64_t v = http1_conn_skip_until(f->c, dir);

	/* Only bytes the parser has not seen can be skipped. */
	CHECK(v == 0 || v == UINT64_MAX || v == PROTO_SKIP_TO_REQUEST || v > f->fed[dir]);
	/* Waiting for a request: in the write direction only. */
	CHECK(v != PROTO_SKIP_TO_REQUEST || dir == PROTO_TX);
}

static void feed(struct fz *f, int dir, uint64_t off, uint32_t len, uint32_t skip,
		 const uint8_t *data, uint32_t data_len)
{
	int ret = http1_conn_feed(f->c, dir, f->ts, off, len, skip, data, data_len);

	CHECK(ret == 0 || ret == -EPROTO || ret == -EPROTONOSUPPORT);
	/* Once not HTTP/1, always not HTTP/1. */
	CHECK(!f->dead || ret == -EPROTONOSUPPORT);
	/* After the close, everything is ignored. */
	CHECK(!f->closed || f->dead || ret == 0);
	if (ret == -EPROTONOSUPPORT)
		f->dead = 1;
	if (off + len > f->off[dir])
		f->off[dir] = off + len;
	if (off + len > f->fed[dir])
		f->fed[dir] = off + len;
	check_skip(f, 0);
	check_skip(f, 1);
}

/* Take up to @want bytes of input. */
static const uint8_t *take(const uint8_t **p, size_t *left, size_t want, uint32_t *got)
{
	const uint8_t *at = *p;

	*got = want < *left ? want : *left;
	*p += *got;
	*left -= *got;
	return at;
}

static uint8_t byte(const uint8_t **p, size_t *left)
{
	uint32_t got;
	const uint8_t *b = take(p, left, 1, &got);

	return got ? *b : 0;
}

static void skip_to_known(struct fz *f, int dir)
{
	uint64_t v = http1_conn_skip_until(f->c, dir), len;

	if (v == 0)
		return;
	/* Close-delimited body, not HTTP, or resynchronising (the kernel
	 * copies nothing until a request): counted bytes only. */
	len = v >= PROTO_SKIP_TO_REQUEST ? 100000 : v - f->off[dir];
	/* Bounded work per operation, whatever the Content-Length said. */
	len = len < 3000000 ? len : 3000000;
	while (len) {
		uint32_t k = len > 1000000 ? 1000000 : len;

		feed(f, dir, f->off[dir], k, k, NULL, 0);
		len -= k;
		if (f->dead)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {0};
	const uint8_t *p = data;
	size_t left = size;

	fz_open(&f);
	while (left) {
		uint8_t op = byte(&p, &left);
		int dir = op & 1, kind = (op >> 1) & 7;
		const uint8_t *d;
		uint32_t n, pre, post, unit = op & 0x80 ? 64 : 1;
		uint8_t g;

		f.ts += (op >> 4) + 1;
		switch (kind) {
		case 4:
			pre = byte(&p, &left) * unit;
			n = byte(&p, &left);
			post = byte(&p, &left);
			d = take(&p, &left, n, &n);
			if (post == 0xff)
				feed(&f, dir, f.off[dir], (pre + n) / 2, pre, d, n);
			else
				feed(&f, dir, f.off[dir], pre + n + post * unit, pre, d, n);
			break;
		case 5:
			skip_to_known(&f, dir);
			break;
		case 6:
			g = byte(&p, &left);
			if (g & 0x80) {
				uint64_t back = g & 0x7f;

				back = back < f.off[dir] ? back : f.off[dir];
				n = byte(&p, &left);
				d = take(&p, &left, n, &n);
				feed(&f, dir, f.off[dir] - back, n, 0, d, n);
			} else if (g == 0x7f) {
				f.off[dir] = UINT64_MAX - 64;
			} else if (f.off[dir] > UINT64_MAX - (g + 1u)) {
				/* A stream offset counts bytes in 64 bits: it never
				 * wraps (a wrapped one made this harness's own
				 * furthest-offset bookkeeping wrong). */
				f.off[dir] = UINT64_MAX;
			} else {
				f.off[dir] += g + 1u;
			}
			break;
		case 7:
			http1_conn_close(f.c, f.ts);
			if (dir) {
				f.closed = 1;
				break;
			}
			http1_conn_free(f.c);
			fz_open(&f);
			break;
		default:
			n = byte(&p, &left);
			d = take(&p, &left, n, &n);
			feed(&f, dir, f.off[dir], n, 0, d, n);
			break;
		}
	}
	http1_conn_close(f.c, f.ts + 1);
	http1_conn_free(f.c);
	CHECK(f.st.malformed <= size + 1);
	return 0;
}
