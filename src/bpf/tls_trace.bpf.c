// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel side: uprobes on OpenSSL's SSL_write/SSL_read(_ex) and connection
 * end. They copy the plaintext of HTTP client connections into a ring buffer.
 *
 * Filtering happens here, so that uninteresting traffic costs the trap and
 * nothing more: a connection is traced only once one of its writes looks like
 * the start of an HTTP request (what a client sends first); reads on any other
 * connection, such as a TLS server's, produce no event. Body bytes the daemon
 * has declared skippable (tls_conn_skip) are counted, not copied. HTTP/2
 * connections are walked frame by frame instead, so that DATA payloads are
 * counted, not copied (TLS_EVF_H2_FRAMED).
 *
 * No kernel headers or BTF are needed: programs read only their arguments
 * (struct pt_regs from the UAPI headers) and user memory.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tls_trace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the daemon before load: wake it up once this much data is pending. */
const volatile __u64 wakeup_bytes = 256 * 1024;

/* Connection tables are bounded; LRU eviction forgets the oldest idle ones. */
#define MAX_CONNS 16384
/* Threads inside an SSL call at the same time, host-wide. */
#define MAX_INFLIGHT 8192

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* resized by the daemon before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, struct tls_conn_key);
	__type(value, struct tls_conn_state);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, struct tls_conn_key);
	__type(value, struct tls_conn_skip);
} conn_skip SEC(".maps");

/* How a write lets a connection in. */
enum new_conn {
	CONN_HTTP1 = 1,	  /* an HTTP/1 request line */
	CONN_PRI = 2,	  /* "PRI ": the HTTP/2 preface if the whole write says so */
	CONN_H2_LATE = 3, /* a request's HEADERS frame: HTTP/2 whose preface we missed */
};

/*
 * Arguments saved at function entry for the return probe, per thread (Go:
 * per goroutine). fn and sp tie the return to its own entry: a return whose
 * entry was never seen (probes attached in between) must not take an entry
 * an earlier call left behind (its return probe detached in between).
 */
struct call_args {
	__u64 ssl;
	__u64 buf;
	__u64 num;     /* bytes offered (GnuTLS sends: kept for a retry) */
	__u64 len_ptr; /* size_t * of the _ex variants, else 0 */
	__u64 ts_ns;
	__u64 sp;      /* stack pointer at entry (0: not checked, Go) */
	__u32 fn;      /* enum tls_func of the entry */
	__u8 new_conn; /* this write opens a client connection: enum new_conn */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct call_args);
} inflight SEC(".maps");

/*
 * State of the HTTP/2 walk of one call (on_h2_data). It lives in the per-CPU
 * scratch value, not on the stack: the verifier tracks no values in map
 * memory, so every step of the walk looks the same to it (positions and
 * lengths on the stack would differ at every step, and the states to check
 * would explode). With the steps in global functions (h2_step), a return
 * program verifies in ~24 000 instructions on 5.10 to 6.18.
 */
struct h2_walk {
	__u64 buf;	  /* the call's buffer */
	__u64 len;	  /* the call's length */
	__u64 pos;	  /* walked so far */
	__u64 run;	  /* where the kept bytes not yet copied start */
	__u64 kept;	  /* kept bytes before run: data[] holds min(kept, cap) of them */
	__u64 cap;	  /* TLS_DATA_MAX, or where a copy faulted */
	__u64 first;	  /* the first header starting in the call: its offset in it */
	__u64 first_kept; /* and its index in the kept bytes */
	__u64 left;	  /* bytes left in the current payload */
	__u32 hdr;	  /* the start of a header cut by a call's end (tls_conn_state) */
	__u8 have;	  /* its length */
	__u8 is_data;
	__u8 fault; /* a header could not be read: the walk stops at pos */
};

/*
 * Room to assemble one record before bpf_ringbuf_output (it needs a constant
 * size for bpf_ringbuf_reserve, which our variable-length records lack).
 * Records hold at most TLS_DATA_MAX bytes; the extra half is only there for
 * the verifier: the HTTP/2 walk copies pieces at variable offsets, and the
 * verifier, which cannot relate offset and size, must see each copy end
 * inside the buffer (h2_flush). A per-CPU value is limited to 32 KiB.
 */
