// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/2 and HPACK against a real peer: nghttp2 (Debian's libnghttp2)
 * plays both the client and the server, and the bytes they exchange are
 * fed to our parser as the probes would see them, cut at random places.
 * Every request must come out exactly once with its own method, authority,
 * path and status, and nothing may come out wrong when the parser joins
 * late or loses bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>
#include "hpack.h"
#include "http2.h"
#include "proto.h"
#include "../fuzz/h2_compact_ref.h"

/* ---- a client and a server talking through memory ------------------------ */

struct chunk {
	int dir; /* PROTO_TX: client to server */
	size_t off, len;
	uint64_t ts;
};

struct wire {
	uint8_t *buf[2];
	size_t len[2], cap[2];
	struct chunk *chunks;
	size_t nchunks, cap_chunks;
	uint64_t clock;
	nghttp2_session *client, *server;
	/* server behaviour */
	size_t body_len;
	bool trailers, informational, reset_odd;
	size_t body_left[1024]; /* per stream id / 2 */
};

static void append(struct wire *w, int dir, const uint8_t *data, size_t len)
{
	if (w->len[dir] + len > w->cap[dir]) {
		w->cap[dir] = (w->len[dir] + len) * 2;
		w->buf[dir] = realloc(w->buf[dir], w->cap[dir]);
	}
	memcpy(w->buf[dir] + w->len[dir], data, len);
	if (w->nchunks == w->cap_chunks) {
		w->cap_chunks = w->cap_chunks ? w->cap_chunks * 2 : 64;
		w->chunks = realloc(w->chunks, w->cap_chunks * sizeof(*w->chunks));
	}
	w->chunks[w->nchunks++] = (struct chunk){dir, w->len[dir], len, ++w->clock};
	w->len[dir] += len;
}

static ssize_t client_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	append(ud, PROTO_TX, data, len);
	return len;
}

static ssize_t server_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	append(ud, PROTO_RX, data, len);
	return len;
}

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct wire *w = ud;
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;

	memset(buf, 'x', n);
	*left -= n;
	if (*left == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (w->trailers) {
			nghttp2_nv t[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}};

			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, id, t, 1);
		}
	}
	return n;
}

static int server_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct wire *w = ud;
	size_t *left;
	nghttp2_data_provider prd = {.read_callback = body_read};
	char status[4];
	nghttp2_nv nv[2] = {{(uint8_t *)":status", (uint8_t *)status, 7, 3, 0},
			    {(uint8_t *)"server", (uint8_t *)"test", 6, 4, 0}};

	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	if (w->reset_odd && (f->hd.stream_id / 2) % 2) {
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_INTERNAL_ERROR);
		return 0;
	}
	if (w->informational) {
		nghttp2_nv i[] = {{(uint8_t *)":status", (uint8_t *)"103", 7, 3, 0}};

		nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NULL, i, 1, NULL);
	}
	snprintf(status, sizeof(status), "%d", 200 + f->hd.stream_id % 7);
	left = &w->body_left[(f->hd.stream_id / 2) % 1024];
	*left = w->body_len + f->hd.stream_id % 5 * 1000;
	prd.source.ptr = left;
	nghttp2_submit_response(s, f->hd.stream_id, nv, 2, &prd);
	return 0;
}

static void wire_open(struct wire *w)
{
	nghttp2_session_callbacks *cb;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, client_send);
	nghttp2_session_client_new(&w->client, cb, w);
	nghttp2_session_callbacks_set_send_callback(cb, server_send);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, server_frame);
	nghttp2_session_server_new(&w->server, cb, w);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(w->client, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_submit_settings(w->server, NGHTTP2_FLAG_NONE, NULL, 0);
}

