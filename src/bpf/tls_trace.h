/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs (tls_trace.bpf.c) and the daemon.
 * Everything that crosses the kernel/user boundary is declared here; this
 * comment is the contract:
 *
 * - Probes: every probed function is an enum tls_func value, passed as the
 *   attach cookie (uprobe_multi links; perf-event links use one program per
 *   function instead). The TLS back-end descriptors (tls_backend.c) say which
 *   functions a library has and which need a return probe.
 * - Connection key: (tgid, the library's connection object: SSL*, ...).
 *   conn_id tells apart connections that reuse a key after a close we missed.
 * - A connection is traced from its first write that looks like an HTTP
 *   request (an HTTP method, tls_http_method, a space and a request
 *   target); before that, reads produce nothing.
 * - Records (struct tls_event) go through one ring buffer, without wake-up
 *   unless data piles up or the record must be acted on at once (roles).
 *   Offsets count every byte of the direction's stream, copied or not.
 * - The daemon writes tls_conn_skip: offsets below which bytes are only
 *   counted (bodies), or TLS_SKIP_ALL (a protocol it does not parse).
 * - A role record that does not fit the ring is sent again at the process's
 *   next marker hit; a lost data record leaves a hole the parser sees.
 */
#ifndef TLS_TRACE_H
#define TLS_TRACE_H

/*
 * Most plaintext bytes copied per SSL_write/SSL_read call. SSL_read never
 * returns more than one TLS record (16 KiB of plaintext), so reads are never
 * cut; a larger write is cut, which only matters if its tail held headers.
 * Must be a power of two: the BPF side masks with TLS_DATA_MAX * 2 - 1 so the
 * verifier can see the bound.
 */
#define TLS_DATA_MAX 16384

/*
 * The start of an HTTP/1 request line: an upper-case method token of this
 * many letters, then a space (GET, PATCH, OPTIONS, PROPPATCH, the HTTP/2
 * preface's PRI). The kernel uses it to tell a client connection by its
 * first write; the daemon to find the next request after a broken stream.
 */
#define TLS_REQ_TOKEN_MIN 3
#define TLS_REQ_TOKEN_MAX 12

/*
 * ...and the token must be an HTTP method: one llhttp parses (its HTTP
 * methods made of letters only), PRI (the HTTP/2 preface) and QUERY. Other
 * client protocols start with upper-case commands too (SMTP "EHLO", FTP and
 * POP3 "USER", NNTP "MODE"): their connections are never traced. The token
 * is compared packed, bytes 0-7 in lo and 8-11 in hi (little-endian, zero
 * padded), so that the kernel tests it in a few dozen instructions.
 */
#define TLS_PACK_AT_(s, i) ((__u64)(__u8)(s "\0\0\0\0\0\0\0\0\0\0\0\0")[i] << (8 * ((i)&7)))
#define TLS_PACK_LO(s)                                                                             \
	(TLS_PACK_AT_(s, 0) | TLS_PACK_AT_(s, 1) | TLS_PACK_AT_(s, 2) | TLS_PACK_AT_(s, 3) |       \
	 TLS_PACK_AT_(s, 4) | TLS_PACK_AT_(s, 5) | TLS_PACK_AT_(s, 6) | TLS_PACK_AT_(s, 7))
#define TLS_PACK_HI(s)                                                                             \
	(TLS_PACK_AT_(s, 8) | TLS_PACK_AT_(s, 9) | TLS_PACK_AT_(s, 10) | TLS_PACK_AT_(s, 11))
#define TLS_METHOD_(s) (lo == TLS_PACK_LO(s) && hi == TLS_PACK_HI(s))

static inline int tls_http_method(__u64 lo, __u64 hi)
{
	if (hi == 0) /* up to 8 letters */
		return lo == TLS_PACK_LO("GET") || lo == TLS_PACK_LO("POST") ||
		       lo == TLS_PACK_LO("PUT") || lo == TLS_PACK_LO("DELETE") ||
		       lo == TLS_PACK_LO("PATCH") || lo == TLS_PACK_LO("HEAD") ||
		       lo == TLS_PACK_LO("OPTIONS") || lo == TLS_PACK_LO("CONNECT") ||
		       lo == TLS_PACK_LO("TRACE") || lo == TLS_PACK_LO("PRI") ||
		       lo == TLS_PACK_LO("QUERY") || lo == TLS_PACK_LO("COPY") ||
		       lo == TLS_PACK_LO("LOCK") || lo == TLS_PACK_LO("MKCOL") ||
		       lo == TLS_PACK_LO("MOVE") || lo == TLS_PACK_LO("PROPFIND") ||
		       lo == TLS_PACK_LO("SEARCH") || lo == TLS_PACK_LO("UNLOCK") ||
		       lo == TLS_PACK_LO("BIND") || lo == TLS_PACK_LO("REBIND") ||
		       lo == TLS_PACK_LO("UNBIND") || lo == TLS_PACK_LO("ACL") ||
		       lo == TLS_PACK_LO("REPORT") || lo == TLS_PACK_LO("CHECKOUT") ||
		       lo == TLS_PACK_LO("MERGE") || lo == TLS_PACK_LO("NOTIFY") ||
		       lo == TLS_PACK_LO("PURGE") || lo == TLS_PACK_LO("LINK") ||
		       lo == TLS_PACK_LO("UNLINK") || lo == TLS_PACK_LO("SOURCE");
	return TLS_METHOD_("PROPPATCH") || TLS_METHOD_("MKACTIVITY") || TLS_METHOD_("SUBSCRIBE") ||
	       TLS_METHOD_("UNSUBSCRIBE") || TLS_METHOD_("MKCALENDAR");
}

/*
 * The request-target after the method and its space (RFC 9112 3.2) starts
 * with '/' (origin-form), '*' (OPTIONS *), "http" (absolute-form, any case)
 * or, for CONNECT only, a host. "DELETE FROM t" (an SQL dump sent as a
 * file) or "HEAD 1" (NNTP) are no requests.
 */
static inline int tls_target_start(__u8 c, __u64 method_lo)
{
	return c == '/' || c == '*' || c == 'h' || c == 'H' ||
	       (method_lo == TLS_PACK_LO("CONNECT") && c > ' ' && c < 0x7f);
}

/* Stream direction, as seen from the traced (client) process. */
enum tls_dir {
	TLS_DIR_TX = 0, /* bytes the process wrote: the requests */
	TLS_DIR_RX = 1, /* bytes the process read: the responses */
};

enum tls_event_kind {
	TLS_EV_DATA = 1,  /* one SSL_write/SSL_read(_ex) that moved > 0 bytes */
	TLS_EV_CLOSE = 2, /* SSL_shutdown or SSL_free on a traced connection */
	TLS_EV_ROLE = 3,  /* a process showed a new role: len holds TLS_ROLE_* bits */
};

/*
 * The probed functions. With uprobe_multi links one program serves them all
 * and the attach cookie says which function was hit. Conventions (x86-64
 * SysV): the connection object is the first argument; results are read at
 * the return probe.
 */
enum tls_func {
	TLS_FN_SSL_WRITE = 1,	      /* int (SSL *, const void *buf, int num): bytes or <= 0 */
	TLS_FN_SSL_WRITE_EX,	      /* int (SSL *, const void *, size_t, size_t *written): 1 ok */
	TLS_FN_SSL_READ,	      /* int (SSL *, void *buf, int num): bytes or <= 0 */
	TLS_FN_SSL_READ_EX,	      /* int (SSL *, void *, size_t, size_t *readbytes): 1 ok */
	TLS_FN_SSL_SHUTDOWN,	      /* int (SSL *): the connection ends (entry only) */
	TLS_FN_SSL_FREE,	      /* void (SSL *): the connection ends (entry only) */
	TLS_FN_SSL_SET_CONNECT_STATE, /* void (SSL *): client marker, every client calls it */
	TLS_FN_SSL_SET_ACCEPT_STATE,  /* void (SSL *): server marker, no client calls it */
	/* GnuTLS: the connection object is the gnutls_session_t. */
	TLS_FN_GNUTLS_SEND,   /* ssize_t (session, const void *, size_t): bytes or < 0;
			       * after GNUTLS_E_AGAIN/_INTERRUPTED, (session, NULL, 0)
			       * means "the same data as before" */
	TLS_FN_GNUTLS_RECV,   /* ssize_t (session, void *, size_t): bytes, 0 (end) or < 0 */
	TLS_FN_GNUTLS_BYE,    /* int (session, how): the connection ends (entry only) */
	TLS_FN_GNUTLS_DEINIT, /* void (session): the connection ends (entry only) */
	TLS_FN_GNUTLS_INIT,   /* int (gnutls_session_t *, unsigned flags): role marker,
			       * GNUTLS_CLIENT (2) or GNUTLS_SERVER (1) in flags */
	/*
	 * Go crypto/tls, register ABI (Go >= 1.17, amd64): the connection
	 * object is the *tls.Conn; arguments in RAX (receiver), RBX, RCX
	 * (the []byte's pointer and length); the goroutine's g in R14. No
	 * return probes on Go (a rewritten return address breaks goroutine
	 * stack copies): the _RET functions are uprobes on every return
	 * instruction of the function, where RAX holds n. In-flight calls
	 * are keyed by goroutine, which may move between threads.
	 */
	TLS_FN_GO_WRITE,	    /* (*Conn).Write(b []byte) (n int, err error): entry */
	TLS_FN_GO_WRITE_RET,	    /* a return instruction of (*Conn).Write */
	TLS_FN_GO_READ,		    /* (*Conn).Read(b []byte) (n int, err error): entry */
	TLS_FN_GO_READ_RET,	    /* a return instruction of (*Conn).Read */
	TLS_FN_GO_READ_RET_SPILLED, /* the same, where Read keeps c and b's pointer in
				     * their spill slots ([RSP+8], [RSP+16]): no entry probe */
	TLS_FN_GO_CLOSE,	    /* (*Conn).Close() error: the connection ends */
	TLS_FN_GO_CLIENT_HS,	    /* (*Conn).clientHandshake: client marker */
	TLS_FN_GO_SERVER_HS,	    /* (*Conn).serverHandshake: server marker */
	TLS_FN_COUNT,		    /* for arrays indexed by enum tls_func */
};

/* What a process was seen doing, host-wide (the "procs" map). */
#define TLS_ROLE_CLIENT 1u /* set up a client connection */
#define TLS_ROLE_SERVER 2u /* set up a server connection, or answered HTTP */

struct tls_proc_state {
	__u32 roles;
};

/* A TLS connection: the SSL* pointer is unique only inside one process. */
struct tls_conn_key {
	__u32 tgid;
	__u32 pad; /* always zero, so the key hashes the same on both sides */
	__u64 ssl;
};

/*
 * Kernel-side state of a connection classified as an HTTP client. The h2_*
 * fields are the HTTP/2 frame walk's (TLS_EVF_H2_FRAMED), per enum tls_dir;
 * only the kernel reads them.
 */
struct tls_conn_state {
	__u64 off[2];	  /* bytes moved so far, per enum tls_dir */
	__u64 conn_id;	  /* tells apart connections that reuse an SSL* address */
	__u32 h2_left[2]; /* bytes left in the current frame payload (TX: the preface first) */
	__u32 h2_hdr[2];  /* the first (up to 4) bytes of a frame header cut by a call's end */
	__u8 h2_have[2];  /* how many bytes of that header were seen: 0..8 */
	__u8 h2_data[2];  /* the current payload is a DATA frame's: counted, not copied */
	__u8 h2;	  /* 1: this connection's frames are walked */
	__u8 pad[3];
};

/*
 * Written by the daemon only: stream offsets (per direction) below which no
 * byte needs copying, because the parser knows they are body bytes. This is
 * how bodies are never copied to user space, only counted. Applies only to
 * the connection with the same conn_id (the daemon lags behind the kernel,
 * and the SSL* may already belong to a new connection). Both offsets at
 * TLS_SKIP_ALL: the daemon does not want this connection at all (not HTTP/1).
 * until[TLS_DIR_TX] at TLS_SKIP_TO_REQUEST: the daemon lost its place in the
 * stream (a lost record, bytes it could not parse) and waits for the next
 * request; the kernel counts every byte of both directions, copying none,
 * until a write starts like a request (looks_like_request), and from that
 * write on copies everything again (it sets both offsets to 0 itself, so
 * that the response is not lost while the daemon catches up).
 */
#define TLS_SKIP_ALL	    (~0ULL)
#define TLS_SKIP_TO_REQUEST (~0ULL - 1)
struct tls_conn_skip {
	__u64 until[2];
	__u64 conn_id;
};

/*
 * One ring buffer record. data[] holds data_len bytes that start data_skip
 * bytes into the call's buffer; the call itself moved len bytes starting at
 * stream offset stream_off. Bytes not copied are either declared skippable
 * (before data) or beyond TLS_DATA_MAX (after data).
 */
struct tls_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): write entry, read return */
	__u64 ssl;
	__u64 conn_id;
	__u64 stream_off;
	__u32 tgid;
	__u32 tid;
	__u32 len;
	__u32 data_skip;
	__u32 data_len;
	__u8 kind;  /* enum tls_event_kind */
	__u8 dir;   /* enum tls_dir */
	__u8 flags; /* TLS_EVF_* */
	__u8 pad;
	char comm[16];
	__u8 data[];
};