struct record {
	struct tls_event ev;
	__u8 data[TLS_DATA_MAX + TLS_DATA_MAX / 2];
	struct h2_walk w; /* not sent */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record);
} scratch SEC(".maps");

/* Roles seen per process; the daemon deletes entries of exited processes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct tls_proc_state);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * v = min(v, max) where the verifier sees it: done in one register, in asm,
 * because clang may otherwise compare one copy of v and pass another, and
 * older verifiers (5.10) do not carry the bound over to the copy.
 */
#define BOUND(v, max)                                                                              \
	asm volatile("if %[x] <= %[m] goto +1; %[x] = %[m]" : [x] "+r"(v) : [m] "i"(max))

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline struct tls_conn_key conn_key(__u64 ssl)
{
	struct tls_conn_key key = {
	    .tgid = bpf_get_current_pid_tgid() >> 32,
	    .pad = 0,
	    .ssl = ssl,
	};
	return key;
}

static __always_inline int is_upper(__u8 c)
{
	return c >= 'A' && c <= 'Z';
}

/*
 * Does buf start like an HTTP/1 request line ("GET /", "OPTIONS *",
 * "CONNECT h:443") or the HTTP/2 preface ("PRI * HTTP/2.0")? An HTTP method
 * (tls_http_method), one space, then a target's first byte
 * (tls_target_start). A write that ends before that ("GE", "GET ") also
 * counts: requests may be split over several writes anywhere. A server's
 * first write ("HTTP/1.1 200") never does, nor another protocol's command
 * ("EHLO x", "USER x", "HEAD 1").
 * Returns 0 (no), 1 (a request) or 2 (a request whose token is "PRI").
 */
static __always_inline int looks_like_request(__u64 buf, __u64 len)
{
	__u8 head[16] = {};
	__u64 lo = 0, hi = 0;
	__u32 n;
	int sp = -1;

	if (len == 0)
		return 0;
	/* Written so that the verifier sees n <= 16 on both paths. */
	n = len >= sizeof(head) ? sizeof(head) : (len & (sizeof(head) - 1));
	if (bpf_probe_read_user(head, n, (void *)buf))
		return 0;
		/* The token, packed as tls_http_method wants it; sp: what ends it. */
#pragma unroll
	for (int i = 0; i < 14; i++) {
		if (i == len)
			return i > 0; /* only letters so far */
		if (!is_upper(head[i])) {
			sp = i;
			break;
		}
		if (i < 8)
			lo |= (__u64)head[i] << (8 * i);
		else if (i < 12)
			hi |= (__u64)head[i] << (8 * (i - 8));
	}
	if (sp < TLS_REQ_TOKEN_MIN || sp > TLS_REQ_TOKEN_MAX || head[sp & 15] != ' ')
		return 0;
	if (!tls_http_method(lo, hi))
		return 0;
	if (sp + 1 < len && !tls_target_start(head[(sp + 1) & 15], lo))
		return 0;
	/* "PRI ": maybe the HTTP/2 preface, checked once the write is done. */
	return lo == TLS_PACK_LO("PRI") ? CONN_PRI : CONN_HTTP1;
}

/*
 * A request's HTTP/2 HEADERS frame at the start of a write, on a connection
 * whose preface we never saw (opened before the daemon, or before its
 * process was armed). The rule is proto_detect's (src/proto.c): type 1,
 * flags END_STREAM/END_HEADERS/PADDED/PRIORITY only, odd stream id, 1..16384
 * bytes, and a header block that starts (after at most a one-byte table
 * size update) with a field named by static entries 1-7 (:authority,
 * :method, :path, :scheme) or by a dynamic entry; a response starts with
 * :status (8-14).
 */
