// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hpack.h"
#include "http2.h"

enum frame_type {
	FT_DATA = 0,
	FT_HEADERS = 1,
	FT_RST_STREAM = 3,
	FT_PUSH_PROMISE = 5,
	FT_GOAWAY = 7,
	FT_CONTINUATION = 9,
	FT_SKIPPED = 0x100, /* ours: a frame walked over unread */
};

#define FL_END_STREAM  0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED      0x8
#define FL_PRIORITY    0x20

#define PREFACE_LEN	 24
#define FRAME_HEADER_LEN 9

struct stream {
	uint32_t id;
	bool responded; /* a response byte was seen: it can end at the last one */
	int status;
	uint64_t start_ns, last_rx_ns;
	bool path_cut;
	char *method, *authority, *path; /* one allocation */
};

struct dir_state {
	uint64_t off; /* real stream offset of the next byte */
	uint32_t preface_left;
	uint8_t hdr[FRAME_HEADER_LEN];
	uint8_t have; /* frame header bytes so far */
	bool in_payload;
	uint32_t left; /* payload bytes still to come */
	unsigned type; /* enum frame_type, or any other the peer sent */
	uint8_t flags;
	uint32_t sid;
	uint8_t first[4]; /* GOAWAY: the last stream id */
	uint32_t first_len;
	/* The header block being assembled: HEADERS or PUSH_PROMISE, then
	 * CONTINUATIONs until END_HEADERS. */
	uint8_t *block;
	size_t block_len, block_cap;
	bool in_block;
	uint8_t block_type, block_flags;
	uint32_t block_sid;
	uint64_t block_ts;
	bool lost;     /* out of step after a hole: waiting for a frame start */
	bool resynced; /* started again at a frame: CONTINUATIONs of a lost block may follow */
	struct hpack_decoder hpack;
};

struct h2_conn {
	proto_call_cb cb;
	void *ctx;
	struct http2_stats *stats;
	struct dir_state d[2];
	struct stream **streams;
	unsigned nstreams, cap;
	bool dead; /* dropped from tracking */
	bool late; /* joined after the preface: frame headers are checked harder */
};

static struct http2_stats no_stats;

/* Memory of all connections' blocks and streams (the event loop is the
 * only user: no lock). */
static size_t held;

size_t http2_bytes_held(void)
{
	return held;
}

static size_t stream_bytes(const struct stream *s)
{
	return sizeof(*s) + strlen(s->method) + strlen(s->authority) + strlen(s->path) + 3;
}

/* ---- streams -------------------------------------------------------------- */

static struct stream **stream_slot(struct h2_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nstreams; i++) {
		if (c->streams[i]->id == id)
			return &c->streams[i];
	}
	return NULL;
}

static void stream_remove(struct h2_conn *c, struct stream **slot)
{
	held -= stream_bytes(*slot);
	free((*slot)->method);
	free(*slot);
	*slot = c->streams[--c->nstreams];
}

static void stream_report(struct h2_conn *c, struct stream *s, uint64_t end_ns)
{
	struct proto_call call = {
	    .method = s->method,
	    .host = s->authority,
	    .target = s->path,
	    .target_truncated = s->path_cut,
	    .status = s->status,
	    .start_ns = s->start_ns,
	    .end_ns = end_ns,
	};

	c->cb(&call, c->ctx);
}

/* A stream ended without END_STREAM (reset, refused, connection end): a
 * response seen so far ends at its last byte; no response, no call. */
static void stream_cut(struct h2_conn *c, struct stream **slot)
{
	if ((*slot)->responded)
		stream_report(c, *slot, (*slot)->last_rx_ns);
	else
		c->stats->unanswered++;
	stream_remove(c, slot);
}

static void drop_streams(struct h2_conn *c, bool report)
{
	while (c->nstreams) {
		if (report)
			stream_cut(c, &c->streams[0]);
		else {
			c->stats->unanswered++;
			stream_remove(c, &c->streams[0]);
		}
	}
}

/* ---- header blocks ---------------------------------------------------------- */

