// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for src/http2.c and src/hpack.c, through the same seam
 * the daemon uses (proto_http2).
 *
 * The client preface is fed first; then the input is a sequence of
 * operations on one connection. Each starts with one byte:
 *
 *   bit 0      direction (0 = TX, 1 = RX)
 *   bits 1..2  what to do:
 *              0  raw event, fully copied: [len u16 BE][len bytes]
 *              1  raw event with holes: [pre u8][post u8][len u8][len bytes]
 *              2  framed event (kernel walk): [real u16 BE][skip u16 BE]
 *                 [flags u8][len u8][len bytes]; real is the call's real
 *                 length (at least len)
 *              3  [g u8]: 0: close the connection and start a new one;
 *                 otherwise lose g bytes of the direction (a lost record)
 *   bits 3..7  time step: ts grows by this plus one
 *
 * Data running past the end of the input is cut. Checked: no crash, no
 * leak, reported strings bounded and non-empty, start <= end. An input of
 * raw events only is fed a second time as the kernel would send it for a
 * connection it walks (framed records, h2_compact_ref.h, with a small step
 * limit and copy limit now and then): the calls must be the same, or (when
 * the copy limit cut bytes) a subset.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpack.h"
#include "http2.h"
#include "h2_compact_ref.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#define MAX_EVENTS 4096
#define MAX_CALLS  256

struct seen {
	char text[H2_METHOD_MAX + H2_AUTHORITY_MAX + H2_PATH_MAX + 64];
};

struct fz {
	void *c;
	struct http2_stats st;
	uint64_t off[2];
	uint64_t ts;
	struct seen *calls;
	int ncalls;
};

/* Raw events of the input, for the framed replay. */
struct event {
	int dir;
	uint64_t ts;
	const uint8_t *data;
	uint32_t len;
};

static void on_call(const struct proto_call *call, void *ctx)
{
	struct fz *f = ctx;

	if (f->calls && f->ncalls < MAX_CALLS)
		snprintf(f->calls[f->ncalls++].text, sizeof(f->calls[0].text),
			 "%s %s %s %d %llu %llu", call->method, call->host, call->target,
			 call->status, (unsigned long long)call->start_ns,
			 (unsigned long long)call->end_ns);
	CHECK(call->method && call->method[0] && strlen(call->method) <= H2_METHOD_MAX);
	CHECK(call->host && strlen(call->host) <= H2_AUTHORITY_MAX);
	CHECK(call->target && call->target[0] && strlen(call->target) <= H2_PATH_MAX);
	CHECK(call->start_ns <= call->end_ns);
	CHECK(call->end_ns <= f->ts);
}

static void open_conn(struct fz *f)
{
	f->c = proto_http2.conn_new(on_call, f, &f->st);
	CHECK(f->c);
	f->off[0] = f->off[1] = 0;
	f->ts++;
	proto_http2.feed(f->c, PROTO_TX, f->ts, 0, 24, 0, preface, 24, 0);
	f->off[0] = 24;
}

static size_t take(const uint8_t **p, const uint8_t *end, size_t n)
{
	size_t have = (size_t)(end - *p);

	return n < have ? n : have;
}

