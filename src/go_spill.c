// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Are a Go function's first two register arguments in their spill slots at
 * each of its returns? (go_elf.h: args_spilled.)
 *
 * Go's register ABI reserves, in the caller's frame, a spill slot for every
 * register argument: at the callee's entry the slots of RAX and RBX are at
 * [RSP+8] and [RSP+16]. A function that keeps its arguments there stores
 * them in its prologue, after its frame is made (SUB RSP, frame): to
 * [RSP+frame+8] and [RSP+frame+16]. Proven here, from the code:
 *   - the prologue runs straight from the entry (only the stack check's
 *     conditional jump to the morestack block, forward) to both stores;
 *   - RSP changes once (SUB RSP, imm) before them, RAX and RBX not at all;
 *   - no other instruction of the function writes either slot (through RSP
 *     at that displacement, or through RBP, which Go sets to RSP+frame-8).
 * At a RET, RSP is back at its entry value, so the slots are at [RSP+8]
 * and [RSP+16]. Anything not matching this is "not proven": the caller
 * then probes the entry too.
 */
#include <capstone/capstone.h>
#include <string.h>

#include "go_elf_impl.h"

static bool is_reg(x86_reg r, x86_reg q64, x86_reg q32, x86_reg q16, x86_reg q8)
{
	return r == q64 || r == q32 || r == q16 || r == q8;
}

/* Does the instruction write RAX, RBX or RSP (any width)? */
static bool writes(csh h, const cs_insn *in, bool *rax, bool *rbx, bool *rsp)
{
	cs_regs rd, wr;
	uint8_t nrd, nwr;

	if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return false;
	for (uint8_t i = 0; i < nwr; i++) {
		*rax |= is_reg(wr[i], X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL);
		*rbx |= is_reg(wr[i], X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL);
		*rsp |= is_reg(wr[i], X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL);
	}
	return true;
}

/* A memory operand [RSP + disp] (or [RBP + disp - frame + 8]) of the slot at
 * RSP-relative displacement SLOT, written by the instruction? */
static bool writes_slot(const cs_insn *in, int64_t frame, int64_t slot)
{
	const cs_x86 *x = &in->detail->x86;

	for (uint8_t i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];
		int64_t at;

		if (op->type != X86_OP_MEM || !(op->access & CS_AC_WRITE))
			continue;
		if (op->mem.base == X86_REG_RSP)
			at = op->mem.disp;
		else if (op->mem.base == X86_REG_RBP)
			at = op->mem.disp + frame - 8;
		else
			continue;
		/* Any overlap with the 8-byte slot. */
		if (at < slot + 8 && at + op->size > slot)
			return true;
	}
	return false;
}

/* MOV qword [RSP + disp], REG: the register stored, else X86_REG_INVALID. */
static x86_reg stores_to(const cs_insn *in, int64_t disp)
{
	const cs_x86 *x = &in->detail->x86;

	if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_MEM ||
	    x->operands[0].size != 8 || x->operands[0].mem.base != X86_REG_RSP ||
	    x->operands[0].mem.index != X86_REG_INVALID || x->operands[0].mem.disp != disp ||
	    x->operands[1].type != X86_OP_REG)
		return X86_REG_INVALID;
	return x->operands[1].reg;
}

void go_find_spills(csh h, const uint8_t *code, uint64_t size, uint64_t vaddr, struct go_func *fn)
{
	cs_insn *in = cs_malloc(h);
	const uint8_t *p = code;
	size_t left = size;
	uint64_t addr = vaddr;
	int64_t frame = -1;
	bool prologue = true, jumped = false, rax_w = false, rbx_w = false, rsp_w = false;
	bool rax_kept = false, rbx_kept = false, ok = true;

	fn->args_spilled = false;
	if (!in)
		return;
	while (ok && left > 0 && cs_disasm_iter(h, &p, &left, &addr, in)) {
		const cs_x86 *x = &in->detail->x86;
		bool store_rax = false, store_rbx = false;

		if (prologue) {
			if (frame < 0 && in->id == X86_INS_SUB && x->op_count == 2 &&
			    x->operands[0].type == X86_OP_REG &&
			    x->operands[0].reg == X86_REG_RSP &&
			    x->operands[1].type == X86_OP_IMM && x->operands[1].imm > 0 && !rsp_w) {
				frame = x->operands[1].imm;
				continue;
			}
			if (frame >= 0) {
				store_rax =
				    !rax_kept && !rax_w && stores_to(in, frame + 8) == X86_REG_RAX;
				store_rbx =
				    !rbx_kept && !rbx_w && stores_to(in, frame + 16) == X86_REG_RBX;
				rax_kept |= store_rax;
				rbx_kept |= store_rbx;
			}
			if (!store_rax && !store_rbx) {
				if (cs_insn_group(h, in, CS_GRP_JUMP) && !jumped && frame < 0 &&
				    in->id != X86_INS_JMP && x->op_count == 1 &&
				    x->operands[0].type == X86_OP_IMM &&
				    (uint64_t)x->operands[0].imm > in->address) {
					jumped = true; /* the stack check, to the morestack block */
					continue;
				}
				if (cs_insn_group(h, in, CS_GRP_JUMP) ||
				    cs_insn_group(h, in, CS_GRP_CALL) ||
				    cs_insn_group(h, in, CS_GRP_RET) ||
				    !writes(h, in, &rax_w, &rbx_w, &rsp_w) || rsp_w)
					prologue = false;
			}
			if (rax_kept && rbx_kept)
				prologue = false;
			if (!prologue && !(rax_kept && rbx_kept))
				ok = false;
			if (store_rax || store_rbx)
				continue;
		}
		/* After the prologue: nothing else may write the slots. */
		if (frame >= 0 &&
		    (writes_slot(in, frame, frame + 8) || writes_slot(in, frame, frame + 16)))
			ok = false;
	}
	/* The morestack block stores the arguments to [RSP+8] and [RSP+16]
	 * before RSP moves (no frame yet): the same slots, same values. */
	fn->args_spilled = ok && rax_kept && rbx_kept && frame >= 0;
	cs_free(in, 1);
}
