// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel side: uprobes on OpenSSL's SSL_write/SSL_read(_ex) and connection
 * end. They copy the plaintext of HTTP client connections into a ring buffer.
 *
 * Filtering happens here, so that uninteresting traffic costs the trap and
 * nothing more: a connection is traced only once one of its writes looks like
 * the start of an HTTP request (what a client sends first); reads on any other
 * connection, such as a TLS server's, produce no event. Body bytes the daemon
 * has declared skippable (tls_conn_skip) are counted, not copied.
 *
 * No kernel headers or BTF are needed: programs read only their arguments
 * (struct pt_regs from the UAPI headers) and user memory.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
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

/* Arguments saved at function entry for the return probe, per thread. */
struct call_args {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* size_t * of the _ex variants, else 0 */
	__u64 ts_ns;
	__u8 new_conn; /* this write opens a client connection */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct call_args);
} inflight SEC(".maps");

/* Room to assemble one record before bpf_ringbuf_output (it needs a constant
 * size for bpf_ringbuf_reserve, which our variable-length records lack). */
struct record {
	struct tls_event ev;
	__u8 data[TLS_DATA_MAX];
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
 * "CONNECT h:443") or the HTTP/2 preface ("PRI * HTTP/2.0")? An upper-case
 * token of TLS_REQ_TOKEN_MIN..MAX letters, one space, then a visible character. A write that
 * ends before that ("GE", "GET ") also counts: requests may be split over
 * several writes anywhere. A server's first write ("HTTP/1.1 200") never does.
 */
static __always_inline int looks_like_request(__u64 buf, __u64 len)
{
	__u8 head[16] = {};
	__u32 n;
	int tok = 0;

	if (len == 0)
		return 0;
	/* Written so that the verifier sees n <= 16 on both paths. */
	n = len >= sizeof(head) ? sizeof(head) : (len & (sizeof(head) - 1));
	if (bpf_probe_read_user(head, n, (void *)buf))
		return 0;
#pragma unroll
	for (int i = 0; i < 14; i++) {
		if (i == len)
			return tok > 0; /* only letters so far */
		if (is_upper(head[i])) {
			tok++;
			continue;
		}
		if (tok < TLS_REQ_TOKEN_MIN || tok > TLS_REQ_TOKEN_MAX || head[i] != ' ')
			return 0;
		return i + 1 == len || (head[i + 1] > ' ' && head[i + 1] < 0x7f);
	}
	return 0;
}

static __always_inline void save_args(__u64 ssl, __u64 buf, __u64 len_ptr, __u8 new_conn)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args args = {
	    .ssl = ssl,
	    .buf = buf,
	    .len_ptr = len_ptr,
	    .ts_ns = bpf_ktime_get_ns(),
	    .new_conn = new_conn,
	};

	if (bpf_map_update_elem(&inflight, &id, &args, BPF_ANY))
		count(TLS_STAT_PENDING_FULL);
}

/*
 * Waking the daemon per event costs more than the copy: let it batch (it
 * polls on a short timer) unless data piles up, or the record is one the
 * daemon must act on at once (wake: a process's role, which may arm it).
 */
