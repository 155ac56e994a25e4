/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Part of tls_trace.bpf.c (included there, after emit_raw): the kernel's
 * HTTP/2 frame walk. Kept apart so that each file holds one concern; it
 * uses the record, emit and the connection state of tls_trace.bpf.c.
 */
#ifndef H2_WALK_BPF_H
#define H2_WALK_BPF_H

/*
 * The HTTP/2 walk (TLS_EVF_H2_FRAMED in tls_trace.h). A frame is a 9-byte
 * header (24-bit big-endian payload length, type, flags, stream id) and its
 * payload. One step of the walk finishes the current payload (copied unless
 * DATA) and reads the next header. The bytes kept between two DATA payloads
 * are copied in one piece (a "run"), so a call costs one read of 4 bytes per
 * frame header and one copy per DATA payload it holds, plus one.
 */
#define H2_PREFACE_LEN 24
#define H2_FRAME_HDR   9
#define H2_FRAME_DATA  0
#define H2_NONE	       (~0ULL)
/* Steps (frames) walked per call at most: any 16 KiB read (16384 / 9 + 1),
 * and writes of up to 18 KiB of empty frames. A call with more frames makes
 * the connection go on raw. The worst case costs ~100 us (a step is a 4-byte
 * user read and a few loads and stores). */
#define H2_STEPS 2048

static const char h2_preface[H2_PREFACE_LEN] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Does the connection's first write start with the client preface? (A write
 * shorter than the preface counts if it is the preface's start.) */
static __always_inline int is_h2_preface(__u64 buf, __u64 len)
{
	__u8 b[32] = {};
	__u32 n = len >= H2_PREFACE_LEN ? H2_PREFACE_LEN : (len & 31);

	if (bpf_probe_read_user(b, n, (void *)buf))
		return 0;
#pragma unroll
	for (int i = 0; i < H2_PREFACE_LEN; i++)
		if (i < n && b[i] != (__u8)h2_preface[i])
			return 0;
	return 1;
}

/*
 * Copy the run [run, pos) of the call to data[kept...], as much as fits
 * below cap. The verifier cannot relate offset and size, so the copy is
 * bounded twice: a piece of at most TLS_DATA_MAX / 2 bytes goes anywhere
 * below TLS_DATA_MAX; a longer one must start below TLS_DATA_MAX / 2 (it
 * does: it ends at or below TLS_DATA_MAX). Either way it ends inside the
 * 1.5 * TLS_DATA_MAX bytes of data[].
 */
static __always_inline void h2_flush(struct record *r)
{
	struct h2_walk *w = &r->w;
	__u64 k = w->kept, n = w->pos - w->run;
	void *src = (void *)(w->buf + w->run);
	long err;

	w->kept = k + n;
	if (n == 0 || k >= w->cap)
		return;
	if (n > w->cap - k)
		n = w->cap - k;
	if (n <= TLS_DATA_MAX / 2) {
		BOUND(n, TLS_DATA_MAX / 2);
		err = bpf_probe_read_user(r->data + (k & (TLS_DATA_MAX - 1)), n, src);
	} else {
		BOUND(n, TLS_DATA_MAX);
		err = bpf_probe_read_user(r->data + (k & (TLS_DATA_MAX / 2 - 1)), n, src);
	}
	if (err) {
		count(TLS_STAT_READ_FAULT);
		w->cap = k; /* the record ends before this run (TLS_EVF_CUT) */
	}
}

/*
 * One frame: the rest of the current payload, then the next header. Returns
 * 1 when the walk of this call is over: end of the call, a header cut by the
 * call's end (fewer than 9 bytes left), or a fault.
 *
 * A global function: the verifier checks it once, on its own (any state of
 * the walk), not once per step of the loop that calls it, so the loop can be
 * long on every kernel (5.10 has no bpf_loop). Global functions take only
 * scalars, hence the lookup of the scratch value here.
 */
__noinline long h2_step(void)
{
	__u32 zero = 0;
	struct record *r = bpf_map_lookup_elem(&scratch, &zero);
	struct h2_walk *w;
	__u64 avail, seg;
	__u32 hdr;

	if (!r)
		return 1;
	w = &r->w;
	avail = w->len - w->pos;
	if (w->left) {
		seg = w->left < avail ? w->left : avail;
		if (w->is_data) {
			h2_flush(r);
			w->run = w->pos + seg;
		}
		w->pos += seg;
		w->left -= seg;
		avail -= seg;
	}
	if (avail < H2_FRAME_HDR)
		return 1;
	if (bpf_probe_read_user(&hdr, sizeof(hdr), (void *)(w->buf + w->pos))) {
		w->fault = 1;
		return 1;
	}
	hdr = bpf_ntohl(hdr);
	if (w->first == H2_NONE) {
		w->first = w->pos;
		w->first_kept = w->kept + (w->pos - w->run);
	}
	w->left = hdr >> 8;
	w->is_data = (hdr & 0xff) == H2_FRAME_DATA;
	w->pos += H2_FRAME_HDR;
	return 0;
}

/*
 * Fold m (at most 4) header bytes at p into hdr: the length and type bytes;
 * the rest of a header is kept, never read. Returns -1 on a fault.
 */