struct request_fields {
	const char *method, *authority, *host, *path;
	size_t method_len, authority_len, host_len, path_len;
	bool unknown; /* a field whose name we do not know */
	bool bad;     /* a pseudo-header twice: not a request we trust */
};

static bool name_is(const struct hpack_field *f, const char *name)
{
	return f->name_known && f->name_len == strlen(name) && !memcmp(f->name, name, f->name_len);
}

/* Keep a pseudo-header's value; a known name with an unknown value counts
 * as unknown. */
static void keep(struct request_fields *r, const struct hpack_field *f, const char **v, size_t *len)
{
	if (*v) {
		r->bad = true; /* twice: the first is kept, the request distrusted */
		return;
	}
	if (!f->value_known) {
		r->unknown = true;
		return;
	}
	/* A NUL would cut the value short once it is a C string. */
	if (memchr(f->value, '\0', f->value_len)) {
		r->bad = true;
		return;
	}
	*v = f->value;
	*len = f->value_len;
}

/* Values point into the decoder: copy what is kept before the next field. */
struct request_copy {
	struct request_fields f;
	char buf[H2_METHOD_MAX + H2_AUTHORITY_MAX + H2_PATH_MAX + 3];
	size_t used;
};

static void copy_kept(struct request_copy *rc, const char **v, size_t *len, size_t max)
{
	size_t n = *len < max ? *len : max;

	if (!*v || (*v >= rc->buf && *v < rc->buf + sizeof(rc->buf)))
		return;
	memcpy(rc->buf + rc->used, *v, n);
	*v = rc->buf + rc->used;
	rc->used += n;
}

static int on_request_field(const struct hpack_field *f, void *ctx)
{
	struct request_copy *rc = ctx;
	struct request_fields *r = &rc->f;

	if (!f->name_known) {
		r->unknown = true;
		return 0;
	}
	if (name_is(f, ":method")) {
		keep(r, f, &r->method, &r->method_len);
		copy_kept(rc, &r->method, &r->method_len, H2_METHOD_MAX);
	} else if (name_is(f, ":authority")) {
		keep(r, f, &r->authority, &r->authority_len);
		copy_kept(rc, &r->authority, &r->authority_len, H2_AUTHORITY_MAX);
	} else if (name_is(f, "host")) {
		keep(r, f, &r->host, &r->host_len);
		copy_kept(rc, &r->host, &r->host_len, H2_AUTHORITY_MAX);
	} else if (name_is(f, ":path")) {
		/* Keep one byte more than the cap: it tells that it was cut. */
		keep(r, f, &r->path, &r->path_len);
		copy_kept(rc, &r->path, &r->path_len, H2_PATH_MAX + 1);
	}
	return 0;
}

static int on_response_field(const struct hpack_field *f, void *ctx)
{
	int *status = ctx;

	if (!name_is(f, ":status"))
		return 0;
	*status = -1;
	if (f->value_known && f->value_len == 3) {
		int v = 0;

		for (int i = 0; i < 3; i++) {
			if (f->value[i] < '0' || f->value[i] > '9')
				return 0;
			v = v * 10 + (f->value[i] - '0');
		}
		*status = v;
	}
	return 0;
}

static void drop_conn(struct h2_conn *c, uint64_t *reason)
{
	if (c->dead)
		return;
	if (reason)
		(*reason)++;
	c->dead = true;
	drop_streams(c, false);
}

static char *dup3(const struct request_fields *r, const char *authority, size_t authority_len,
		  size_t path_len, char **a, char **p)
{
	char *m = malloc(r->method_len + authority_len + path_len + 3);

	if (!m)
		return NULL;
	memcpy(m, r->method, r->method_len);
	m[r->method_len] = '\0';
	*a = m + r->method_len + 1;
	memcpy(*a, authority, authority_len);
	(*a)[authority_len] = '\0';
	*p = *a + authority_len + 1;
	memcpy(*p, r->path, path_len);
	(*p)[path_len] = '\0';
	return m;
}

