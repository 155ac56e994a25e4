// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1 exchange tracking for one client-side TLS connection, on top of
 * llhttp. See http1.h for the contract.
 *
 * Each direction has its own llhttp parser. The parsers pause (return
 * HPE_PAUSED) at every message begin and at every end of head, so that all
 * decisions that need the exact stream position (head size, body kind) are
 * taken here, outside of llhttp, and errors are handled in one place.
 *
 * Requests are queued when their head is complete (not when their body is):
 * a server may answer before the body is sent (100-continue, early 4xx), and
 * the answer must find its request. Responses are matched in FIFO order.
 *
 * Bytes the kernel did not copy (holes) are fed as zeros: inside a body whose
 * length llhttp knows, it skips them without looking at them, anywhere else
 * they make it fail, which is what a hole there deserves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include <linux/types.h>
#include "bpf/tls_trace.h"
#include "http1.h"
#include "http1_head.h"
#include "http1_pending.h"

/* "PRI * HTTP/2.0": the first bytes of the HTTP/2 client connection preface. */
#define H2_PREFACE     "PRI * HTTP/2.0"
#define H2_PREFACE_LEN (sizeof(H2_PREFACE) - 1)

/* Returned by the feeding helpers when the rest of the direction's stream is a
 * body delimited by the connection close: nothing more is parsed. */
#define RUN_STOP 1

/* Holes are fed from here; llhttp does not read body bytes it skips. */
static const char zeros[64 * 1024];

/* Counters of connections whose caller keeps none (one event loop: no lock). */
static struct http1_stats no_stats;

/* What the bytes being parsed are, as far as skipping them goes. */
enum h1_body {
	BODY_NONE,   /* head, chunk framing, trailers: every byte matters */
	BODY_LENGTH, /* Content-Length body, parser.content_length bytes left */
	BODY_CHUNK,  /* chunk data, parser.content_length bytes left */
	BODY_EOF,    /* response body delimited by the close: not parsed */
};

enum h1_pause {
	PAUSE_NONE,
	PAUSE_BEGIN,   /* on_message_begin: error_pos is the message's first byte */
	PAUSE_HEADERS, /* on_headers_complete: error_pos is right after the head */
};

enum h1_state {
	ST_HTTP,   /* parsing */
	ST_RESYNC, /* after an error: waiting for a write that starts a request */
	ST_DEAD,   /* not HTTP/1 (HTTP/2, upgraded, tunnelled): ignore everything */
	ST_CLOSED, /* http1_conn_close() was called */
};

struct h1_dir {
	llhttp_t parser;
	struct http1_conn *conn;
	uint64_t off;	     /* stream offset of the next byte expected */
	uint64_t head_start; /* stream offset of the current message's first byte */
	uint64_t last_ts;    /* ts of the last event that carried new bytes */
	enum h1_body body;
	enum h1_pause pause;
	bool in_head; /* between message begin and end of head */
};

struct http1_conn {
	struct h1_dir dir[2];
	proto_call_cb cb;
	void *ctx;
	struct http1_stats *stats;
	enum h1_state state;
	uint64_t now; /* ts of the event being parsed */

	/* Response being parsed. */
	int status;
	bool rx_final; /* it is a final (not 1xx) response */
	bool rx_bound; /* it answers the oldest pending request */

	/* Request being parsed, and its Host header. */
	struct h1_head cur;
	char field[4];
	uint32_t field_len; /* saturates at sizeof(field) + 1 */
	bool in_host;
	bool host_seen;
	bool host_dup;

	struct h1_pending pending; /* requests waiting for their response */
};

static struct h1_dir *dir_of(llhttp_t *p)
{
	return p->data;
}