static __always_inline int looks_like_h2_request(__u64 buf, __u64 len)
{
	__u8 h[16] = {};
	__u32 n, flen, i = 9, idx;
	__u8 b;

	if (len < 10)
		return 0;
	n = len >= sizeof(h) ? sizeof(h) : (len & (sizeof(h) - 1));
	if (bpf_probe_read_user(h, n, (void *)buf))
		return 0;
	flen = (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
	if (h[3] != 1 || (h[4] & ~0x2d) || (h[5] & 0x80) || !(h[8] & 1) || flen == 0 ||
	    flen > 16384)
		return 0;
	if (h[4] & 0x08)
		i += 1;
	if (h[4] & 0x20)
		i += 5;
	if (i >= n || i >= 9 + flen)
		return 0;
	b = h[i & 15];
	if ((b & 0xe0) == 0x20) {
		i++;
		if ((b & 0x1f) == 0x1f || i >= n || i >= 9 + flen)
			return 0;
		b = h[i & 15];
	}
	if (b & 0x80)
		idx = b & 0x7f;
	else if ((b & 0xc0) == 0x40)
		idx = b & 0x3f;
	else if ((b & 0xe0) == 0)
		idx = b & 0x0f;
	else
		return 0;
	return (idx >= 1 && idx <= 7) || idx > 61;
}

/* ts_ns: the write's first attempt (a GnuTLS retry), or 0 for now. */
static __always_inline void set_args(struct call_args *a, __u64 ssl, __u64 buf, __u64 num,
				     __u64 len_ptr, __u8 new_conn, __u64 ts_ns)
{
	a->ssl = ssl;
	a->buf = buf;
	a->num = num;
	a->len_ptr = len_ptr;
	a->ts_ns = ts_ns ? ts_ns : bpf_ktime_get_ns();
	a->sp = 0;
	a->fn = 0;
	a->new_conn = new_conn;
}

/* Keep a C function's arguments for its return probe, per thread. */
static __always_inline void save_thread_args(struct pt_regs *ctx, __u32 fn, struct call_args *a)
{
	__u64 id = bpf_get_current_pid_tgid();

	a->fn = fn;
	a->sp = PT_REGS_SP(ctx);
	if (bpf_map_update_elem(&inflight, &id, a, BPF_ANY))
		count(TLS_STAT_PENDING_FULL);
}

/*
 * Waking the daemon per event costs more than the copy: let it batch (it
 * polls on a short timer) unless data piles up, or the record is one the
 * daemon must act on at once (wake: a process's role, which may arm it).
 */
static __always_inline int emit(struct record *r, __u64 n, int wake)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (wake || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	BOUND(n, TLS_DATA_MAX);
	if (!bpf_ringbuf_output(&events, r, sizeof(r->ev) + n, flags)) {
		count(TLS_STAT_EVENTS);
		return 0;
	}
	/*
	 * No room for the bytes (a fast download fills the ring before the
	 * daemon has told us to skip its body): send the record without them.
	 * Offsets and lengths stay exact, so the parser sees a hole instead of
	 * a gap, which inside a body costs nothing. A framed record without
	 * its bytes says so with TLS_EVF_CUT (data_len 0 alone would mean a
	 * call that held only DATA payload bytes).
	 */
	if (n > 0) {
		r->ev.data_len = 0;
		if (r->ev.flags & TLS_EVF_H2_FRAMED) {
			/* Lost, not "all DATA payload": see tls_trace.h. */
			r->ev.data_skip = r->ev.len;
			r->ev.flags = TLS_EVF_H2_FRAMED | TLS_EVF_CUT;
		}
		if (!bpf_ringbuf_output(&events, r, sizeof(r->ev), BPF_RB_FORCE_WAKEUP)) {
			count(TLS_STAT_DATA_DROPPED);
			return 0;
		}
	}
	count(TLS_STAT_RINGBUF_FULL);
	return -1;
}

static __always_inline void fill_header(struct record *r, const struct tls_conn_key *key, __u8 kind,
					__u8 dir, __u64 ts)
{
	r->ev.ts_ns = ts;
	r->ev.ssl = key->ssl;
	r->ev.conn_id = 0;
	r->ev.tgid = key->tgid;
	r->ev.tid = (__u32)bpf_get_current_pid_tgid();
	r->ev.kind = kind;
	r->ev.dir = dir;
	r->ev.flags = 0;
	r->ev.pad = 0;
	r->ev.stream_off = 0;
	r->ev.len = 0;
	r->ev.data_skip = 0;
	r->ev.data_len = 0;
	bpf_get_current_comm(r->ev.comm, sizeof(r->ev.comm));
}

/*
 * A raw record: the call moved len bytes at buf, the first at stream offset
 * off; bytes below until are counted, not copied (tls_conn_skip).
 */
static __always_inline void emit_raw(struct record *r, __u64 buf, __u64 off, __u64 len, __u64 until)
{
	__u64 skipped = 0, n;

	if (until > off)
		skipped = until - off < len ? until - off : len;
	n = len - skipped;
	BOUND(n, TLS_DATA_MAX);
	r->ev.stream_off = off;
	r->ev.len = len;
	r->ev.data_skip = skipped;
	r->ev.flags = 0;
	if (n > 0 && bpf_probe_read_user(r->data, n, (void *)(buf + skipped))) {
		count(TLS_STAT_READ_FAULT);
		n = 0;
	}
	r->ev.data_len = n;
	emit(r, n, 0);
}

#include "h2_walk.bpf.h"

/* A call moved len bytes at buf on a traced connection: account and copy. */
static __always_inline void on_data(const struct call_args *args, __u8 dir, __u64 len, __u64 ts)
{
	struct tls_conn_key key = conn_key(args->ssl);
	struct tls_conn_state *st;
	struct tls_conn_skip *skip;
	struct record *r;
	__u32 zero = 0;
	__u64 off, until = 0;

	if (len == 0 || len > 0x7fffffff)
		return;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return;
	off = st->off[dir & 1];
	st->off[dir & 1] = off + len;

	skip = bpf_map_lookup_elem(&conn_skip, &key);
	if (skip && skip->conn_id == st->conn_id) {
		if (skip->until[0] == TLS_SKIP_ALL && skip->until[1] == TLS_SKIP_ALL) {
			st->h2 = 0; /* the walk is lost: raw if ever sent again */
			return;
		}
		until = skip->until[dir & 1];
		if (skip->until[TLS_DIR_TX] == TLS_SKIP_TO_REQUEST && !st->h2) {
			until = TLS_SKIP_ALL;
			if (dir == TLS_DIR_TX && looks_like_request(args->buf, len)) {
				skip->until[TLS_DIR_TX] = 0;
				skip->until[TLS_DIR_RX] = 0;
				until = 0;
			}
		}
	}

	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return;
	fill_header(r, &key, TLS_EV_DATA, dir, ts);
	r->ev.conn_id = st->conn_id;
	if (st->h2)
		on_h2_data(r, st, dir, args->buf, off, len, until);
	else
		emit_raw(r, args->buf, off, len, until);
}

/* Return probe common part: look up the saved arguments and the result. */
/* How a data function reports the bytes it moved. */
enum ret_kind {
	RET_INT = 0,   /* int: bytes, or <= 0 */
	RET_EX = 1,    /* int 1, the count through a size_t * (the _ex variants) */
	RET_SSIZE = 2, /* ssize_t: bytes, or <= 0 (GnuTLS) */
};

/*
 * A call moved len bytes (0: none, or it failed): open the connection if
 * its write let it in, then account and copy. Writes are timed at entry
 * (first byte written), reads at return (last byte read), as the latency
 * definition asks.
 */
static __always_inline void on_result(const struct call_args *args, __u8 dir, __u64 len)
{
	__u64 ts = dir == TLS_DIR_TX ? args->ts_ns : bpf_ktime_get_ns();

	if (len > 0 && args->new_conn) {
		struct tls_conn_key key = conn_key(args->ssl);
		struct tls_conn_state st = {.conn_id = bpf_ktime_get_ns()};

		if (args->new_conn == CONN_PRI && is_h2_preface(args->buf, len)) {
			st.h2 = 1;
			st.h2_left[TLS_DIR_TX] = H2_PREFACE_LEN; /* walked as a payload */
		} else if (args->new_conn == CONN_H2_LATE) {
			st.h2 = 1; /* both directions assumed to start at a frame */
		}
		if (!bpf_map_update_elem(&conns, &key, &st, BPF_NOEXIST))
			count(TLS_STAT_CONN_NEW);
	}
	if (len > 0)
		on_data(args, dir, len, ts);
}

/*
 * The saved arguments of this thread's call of fn, or NULL. A uretprobe
 * runs once the function has returned: the stack pointer is the entry's
 * plus the return address popped. Anything else is an entry left by
 * another call (counted, dropped).
 */
static __always_inline struct call_args *thread_args(struct pt_regs *ctx, __u32 fn)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *args = bpf_map_lookup_elem(&inflight, &id);

	if (args && (args->fn != fn || args->sp + 8 != PT_REGS_SP(ctx))) {
		count(TLS_STAT_RETURN_MISMATCH);
		bpf_map_delete_elem(&inflight, &id);
		return NULL;
	}
	return args;
}

