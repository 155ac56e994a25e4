// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "session.h"

/* The kernel's record flags are the parsers' (proto.h). */
_Static_assert(TLS_EVF_H2_FRAMED == PROTO_F_FRAMED && TLS_EVF_CUT == PROTO_F_CUT &&
		   TLS_EVF_H2_TAIL_DATA == PROTO_F_TAIL_DATA,
	       "record flags differ from the parser flags");
_Static_assert(TLS_SKIP_TO_REQUEST == PROTO_SKIP_TO_REQUEST, "skip modes differ");

/*
 * A process holding connections: its count against its share, and its
 * connections in their own recency order, so that the one to go when it is
 * over its share is its own least recently active.
 */
struct session_proc {
	uint32_t tgid;
	unsigned count;
	struct session *newest, *oldest;
	struct session_proc *hash_next;
	struct session_proc *all_prev, *all_next; /* every process, for walks */
	bool told_over_share;
};

struct session {
	struct tls_conn_key key;
	struct session *hash_next;
	struct session_proc *proc;
	struct session *proc_prev, *proc_next; /* the process's, most recently active first */
	struct session *lru_prev, *lru_next;   /* everyone's, most recently active first */
	const struct proto_parser *parser;     /* NULL until the first bytes tell */
	void *conn;			       /* the parser's state */
	struct session_table *table;
	struct tls_conn_skip skip_sent; /* what the kernel was last told */
	uint64_t conn_id;
	uint64_t last_ns;
	char comm[16];
	bool ignored; /* no parser for it: events are dropped until it closes */
	bool told_undecodable;
};

struct session_table {
	struct session **buckets;
	struct session_proc **proc_buckets; /* processes holding connections */
	unsigned nbuckets;		    /* power of two, for both */
	unsigned max;
	unsigned share; /* most connections one process may hold */
	unsigned nprocs;
	struct session_proc *procs; /* every process holding connections */
	struct session *lru_head, *lru_tail;
	struct session_ops ops;
	struct session_stats stats;
	struct log_ratelimit share_log;
};