static __always_inline int emit(struct record *r, __u32 n, int wake)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (wake || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (n > TLS_DATA_MAX)
		n = TLS_DATA_MAX;
	if (!bpf_ringbuf_output(&events, r, sizeof(r->ev) + n, flags)) {
		count(TLS_STAT_EVENTS);
		return 0;
	}
	/*
	 * No room for the bytes (a fast download fills the ring before the
	 * daemon has told us to skip its body): send the record without them.
	 * Offsets and lengths stay exact, so the parser sees a hole instead of
	 * a gap, which inside a body costs nothing.
	 */
	if (n > 0) {
		r->ev.data_len = 0;
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
	r->ev.stream_off = 0;
	r->ev.len = 0;
	r->ev.data_skip = 0;
	r->ev.data_len = 0;
	bpf_get_current_comm(r->ev.comm, sizeof(r->ev.comm));
}

/* A call moved len bytes at buf on a traced connection: account and copy. */
static __always_inline void on_data(const struct call_args *args, __u8 dir, __u64 len, __u64 ts)
{
	struct tls_conn_key key = conn_key(args->ssl);
	struct tls_conn_state *st;
	struct tls_conn_skip *skip;
	struct record *r;
	__u32 zero = 0;
	__u64 off, until = 0, skipped = 0, n;

	if (len == 0 || len > 0x7fffffff)
		return;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return;
	off = st->off[dir & 1];
	st->off[dir & 1] = off + len;

	skip = bpf_map_lookup_elem(&conn_skip, &key);
	if (skip && skip->conn_id == st->conn_id) {
		if (skip->until[0] == TLS_SKIP_ALL && skip->until[1] == TLS_SKIP_ALL)
			return;
		until = skip->until[dir & 1];
	}
	if (until > off)
		skipped = until - off < len ? until - off : len;
	n = len - skipped;
	if (n > TLS_DATA_MAX)
		n = TLS_DATA_MAX;

	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return;
	fill_header(r, &key, TLS_EV_DATA, dir, ts);
	r->ev.conn_id = st->conn_id;
	r->ev.stream_off = off;
	r->ev.len = len;
	r->ev.data_skip = skipped;
	if (n > 0 && bpf_probe_read_user(r->data, n, (void *)(args->buf + skipped))) {
		count(TLS_STAT_READ_FAULT);
		n = 0;
	}
	r->ev.data_len = n;
	emit(r, n, 0);
}

/* Return probe common part: look up the saved arguments and the result. */
static __always_inline int on_return(struct pt_regs *ctx, __u8 dir, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *args = bpf_map_lookup_elem(&inflight, &id);
	__u64 ts, len = 0;
	long ret = PT_REGS_RC(ctx);

	if (!args)
		return 0;
	/* Writes are timed at entry (first byte written), reads at return
	 * (last byte read), as the latency definition asks. */
	ts = dir == TLS_DIR_TX ? args->ts_ns : bpf_ktime_get_ns();
	if (ex) {
		if ((int)ret == 1 && args->len_ptr) {
			if (bpf_probe_read_user(&len, sizeof(len), (void *)args->len_ptr))
				len = 0;
		}
	} else if ((int)ret > 0) {
		len = (int)ret;
	}
	if (len > 0 && args->new_conn) {
		struct tls_conn_key key = conn_key(args->ssl);
		struct tls_conn_state st = {.conn_id = bpf_ktime_get_ns()};

		if (!bpf_map_update_elem(&conns, &key, &st, BPF_NOEXIST))
			count(TLS_STAT_CONN_NEW);
	}
	if (len > 0)
		on_data(args, dir, len, ts);
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

static __always_inline int on_write_entry(__u64 ssl, __u64 buf, __u64 num, __u64 len_ptr)
{
	struct tls_conn_key key = conn_key(ssl);

	if (bpf_map_lookup_elem(&conns, &key)) {
		save_args(ssl, buf, len_ptr, 0);
		return 0;
	}
	if (looks_like_request(buf, num))
		save_args(ssl, buf, len_ptr, 1);
	else if (looks_like_response(buf, num))
		mark_role(TLS_ROLE_SERVER);
	return 0;
}

static __always_inline int on_read_entry(__u64 ssl, __u64 buf, __u64 len_ptr)
{
	struct tls_conn_key key = conn_key(ssl);

	if (bpf_map_lookup_elem(&conns, &key))
		save_args(ssl, buf, len_ptr, 0);
	return 0;
}

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
static __always_inline int on_entry(struct pt_regs *ctx, __u64 fn)
{
	__u64 ssl = PT_REGS_PARM1(ctx), buf = PT_REGS_PARM2(ctx), num = PT_REGS_PARM3(ctx);

	switch (fn) {
	case TLS_FN_SSL_WRITE:
		return on_write_entry(ssl, buf, (int)num > 0 ? (int)num : 0, 0);
	case TLS_FN_SSL_WRITE_EX:
		return on_write_entry(ssl, buf, num, PT_REGS_PARM4(ctx));
	case TLS_FN_SSL_READ:
		return on_read_entry(ssl, buf, 0);
	case TLS_FN_SSL_READ_EX:
		return on_read_entry(ssl, buf, PT_REGS_PARM4(ctx));
	case TLS_FN_SSL_SHUTDOWN:
	case TLS_FN_SSL_FREE:
		return on_close(ssl);
	case TLS_FN_SSL_SET_CONNECT_STATE:
		mark_role(TLS_ROLE_CLIENT);
		return 0;
	case TLS_FN_SSL_SET_ACCEPT_STATE:
		mark_role(TLS_ROLE_SERVER);
		return 0;
	}
	return 0;
}

static __always_inline int on_exit(struct pt_regs *ctx, __u64 fn)
{
	switch (fn) {
	case TLS_FN_SSL_WRITE:
		return on_return(ctx, TLS_DIR_TX, 0);
	case TLS_FN_SSL_WRITE_EX:
		return on_return(ctx, TLS_DIR_TX, 1);
	case TLS_FN_SSL_READ:
		return on_return(ctx, TLS_DIR_RX, 0);
	case TLS_FN_SSL_READ_EX:
		return on_return(ctx, TLS_DIR_RX, 1);
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