static __always_inline int on_return(struct pt_regs *ctx, __u32 fn, __u8 dir, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *args = thread_args(ctx, fn);
	__u64 len = 0;
	long ret = PT_REGS_RC(ctx);

	if (!args)
		return 0;
	if (ex == RET_EX) {
		if ((int)ret == 1 && args->len_ptr) {
			if (bpf_probe_read_user(&len, sizeof(len), (void *)args->len_ptr))
				len = 0;
		}
	} else if (ex == RET_SSIZE) {
		if (ret > 0)
			len = ret;
	} else if ((int)ret > 0) {
		len = (int)ret;
	}
	on_result(args, dir, len);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

/*
 * Record a role the first time a process shows it; tell the daemon. The
 * daemon arms and disarms by these records, so one that does not fit the
 * ring buffer is not lost for good: the bit is taken back, and the next
 * marker hit of that process sends it again.
 */
static __always_inline void mark_role(__u32 role)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tls_proc_state *ps = bpf_map_lookup_elem(&procs, &tgid);
	struct tls_proc_state fresh = {.roles = role};
	struct tls_conn_key key = {.tgid = tgid};
	struct record *r;
	__u32 zero = 0;

	if (ps) {
		if (ps->roles & role)
			return;	   /* known: the common case costs one lookup */
		ps->roles |= role; /* a lost race only repeats an event */
		fresh.roles = ps->roles;
	} else {
		bpf_map_update_elem(&procs, &tgid, &fresh, BPF_NOEXIST);
	}
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (r) {
		fill_header(r, &key, TLS_EV_ROLE, 0, bpf_ktime_get_ns());
		r->ev.len = fresh.roles;
		if (!emit(r, 0, 1))
			return;
	}
	count(TLS_STAT_ROLE_RESEND);
	ps = bpf_map_lookup_elem(&procs, &tgid);
	if (ps)
		ps->roles &= ~role;
}

