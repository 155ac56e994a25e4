/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Part of tls_trace.bpf.c (included there, before on_entry): Go crypto/tls.
 *
 * Go is probed without return probes: a uretprobe replaces the return
 * address on the stack, and Go's stack copying (goroutine stacks grow by
 * being copied) then finds a return address it does not know and kills the
 * program ("unexpected return pc"). The result is read instead by uprobes
 * on every return instruction of (*Conn).Read and (*Conn).Write, found by
 * disassembly in user space (src/go_elf.c): at a RET, RAX holds n.
 *
 * Register ABI (Go >= 1.17, amd64): the receiver *tls.Conn in RAX, the
 * []byte's pointer and length in RBX and RCX; R14 holds the running
 * goroutine's g. A goroutine blocked in Read may resume on another thread,
 * so calls in flight are keyed by (process, g), not by thread. The entry of
 * a Go function can run twice for one call (its stack check calls
 * runtime.morestack, which jumps back to the entry): the second run saves
 * the same arguments again, harmlessly.
 */
#ifndef GO_TLS_BPF_H
#define GO_TLS_BPF_H

struct go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, struct go_call_key);
	__type(value, struct call_args);
} go_inflight SEC(".maps");

static __always_inline struct go_call_key go_key(struct pt_regs *ctx)
{
	struct go_call_key key = {
	    .tgid = bpf_get_current_pid_tgid() >> 32,
	    .pad = 0,
	    .g = ctx->r14,
	};
	return key;
}

/* (*Conn).Write or (*Conn).Read entry: keep the arguments for a RET. */
static __always_inline int on_go_entry(struct pt_regs *ctx, __u32 fn, __u8 dir)
{
	__u64 conn = ctx->rax, buf = ctx->rbx, num = ctx->rcx;
	struct go_call_key key = go_key(ctx);
	struct call_args a;

	/*
	 * A read is kept even on a connection not traced (yet): Go's HTTP
	 * transport starts reading (a goroutine blocked in Read) before the
	 * first request is written. The return checks the connection again.
	 */
	if (dir == TLS_DIR_TX) {
		if (!write_args(&a, conn, buf, num, 0, 0))
			return 0;
	} else {
		set_args(&a, conn, buf, 0, 0, 0, 0);
	}
	a.fn = fn;
	if (bpf_map_update_elem(&go_inflight, &key, &a, BPF_ANY))
		count(TLS_STAT_PENDING_FULL);
	return 0;
}

/* A return instruction of the function whose entry is entry_fn: n in RAX. */
static __always_inline int on_go_return(struct pt_regs *ctx, __u32 entry_fn, __u8 dir)
{
	struct go_call_key key = go_key(ctx);
	struct call_args *args = bpf_map_lookup_elem(&go_inflight, &key);
	long n = ctx->rax;

	if (!args)
		return 0;
	if (args->fn != entry_fn) {
		count(TLS_STAT_RETURN_MISMATCH);
	} else {
		on_result(args, dir, n > 0 ? n : 0);
	}
	bpf_map_delete_elem(&go_inflight, &key);
	return 0;
}

static __always_inline int on_go_probe(struct pt_regs *ctx, __u64 fn)
{
	switch (fn) {
	case TLS_FN_GO_WRITE:
		return on_go_entry(ctx, fn, TLS_DIR_TX);
	case TLS_FN_GO_WRITE_RET:
		return on_go_return(ctx, TLS_FN_GO_WRITE, TLS_DIR_TX);
	case TLS_FN_GO_READ:
		return on_go_entry(ctx, fn, TLS_DIR_RX);
	case TLS_FN_GO_READ_RET:
		return on_go_return(ctx, TLS_FN_GO_READ, TLS_DIR_RX);
	case TLS_FN_GO_CLOSE:
		return on_close(ctx->rax);
	case TLS_FN_GO_CLIENT_HS:
		mark_role(TLS_ROLE_CLIENT);
		return 0;
	case TLS_FN_GO_SERVER_HS:
		mark_role(TLS_ROLE_SERVER);
		return 0;
	}
	return 0;
}

#endif /* GO_TLS_BPF_H */
