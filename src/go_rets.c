// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The return instructions of a Go function, by disassembling it with
 * capstone (linked for x86 only: capstone_x86_only.c).
 *
 * A linear sweep is sound for Go code: the Go toolchain puts no data in
 * .text (jump tables and constants live in .rodata). The sweep is checked
 * rather than trusted: every instruction must decode, every direct jump must
 * land on an instruction boundary inside the function, and the code must
 * end in an instruction that does not fall through. A function that leaves
 * otherwise than by RET - a jump out of its body (a tail call), an
 * indirect jump, a far return - is refused: a return probe set would miss
 * some of its exits.
 *
 * The size given may run up to the next function (the pclntab's), so the
 * INT3 (0xCC) bytes that pad a function to its alignment end the sweep: at
 * an instruction boundary from which only 0xCC bytes remain, the function
 * is over. An INT3 followed by more code is an instruction like any other.
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "go_elf_impl.h"

#define WHY(fn, ...) snprintf((fn)->why, sizeof((fn)->why), __VA_ARGS__)

#define PAD 0xcc

struct sweep {
	uint64_t vaddr, size;
	uint64_t code_end;	   /* where the padding (0xCC to the end) starts */
	uint8_t *starts, *targets; /* bitmaps over [0, size) */
	unsigned last_id;	   /* the last instruction's */
	uint64_t last_at;
};

static void bit_set(uint8_t *map, uint64_t i)
{
	map[i / 8] |= 1u << (i % 8);
}

/* Whether the instruction cannot fall through to the next one. */
static bool ends_flow(unsigned id)
{
	return id == X86_INS_RET || id == X86_INS_JMP || id == X86_INS_UD2 || id == X86_INS_INT3 ||
	       id == X86_INS_HLT;
}

/* One instruction at +AT: 0, or -ENOEXEC with fn->why set. */
static int check_insn(csh h, const cs_insn *in, uint64_t at, struct sweep *s, struct go_func *fn,
		      uint64_t off)
{
	const cs_x86 *x = &in->detail->x86;

	bit_set(s->starts, at);
	s->last_id = in->id;
	s->last_at = at;
	switch (in->id) {
	case X86_INS_RET:
		if (fn->nret == GO_RET_MAX) {
			WHY(fn, "more than %d return instructions", GO_RET_MAX);
			return -ENOEXEC;
		}
		fn->ret_offset[fn->nret++] = off + at;
		return 0;
	case X86_INS_RETF:
	case X86_INS_RETFQ:
	case X86_INS_IRET:
	case X86_INS_IRETD:
	case X86_INS_IRETQ:
		WHY(fn, "far return at +0x%llx", (unsigned long long)at);
		return -ENOEXEC;
	default:
		break;
	}
	if (!cs_insn_group(h, in, CS_GRP_JUMP))
		return 0;
	if (in->id == X86_INS_LJMP || x->op_count != 1 || x->operands[0].type != X86_OP_IMM) {
		WHY(fn, "indirect jump at +0x%llx", (unsigned long long)at);
		return -ENOEXEC;
	}
	if ((uint64_t)x->operands[0].imm < s->vaddr ||
	    (uint64_t)x->operands[0].imm - s->vaddr >= s->size) {
		WHY(fn, "tail jump at +0x%llx to 0x%llx", (unsigned long long)at,
		    (unsigned long long)x->operands[0].imm);
		return -ENOEXEC;
	}
	bit_set(s->targets, (uint64_t)x->operands[0].imm - s->vaddr);
	return 0;
}

static int sweep(csh h, const uint8_t *code, struct sweep *s, struct go_func *fn, uint64_t off)
{
	cs_insn *in = cs_malloc(h);
	const uint8_t *p = code;
	size_t left = s->size;
	uint64_t addr = s->vaddr;
	int ret = 0;

	if (!in)
		return -ENOMEM;
	/* The last instruction may end in 0xCC bytes: decoded with all the bytes. */
	while (left > 0 && !ret && addr - s->vaddr < s->code_end) {
		uint64_t at = addr - s->vaddr;

		if (!cs_disasm_iter(h, &p, &left, &addr, in)) {
			WHY(fn, "invalid instruction at +0x%llx", (unsigned long long)at);
			ret = -ENOEXEC;
			break;
		}
		ret = check_insn(h, in, at, s, fn, off);
	}
	cs_free(in, 1);
	if (ret)
		return ret;
	/* Every jump lands on an instruction the sweep decoded. */
	for (uint64_t i = 0; i < (s->size + 7) / 8; i++) {
		uint8_t stray = s->targets[i] & ~s->starts[i];

		if (stray) {
			WHY(fn, "jump into the middle of an instruction near +0x%llx",
			    (unsigned long long)i * 8);
			return -ENOEXEC;
		}
	}
	if (!ends_flow(s->last_id)) {
		WHY(fn, "code runs past its end at +0x%llx", (unsigned long long)s->last_at);
		return -ENOEXEC;
	}
	if (!fn->nret) {
		WHY(fn, "no return instruction");
		return -ENOEXEC;
	}
	return 0;
}

int go_find_rets(const struct elf_view *f, uint64_t off, uint64_t vaddr, uint64_t size,
		 struct go_func *fn)
{
	struct sweep s = {.vaddr = vaddr, .size = size};
	uint8_t *code = malloc(size);
	csh h = 0;
	int ret;

	fn->nret = 0;
	fn->args_spilled = false;
	s.starts = calloc(size / 8 + 1, 1);
	s.targets = calloc(size / 8 + 1, 1);
	if (!code || !s.starts || !s.targets) {
		ret = -ENOMEM;
		WHY(fn, "out of memory");
		goto out;
	}
	ret = elf_view_read(f, code, size, off);
	if (ret) {
		WHY(fn, "code not readable");
		goto out;
	}
	for (s.code_end = size; s.code_end > 0 && code[s.code_end - 1] == PAD; s.code_end--)
		;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK ||
	    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
		ret = -ENOSYS;
		WHY(fn, "disassembler unavailable");
		goto out;
	}
	ret = sweep(h, code, &s, fn, off);
	if (!ret)
		go_find_spills(h, code, s.code_end, vaddr, fn);
out:
	if (h)
		cs_close(&h);
	if (ret)
		fn->nret = 0;
	free(code);
	free(s.starts);
	free(s.targets);
	return ret;
}
