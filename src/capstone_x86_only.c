// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Capstone, x86 only. Debian's libcapstone.a holds every architecture, and
 * its cs.c refers to each one's init and option functions, so a static link
 * takes them all: 6.6 MB, where x86 alone is 1.5 MB. Defining those entry
 * points here, for every architecture but x86, keeps the linker from
 * taking the others' objects from the archive; cs_open() on one of them
 * then fails with CS_ERR_ARCH. AT&T syntax is left out the same way (the
 * daemon never asks for it; instructions are only classified, not printed).
 *
 * These are capstone 4's internal entry points (cs.c: cs_arch_init and
 * cs_arch_option; X86Module.c: X86_ATT_printInst). If capstone changes
 * them, the link fails or takes the archive's objects again, and
 * test_go_elf's check that cs_open() refuses ARM fails.
 */
#include <capstone/capstone.h>
#include <stddef.h>

struct cs_struct;
struct MCInst;
struct SStream;

#define NO_ARCH(arch)                                                                              \
	cs_err arch##_global_init(struct cs_struct *ud);                                           \
	cs_err arch##_global_init(struct cs_struct *ud)                                            \
	{                                                                                          \
		(void)ud;                                                                          \
		return CS_ERR_ARCH;                                                                \
	}                                                                                          \
	cs_err arch##_option(struct cs_struct *handle, cs_opt_type type, size_t value);            \
	cs_err arch##_option(struct cs_struct *handle, cs_opt_type type, size_t value)             \
	{                                                                                          \
		(void)handle;                                                                      \
		(void)type;                                                                        \
		(void)value;                                                                       \
		return CS_ERR_ARCH;                                                                \
	}

NO_ARCH(AArch64)
NO_ARCH(ARM)
NO_ARCH(EVM)
NO_ARCH(M680X)
NO_ARCH(M68K)
NO_ARCH(Mips)
NO_ARCH(PPC)
NO_ARCH(Sparc)
NO_ARCH(SystemZ)
NO_ARCH(TMS320C64x)
NO_ARCH(XCore)

void X86_ATT_printInst(struct MCInst *mi, struct SStream *os, void *info);
void X86_ATT_printInst(struct MCInst *mi, struct SStream *os, void *info)
{
	(void)mi;
	(void)os;
	(void)info;
}
