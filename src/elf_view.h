/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A bounded, read-only view of an untrusted 64-bit ELF file, shared by the
 * symbol lookup (elf_symbols.c) and the Go analysis (go_elf.c).
 *
 * The file is read with pread, never mapped: a file truncated under us (its
 * owner may do that at any time) would raise SIGBUS in the daemon. libelf
 * (ELF_C_READ) reads the headers; the view checks that the header tables
 * and every PT_LOAD segment lie in the file before anything is read through
 * them, and every read is checked against the file size again.
 */
#ifndef ELF_VIEW_H
#define ELF_VIEW_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Real files have 2 to 6 PT_LOAD segments; many more means a hostile file. */
#define ELF_VIEW_MAX_LOADS 16

struct elf_view {
	int fd;	       /* ours: a duplicate of the caller's */
	uint64_t size; /* bound for every offset read from the file */
	Elf *elf;
	GElf_Phdr loads[ELF_VIEW_MAX_LOADS]; /* each one's file bytes lie in the file */
	size_t nloads;
	bool names; /* section names are readable (a sane .shstrtab) */
};

/*
 * Open a view of the regular file open on FD (the caller keeps FD; the view
 * reads through a duplicate, so FD's offset is not moved). Returns 0,
 * -ENOEXEC (not a 64-bit ELF file, or header tables or a PT_LOAD segment
 * outside the file), -ENOSYS (libelf unusable) or -errno.
 */
int elf_view_open(struct elf_view *v, int fd);
void elf_view_close(struct elf_view *v);

/* Whether LEN bytes at OFF lie in the file, without overflowing. */
bool elf_view_in_file(const struct elf_view *v, uint64_t off, uint64_t len);

/* Read LEN bytes at OFF: 0, -ENOEXEC (outside the file, or truncated under us), -errno. */
int elf_view_read(const struct elf_view *v, void *buf, size_t len, uint64_t off);

/*
 * The PT_LOAD segment holding [vaddr, vaddr + len) in its file bytes, and
 * the file offset of vaddr; NULL if none. EXEC: only executable segments.
 */
const GElf_Phdr *elf_view_vaddr_to_off(const struct elf_view *v, uint64_t vaddr, uint64_t len,
				       bool exec, uint64_t *off);

#endif /* ELF_VIEW_H */