/* The raw events again, as framed records; calls compared with the raw run's. */
static void replay_framed(const struct event *ev, int nev, const struct fz *raw, uint32_t steps,
			  uint32_t data_max)
{
	static struct h2_ref ref;
	static struct seen calls[MAX_CALLS];
	struct fz f = {.calls = calls};
	struct h2_ref_rec rec[2];
	bool cut = false; /* bytes not copied: over the copy limit */
	int n;

	f.c = proto_http2.conn_new(on_call, &f, &f.st);
	CHECK(f.c);
	h2_ref_init(&ref, steps, data_max);
	n = h2_ref_call(&ref, TLS_DIR_TX, preface, 24, rec);
	for (int k = 0; k < n; k++)
		proto_http2.feed(f.c, PROTO_TX, 1, rec[k].stream_off, rec[k].len, rec[k].data_skip,
				 rec[k].data, rec[k].data_len, rec[k].flags);
	for (int i = 0; i < nev; i++) {
		f.ts = ev[i].ts;
		n = h2_ref_call(&ref, ev[i].dir, ev[i].data, ev[i].len, rec);
		for (int k = 0; k < n; k++) {
			cut |=
			    (rec[k].flags & TLS_EVF_CUT) ||
			    (!(rec[k].flags & TLS_EVF_H2_FRAMED) && rec[k].data_len < rec[k].len);
			proto_http2.feed(f.c, ev[i].dir, ev[i].ts, rec[k].stream_off, rec[k].len,
					 rec[k].data_skip, rec[k].data, rec[k].data_len,
					 rec[k].flags);
		}
	}
	proto_http2.close(f.c, f.ts);
	proto_http2.conn_free(f.c);
	if (raw->ncalls >= MAX_CALLS || f.ncalls >= MAX_CALLS)
		return;
	/* Nothing cut: the very same calls. Even at the kernel's copy limit a
	 * call can be cut: over 16 KiB of header blocks and small frames
	 * (kept), between the DATA payloads (not kept). */
	if (!cut && !raw->st.lost)
		CHECK(f.ncalls == raw->ncalls);
	/* Bytes cut by the copy limit are lost: fewer calls, none different
	 * (order kept) — unless the raw run dropped the connection (malformed,
	 * over a cap) at bytes the cut framed run never saw. */
	if (raw->st.malformed || raw->st.over_cap)
		return;
	for (int i = 0, j = 0; i < f.ncalls; i++, j++) {
		while (j < raw->ncalls && strcmp(f.calls[i].text, raw->calls[j].text))
			j++;
		CHECK(j < raw->ncalls);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	static struct seen calls[MAX_CALLS];
	static struct event ev[MAX_EVENTS];
	int nev = 0;
	bool pure = true; /* raw events only */
	struct fz f = {.calls = calls};

	open_conn(&f);
	while (p < end) {
		uint8_t op = *p++;
		int dir = op & 1;
		size_t n;

		f.ts += (op >> 3) + 1;
		switch ((op >> 1) & 3) {
		case 0:
			if (end - p < 2)
				goto out;
			n = take(&p, end, (size_t)p[0] << 8 | p[1]);
			p += 2;
			n = take(&p, end, n);
			proto_http2.feed(f.c, dir, f.ts, f.off[dir], n, 0, p, n, 0);
			f.off[dir] += n;
			if (nev < MAX_EVENTS && n > 0)
				ev[nev++] = (struct event){dir, f.ts, p, n};
			else if (n > 0)
				pure = false;
			p += n;
			break;
		case 1: {
			uint32_t pre, post;

			pure = false;
			if (end - p < 3)
				goto out;
			pre = p[0];
			post = p[1];
			n = p[2];
			p += 3;
			n = take(&p, end, n);
			proto_http2.feed(f.c, dir, f.ts, f.off[dir], pre + n + post, pre, p, n, 0);
			f.off[dir] += pre + n + post;
			p += n;
			break;
		}
		case 2: {
			uint32_t real, skip, flags;

			pure = false;
			if (end - p < 6)
				goto out;
			real = (uint32_t)p[0] << 8 | p[1];
			skip = (uint32_t)p[2] << 8 | p[3];
			flags = (p[4] & (PROTO_F_CUT | PROTO_F_TAIL_DATA)) | PROTO_F_FRAMED;
			n = p[5];
			p += 6;
			n = take(&p, end, n);
			if (real < n)
				real = n;
			proto_http2.feed(f.c, dir, f.ts, f.off[dir], real, skip, p, n, flags);
			f.off[dir] += real;
			p += n;
			break;
		}
		case 3:
			pure = false;
			if (p >= end)
				goto out;
			if (*p == 0) {
				proto_http2.close(f.c, f.ts);
				proto_http2.conn_free(f.c);
				open_conn(&f);
			} else {
				f.off[dir] += *p;
			}
			p++;
			break;
		}
	}
out:
	proto_http2.close(f.c, f.ts);
	proto_http2.conn_free(f.c);
	/* Every byte the budgets counted is given back. */
	CHECK(http2_bytes_held() == 0 && hpack_bytes_held() == 0);
	if (pure && nev > 0) {
		replay_framed(ev, nev, &f, H2_REF_STEPS, TLS_DATA_MAX);
		/* Small limits, chosen by the input: the give-up and cut paths. */
		replay_framed(ev, nev, &f, 1 + data[0] % 8, 16 + data[size - 1] % 64);
	}
	return 0;
}