/* Exchange bytes until both sides are quiet. */
static void wire_run(struct wire *w)
{
	size_t seen[2] = {w->len[0], w->len[1]};

	for (int round = 0; round < 10000; round++) {
		assert_int_equal(nghttp2_session_send(w->client), 0);
		if (w->len[0] > seen[0]) {
			assert_true(nghttp2_session_mem_recv(w->server, w->buf[0] + seen[0],
							     w->len[0] - seen[0]) >= 0);
			seen[0] = w->len[0];
		}
		assert_int_equal(nghttp2_session_send(w->server), 0);
		if (w->len[1] > seen[1]) {
			assert_true(nghttp2_session_mem_recv(w->client, w->buf[1] + seen[1],
							     w->len[1] - seen[1]) >= 0);
			seen[1] = w->len[1];
			continue;
		}
		if (!nghttp2_session_want_write(w->client) &&
		    !nghttp2_session_want_write(w->server))
			return;
	}
	fail_msg("the peers never went quiet");
}

/*
 * H2_SEED_DIR=dir: write each exchange under 64 KiB as a fuzz_http2 input
 * (raw events; preface left out, the target feeds it): nghttp2's bytes for
 * the fuzz corpus (tests/fuzz/corpus/http2/nghttp2-*).
 */
static void wire_dump_seed(const struct wire *w)
{
	static int seq;
	const char *dir = getenv("H2_SEED_DIR");
	char path[4096];
	FILE *f;

	if (!dir || w->len[0] + w->len[1] > 64 * 1024)
		return;
	snprintf(path, sizeof(path), "%s/nghttp2-%d", dir, ++seq);
	if (!(f = fopen(path, "wb")))
		return;
	for (size_t i = 0; i < w->nchunks; i++) {
		const struct chunk *ch = &w->chunks[i];
		size_t off = ch->off, len = ch->len;

		if (ch->dir == PROTO_TX && off < 24) { /* the preface */
			size_t cut = 24 - off < len ? 24 - off : len;

			off += cut;
			len -= cut;
		}
		for (size_t done = 0; done < len;) {
			size_t n = len - done > 0xffff ? 0xffff : len - done;

			fputc(ch->dir, f);
			fputc(n >> 8, f);
			fputc(n & 0xff, f);
			fwrite(w->buf[ch->dir] + off + done, 1, n, f);
			done += n;
		}
	}
	fclose(f);
}

static void wire_close(struct wire *w)
{
	wire_dump_seed(w);
	nghttp2_session_del(w->client);
	nghttp2_session_del(w->server);
	free(w->buf[0]);
	free(w->buf[1]);
	free(w->chunks);
}

/* A request the client makes; returns its stream id. */
static int32_t request(struct wire *w, const char *method, const char *authority, const char *path,
		       const char *extra_name, const char *extra_value)
{
	nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
	    {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
	    {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority), 0},
	    {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
	    {(uint8_t *)"user-agent", (uint8_t *)"curl/7.88.1", 10, 11, 0},
	    {(uint8_t *)extra_name, (uint8_t *)extra_value, strlen(extra_name), strlen(extra_value),
	     0},
	};

	return nghttp2_submit_request(w->client, NULL, nv, 6, NULL, NULL);
}

/* ---- what the parser reports --------------------------------------------- */

#define MAX_CALLS 2048

struct seen_call {
	char method[16], authority[64], target[2200];
	int status;
	uint64_t start, end;
};

struct calls {
	struct seen_call c[MAX_CALLS];
	int n;
};

static void on_call(const struct proto_call *call, void *ctx)
{
	struct calls *cs = ctx;
	struct seen_call *s;

	assert_true(cs->n < MAX_CALLS);
	s = &cs->c[cs->n++];
	snprintf(s->method, sizeof(s->method), "%s", call->method);
	snprintf(s->authority, sizeof(s->authority), "%s", call->host);
	snprintf(s->target, sizeof(s->target), "%s", call->target);
	s->status = call->status;
	s->start = call->start_ns;
	s->end = call->end_ns;
}

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return (rnd_state >> 8) % n;
}

/*
 * Feed the recorded chunks in their order, each cut into pieces of random
 * size (or whole when max_piece is 0), raw as the kernel copies them.
 */