/*
 * HTTP/2 connections (the first write is the client preface) are walked
 * frame by frame in the kernel, so that DATA payloads are counted, never
 * copied. A record of such a connection has TLS_EVF_H2_FRAMED: data holds
 * the call's bytes minus the payloads of DATA frames (frame headers and all
 * other frames kept, in order), and data_skip is how many bytes of the
 * call (real bytes, not data bytes) come before the first frame header that
 * starts in it (len when none starts): a parser that lost its place starts
 * again there. TLS_EVF_H2_TAIL_DATA: those bytes are the tail of a DATA
 * payload (not in data); otherwise they are all in data. A call that starts
 * with the rest of a frame header the previous call cut, then a DATA
 * payload's tail, fits neither: its record says no header starts (data_skip
 * = len). stream_off and len stay those of the real stream, so a lost
 * record is a gap as before. TLS_EVF_CUT: framed bytes beyond data_len were
 * not copied (TLS_DATA_MAX, or the ring buffer was full: data_len 0,
 * data_skip = len); the parser treats the rest of the call as
 * lost. When the walk cannot keep up (too many frames in one call), the
 * kernel stops walking that connection: the rest of the call and every
 * later record come without TLS_EVF_H2_FRAMED (raw bytes, tls_conn_skip
 * honoured), and the parser walks the frames itself.
 */
#define TLS_EVF_H2_FRAMED    1u
#define TLS_EVF_CUT	     2u
#define TLS_EVF_H2_TAIL_DATA 4u

/* Counters in the per-CPU "stats" array; the daemon sums and reports them. */
enum tls_stat {
	TLS_STAT_EVENTS = 0,	  /* records submitted */
	TLS_STAT_RINGBUF_FULL,	  /* records lost: ring buffer full */
	TLS_STAT_PENDING_FULL,	  /* calls not traced: in-flight table full */
	TLS_STAT_CONN_NEW,	  /* connections classified as HTTP clients */
	TLS_STAT_READ_FAULT,	  /* user memory could not be read */
	TLS_STAT_DATA_DROPPED,	  /* records sent without their bytes: ring nearly full */
	TLS_STAT_ROLE_RESEND,	  /* role records that did not fit: sent again on the next hit */
	TLS_STAT_RETURN_MISMATCH, /* a return whose saved entry was another call's: dropped */
	TLS_STAT_MAX,
};

#endif /* TLS_TRACE_H */
