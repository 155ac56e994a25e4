/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Part of tls_trace.bpf.c (included there, before on_close): GnuTLS sends
 * interrupted and retried, folded into one write.
 */
#ifndef GNUTLS_BPF_H
#define GNUTLS_BPF_H

/*
 * A GnuTLS send that returned GNUTLS_E_AGAIN or _INTERRUPTED: its record
 * is formed and waits in the library. The caller calls again with the same
 * arguments or with (NULL, 0), "the same data as before": that retry is
 * traced as the first attempt (its buffer, its time of first byte), and the
 * bytes are counted once, when a call finally returns how many were sent.
 */
struct gnutls_pending {
	__u64 buf;
	__u64 num;
	__u64 ts_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tls_conn_key);
	__type(value, struct gnutls_pending);
} gnutls_pending SEC(".maps");

#define GNUTLS_E_AGAIN	     (-28)
#define GNUTLS_E_INTERRUPTED (-52)
#define GNUTLS_SERVER	     1u
#define GNUTLS_CLIENT	     2u

/* gnutls_record_send: a (NULL, 0) retry stands for the pending attempt. */
static __always_inline int on_gnutls_send_entry(struct pt_regs *ctx, __u64 session, __u64 buf,
						__u64 num)
{
	struct tls_conn_key key = conn_key(session);
	struct gnutls_pending *p = bpf_map_lookup_elem(&gnutls_pending, &key);
	__u64 first_ts = 0;

	if (p && (!buf || (buf == p->buf && num == p->num))) {
		buf = p->buf;
		num = p->num;
		first_ts = p->ts_ns;
	}
	return on_write_entry(ctx, TLS_FN_GNUTLS_SEND, session, buf, num, 0, first_ts);
}

static __always_inline int on_gnutls_send_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *args = thread_args(ctx, TLS_FN_GNUTLS_SEND);
	long ret = PT_REGS_RC(ctx);
	struct tls_conn_key key;

	if (!args)
		return 0;
	key = conn_key(args->ssl);
	if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
		struct gnutls_pending p = {
		    .buf = args->buf, .num = args->num, .ts_ns = args->ts_ns};

		bpf_map_update_elem(&gnutls_pending, &key, &p, BPF_ANY);
		bpf_map_delete_elem(&inflight, &id);
		return 0;
	}
	bpf_map_delete_elem(&gnutls_pending, &key);
	on_result(args, TLS_DIR_TX, ret > 0 ? ret : 0);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

#endif /* GNUTLS_BPF_H */