static void feed_all(const struct proto_parser *p, void *conn, struct wire *w, unsigned max_piece,
		     size_t drop_chunk)
{
	for (size_t i = 0; i < w->nchunks; i++) {
		struct chunk *ch = &w->chunks[i];
		size_t done = 0;

		while (done < ch->len) {
			size_t n = ch->len - done, r = max_piece ? 1 + rnd(max_piece) : n;

			if (n > r)
				n = r;
			if (i != drop_chunk)
				p->feed(conn, ch->dir, ch->ts, ch->off + done, n, 0,
					w->buf[ch->dir] + ch->off + done, n, 0);
			done += n;
		}
	}
}

static const char *path_of(int i, char *buf, size_t size)
{
	/* Repeating and varying parts, some long (Huffman, table entries). */
	snprintf(buf, size, "/v1/customers/cus_%d/invoices%s?key=%d", i % 37, i % 3 ? "/items" : "",
		 i);
	return buf;
}

/* 300 requests, 100 in flight at a time, each answered: exactly once each. */
static void test_multiplexed_streams_exactly_once(void **state)
{
	for (unsigned piece = 0; piece <= 64; piece += 16) {
		struct wire w = {.body_len = 3000};
		struct calls *cs = calloc(1, sizeof(*cs));
		struct http2_stats st = {0};
		void *conn = proto_http2.conn_new(on_call, cs, &st);
		char path[256], cookie[64];
		int32_t ids[300];

		wire_open(&w);
		for (int batch = 0; batch < 3; batch++) {
			for (int i = batch * 100; i < batch * 100 + 100; i++) {
				snprintf(cookie, sizeof(cookie), "session=%d", i % 4);
				ids[i] = request(&w, i % 4 ? "GET" : "POST",
						 i % 2 ? "api.example.com" : "127.0.0.1:8443",
						 path_of(i, path, sizeof(path)), "cookie", cookie);
				assert_true(ids[i] > 0);
			}
			wire_run(&w);
		}
		feed_all(&proto_http2, conn, &w, piece, (size_t)-1);
		assert_int_equal(cs->n, 300);
		for (int i = 0; i < 300; i++) {
			struct seen_call *s = NULL;

			path_of(i, path, sizeof(path));
			for (int j = 0; j < cs->n; j++) {
				if (!strcmp(cs->c[j].target, path)) {
					assert_null(s); /* exactly once */
					s = &cs->c[j];
				}
			}
			assert_non_null(s);
			assert_string_equal(s->method, i % 4 ? "GET" : "POST");
			assert_string_equal(s->authority,
					    i % 2 ? "api.example.com" : "127.0.0.1:8443");
			assert_int_equal(s->status, 200 + ids[i] % 7);
			assert_true(s->start < s->end);
		}
		assert_int_equal(st.undecodable + st.malformed + st.lost + st.over_cap, 0);
		assert_true(http2_bytes_held() > 0 && hpack_bytes_held() > 0);
		proto_http2.conn_free(conn);
		assert_int_equal(http2_bytes_held(), 0);
		assert_int_equal(hpack_bytes_held(), 0);
		wire_close(&w);
		free(cs);
	}
}

/* Trailers, 103 Early Hints, streams reset by the server. */
static void test_trailers_informational_and_resets(void **state)
{
	struct wire w = {
	    .body_len = 100, .trailers = true, .informational = true, .reset_odd = true};
	struct calls *cs = calloc(1, sizeof(*cs));
	struct http2_stats st = {0};
	void *conn = proto_http2.conn_new(on_call, cs, &st);
	char path[64];

	wire_open(&w);
	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/t/%d", i);
		request(&w, "GET", "h", path, "x-i", "1");
	}
	wire_run(&w);
	feed_all(&proto_http2, conn, &w, 7, (size_t)-1);
	/* Streams 3, 7, 11, 15 were reset before any response: no call. */
	assert_int_equal(cs->n, 4);
	for (int i = 0; i < cs->n; i++) {
		assert_true(cs->c[i].status >= 200); /* never the 103 */
		assert_true(cs->c[i].end > cs->c[i].start);
	}
	assert_int_equal(st.unanswered, 4);
	proto_http2.conn_free(conn);
	wire_close(&w);
	free(cs);
}

/* A record lost in the middle: raw bytes out of step cannot be walked
 * again, so the connection is dropped; what was reported is right. */