/* The client's HEADERS opened stream sid (or carried its trailers). */
static void on_request(struct h2_conn *c, struct dir_state *d, const uint8_t *block, size_t len)
{
	struct request_copy rc = {0};
	struct request_fields *r = &rc.f;
	struct stream *s;
	const char *authority;
	size_t authority_len, path_len;
	enum hpack_error err;
	bool opens = !(d->block_sid & 1) ? false : !stream_slot(c, d->block_sid);

	err = hpack_decode(&d->hpack, block, len, opens ? on_request_field : NULL, &rc);
	if (err) {
		drop_conn(c, err == HPACK_MALFORMED ? &c->stats->malformed : &c->stats->over_cap);
		return;
	}
	if (!opens)
		return; /* trailers, or not a client stream */
	/* :authority wins over host; an unknown field might be :authority. */
	authority = r->authority ? r->authority : r->host;
	authority_len = r->authority ? r->authority_len : r->host_len;
	if (r->bad || !r->method || !r->path || !r->method_len || !r->path_len ||
	    (!r->authority && (r->unknown || !r->host))) {
		if (r->unknown)
			c->stats->undecodable++; /* the session logs it, with the process */
		return; /* otherwise not an API call (CONNECT) or malformed */
	}
	if (c->nstreams >= H2_STREAMS_MAX) {
		drop_conn(c, &c->stats->over_cap);
		return;
	}
	if (c->nstreams == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 8;
		struct stream **n;

		if (held + (cap - c->cap) * sizeof(*n) > H2_HELD_MAX) {
			drop_conn(c, &c->stats->over_cap);
			return;
		}
		n = realloc(c->streams, cap * sizeof(*n));
		if (!n)
			return;
		held += (cap - c->cap) * sizeof(*n);
		c->streams = n;
		c->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	path_len = r->path_len > H2_PATH_MAX ? H2_PATH_MAX : r->path_len;
	s->path_cut = r->path_len > H2_PATH_MAX;
	s->method = dup3(r, authority, authority_len, path_len, &s->authority, &s->path);
	if (!s->method) {
		free(s);
		return;
	}
	if (held + stream_bytes(s) > H2_HELD_MAX) {
		free(s->method);
		free(s);
		drop_conn(c, &c->stats->over_cap);
		return;
	}
	held += stream_bytes(s);
	s->id = d->block_sid;
	s->start_ns = d->block_ts;
	c->streams[c->nstreams++] = s;
}

/* The server's HEADERS: a response, an informational one, or trailers. */
static void on_response(struct h2_conn *c, struct dir_state *d, const uint8_t *block, size_t len,
			uint64_t ts)
{
	struct stream **slot = stream_slot(c, d->block_sid);
	enum hpack_error err;
	int status = 0;

	err = hpack_decode(&d->hpack, block, len, slot ? on_response_field : NULL, &status);
	if (err) {
		drop_conn(c, err == HPACK_MALFORMED ? &c->stats->malformed : &c->stats->over_cap);
		return;
	}
	if (!slot)
		return;
	(*slot)->responded = true;
	(*slot)->last_rx_ns = ts;
	/* 1xx are informational: the final status comes later. */
	if (status > 0 && (status < 100 || status > 199) && !(*slot)->status)
		(*slot)->status = status;
	if (d->block_flags & FL_END_STREAM) {
		stream_report(c, *slot, ts);
		stream_remove(c, slot);
	}
}

/* Remove padding and priority fields from the first fragment. */
static bool strip_first_fragment(struct dir_state *d)
{
	size_t n = d->block_len, pad = 0, head = 0;

	if (d->block_flags & FL_PADDED) {
		if (n < 1)
			return false;
		pad = d->block[0];
		head = 1;
	}
	if (d->block_type == FT_HEADERS && (d->block_flags & FL_PRIORITY))
		head += 5;
	if (d->block_type == FT_PUSH_PROMISE)
		head += 4; /* the promised stream id */
	if (head + pad > n)
		return false;
	if (head)
		memmove(d->block, d->block + head, n - head - pad);
	d->block_len = n - head - pad;
	return true;
}

static void block_done(struct h2_conn *c, int dir, uint64_t ts)
{
	struct dir_state *d = &c->d[dir];

	d->in_block = false;
	if (d->block_type == FT_PUSH_PROMISE) {
		/* Ignored, but its fields go through the decoder so that the
		 * table stays in step. */
		if (hpack_decode(&d->hpack, d->block, d->block_len, NULL, NULL))
			drop_conn(c, &c->stats->malformed);
	} else if (dir == PROTO_RX) {
		on_response(c, d, d->block, d->block_len, ts);
	} else {
		on_request(c, d, d->block, d->block_len);
	}
	d->block_len = 0;
	/* Idle connections keep a small buffer only. */
	if (d->block_cap > 4096) {
		held -= d->block_cap;
		free(d->block);
		d->block = NULL;
		d->block_cap = 0;
	}
}

/* ---- frames ------------------------------------------------------------------ */

static bool collects(const struct dir_state *d)
{
	return d->type == FT_HEADERS || d->type == FT_PUSH_PROMISE || d->type == FT_CONTINUATION;
}

static void end_frame(struct h2_conn *c, int dir, uint64_t ts)
{
	struct dir_state *d = &c->d[dir];
	struct stream **slot;

	d->in_payload = false;
	switch (d->type) {
	case FT_DATA:
		if (dir != PROTO_RX)
			return;
		slot = stream_slot(c, d->sid);
		if (!slot)
			return;
		(*slot)->responded = true;
		(*slot)->last_rx_ns = ts;
		if (d->flags & FL_END_STREAM) {
			stream_report(c, *slot, ts);
			stream_remove(c, slot);
		}
		return;
	case FT_HEADERS:
	case FT_PUSH_PROMISE:
		if (!strip_first_fragment(d)) {
			drop_conn(c, &c->stats->malformed);
			return;
		}
		/* fall through */
	case FT_CONTINUATION:
		if (d->flags & FL_END_HEADERS)
			block_done(c, dir, ts);
		return;
	case FT_RST_STREAM:
		slot = stream_slot(c, d->sid);
		if (slot)
			stream_cut(c, slot);
		return;
	case FT_GOAWAY:
		/* The server did not and will not process streams above the
		 * last id: the client retries them elsewhere. */
		if (dir == PROTO_RX && d->first_len == 4) {
			uint32_t last = ((uint32_t)d->first[0] << 24 | d->first[1] << 16 |
					 d->first[2] << 8 | d->first[3]) &
					0x7fffffff;

			for (unsigned i = 0; i < c->nstreams;) {
				if (c->streams[i]->id > last) {
					c->stats->unanswered++;
					stream_remove(c, &c->streams[i]);
				} else {
					i++;
				}
			}
		}
		return;
	}
}

/* Room for a block of n bytes (n <= H2_BLOCK_MAX), grown as needed. */
static bool block_room(struct dir_state *d, size_t n)
{
	size_t cap = d->block_cap ? d->block_cap : 1024;
	uint8_t *b;

	if (n <= d->block_cap)
		return true;
	while (cap < n)
		cap *= 2;
	if (held + cap - d->block_cap > H2_HELD_MAX)
		return false;
	b = realloc(d->block, cap);
	if (!b)
		return false;
	held += cap - d->block_cap;
	d->block = b;
	d->block_cap = cap;
	return true;
}

static void start_frame(struct h2_conn *c, int dir, uint64_t ts)
{
	struct dir_state *d = &c->d[dir];
	uint32_t len = (uint32_t)d->hdr[0] << 16 | d->hdr[1] << 8 | d->hdr[2];

	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid =
	    ((uint32_t)d->hdr[5] << 24 | d->hdr[6] << 16 | d->hdr[7] << 8 | d->hdr[8]) & 0x7fffffff;
	d->left = len;
	d->in_payload = true;
	d->first_len = 0;
	/* Joined late, the first read is only assumed to start at a frame:
	 * anything unlike one (a type RFC 9113 does not define, a frame larger
	 * than the default maximum) means that guess was wrong. */
	if (c->late && (d->type > FT_CONTINUATION || len > 16384)) {
		drop_conn(c, &c->stats->malformed);
		return;
	}
	/* Started again after a hole: CONTINUATIONs of a block whose start
	 * was lost are skipped like frames of unknown type. */
	if (d->resynced) {
		d->resynced = d->type == FT_CONTINUATION && !d->in_block;
		if (d->resynced) {
			d->type = FT_SKIPPED;
			if (len == 0)
				end_frame(c, dir, ts);
			return;
		}
	}
	/* A header block is one HEADERS/PUSH_PROMISE and its CONTINUATIONs,
	 * with nothing in between (RFC 9113 6.10). */
	if (d->in_block != (d->type == FT_CONTINUATION) ||
	    (d->in_block && d->sid != d->block_sid)) {
		drop_conn(c, &c->stats->malformed);
		return;
	}
	if (d->type == FT_HEADERS || d->type == FT_PUSH_PROMISE) {
		d->in_block = true;
		d->block_type = d->type;
		d->block_flags = d->flags;
		d->block_sid = d->sid;
		d->block_ts = ts;
		d->block_len = 0;
	}
	if (collects(d)) {
		if (len > H2_BLOCK_MAX - d->block_len) {
			drop_conn(c, &c->stats->over_cap);
			return;
		}
		if (!block_room(d, d->block_len + len)) {
			drop_conn(c, &c->stats->over_cap);
			return;
		}
	}
	if (len == 0)
		end_frame(c, dir, ts);
}

/* Bytes were lost in this direction: frame position and header table are
 * no longer known. Responses may have ended in the hole: those streams
 * are not reported (their latency would be wrong). */
static void lose(struct h2_conn *c, int dir)
{
	struct dir_state *d = &c->d[dir];

	if (d->lost)
		return;
	c->stats->lost++;
	d->lost = true;
	d->have = 0;
	d->in_payload = false;
	d->in_block = false;
	d->block_len = 0;
	hpack_forget(&d->hpack);
	if (dir == PROTO_RX)
		drop_streams(c, false);
}

/* The payload bytes of this frame that must be seen (the rest may be holes). */
static bool needs_bytes(const struct dir_state *d)
{
	return collects(d) || (d->type == FT_GOAWAY && d->first_len < sizeof(d->first));
}

/*
 * Walk `real` bytes of the stream, of which `n` are in data: all of them
 * (raw), none (a hole), or all but DATA payloads (framed).
 */
static void walk(struct h2_conn *c, int dir, uint64_t ts, const uint8_t *data, uint64_t n,
		 uint64_t real, bool framed)
{
	struct dir_state *d = &c->d[dir];

	while (real > 0 && !c->dead) {
		uint64_t k;

		if (d->lost) {
			d->off += real;
			return;
		}
		if (d->preface_left || !d->in_payload) {
			uint32_t want = d->preface_left ? d->preface_left
							: (uint32_t)(FRAME_HEADER_LEN - d->have);

			k = want < real ? want : real;
			if (n < k) {
				lose(c, dir);
				continue;
			}
			if (d->preface_left) {
				d->preface_left -= k;
			} else {
				memcpy(d->hdr + d->have, data, k);
				d->have += k;
			}
			data += k;
			n -= k;
			real -= k;
			d->off += k;
			if (!d->preface_left && d->have == FRAME_HEADER_LEN && !d->in_payload) {
				d->have = 0;
				start_frame(c, dir, ts);
			}
			continue;
		}
		k = d->left < real ? d->left : real;
		if (!(framed && d->type == FT_DATA)) {
			if (n == 0) {
				if (needs_bytes(d)) {
					lose(c, dir);
					continue;
				}
			} else {
				if (n < k)
					k = n;
				if (collects(d)) {
					memcpy(d->block + d->block_len, data, k);
					d->block_len += k;
				} else if (d->type == FT_GOAWAY) {
					for (uint64_t i = 0; i < k && d->first_len < 4; i++)
						d->first[d->first_len++] = data[i];
				}
				data += k;
				n -= k;
			}
		}
		real -= k;
		d->off += k;
		d->left -= k;
		if (d->left == 0)
			end_frame(c, dir, ts);
	}
}

/* ---- the seam -------------------------------------------------------------- */

static void *conn_new(proto_call_cb cb, void *ctx, void *stats)
{
	struct h2_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cb = cb;
	c->ctx = ctx;
	c->stats = stats ? stats : &no_stats;
	c->d[PROTO_TX].preface_left = PREFACE_LEN;
	hpack_init(&c->d[PROTO_TX].hpack, false);
	hpack_init(&c->d[PROTO_RX].hpack, false);
	return c;
}

static void *conn_new_late(proto_call_cb cb, void *ctx, void *stats)
{
	struct h2_conn *c = conn_new(cb, ctx, stats);

	if (!c)
		return NULL;
	c->late = true;
	c->d[PROTO_TX].preface_left = 0;
	hpack_init(&c->d[PROTO_TX].hpack, true);
	hpack_init(&c->d[PROTO_RX].hpack, true);
	return c;
}

static void conn_free(void *conn)
{
	struct h2_conn *c = conn;

	if (!c)
		return;
	while (c->nstreams)
		stream_remove(c, &c->streams[0]);
	held -= c->cap * sizeof(*c->streams);
	free(c->streams);
	for (int i = 0; i < 2; i++) {
		held -= c->d[i].block_cap;
		free(c->d[i].block);
		hpack_free(&c->d[i].hpack);
	}
	free(c);
}

static int feed(void *conn, enum proto_dir dir, uint64_t ts, uint64_t off, uint32_t len,
		uint32_t skip, const uint8_t *data, uint32_t data_len, unsigned flags)
{
	struct h2_conn *c = conn;
	struct dir_state *d;

	if (dir > PROTO_RX)
		return -EINVAL;
	d = &c->d[dir];
	if (c->dead)
		return -EPROTONOSUPPORT;
	if (off < d->off) {
		/* Bytes we walked already: a record out of order. */
		lose(c, dir);
		d->off = off;
	}
	if (off > d->off)
		walk(c, dir, ts, NULL, 0, off - d->off, false); /* a lost record */
	if (flags & PROTO_F_FRAMED) {
		if (d->lost) {
			/* Start again at the first frame header of the call. */
			uint32_t before = flags & PROTO_F_TAIL_DATA ? 0 : skip;

			if (skip >= len || before > data_len) {
				d->off = off + len;
				return 0;
			}
			d->lost = false;
			d->resynced = true;
			d->preface_left = 0;
			d->off = off + skip;
			walk(c, dir, ts, data + before, data_len - before, len - skip, true);
		} else {
			walk(c, dir, ts, data, data_len, len, true);
		}
	} else {
		/* Raw bytes: a hole, the copied bytes, a hole. Out of step
		 * in raw bytes, there is no frame start to find again. */
		if (skip > len || data_len > len - skip)
			return -EINVAL;
		walk(c, dir, ts, NULL, 0, skip, false);
		walk(c, dir, ts, data, data_len, data_len, false);
		walk(c, dir, ts, NULL, 0, len - skip - data_len, false);
		if (d->lost)
			drop_conn(c, NULL); /* counted as lost */
	}
	return c->dead ? -EPROTONOSUPPORT : 0;
}

static void conn_close(void *conn, uint64_t ts_ns)
{
	struct h2_conn *c = conn;

	(void)ts_ns; /* a response cut by the close ends at its last byte */
	drop_streams(c, true);
}

/* Raw bytes only: the kernel may count, not copy, the rest of a DATA payload. */
static uint64_t skip_until(const void *conn, enum proto_dir dir)
{
	const struct h2_conn *c = conn;
	const struct dir_state *d = &c->d[dir];

	if (c->dead || d->lost || !d->in_payload || d->type != FT_DATA)
		return 0;
	return d->off + d->left;
}

const struct proto_parser proto_http2 = {
    .name = "http/2",
    .conn_new = conn_new,
    .conn_free = conn_free,
    .feed = feed,
    .close = conn_close,
    .skip_until = skip_until,
};

const struct proto_parser proto_http2_late = {
    .name = "http/2 (joined late)",
    .conn_new = conn_new_late,
    .conn_free = conn_free,
    .feed = feed,
    .close = conn_close,
    .skip_until = skip_until,
};