static bool is_tx(const struct h1_dir *d)
{
	return d == &d->conn->dir[PROTO_TX];
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* ---- pending requests ---------------------------------------------------- */

static struct h1_pending_req *pend_front(struct http1_conn *c)
{
	return h1_pending_front(&c->pending);
}

static void pend_pop(struct http1_conn *c)
{
	h1_pending_pop(&c->pending);
}

static void pend_drop_all(struct http1_conn *c)
{
	c->stats->unanswered += h1_pending_clear(&c->pending);
	c->rx_bound = false;
}

static void report(struct http1_conn *c, const struct h1_pending_req *req, int status,
		   uint64_t end_ns)
{
	struct proto_call call = {
	    .method = req->method <= HTTP_FLUSH ? llhttp_method_name(req->method) : "",
	    .host = req->host,
	    .target = req->text,
	    .target_truncated = req->target_truncated,
	    .status = status,
	    .start_ns = req->start_ns,
	    .end_ns = end_ns,
	};

	if (c->cb)
		c->cb(&call, c->ctx);
}

/* ---- request head --------------------------------------------------------- */

static void req_begin(struct http1_conn *c)
{
	h1_head_begin(&c->cur, c->now);
	c->field_len = 0;
	c->in_host = false;
	c->host_seen = false;
	c->host_dup = false;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	/* Out of memory: the head cannot be kept (-EPROTO, counted). */
	return h1_head_add_target(&dir_of(p)->conn->cur, at, len) ? 0 : -1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http1_conn *c = dir_of(p)->conn;
	size_t max = sizeof(c->field);

	if (c->field_len < max)
		memcpy(c->field + c->field_len, at,
		       len < max - c->field_len ? len : max - c->field_len);
	/* Only whether the name is longer than "host" matters: saturate. */
	c->field_len = len > max || c->field_len + len > max ? max + 1 : c->field_len + len;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct http1_conn *c = dir_of(p)->conn;

	c->in_host = c->field_len == 4 && strncasecmp(c->field, "host", 4) == 0;
	c->field_len = 0;
	if (c->in_host) {
		/* RFC 9112 3.2: a request with two Host fields is invalid. */
		c->host_dup |= c->host_seen;
		c->host_seen = true;
		h1_head_host_field(&c->cur);
	}
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http1_conn *c = dir_of(p)->conn;

	if (c->in_host && !h1_head_add_host(&c->cur, at, len))
		return -1; /* out of memory: -EPROTO, counted */
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	dir_of(p)->conn->in_host = false;
	return 0;
}

/* ---- body kind ------------------------------------------------------------ */

/* What llhttp__after_headers_complete() will make of the body, so that the
 * known-length cases can be reported by skip_until() right away. */
static enum h1_body body_after_head(const llhttp_t *p)
{
	bool has_body = (p->flags & F_CHUNKED) || p->content_length > 0;

	if (p->upgrade && (p->method == HTTP_CONNECT || (p->flags & F_SKIPBODY) || !has_body))
		return BODY_NONE;
	if (p->flags & (F_SKIPBODY | F_CHUNKED))
		return BODY_NONE; /* chunk data is known at on_chunk_header */
	if (p->flags & F_TRANSFER_ENCODING)
		return p->type == HTTP_REQUEST ? BODY_NONE : BODY_EOF;
	if (!(p->flags & F_CONTENT_LENGTH))
		return llhttp_message_needs_eof(p) ? BODY_EOF : BODY_NONE;
	return p->content_length ? BODY_LENGTH : BODY_NONE;
}

/* ---- end of heads ----------------------------------------------------------- */

static int req_head_done(struct h1_dir *d)
{
	struct http1_conn *c = d->conn;
	struct h1_head *req = &c->cur;
	int err;

	if (d->parser.method == HTTP_PRI)
		return -EPROTONOSUPPORT;
	if (c->host_dup || req->host_long)
		return -EPROTO;
	req->method = d->parser.method;
	err = h1_head_split_absolute(req);
	if (err)
		return err;
	err = h1_pending_push(&c->pending, req->start_ns, req->method, req->target_truncated,
			      req->target ? req->target : "", req->target_len,
			      req->host ? req->host : "", req->host_len);
	h1_head_release(req);
	if (err == -ENOSPC)
		return -EOVERFLOW; /* matching responses to requests is lost */
	if (err)
		return -EPROTO;
	d->body = body_after_head(&d->parser);
	return 0;
}

static int resp_head_done(struct h1_dir *d)
{
	struct http1_conn *c = d->conn;
	struct h1_pending_req *front = pend_front(c);
	int status = d->parser.status_code;

	if (status < 100)
		return -EPROTO;
	/* The connection stops being HTTP right after this head. */
	if (status == 101 || (front && front->method == HTTP_CONNECT && status / 100 == 2)) {
		if (front) {
			report(c, front, status, c->now);
			pend_pop(c);
		}
		return -EPROTONOSUPPORT;
	}
	c->status = status;
	if (status < 200) {
		/* Interim: the final response follows, for the same request. */
		c->rx_final = false;
		d->parser.flags |= F_SKIPBODY;
	} else {
		c->rx_final = true;
		c->rx_bound = front != NULL;
		/* llhttp does not know the request; 304 may carry Content-Length. */
		if ((front && front->method == HTTP_HEAD) || status == 204 || status == 304)
			d->parser.flags |= F_SKIPBODY;
	}
	d->body = body_after_head(&d->parser);
	return d->body == BODY_EOF ? RUN_STOP : 0;
}

/* ---- llhttp callbacks common to both directions --------------------------- */

static int on_message_begin(llhttp_t *p)
{
	dir_of(p)->pause = PAUSE_BEGIN;
	return HPE_PAUSED;
}

static int on_headers_complete(llhttp_t *p)
{
	dir_of(p)->pause = PAUSE_HEADERS;
	return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *p)
{
	/* content_length holds the chunk size from here to on_chunk_complete. */
	dir_of(p)->body = p->content_length ? BODY_CHUNK : BODY_NONE;
	return 0;
}

static int on_chunk_complete(llhttp_t *p)
{
	dir_of(p)->body = BODY_NONE;
	return 0;
}

static int on_req_complete(llhttp_t *p)
{
	dir_of(p)->body = BODY_NONE;
	return 0;
}

static int on_resp_complete(llhttp_t *p)
{
	struct h1_dir *d = dir_of(p);
	struct http1_conn *c = d->conn;

	d->body = BODY_NONE;
	if (!c->rx_final)
		return 0;
	c->rx_final = false;
	if (c->rx_bound) {
		c->rx_bound = false;
		report(c, pend_front(c), c->status, c->now);
		pend_pop(c);
	}
	return 0;
}

static const llhttp_settings_t req_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_req_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

static const llhttp_settings_t resp_settings = {
    .on_message_begin = on_message_begin,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_resp_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

/* ---- feeding a parser ----------------------------------------------------- */

static void dir_reset(struct h1_dir *d)
{
	llhttp_reset(&d->parser);
	d->body = BODY_NONE;
	d->pause = PAUSE_NONE;
	d->in_head = false;
}

static int on_pause(struct h1_dir *d, uint64_t pos)
{
	enum h1_pause why = d->pause;
	int ret = 0;

	d->pause = PAUSE_NONE;
	if (why == PAUSE_BEGIN) {
		d->head_start = pos;
		d->in_head = true;
		if (is_tx(d))
			req_begin(d->conn);
	} else if (why == PAUSE_HEADERS) {
		d->in_head = false;
		if (pos - d->head_start > HTTP1_HEAD_MAX)
			return -EPROTO;
		ret = is_tx(d) ? req_head_done(d) : resp_head_done(d);
	} else {
		return -EPROTO; /* a pause we did not ask for */
	}
	/* A close-delimited body is not parsed: the parser stays paused. */
	if (ret == 0)
		llhttp_resume(&d->parser);
	return ret;
}

/*
 * Run the parser over buf[0..n), which is the stream at offset @base.
 * Returns 0, RUN_STOP, -EPROTO or -EPROTONOSUPPORT.
 */
static int dir_exec(struct h1_dir *d, const char *buf, size_t n, uint64_t base)
{
	const char *p = buf, *end = buf + n;
	llhttp_errno_t err;
	int ret;

	if (d->body == BODY_EOF)
		return RUN_STOP;
	for (;;) {
		err = llhttp_execute(&d->parser, p, end - p);
		if (err == HPE_OK)
			break;
		if (err == HPE_PAUSED_H2_UPGRADE)
			return -EPROTONOSUPPORT;
		if (err != HPE_PAUSED && !(err == HPE_PAUSED_UPGRADE && is_tx(d)))
			return -EPROTO;
		p = llhttp_get_error_pos(&d->parser);
		if (p < buf || p > end)
			return -EPROTO;
		if (err == HPE_PAUSED_UPGRADE) {
			/*
			 * CONNECT or Upgrade request: the response decides
			 * whether the connection switches; parse on meanwhile,
			 * the client must wait for it before switching.
			 */
			llhttp_resume_after_upgrade(&d->parser);
			continue;
		}
		ret = on_pause(d, base + (p - buf));
		if (ret)
			return ret;
	}
	if (d->in_head && base + n - d->head_start > HTTP1_HEAD_MAX)
		return -EPROTO;
	return 0;
}

static int feed_hole(struct h1_dir *d, uint64_t base, uint64_t n)
{
	int ret = 0;

	while (n && !ret) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		ret = dir_exec(d, zeros, k, base);
		base += k;
		n -= k;
	}
	return ret;
}

/* ---- connection state ------------------------------------------------------ */

static void enter_resync(struct http1_conn *c)
{
	h1_head_release(&c->cur);
	c->state = ST_RESYNC;
	c->stats->malformed++;
	pend_drop_all(c);
	c->rx_final = false;
}

static void leave_resync(struct http1_conn *c)
{
	dir_reset(&c->dir[PROTO_TX]);
	dir_reset(&c->dir[PROTO_RX]);
	c->rx_final = false;
	c->rx_bound = false;
	c->state = ST_HTTP;
}

static void go_dead(struct http1_conn *c)
{
	h1_head_release(&c->cur);
	c->state = ST_DEAD;
	pend_drop_all(c);
}

/*
 * The stream broke with @err: account for it and change state. More
 * requests in flight than can be kept (-EOVERFLOW): the connection is no
 * longer reported, as if it were not HTTP/1; resynchronising would pair
 * the responses still due with later requests.
 */
static int fail(struct http1_conn *c, int err)
{
	if (err == -EOVERFLOW) {
		c->stats->too_deep++;
		go_dead(c);
		return -EPROTONOSUPPORT;
	}
	if (err == -EPROTONOSUPPORT) {
		c->stats->not_http1++;
		go_dead(c);
	} else {
		enter_resync(c);
	}
	return err;
}

/*
 * Can n lost bytes be passed over as bytes not copied? Only inside a body
 * whose length is known and that goes on after them (a message ending
 * inside the lost bytes would end at an unknown time), or one delimited
 * by the close (which ends at the last byte seen anyway).
 */
static bool gap_in_body(const struct h1_dir *d, uint64_t n)
{
	if (d->body == BODY_EOF)
		return true;
	return (d->body == BODY_LENGTH || d->body == BODY_CHUNK) && n < d->parser.content_length;
}

/* The new part of an event: @pre hole bytes, @dlen copied, @post hole bytes. */
struct h1_seg {
	uint64_t start;
	uint64_t pre;
	const uint8_t *data;
	uint64_t dlen;
	uint64_t post;
};

/* Drop the first @old bytes of the event (already seen). */
static void seg_trim(struct h1_seg *s, uint64_t old)
{
	uint64_t k;

	s->start += old;
	k = old < s->pre ? old : s->pre;
	s->pre -= k;
	old -= k;
	k = old < s->dlen ? old : s->dlen;
	if (k) /* data may be NULL when nothing was copied */
		s->data += k;
	s->dlen -= k;
	old -= k;
	s->post -= old;
}

static int parse_seg(struct h1_dir *d, const struct h1_seg *s)
{
	int ret;

	ret = feed_hole(d, s->start, s->pre);
	if (!ret && s->dlen)
		ret = dir_exec(d, (const char *)s->data, s->dlen, s->start + s->pre);
	if (!ret)
		ret = feed_hole(d, s->start + s->pre + s->dlen, s->post);
	return ret == RUN_STOP ? 0 : ret;
}

/* ---- API ------------------------------------------------------------------ */

struct http1_conn *http1_conn_new(proto_call_cb cb, void *ctx, struct http1_stats *stats)
{
	struct http1_conn *c = calloc(1, sizeof(*c));
	int i;

	if (!c)
		return NULL;
	c->cb = cb;
	c->ctx = ctx;
	c->stats = stats ? stats : &no_stats;
	for (i = 0; i < 2; i++) {
		struct h1_dir *d = &c->dir[i];

		llhttp_init(&d->parser, i == PROTO_TX ? HTTP_REQUEST : HTTP_RESPONSE,
			    i == PROTO_TX ? &req_settings : &resp_settings);
		d->parser.data = d;
		d->conn = c;
		/* Strict parsing: leniency is how request smuggling starts. */
		llhttp_set_lenient_headers(&d->parser, 0);
		llhttp_set_lenient_chunked_length(&d->parser, 0);
		llhttp_set_lenient_keep_alive(&d->parser, 0);
		llhttp_set_lenient_transfer_encoding(&d->parser, 0);
	}
	return c;
}

void http1_conn_free(struct http1_conn *c)
{
	if (c) {
		h1_pending_free(&c->pending);
		h1_head_release(&c->cur);
	}
	free(c);
}

int http1_conn_feed(struct http1_conn *c, enum proto_dir dir, uint64_t ts_ns, uint64_t stream_off,
		    uint32_t len, uint32_t skip, const uint8_t *data, uint32_t data_len)
{
	struct h1_seg s;
	struct h1_dir *d;
	uint64_t gap = 0;
	int ret = 0, err;

	if (!c || (dir != PROTO_TX && dir != PROTO_RX))
		return -EINVAL;
	if (c->state == ST_DEAD)
		return -EPROTONOSUPPORT;
	if (c->state == ST_CLOSED)
		return 0;
	d = &c->dir[dir];

	/* Never trust the event's own accounting. */
	if (skip > len)
		skip = len;
	if (!data || data_len > len - skip)
		data_len = data ? len - skip : 0;
	if (stream_off + len < stream_off)
		return c->state == ST_HTTP ? fail(c, -EPROTO) : 0;
	if (stream_off + len <= d->off)
		return 0; /* seen already (or empty) */
	if (stream_off > d->off && c->state == ST_HTTP && gap_in_body(d, stream_off - d->off)) {
		/* Lost events inside a body: bytes not copied, like a hole. */
		c->stats->gaps_bridged++;
		gap = stream_off - d->off;
	} else if (stream_off > d->off) {
		/* Lost events: what follows cannot be parsed. */
		if (c->state == ST_HTTP)
			ret = fail(c, -EPROTO);
		d->off = stream_off;
	}

	s = (struct h1_seg){
	    .start = stream_off - gap,
	    .pre = gap + skip,
	    .data = data,
	    .dlen = data_len,
	    .post = len - skip - data_len,
	};
	seg_trim(&s, d->off - s.start);
	d->off = stream_off + len;
	d->last_ts = ts_ns;
	c->now = ts_ns;

	if (c->state == ST_RESYNC) {
		if (dir != PROTO_TX || s.pre || !proto_request_start(s.data, s.dlen))
			return ret;
		leave_resync(c);
	}
	if (dir == PROTO_TX && s.start == 0 && !s.pre && s.dlen >= H2_PREFACE_LEN &&
	    memcmp(s.data, H2_PREFACE, H2_PREFACE_LEN) == 0)
		return fail(c, -EPROTONOSUPPORT);

	if (d->body == BODY_EOF)
		return ret; /* more of a close-delimited body */
	err = parse_seg(d, &s);
	return err < 0 ? fail(c, err) : ret;
}

void http1_conn_close(struct http1_conn *c, uint64_t ts_ns)
{
	struct h1_dir *rx;

	(void)ts_ns; /* the body ended with the last read, not with the close */
	/* A dead connection stays dead: feeds keep saying so. */
	if (!c || c->state == ST_CLOSED || c->state == ST_DEAD)
		return;
	rx = &c->dir[PROTO_RX];
	/* A body delimited by the close ends here; so does one cut short by
	 * it: the spec counts the last response byte seen as the end. */
	if (c->state == ST_HTTP && c->rx_final && c->rx_bound) {
		report(c, pend_front(c), c->status, rx->last_ts);
		pend_pop(c);
		c->rx_bound = false;
	}
	pend_drop_all(c);
	h1_head_release(&c->cur);
	c->state = ST_CLOSED;
}

uint64_t http1_conn_skip_until(const struct http1_conn *c, enum proto_dir dir)
{
	const struct h1_dir *d;

	if (!c || (dir != PROTO_TX && dir != PROTO_RX))
		return 0;
	if (c->state == ST_DEAD || c->state == ST_CLOSED)
		return UINT64_MAX;
	if (c->state == ST_RESYNC) /* nothing is needed until a request */
		return dir == PROTO_TX ? PROTO_SKIP_TO_REQUEST : UINT64_MAX;
	if (c->state != ST_HTTP)
		return 0;
	d = &c->dir[dir];
	switch (d->body) {
	case BODY_LENGTH:
	case BODY_CHUNK:
		return d->parser.content_length ? sat_add(d->off, d->parser.content_length) : 0;
	case BODY_EOF:
		return UINT64_MAX;
	default:
		return 0;
	}
}

/* The seam (proto.h): the same functions, on an opaque connection. */
static void *conn_new(proto_call_cb cb, void *ctx, void *stats)
{
	return http1_conn_new(cb, ctx, stats);
}

static void conn_free(void *c)
{
	http1_conn_free(c);
}

static int feed(void *c, enum proto_dir dir, uint64_t ts_ns, uint64_t stream_off, uint32_t len,
		uint32_t skip, const uint8_t *data, uint32_t data_len, unsigned flags)
{
	(void)flags; /* framed records are HTTP/2's */
	return http1_conn_feed(c, dir, ts_ns, stream_off, len, skip, data, data_len);
}

static void conn_close(void *c, uint64_t ts_ns)
{
	http1_conn_close(c, ts_ns);
}

static uint64_t skip_until(const void *c, enum proto_dir dir)
{
	return http1_conn_skip_until(c, dir);
}

const struct proto_parser proto_http1 = {
    .name = "http/1",
    .conn_new = conn_new,
    .conn_free = conn_free,
    .feed = feed,
    .close = conn_close,
    .skip_until = skip_until,
};