static void test_lost_record_reports_nothing_wrong(void **state)
{
	for (size_t drop = 1; drop < 40; drop++) {
		struct wire w = {.body_len = 10};
		struct calls *cs = calloc(1, sizeof(*cs));
		struct http2_stats st = {0};
		void *conn = proto_http2.conn_new(on_call, cs, &st);
		char path[256];

		wire_open(&w);
		for (int i = 0; i < 20; i++) {
			request(&w, "GET", "h", path_of(i, path, sizeof(path)), "x-n", "v");
			wire_run(&w);
		}
		feed_all(&proto_http2, conn, &w, 0, drop);
		for (int j = 0; j < cs->n; j++) {
			bool real = false;

			for (int i = 0; i < 20; i++)
				real |= !strcmp(cs->c[j].target, path_of(i, path, sizeof(path)));
			assert_true(real);
		}
		proto_http2.conn_free(conn);
		wire_close(&w);
		free(cs);
	}
}

/*
 * Joined late (a connection older than the daemon): fed from the k-th
 * request on, with offsets from there. Nothing wrong is ever reported; the
 * calls whose fields were inserted into the table since we joined are.
 */
static void test_joined_late_connection(void **state)
{
	int reported_total = 0, made_total = 0;

	for (int join = 5; join < 200; join += 37) {
		struct wire w = {.body_len = 10};
		struct calls *cs = calloc(1, sizeof(*cs));
		struct http2_stats st = {0};
		void *conn = proto_http2_late.conn_new(on_call, cs, &st);
		char path[256];
		size_t first = 0, base[2] = {0, 0};
		bool based[2] = {false, false};
		int32_t id_of[400] = {0};

		wire_open(&w);
		for (int i = 0; i < 400; i++) {
			if (i == join)
				first = w.nchunks;
			id_of[i] = request(&w, i % 3 ? "GET" : "DELETE",
					   i % 50 < 25 ? "api.example.com" : "api.other.org",
					   path_of(i, path, sizeof(path)), "x-request-id",
					   i % 2 ? "abc" : "def");
			wire_run(&w);
		}
		assert_int_equal(w.chunks[first].dir, PROTO_TX);
		assert_int_equal(proto_detect(w.buf[0] + w.chunks[first].off, w.chunks[first].len),
				 PROTO_HTTP2_LATE);
		for (size_t i = first; i < w.nchunks; i++) {
			struct chunk *ch = &w.chunks[i];

			if (!based[ch->dir]) {
				based[ch->dir] = true;
				base[ch->dir] = ch->off;
			}
			proto_http2_late.feed(conn, ch->dir, ch->ts, ch->off - base[ch->dir],
					      ch->len, 0, w.buf[ch->dir] + ch->off, ch->len, 0);
		}
		for (int j = 0; j < cs->n; j++) {
			int i;

			for (i = join; i < 400; i++) {
				if (!strcmp(cs->c[j].target, path_of(i, path, sizeof(path))))
					break;
			}
			assert_true(i < 400); /* a path the client requested since */
			assert_string_equal(cs->c[j].method, i % 3 ? "GET" : "DELETE");
			assert_string_equal(cs->c[j].authority,
					    i % 50 < 25 ? "api.example.com" : "api.other.org");
			/* A status from a table entry older than us is unknown: 0
			 * (it is not forwarded; the log says status=0). */
			if (cs->c[j].status)
				assert_int_equal(cs->c[j].status, 200 + id_of[i] % 7);
		}
		assert_int_equal(st.malformed + st.lost + st.over_cap, 0);
		assert_int_equal(cs->n + st.undecodable, 400 - join);
		reported_total += cs->n;
		made_total += 400 - join;
		proto_http2_late.conn_free(conn);
		wire_close(&w);
		free(cs);
	}
	print_message("joined late: %d of %d calls reported, the rest counted undecodable\n",
		      reported_total, made_total);
	assert_true(reported_total > 0);
}

/*
 * The same exchange as the kernel sends it for a connection it walks
 * (framed records, h2_compact_ref.h models the kernel's walk): the same
 * calls as from the raw bytes; with the walk giving up part way (few steps)
 * too; with records cut short (a small copy limit), nothing wrong.
 */