/* A server's first write on a connection is a response: "HTTP/1.1 200". */
static __always_inline int looks_like_response(__u64 buf, __u64 len)
{
	char head[5] = {};

	if (len < sizeof(head) || bpf_probe_read_user(head, sizeof(head), (void *)buf))
		return 0;
	return head[0] == 'H' && head[1] == 'T' && head[2] == 'T' && head[3] == 'P' &&
	       head[4] == '/';
}

/*
 * A write: is it on a traced connection, or does it open one (a request)?
 * 1 with a filled, 0 when it is not traced (a server's response marks the
 * process a server).
 */
static __always_inline int write_args(struct call_args *a, __u64 ssl, __u64 buf, __u64 num,
				      __u64 len_ptr, __u64 first_ts)
{
	struct tls_conn_key key = conn_key(ssl);
	int req;

	if (bpf_map_lookup_elem(&conns, &key)) {
		set_args(a, ssl, buf, num, len_ptr, 0, first_ts);
		return 1;
	}
	req = looks_like_request(buf, num);
	if (!req && looks_like_h2_request(buf, num))
		req = CONN_H2_LATE;
	if (req) {
		set_args(a, ssl, buf, num, len_ptr, req, first_ts);
		return 1;
	}
	if (looks_like_response(buf, num))
		mark_role(TLS_ROLE_SERVER);
	return 0;
}

/* A read: traced only on a traced connection. */
static __always_inline int read_args(struct call_args *a, __u64 ssl, __u64 buf, __u64 len_ptr)
{
	struct tls_conn_key key = conn_key(ssl);

	if (!bpf_map_lookup_elem(&conns, &key))
		return 0;
	set_args(a, ssl, buf, 0, len_ptr, 0, 0);
	return 1;
}

