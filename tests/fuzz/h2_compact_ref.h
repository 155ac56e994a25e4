/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reference for the kernel's HTTP/2 frame walk (on_h2_data in
 * src/bpf/tls_trace.bpf.c; the contract is the comment above
 * TLS_EVF_H2_FRAMED in src/bpf/tls_trace.h), written plainly. Feed it a
 * connection's calls (both directions, in the order they happened, each with
 * its real bytes) and it gives the data records the kernel sends for them. A
 * fuzz target can then feed a parser the raw calls and these records and
 * expect the same results.
 *
 *   static struct h2_ref r;   (~16 KiB)
 *   h2_ref_init(&r, H2_REF_STEPS, TLS_DATA_MAX);
 *   n = h2_ref_call(&r, TLS_DIR_RX, call, call_len, rec);  // rec[0..n), n: 0..2
 *
 * rec[i].data points into r (framed record) or into call (raw record): use
 * it before the next call. The connection is one whose first write starts
 * with the client preface (the kernel walks no other).
 *
 * Not modelled: tls_conn_skip (raw records here never skip: data_skip 0),
 * faults reading user memory, a full ring buffer. max_steps (the kernel's
 * H2_STEPS) and data_max (TLS_DATA_MAX) can be made small to reach the
 * give-up and TLS_EVF_CUT paths with small inputs.
 */
#ifndef H2_COMPACT_REF_H
#define H2_COMPACT_REF_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>
#include "bpf/tls_trace.h"

#define H2_REF_STEPS 2048 /* H2_STEPS in tls_trace.bpf.c */

struct h2_ref_rec {
	uint64_t stream_off;
	uint32_t len;
	uint32_t data_skip;
	uint32_t data_len;
	uint8_t flags; /* TLS_EVF_* */
	const uint8_t *data;
};

/* One direction of the walk (the kernel's tls_conn_state h2_* fields). */
struct h2_ref_dir {
	uint64_t off;	/* stream offset of the next call */
	uint64_t left;	/* bytes left in the current payload */
	bool is_data;	/* ... which is a DATA frame's */
	uint8_t hdr[9]; /* a frame header cut by a call's end */
	uint32_t have;	/* how many of its bytes were seen */
};

struct h2_ref {
	struct h2_ref_dir d[2]; /* by enum tls_dir */
	bool walking;		/* false once the walk gave up: raw records both ways */
	uint32_t max_steps;	/* frames walked per call at most */
	uint32_t data_max;	/* bytes per record at most (<= TLS_DATA_MAX) */
	uint8_t kept[TLS_DATA_MAX];
};

static inline void h2_ref_init(struct h2_ref *r, uint32_t max_steps, uint32_t data_max)
{
	memset(r, 0, sizeof(*r));
	r->d[TLS_DIR_TX].left = 24; /* the client preface, kept like a payload */
	r->walking = true;
	r->max_steps = max_steps;
	r->data_max = data_max < TLS_DATA_MAX ? data_max : TLS_DATA_MAX;
}

/* Append k bytes to the kept ones; *n counts all, even those past data_max. */
static inline void h2_ref_keep(struct h2_ref *r, uint32_t *n, const uint8_t *p, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++, (*n)++)
		if (*n < r->data_max)
			r->kept[*n] = p[i];
}

/* A whole frame header is in d->hdr: its payload comes next. */
static inline void h2_ref_frame(struct h2_ref_dir *d)
{
	d->left = (uint32_t)d->hdr[0] << 16 | (uint32_t)d->hdr[1] << 8 | d->hdr[2];
	d->is_data = d->hdr[3] == 0;
	d->have = 0;
}

static inline int h2_ref_call(struct h2_ref *r, enum tls_dir dir, const uint8_t *call, uint32_t len,
			      struct h2_ref_rec out[2])
{
	struct h2_ref_dir *d = &r->d[dir & 1];
	uint32_t pos = 0, n = 0, k, steps = 0, first = UINT32_MAX, first_kept = 0;
	int nrec = 0;

	if (len == 0)
		return 0;
	if (r->walking && d->have) {
		/* Finish the header the previous call cut. */
		k = 9 - d->have < len ? 9 - d->have : len;
		h2_ref_keep(r, &n, call, k);
		memcpy(d->hdr + d->have, call, k);
		d->have += k;
		pos = k;
		if (d->have == 9)
			h2_ref_frame(d);
	}
	if (r->walking && !d->have) {
		/* A step: the rest of the current payload, then a whole header. */
		while (steps < r->max_steps) {
			steps++;
			k = d->left < len - pos ? (uint32_t)d->left : len - pos;
			if (!d->is_data)
				h2_ref_keep(r, &n, call + pos, k);
			pos += k;
			d->left -= k;
			if (len - pos < 9)
				break;
			if (first == UINT32_MAX) {
				first = pos;
				first_kept = n;
			}
			h2_ref_keep(r, &n, call + pos, 9);
			memcpy(d->hdr, call + pos, 9);
			h2_ref_frame(d);
			pos += 9;
		}
		if (d->left == 0 && pos < len && len - pos < 9) {
			/* A header cut by this call's end. */
			if (first == UINT32_MAX) {
				first = pos;
				first_kept = n;
			}
			h2_ref_keep(r, &n, call + pos, len - pos);
			memcpy(d->hdr, call + pos, len - pos);
			d->have = len - pos;
			pos = len;
		}
	}
	if (pos > 0) {
		struct h2_ref_rec *f = &out[nrec++];

		f->stream_off = d->off;
		f->len = pos;
		f->data = r->kept;
		f->data_len = n < r->data_max ? n : r->data_max;
		f->flags = TLS_EVF_H2_FRAMED | (n > f->data_len ? TLS_EVF_CUT : 0);
		f->data_skip = pos; /* no header starts here */
		if (first != UINT32_MAX && first_kept == first) {
			f->data_skip = first; /* the bytes before it are all kept */
		} else if (first != UINT32_MAX && first_kept == 0) {
			f->data_skip = first; /* ... all a DATA payload's tail */
			f->flags |= TLS_EVF_H2_TAIL_DATA;
		} /* else the rest of a cut header, then a DATA tail: "none" */
	}
	if (pos < len) {
		/* Not walked (too many frames here, or the walk gave up before). */
		struct h2_ref_rec *w = &out[nrec++];

		r->walking = false;
		w->stream_off = d->off + pos;
		w->len = len - pos;
		w->data = call + pos;
		w->data_len = len - pos < r->data_max ? len - pos : r->data_max;
		w->data_skip = 0;
		w->flags = 0;
	}
	d->off += len;
	return nrec;
}

#endif /* H2_COMPACT_REF_H */