static __always_inline int h2_hdr_bytes(__u32 *hdr, __u64 p, __u64 m)
{
	__u8 b[4] = {};

	BOUND(m, 4);
	if (bpf_probe_read_user(b, m, (void *)p))
		return -1;
#pragma unroll
	for (int j = 0; j < 4; j++)
		if (j < m)
			*hdr = *hdr << 8 | b[j];
	return 0;
}

/*
 * Before the steps: the previous call ended inside a frame header, finish it.
 * Returns 1 if the steps must not run (a fault, or the call held only bytes
 * of that header).
 */
__noinline long h2_head(void)
{
	__u32 zero = 0;
	struct record *r = bpf_map_lookup_elem(&scratch, &zero);
	struct h2_walk *w;
	__u64 take;
	__u32 hdr;

	if (!r)
		return 1;
	w = &r->w;
	if (!w->have)
		return 0;
	take = H2_FRAME_HDR - w->have;
	if (take > w->len)
		take = w->len;
	hdr = w->hdr;
	if (w->have < 4 && h2_hdr_bytes(&hdr, w->buf, take < 4 - w->have ? take : 4 - w->have)) {
		w->fault = 1;
		return 1;
	}
	w->hdr = hdr;
	w->have += take;
	w->pos = take;
	if (w->have < H2_FRAME_HDR)
		return 1;
	w->left = hdr >> 8;
	w->is_data = (hdr & 0xff) == H2_FRAME_DATA;
	w->have = 0;
	return 0;
}

/*
 * The walk of one call, from the state in r->w: finish a header the previous
 * call cut, step through the frames, keep the start of a header this call
 * cuts, copy the last run. Global, like h2_head and h2_step, so that the
 * verifier goes through the loop once, from one state, whatever the callers.
 */
__noinline long h2_walk(void)
{
	__u32 zero = 0;
	struct record *r;
	struct h2_walk *w;
	__u64 pos, len;
	__u32 hdr;

	if (!h2_head()) {
#pragma clang loop unroll(disable)
		for (int i = 0; i < H2_STEPS; i++)
			if (h2_step())
				break;
	}
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	w = &r->w;
	pos = w->pos;
	len = w->len;
	if (!w->fault && !w->left && pos < len && len - pos < H2_FRAME_HDR) {
		/* A header cut by the call's end: keep its start. */
		if (w->first == H2_NONE) {
			w->first = pos;
			w->first_kept = w->kept + (pos - w->run);
		}
		hdr = 0;
		if (h2_hdr_bytes(&hdr, w->buf + pos, len - pos)) {
			w->fault = 1;
		} else {
			w->hdr = hdr;
			w->have = len - pos;
			w->pos = len;
		}
	}
	h2_flush(r);
	return 0;
}

/*
 * A call on a walked connection: one framed record for what the walk did,
 * and, if it gave up (too many frames, a fault), a raw record for the rest;
 * the connection then stays raw.
 */
static __always_inline void on_h2_data(struct record *r, struct tls_conn_state *st, __u8 dir,
				       __u64 buf, __u64 off, __u64 len, __u64 until)
{
	struct h2_walk *w = &r->w;
	__u64 data_len, pos, skip;
	__u8 flags;

	w->buf = buf;
	w->len = len;
	w->pos = 0;
	w->run = 0;
	w->kept = 0;
	w->cap = TLS_DATA_MAX;
	w->first = H2_NONE;
	w->first_kept = 0;
	w->left = st->h2_left[dir & 1];
	w->hdr = st->h2_hdr[dir & 1];
	w->have = st->h2_have[dir & 1];
	w->is_data = st->h2_data[dir & 1];
	w->fault = 0;
	h2_walk();
	st->h2_left[dir & 1] = w->left;
	st->h2_hdr[dir & 1] = w->hdr;
	st->h2_have[dir & 1] = w->have;
	st->h2_data[dir & 1] = w->is_data;

	pos = w->pos;
	if (pos > 0) {
		data_len = w->kept < w->cap ? w->kept : w->cap;
		flags = TLS_EVF_H2_FRAMED | (w->kept > data_len ? TLS_EVF_CUT : 0);
		/*
		 * data_skip: the real bytes before the first header starting
		 * here, all kept or (TLS_EVF_H2_TAIL_DATA) all a DATA payload's
		 * tail. The rest of a cut header then a DATA tail is neither:
		 * reported as no header (a lost parser waits for the next call).
		 */
		skip = pos;
		if (w->first != H2_NONE && w->first_kept == w->first) {
			skip = w->first;
		} else if (w->first != H2_NONE && w->first_kept == 0) {
			skip = w->first;
			flags |= TLS_EVF_H2_TAIL_DATA;
		}
		r->ev.stream_off = off;
		r->ev.len = pos;
		r->ev.data_len = data_len;
		r->ev.data_skip = skip;
		r->ev.flags = flags;
		emit(r, data_len, 0);
	}
	if (pos < len) {
		/* The walk gave up: the parser walks this connection from here. */
		st->h2 = 0;
		emit_raw(r, buf + pos, off + pos, len - pos, until);
	}
}

#endif /* H2_WALK_BPF_H */