static uint64_t key_hash(const struct tls_conn_key *key)
{
	/* splitmix64 finaliser: SSL* values share low bits (allocator
	 * alignment) and high bits (heap base), so mix everything. */
	uint64_t x = key->ssl ^ ((uint64_t)key->tgid << 32 | key->tgid);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static bool key_equal(const struct tls_conn_key *a, const struct tls_conn_key *b)
{
	return a->tgid == b->tgid && a->ssl == b->ssl;
}

static struct session **bucket_of(struct session_table *t, const struct tls_conn_key *key)
{
	return &t->buckets[key_hash(key) & (t->nbuckets - 1)];
}

static struct session_proc **proc_bucket_of(struct session_table *t, uint32_t tgid)
{
	return &t->proc_buckets[(tgid * 0x9e3779b1u) & (t->nbuckets - 1)];
}

static struct session_proc *proc_find(struct session_table *t, uint32_t tgid)
{
	for (struct session_proc *p = *proc_bucket_of(t, tgid); p; p = p->hash_next) {
		if (p->tgid == tgid)
			return p;
	}
	return NULL;
}

static struct session_proc *proc_get(struct session_table *t, uint32_t tgid)
{
	struct session_proc *p = proc_find(t, tgid), **head;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	head = proc_bucket_of(t, tgid);
	p->tgid = tgid;
	p->hash_next = *head;
	*head = p;
	p->all_next = t->procs;
	if (t->procs)
		t->procs->all_prev = p;
	t->procs = p;
	t->nprocs++;
	return p;
}

static void proc_put(struct session_table *t, struct session_proc *p)
{
	struct session_proc **pp = proc_bucket_of(t, p->tgid);

	if (p->count)
		return;
	while (*pp && *pp != p)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = p->hash_next;
	if (p->all_prev)
		p->all_prev->all_next = p->all_next;
	else
		t->procs = p->all_next;
	if (p->all_next)
		p->all_next->all_prev = p->all_prev;
	free(p);
	t->nprocs--;
}

static void proc_unlink(struct session *s)
{
	struct session_proc *p = s->proc;

	if (s->proc_prev)
		s->proc_prev->proc_next = s->proc_next;
	else
		p->newest = s->proc_next;
	if (s->proc_next)
		s->proc_next->proc_prev = s->proc_prev;
	else
		p->oldest = s->proc_prev;
	s->proc_prev = s->proc_next = NULL;
}

static void proc_push_front(struct session *s)
{
	struct session_proc *p = s->proc;

	s->proc_next = p->newest;
	s->proc_prev = NULL;
	if (p->newest)
		p->newest->proc_prev = s;
	p->newest = s;
	if (!p->oldest)
		p->oldest = s;
}

static void lru_unlink(struct session_table *t, struct session *s)
{
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		t->lru_head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		t->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void lru_push_front(struct session_table *t, struct session *s)
{
	s->lru_next = t->lru_head;
	s->lru_prev = NULL;
	if (t->lru_head)
		t->lru_head->lru_prev = s;
	t->lru_head = s;
	if (!t->lru_tail)
		t->lru_tail = s;
}

struct session_table *session_table_new(unsigned max, const struct session_ops *ops)
{
	struct session_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max ? max : SESSION_MAX;
	t->share = t->max / SESSION_SHARE_DIV ? t->max / SESSION_SHARE_DIV : 1;
	t->nbuckets = 1;
	while (t->nbuckets < t->max)
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->proc_buckets = calloc(t->nbuckets, sizeof(*t->proc_buckets));
	if (!t->buckets || !t->proc_buckets) {
		free(t->buckets);
		free(t->proc_buckets);
		free(t);
		return NULL;
	}
	t->ops = *ops;
	t->share_log = (struct log_ratelimit){.interval_ns = 60ull * 1000000000, .burst = 5};
	return t;
}

void session_table_set_share(struct session_table *t, unsigned share)
{
	t->share = share ? share : 1;
}

static void session_destroy(struct session_table *t, struct session *s)
{
	struct session **pp = bucket_of(t, &s->key);

	while (*pp && *pp != s)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = s->hash_next;
	proc_unlink(s);
	lru_unlink(t, s);
	s->proc->count--;
	proc_put(t, s->proc);
	if (s->parser)
		s->parser->conn_free(s->conn);
	free(s);
	t->stats.active--;
}

void session_table_free(struct session_table *t)
{
	if (!t)
		return;
	while (t->lru_head)
		session_destroy(t, t->lru_head);
	free(t->buckets);
	free(t->proc_buckets);
	free(t);
}

static void on_call(const struct proto_call *call, void *ctx)
{
	struct session *s = ctx;
	struct traced_call tc = {.call = call, .pid = s->key.tgid, .comm = s->comm};

	s->table->ops.call(&tc, s->table->ops.ctx);
}

static struct session *session_lookup(struct session_table *t, const struct tls_conn_key *key)
{
	for (struct session *s = *bucket_of(t, key); s; s = s->hash_next) {
		if (key_equal(&s->key, key))
			return s;
	}
	return NULL;
}

/*
 * Forget a connection to make room: the kernel forgets it too (it lets the
 * connection in again at its next request), so that it neither keeps
 * copying bytes nobody parses nor fills its own table.
 */
static void evict(struct session_table *t, struct session *s)
{
	if (t->ops.forget)
		t->ops.forget(&s->key, s->conn_id, t->ops.ctx);
	session_destroy(t, s);
}

/* The process holding the most connections: over its fair share when the
 * table is full. Only walked then; ties go to the one found first. */
static struct session_proc *biggest_proc(struct session_table *t)
{
	struct session_proc *big = NULL;

	for (struct session_proc *p = t->procs; p; p = p->all_next) {
		if (!big || p->count > big->count)
			big = p;
	}
	return big;
}

static void tell_over_share(struct session_table *t, struct session_proc *p, const char *comm,
			    uint64_t now_ns)
{
	uint64_t suppressed;

	if (p->told_over_share)
		return;
	p->told_over_share = true;
	if (!log_ratelimit_ok(&t->share_log, now_ns, &suppressed))
		return;
	log_warn("pid %u (%s): over its share of the connection table (%u connections): its "
		 "least recently active connections are forgotten, traced again from their next "
		 "request (over_share)%s",
		 p->tgid, comm, t->share, suppressed ? "; more processes over their share" : "");
}

/*
 * Room for one more connection of process p, never at another process's
 * expense unless the table is full: p over its share gives up its own least
 * recently active connection; a full table gives up one of the process
 * holding the most (which is over its fair part, max / processes).
 */
static void make_room(struct session_table *t, struct session_proc *p, const char *comm,
		      uint64_t now_ns)
{
	/* p->count includes the connection being added. */
	if (p->count > t->share && p->oldest) {
		tell_over_share(t, p, comm, now_ns);
		evict(t, p->oldest);
		t->stats.over_share++;
	}
	if (t->stats.active >= t->max) {
		struct session_proc *big = biggest_proc(t);

		evict(t, big && big->oldest ? big->oldest : t->lru_tail);
		t->stats.evicted++;
	}
}

static struct session *session_create(struct session_table *t, const struct tls_event *ev,
				      const struct tls_conn_key *key)
{
	struct session *s, **bucket;
	struct session_proc *p = proc_get(t, key->tgid);
	char comm[sizeof(ev->comm)];

	if (!p)
		return NULL;
	memcpy(comm, ev->comm, sizeof(comm));
	comm[sizeof(comm) - 1] = '\0';
	/* p stays: it is not empty, or it is the one being added to. */
	p->count++;
	make_room(t, p, comm, ev->ts_ns);
	p->count--;
	s = calloc(1, sizeof(*s));
	if (!s) {
		proc_put(t, p);
		return NULL;
	}
	s->key = *key;
	s->table = t;
	s->proc = p;
	p->count++;
	bucket = bucket_of(t, key);
	s->hash_next = *bucket;
	*bucket = s;
	proc_push_front(s);
	lru_push_front(t, s);
	t->stats.active++;
	return s;
}

/* Hand the parser's "no bytes needed below" offsets to the kernel when they
 * moved, so it counts body bytes instead of copying them. */
static void update_skip(struct session_table *t, struct session *s)
{
	struct tls_conn_skip want = {
	    .until = {s->parser->skip_until(s->conn, PROTO_TX),
		      s->parser->skip_until(s->conn, PROTO_RX)},
	    .conn_id = s->conn_id,
	};

	if (!t->ops.set_skip || !memcmp(&want, &s->skip_sent, sizeof(want)))
		return;
	if (want.until[TLS_DIR_TX] == TLS_SKIP_TO_REQUEST)
		t->stats.skips_to_request++;
	s->skip_sent = want;
	t->ops.set_skip(&s->key, &want, t->ops.ctx);
}

static void handle_close(struct session_table *t, const struct tls_event *ev,
			 const struct tls_conn_key *key)
{
	struct session *s = session_lookup(t, key);

	if (!s || s->conn_id != ev->conn_id)
		return;
	if (s->parser)
		s->parser->close(s->conn, ev->ts_ns);
	session_destroy(t, s);
}

/* Not a protocol we parse: the kernel need not copy it any more. */
static void ignore(struct session_table *t, struct session *s)
{
	s->ignored = true;
	if (s->parser) {
		s->parser->conn_free(s->conn);
		s->parser = NULL;
		s->conn = NULL;
	}
	if (t->ops.set_skip) {
		struct tls_conn_skip all = {{TLS_SKIP_ALL, TLS_SKIP_ALL}, s->conn_id};

		t->ops.set_skip(&s->key, &all, t->ops.ctx);
	}
}

/*
 * The connection's first write says what it speaks. Returns whether a
 * parser now takes the event. A write too short to tell ("PR" might begin
 * the HTTP/2 preface or a PROPFIND) goes to HTTP/1, which also knows the
 * preface: only the kernel's request test let this connection in.
 */
static bool choose_parser(struct session_table *t, struct session *s, const struct tls_event *ev)
{
	enum proto_kind kind = PROTO_HTTP1;

	/* The kernel walks the frames of a connection it saw start with the
	 * preface (the first framed record then holds it, data_skip 24)... */
	if (ev->flags & TLS_EVF_H2_FRAMED) {
		kind = PROTO_HTTP2;
		/* ...or with a request's HEADERS, its preface missed. */
		if (ev->dir == TLS_DIR_TX && ev->stream_off == 0 && ev->data_skip == 0 &&
		    proto_detect(ev->data, ev->data_len) == PROTO_HTTP2_LATE)
			kind = PROTO_HTTP2_LATE;
	} else if (ev->dir == TLS_DIR_TX && ev->stream_off == 0 && ev->data_skip == 0)
		kind = proto_detect(ev->data, ev->data_len);
	if (kind == PROTO_OTHER) {
		t->stats.not_http++;
		ignore(t, s);
		return false;
	}
	if (kind == PROTO_HTTP2 || kind == PROTO_HTTP2_LATE) {
		s->parser = kind == PROTO_HTTP2 ? &proto_http2 : &proto_http2_late;
		s->conn = s->parser->conn_new(on_call, s, &t->stats.http2);
	} else {
		s->parser = &proto_http1;
		s->conn = s->parser->conn_new(on_call, s, &t->stats.http1);
	}
	if (!s->conn) {
		s->parser = NULL;
		return false;
	}
	return true;
}

void session_handle_event(struct session_table *t, const struct tls_event *ev)
{
	struct tls_conn_key key = {.tgid = ev->tgid, .ssl = ev->ssl};
	struct session *s;
	uint64_t undecodable;
	int err;

	if (ev->kind == TLS_EV_CLOSE) {
		handle_close(t, ev, &key);
		return;
	}
	if (ev->kind != TLS_EV_DATA || ev->dir > TLS_DIR_RX)
		return;
	t->stats.copied_bytes += ev->data_len;
	s = session_lookup(t, &key);
	if (s && s->conn_id != ev->conn_id) {
		/* The SSL* was reused by a connection whose predecessor's close
		 * we never saw: the old one is over. */
		if (s->parser)
			s->parser->close(s->conn, s->last_ns);
		session_destroy(t, s);
		s = NULL;
	}
	if (!s) {
		s = session_create(t, ev, &key);
		if (!s)
			return;
		s->conn_id = ev->conn_id;
	}
	memcpy(s->comm, ev->comm, sizeof(s->comm));
	s->comm[sizeof(s->comm) - 1] = '\0';
	s->last_ns = ev->ts_ns;
	lru_unlink(t, s);
	lru_push_front(t, s);
	proc_unlink(s);
	proc_push_front(s);
	if (s->ignored || (!s->parser && !choose_parser(t, s, ev)))
		return;
	/* What an HTTP/1 client reads first is a response; another protocol's
	 * greeting or reply ("220 ", "+OK") says it is not HTTP. */
	if (s->parser == &proto_http1 && ev->dir == TLS_DIR_RX && ev->stream_off == 0 &&
	    ev->data_skip == 0 && !proto_reply_may_be_http(ev->data, ev->data_len)) {
		t->stats.not_http++;
		ignore(t, s);
		return;
	}
	undecodable = t->stats.http2.undecodable;
	err = s->parser->feed(s->conn, ev->dir == TLS_DIR_TX ? PROTO_TX : PROTO_RX, ev->ts_ns,
			      ev->stream_off, ev->len, ev->data_skip, ev->data, ev->data_len,
			      ev->flags);
	if (t->stats.http2.undecodable != undecodable && !s->told_undecodable) {
		s->told_undecodable = true;
		log_info(
		    "pid %u (%s): HTTP/2 calls not reported: their method, authority or path "
		    "refer to header table entries the daemon did not see (a connection opened "
		    "before it started, or a lost record); later ones of this connection are only "
		    "counted (h2_undecodable)",
		    s->key.tgid, s->comm);
	}
	if (err == -EPROTONOSUPPORT) {
		ignore(t, s);
		return;
	}
	/* The kernel leaves "skip to the next request" by itself, at a write
	 * it then copies: the mode must be sent again when next wanted. */
	if (ev->dir == TLS_DIR_TX && ev->data_len &&
	    s->skip_sent.until[TLS_DIR_TX] == TLS_SKIP_TO_REQUEST)
		s->skip_sent.until[TLS_DIR_TX] = s->skip_sent.until[TLS_DIR_RX] = 0;
	update_skip(t, s);
}

static int pid_alive_proc(uint32_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

void session_expire(struct session_table *t, uint64_t now_ns, uint64_t idle_ns,
		    int (*pid_alive)(uint32_t pid))
{
	struct session *s = t->lru_tail;

	if (!pid_alive)
		pid_alive = pid_alive_proc;
	/* Oldest first; stop at the first one that is recent enough. */
	while (s && now_ns > s->last_ns && now_ns - s->last_ns >= idle_ns) {
		struct session *prev = s->lru_prev;

		if (!pid_alive(s->key.tgid)) {
			session_destroy(t, s);
			t->stats.expired++;
		}
		s = prev;
	}
}

void session_close_pid(struct session_table *t, uint32_t pid)
{
	struct session_proc *p = proc_find(t, pid);

	/* The last destroy frees p. */
	while (p && p->count) {
		struct session *s = p->newest;
		bool last = p->count == 1;

		if (s->parser)
			s->parser->close(s->conn, s->last_ns);
		session_destroy(t, s);
		if (last)
			break;
	}
}

void session_for_each_pid(const struct session_table *t, void (*fn)(uint32_t pid, void *ctx),
			  void *ctx)
{
	for (const struct session_proc *p = t->procs; p; p = p->all_next)
		fn(p->tgid, ctx);
}

struct session_stats session_table_stats(const struct session_table *t)
{
	return t->stats;
}