static void feed_framed(void *conn, struct wire *w, unsigned max_piece, uint32_t steps,
			uint32_t data_max)
{
	static struct h2_ref ref;

	h2_ref_init(&ref, steps, data_max);
	for (size_t i = 0; i < w->nchunks; i++) {
		struct chunk *ch = &w->chunks[i];
		size_t done = 0;

		while (done < ch->len) {
			size_t n = ch->len - done, r = max_piece ? 1 + rnd(max_piece) : n;
			struct h2_ref_rec rec[2];
			int nrec;

			if (n > r)
				n = r;
			nrec = h2_ref_call(&ref, ch->dir, w->buf[ch->dir] + ch->off + done, n, rec);
			for (int k = 0; k < nrec; k++)
				proto_http2.feed(conn, ch->dir, ch->ts, rec[k].stream_off,
						 rec[k].len, rec[k].data_skip, rec[k].data,
						 rec[k].data_len, rec[k].flags);
			done += n;
		}
	}
}

static void test_framed_records_same_calls(void **state)
{
	static const struct {
		unsigned piece;
		uint32_t steps, data_max;
		bool exact;
	} runs[] = {
	    {0, H2_REF_STEPS, TLS_DATA_MAX, true}, {700, H2_REF_STEPS, TLS_DATA_MAX, true},
	    {50, 3, TLS_DATA_MAX, true},	   {3000, H2_REF_STEPS, 40, false},
	    {20, H2_REF_STEPS, 12, false},
	};

	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		struct wire w = {.body_len = 20000};
		struct calls *cs = calloc(1, sizeof(*cs));
		struct http2_stats st = {0};
		void *conn = proto_http2.conn_new(on_call, cs, &st);
		char path[256];

		wire_open(&w);
		for (int i = 0; i < 120; i++) {
			request(&w, "GET", "h.example", path_of(i, path, sizeof(path)), "x-k", "v");
			if (i % 10 == 9)
				wire_run(&w);
		}
		wire_run(&w);
		feed_framed(conn, &w, runs[k].piece, runs[k].steps, runs[k].data_max);
		if (runs[k].exact)
			assert_int_equal(cs->n, 120);
		else
			assert_true(st.lost > 0);
		for (int j = 0; j < cs->n; j++) {
			int i;

			for (i = 0; i < 120; i++) {
				if (!strcmp(cs->c[j].target, path_of(i, path, sizeof(path))))
					break;
			}
			assert_true(i < 120);
			assert_string_equal(cs->c[j].method, "GET");
			assert_string_equal(cs->c[j].authority, "h.example");
			for (int o = j + 1; o < cs->n; o++)
				assert_string_not_equal(cs->c[o].target, cs->c[j].target);
		}
		print_message(
		    "framed, pieces %u, steps %u, copy limit %u: %d of 120 calls, %llu lost\n",
		    runs[k].piece, runs[k].steps, runs[k].data_max, cs->n,
		    (unsigned long long)st.lost);
		proto_http2.conn_free(conn);
		wire_close(&w);
		free(cs);
	}
}

/* ---- HPACK ----------------------------------------------------------------- */

struct field_list {
	char name[16][64], value[16][256];
	bool name_known[16], value_known[16];
	int n;
};

static int collect(const struct hpack_field *f, void *ctx)
{
	struct field_list *l = ctx;

	assert_true(l->n < 16);
	l->name_known[l->n] = f->name_known;
	l->value_known[l->n] = f->value_known;
	if (f->name_known)
		snprintf(l->name[l->n], 64, "%.*s", (int)f->name_len, f->name);
	if (f->value_known)
		snprintf(l->value[l->n], 256, "%.*s", (int)f->value_len, f->value);
	l->n++;
	return 0;
}

/*
 * A decoder that starts at block k of nghttp2's encoder (joined late, the
 * table partly unknown) must never report a wrong field, and must know
 * every field that refers only to entries inserted since it started.
 */
