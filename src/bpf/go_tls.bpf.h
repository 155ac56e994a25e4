/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Part of tls_trace.bpf.c (included there, before on_entry): Go crypto/tls.
 *
 * Go is probed without return probes: a uretprobe replaces the return
 * address on the stack, and Go's stack copying (goroutine stacks grow by
 * being copied) then finds a return address it does not know and kills the
 * program ("unexpected return pc"). The result is read instead by uprobes
 * on every return instruction of (*Conn).Read, found by disassembly in user
 * space (src/go_elf.c): at a RET, RAX holds n. Writes are recorded at entry
 * (see on_go_write); Write's RETs only end the call.
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

/*
 * (*Conn).Write entry: the bytes are sent now. Unlike a C library's
 * caller, a Go program reads on another goroutine (another thread) than it
 * writes: the response can be read, and its Read return reached, before
 * the writing goroutine reaches Write's return. So the write is recorded at
 * entry (Write sends all of b or fails), which puts the request before its
 * response in the ring buffer and opens the connection before its first
 * read returns. The entry kept until a RET of Write tells a second run of
 * the entry (after runtime.morestack) from a new write: same goroutine,
 * same arguments.
 */
static __always_inline int on_go_write(struct pt_regs *ctx)
{
	__u64 conn = ctx->rax, buf = ctx->rbx, num = ctx->rcx;
	struct go_call_key key = go_key(ctx);
	struct call_args *prev = bpf_map_lookup_elem(&go_inflight, &key);
	struct call_args a;

	if (prev && prev->fn == TLS_FN_GO_WRITE && prev->ssl == conn && prev->buf == buf &&
	    prev->num == num)
		return 0; /* the same call, entered again after growing its stack */
	if (!write_args(&a, conn, buf, num, 0, 0))
		return 0;
	a.fn = TLS_FN_GO_WRITE;
	if (bpf_map_update_elem(&go_inflight, &key, &a, BPF_ANY))
		count(TLS_STAT_PENDING_FULL);
	on_result(&a, TLS_DIR_TX, num);
	return 0;
}

/*
 * (*Conn).Read entry: keep the arguments for a RET. Kept even on a
 * connection not traced (yet): Go's HTTP transport starts reading (a
 * goroutine blocked in Read) before the first request is written. The
 * return checks the connection again.
 */
static __always_inline int on_go_read(struct pt_regs *ctx)
{
	struct go_call_key key = go_key(ctx);
	struct call_args a;

	set_args(&a, ctx->rax, ctx->rbx, 0, 0, 0, 0);
	a.fn = TLS_FN_GO_READ;
	if (bpf_map_update_elem(&go_inflight, &key, &a, BPF_ANY))
		count(TLS_STAT_PENDING_FULL);
	return 0;
}

/* A return instruction of Read (n in RAX) or of Write (its entry is done). */
static __always_inline int on_go_return(struct pt_regs *ctx, __u32 entry_fn)
{
	struct go_call_key key = go_key(ctx);
	struct call_args *args = bpf_map_lookup_elem(&go_inflight, &key);
	long n = ctx->rax;

	if (!args)
		return 0;
	if (args->fn != entry_fn)
		count(TLS_STAT_RETURN_MISMATCH);
	else if (entry_fn == TLS_FN_GO_READ)
		on_result(args, TLS_DIR_RX, n > 0 ? n : 0);
	bpf_map_delete_elem(&go_inflight, &key);
	return 0;
}

/*
 * A RET of a Read proven (go_spill.c) to keep its receiver and b's pointer
 * in their spill slots, at [RSP+8] and [RSP+16] when it returns: one probe
 * hit per read, and no read is lost for having started before the probes
 * were attached (a goroutine blocked in Read on an idle keep-alive
 * connection, when the daemon starts or re-arms the process).
 */
static __always_inline int on_go_read_ret_spilled(struct pt_regs *ctx)
{
	__u64 slot[2];
	struct call_args a;
	long n = ctx->rax;

	if (n <= 0)
		return 0;
	if (bpf_probe_read_user(slot, sizeof(slot), (void *)(ctx->rsp + 8))) {
		count(TLS_STAT_READ_FAULT);
		return 0;
	}
	set_args(&a, slot[0], slot[1], 0, 0, 0, 0);
	a.fn = TLS_FN_GO_READ;
	on_result(&a, TLS_DIR_RX, n);
	return 0;
}

static __always_inline int on_go_probe(struct pt_regs *ctx, __u64 fn)
{
	switch (fn) {
	case TLS_FN_GO_WRITE:
		return on_go_write(ctx);
	case TLS_FN_GO_WRITE_RET:
		return on_go_return(ctx, TLS_FN_GO_WRITE);
	case TLS_FN_GO_READ:
		return on_go_read(ctx);
	case TLS_FN_GO_READ_RET:
		return on_go_return(ctx, TLS_FN_GO_READ);
	case TLS_FN_GO_READ_RET_SPILLED:
		return on_go_read_ret_spilled(ctx);
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