static __always_inline int on_write_entry(struct pt_regs *ctx, __u32 fn, __u64 ssl, __u64 buf,
					  __u64 num, __u64 len_ptr, __u64 first_ts)
{
	struct call_args a;

	if (write_args(&a, ssl, buf, num, len_ptr, first_ts))
		save_thread_args(ctx, fn, &a);
	return 0;
}

static __always_inline int on_read_entry(struct pt_regs *ctx, __u32 fn, __u64 ssl, __u64 buf,
					 __u64 len_ptr)
{
	struct call_args a;

	if (read_args(&a, ssl, buf, len_ptr))
		save_thread_args(ctx, fn, &a);
	return 0;
}

#include "gnutls.bpf.h"

/* SSL_shutdown(SSL *) and SSL_free(SSL *): the connection ends. The daemon
 * completes a response delimited by the close and forgets the connection. */
static __always_inline int on_close(__u64 ssl)
{
	struct tls_conn_key key = conn_key(ssl);
	struct tls_conn_state *st = bpf_map_lookup_elem(&conns, &key);
	struct record *r;
	__u32 zero = 0;
	__u64 id;

	if (!st)
		return 0;
	id = st->conn_id;
	bpf_map_delete_elem(&conns, &key);
	bpf_map_delete_elem(&conn_skip, &key);
	bpf_map_delete_elem(&gnutls_pending, &key);
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	fill_header(r, &key, TLS_EV_CLOSE, 0, bpf_ktime_get_ns());
	r->ev.conn_id = id;
	emit(r, 0, 0);
	return 0;
}

/*
 * Entry of any probed function. Arguments, per function:
 *   int SSL_write(SSL *, const void *buf, int num)
 *   int SSL_write_ex(SSL *, const void *buf, size_t num, size_t *written)
 *   int SSL_read(SSL *, void *buf, int num)
 *   int SSL_read_ex(SSL *, void *buf, size_t num, size_t *readbytes)
 *   int SSL_shutdown(SSL *), void SSL_free(SSL *)
 *   void SSL_set_connect_state(SSL *), void SSL_set_accept_state(SSL *)
 */
#include "go_tls.bpf.h"

static __always_inline int on_entry(struct pt_regs *ctx, __u64 fn)
{
	__u64 ssl = PT_REGS_PARM1(ctx), buf = PT_REGS_PARM2(ctx), num = PT_REGS_PARM3(ctx);

	if (fn >= TLS_FN_GO_WRITE && fn <= TLS_FN_GO_SERVER_HS)
		return on_go_probe(ctx, fn);
	switch (fn) {
	case TLS_FN_SSL_WRITE:
		return on_write_entry(ctx, fn, ssl, buf, (int)num > 0 ? (int)num : 0, 0, 0);
	case TLS_FN_SSL_WRITE_EX:
		return on_write_entry(ctx, fn, ssl, buf, num, PT_REGS_PARM4(ctx), 0);
	case TLS_FN_SSL_READ:
		return on_read_entry(ctx, fn, ssl, buf, 0);
	case TLS_FN_SSL_READ_EX:
		return on_read_entry(ctx, fn, ssl, buf, PT_REGS_PARM4(ctx));
	case TLS_FN_SSL_SHUTDOWN:
	case TLS_FN_SSL_FREE:
		return on_close(ssl);
	case TLS_FN_SSL_SET_CONNECT_STATE:
		mark_role(TLS_ROLE_CLIENT);
		return 0;
	case TLS_FN_SSL_SET_ACCEPT_STATE:
		mark_role(TLS_ROLE_SERVER);
		return 0;
	case TLS_FN_GNUTLS_SEND:
		return on_gnutls_send_entry(ctx, ssl, buf, num);
	case TLS_FN_GNUTLS_RECV:
		return on_read_entry(ctx, fn, ssl, buf, 0);
	case TLS_FN_GNUTLS_BYE:
	case TLS_FN_GNUTLS_DEINIT:
		return on_close(ssl);
	case TLS_FN_GNUTLS_INIT:
		/* gnutls_init(&session, flags): the first argument is only
		 * where the session will be stored; the role is in flags. */
		if (buf & GNUTLS_CLIENT)
			mark_role(TLS_ROLE_CLIENT);
		else if (buf & GNUTLS_SERVER)
			mark_role(TLS_ROLE_SERVER);
		return 0;
	}
	return 0;
}