static void test_joined_late_never_wrong(void **state)
{
	for (int start = 0; start < 30; start += 3) {
		nghttp2_hd_deflater *def;
		struct hpack_decoder d;
		int known = 0, unknown = 0;

		nghttp2_hd_deflate_new(&def, 4096);
		hpack_init(&d, start > 0);
		for (int b = 0; b < 60; b++) {
			char v1[64], v2[64];
			uint8_t out[4096];
			nghttp2_nv nv[] = {
			    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
			    {(uint8_t *)":path", (uint8_t *)v1, 5, 0, 0},
			    {(uint8_t *)"x-trace", (uint8_t *)v2, 7, 0, 0},
			    {(uint8_t *)":authority", (uint8_t *)"api.stripe.com", 10, 14, 0},
			};
			struct field_list l = {0};
			ssize_t n;

			snprintf(v1, sizeof(v1), "/p/%d", b % 7);
			snprintf(v2, sizeof(v2), "%08x-trace-%d", b * 7919, b % 11);
			nv[1].valuelen = strlen(v1);
			nv[2].valuelen = strlen(v2);
			if (b == 45)
				nghttp2_hd_deflate_change_table_size(def, 1024);
			n = nghttp2_hd_deflate_hd(def, out, sizeof(out), nv, 4);
			assert_true(n > 0);
			if (b < start)
				continue; /* before we joined */
			assert_int_equal(hpack_decode(&d, out, n, collect, &l), HPACK_OK);
			assert_int_equal(l.n, 4);
			for (int i = 0; i < 4; i++) {
				if (!l.name_known[i] || !l.value_known[i]) {
					unknown++;
					continue;
				}
				known++;
				assert_int_equal(strlen(l.name[i]), nv[i].namelen);
				assert_memory_equal(l.name[i], nv[i].name, nv[i].namelen);
				assert_int_equal(strlen(l.value[i]), nv[i].valuelen);
				assert_memory_equal(l.value[i], nv[i].value, nv[i].valuelen);
			}
			/* From the start: everything known. */
			if (start == 0)
				assert_int_equal(unknown, 0);
		}
		assert_true(known > 0);
		hpack_free(&d);
		nghttp2_hd_deflate_del(def);
	}
}

static size_t got_len;

static int collect_bytes(const struct hpack_field *f, void *ctx)
{
	assert_true(f->value_known && f->value_len <= 256);
	memcpy(ctx, f->value, f->value_len);
	got_len = f->value_len;
	return 0;
}

/* Every byte value survives nghttp2's Huffman encoding and our decoding
 * (each after a run of 'a', so that Huffman is the shorter coding). */
static void test_huffman_all_symbols(void **state)
{
	for (int sym = 0; sym < 256; sym++) {
		uint8_t in[41], enc[128], out[256];
		nghttp2_hd_deflater *def;
		nghttp2_nv nv = {(uint8_t *)"x", in, 1, sizeof(in), NGHTTP2_NV_FLAG_NO_INDEX};
		struct hpack_decoder d;
		ssize_t m;

		memset(in, 'a', sizeof(in));
		in[20] = sym;
		nghttp2_hd_deflate_new(&def, 4096);
		m = nghttp2_hd_deflate_hd(def, enc, sizeof(enc), &nv, 1);
		assert_true(m > 0 && m < (ssize_t)sizeof(in)); /* Huffman-coded */
		hpack_init(&d, false);
		got_len = 0;
		assert_int_equal(hpack_decode(&d, enc, m, collect_bytes, out), HPACK_OK);
		assert_int_equal(got_len, sizeof(in));
		assert_memory_equal(out, in, sizeof(in));
		hpack_free(&d);
		nghttp2_hd_deflate_del(def);
	}
	/* Bad padding (zeros) and EOS are refused. */
	assert_int_equal(hpack_huffman_decode((const uint8_t *)"\x00", 1, (uint8_t[8]){0}, 8), -1);
	assert_int_equal(
	    hpack_huffman_decode((const uint8_t *)"\xff\xff\xff\xff", 4, (uint8_t[8]){0}, 8), -1);
}

/* Hostile blocks: a reference to nothing, integers that overflow, a table
 * size over the cap. Refused, counted by the caller, never a crash. */
static void test_hostile_blocks(void **state)
{
	static const struct {
		const char *b;
		size_t n;
		enum hpack_error want;
	} cases[] = {
	    {"\xbe", 1, HPACK_MALFORMED},			  /* index 62: empty table */
	    {"\xff\xff\xff\xff\xff\xff\x01", 7, HPACK_MALFORMED}, /* integer overflow */
	    {"\x3f\xe1\xff\x04", 4, HPACK_TOO_BIG},		  /* table size 81920 */
	    {"\x40\x7f\x80\x80\x80\x01", 6, HPACK_MALFORMED},	  /* name length past the end */
	    {"\x80", 1, HPACK_MALFORMED},			  /* index 0 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hpack_decoder d;

		hpack_init(&d, false);
		assert_int_equal(
		    hpack_decode(&d, (const uint8_t *)cases[i].b, cases[i].n, NULL, NULL),
		    cases[i].want);
		hpack_free(&d);
	}
}

/*
 * A new entry whose name is that of the entry its insertion evicts (RFC
 * 7541 4.4 warns of it): the name was copied from the freed entry (a
 * heap-use-after-free the fuzzer found; the ASan unit run fails on it).
 */
static void test_indexed_name_of_evicted_entry(void **state)
{
	static const uint8_t block[] =
	    "\x3f\x21"	       /* table size 64 */
	    "\x40\x03x-a\x01v" /* x-a: v, inserted (36 of 64) */
	    "\x7e\x14"
	    "0123456789abcdefghij" /* name of entry 62, inserted (55): evicts it */
	    "\xbe";		   /* entry 62: the new one */
	struct field_list l = {0};
	struct hpack_decoder d;

	hpack_init(&d, false);
	assert_int_equal(hpack_decode(&d, block, sizeof(block) - 1, collect, &l), HPACK_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.name[1], "x-a");
	assert_true(l.name_known[2] && l.value_known[2]);
	assert_string_equal(l.name[2], "x-a");
	assert_string_equal(l.value[2], "0123456789abcdefghij");
	assert_int_equal(d.count, 1);
	hpack_free(&d);
}

/* A header block over the cap, and CONTINUATION without end: the
 * connection is dropped with a counted reason. */
static void test_block_caps(void **state)
{
	static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct calls *cs = calloc(1, sizeof(*cs));
	struct http2_stats st = {0};
	void *conn = proto_http2.conn_new(on_call, cs, &st);
	uint8_t hdr[9] = {0, 0x40, 0x00, 1 /* HEADERS */, 0 /* no END_HEADERS */, 0, 0, 0, 1};
	uint8_t *junk = calloc(1, 16384);
	uint64_t off = 0;
	int err = 0;

	assert_int_equal(proto_http2.feed(conn, PROTO_TX, 1, 0, 24, 0, preface, 24, 0), 0);
	off = 24;
	for (int i = 0; i < 10 && !err; i++) {
		err = proto_http2.feed(conn, PROTO_TX, 2, off, 9, 0, hdr, 9, 0);
		off += 9;
		if (!err)
			err = proto_http2.feed(conn, PROTO_TX, 2, off, 16384, 0, junk, 16384, 0);
		off += 16384;
		hdr[3] = 9; /* CONTINUATION */
	}
	assert_int_not_equal(err, 0);
	assert_int_equal(st.over_cap, 1);
	assert_int_equal(cs->n, 0);
	proto_http2.conn_free(conn);
	free(junk);
	free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multiplexed_streams_exactly_once),
	    cmocka_unit_test(test_trailers_informational_and_resets),
	    cmocka_unit_test(test_lost_record_reports_nothing_wrong),
	    cmocka_unit_test(test_joined_late_connection),
	    cmocka_unit_test(test_framed_records_same_calls),
	    cmocka_unit_test(test_joined_late_never_wrong),
	    cmocka_unit_test(test_huffman_all_symbols),
	    cmocka_unit_test(test_hostile_blocks),
	    cmocka_unit_test(test_indexed_name_of_evicted_entry),
	    cmocka_unit_test(test_block_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