static __always_inline int on_exit(struct pt_regs *ctx, __u64 fn)
{
	switch (fn) {
	case TLS_FN_SSL_WRITE:
		return on_return(ctx, fn, TLS_DIR_TX, RET_INT);
	case TLS_FN_SSL_WRITE_EX:
		return on_return(ctx, fn, TLS_DIR_TX, RET_EX);
	case TLS_FN_SSL_READ:
		return on_return(ctx, fn, TLS_DIR_RX, RET_INT);
	case TLS_FN_SSL_READ_EX:
		return on_return(ctx, fn, TLS_DIR_RX, RET_EX);
	case TLS_FN_GNUTLS_SEND:
		return on_gnutls_send_return(ctx);
	case TLS_FN_GNUTLS_RECV:
		return on_return(ctx, fn, TLS_DIR_RX, RET_SSIZE);
	}
	return 0;
}

/* uprobe_multi links (Linux 6.6+): one program, the cookie names the function. */
SEC("uprobe")
int tls_entry(struct pt_regs *ctx)
{
	return on_entry(ctx, bpf_get_attach_cookie(ctx));
}

SEC("uretprobe")
int tls_return(struct pt_regs *ctx)
{
	return on_exit(ctx, bpf_get_attach_cookie(ctx));
}

/*
 * Perf-event uprobes (older kernels, where attach cookies may be missing):
 * one program per function.
 */
#define ENTRY_PROG(name, fn)                                                                       \
	SEC("uprobe") int name(struct pt_regs *ctx)                                                \
	{                                                                                          \
		return on_entry(ctx, fn);                                                          \
	}
#define RETURN_PROG(name, fn)                                                                      \
	SEC("uretprobe") int name(struct pt_regs *ctx)                                             \
	{                                                                                          \
		return on_exit(ctx, fn);                                                           \
	}

ENTRY_PROG(ssl_write_entry, TLS_FN_SSL_WRITE)
ENTRY_PROG(ssl_write_ex_entry, TLS_FN_SSL_WRITE_EX)
ENTRY_PROG(ssl_read_entry, TLS_FN_SSL_READ)
ENTRY_PROG(ssl_read_ex_entry, TLS_FN_SSL_READ_EX)
ENTRY_PROG(ssl_close_entry, TLS_FN_SSL_FREE)
ENTRY_PROG(ssl_connect_state_entry, TLS_FN_SSL_SET_CONNECT_STATE)
ENTRY_PROG(ssl_accept_state_entry, TLS_FN_SSL_SET_ACCEPT_STATE)
RETURN_PROG(ssl_write_return, TLS_FN_SSL_WRITE)
RETURN_PROG(ssl_write_ex_return, TLS_FN_SSL_WRITE_EX)
RETURN_PROG(ssl_read_return, TLS_FN_SSL_READ)
RETURN_PROG(ssl_read_ex_return, TLS_FN_SSL_READ_EX)
ENTRY_PROG(gnutls_send_entry, TLS_FN_GNUTLS_SEND)
ENTRY_PROG(gnutls_recv_entry, TLS_FN_GNUTLS_RECV)
ENTRY_PROG(gnutls_close_entry, TLS_FN_GNUTLS_DEINIT)
ENTRY_PROG(gnutls_init_entry, TLS_FN_GNUTLS_INIT)
RETURN_PROG(gnutls_send_return, TLS_FN_GNUTLS_SEND)
RETURN_PROG(gnutls_recv_return, TLS_FN_GNUTLS_RECV)
ENTRY_PROG(go_write_entry, TLS_FN_GO_WRITE)
ENTRY_PROG(go_write_ret, TLS_FN_GO_WRITE_RET)
ENTRY_PROG(go_read_entry, TLS_FN_GO_READ)
ENTRY_PROG(go_read_ret, TLS_FN_GO_READ_RET)
ENTRY_PROG(go_read_ret_spilled, TLS_FN_GO_READ_RET_SPILLED)
ENTRY_PROG(go_close_entry, TLS_FN_GO_CLOSE)
ENTRY_PROG(go_client_hs_entry, TLS_FN_GO_CLIENT_HS)
ENTRY_PROG(go_server_hs_entry, TLS_FN_GO_SERVER_HS)
