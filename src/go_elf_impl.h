/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internals of the Go executable analysis (go_elf.h), shared by its three
 * files: go_elf.c (the file, build info, .symtab, the API), go_pclntab.c
 * (.gopclntab and runtime.moduledata) and go_rets.c (return instructions).
 *
 * The file is read through a bounded view (elf_view.h: pread, never
 * mapped). Big tables are read through windows of GO_WINDOW bytes, so an
 * analysis costs a few such buffers however large the executable is.
 */
#ifndef GO_ELF_IMPL_H
#define GO_ELF_IMPL_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capstone/capstone.h>
#include "elf_view.h"
#include "go_elf.h"

/* Bytes per window read (and per table chunk searched for names). */
#define GO_WINDOW (64 * 1024)
/* Longest function name looked for (Go's longest real names are ~200). */
#define GO_NAME_MAX 512
/* Places in a name table where a wanted name may stand; more means a hostile table. */
#define GO_HITS_MAX 256

/* A range of the file: a section or a table. */
struct go_extent {
	uint64_t off, size;
	uint64_t vaddr; /* 0 when not loaded */
};

/*
 * The file as a bounded view (elf_view.h), refused (-ENOEXEC) unless it is
 * a 64-bit little-endian x86-64 file.
 */
int go_file_open(struct elf_view *f, int fd);

/* The first section whose name is NAME (or ends with it when SUFFIX), with file bytes. */
bool go_section(const struct elf_view *f, const char *name, bool suffix, struct go_extent *e);

/* A window on the file: go_win returns LEN (<= GO_WINDOW) bytes at OFF, or NULL. */
struct go_window {
	const struct elf_view *f;
	uint64_t off;
	size_t len;
	uint8_t *buf;
};

int go_win_init(struct go_window *w, const struct elf_view *f);
void go_win_free(struct go_window *w);
const uint8_t *go_win(struct go_window *w, uint64_t off, size_t len);

static inline uint32_t go_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t go_le64(const uint8_t *p)
{
	return (uint64_t)go_le32(p) | (uint64_t)go_le32(p + 4) << 32;
}

/* Where a wanted name stands in a table of NUL-terminated names. */
struct go_hit {
	uint64_t pos;  /* offset in the table */
	unsigned want; /* index of the wanted name */
};

/*
 * Every position of TAB where one of the N NAMES stands followed by a NUL,
 * sorted by position (at most GO_HITS_MAX: a hostile table's first ones).
 * Names longer than GO_NAME_MAX, or empty, are not looked for.
 */
int go_find_names(const struct elf_view *f, const struct go_extent *tab, const char *const *names,
		  size_t n, struct go_hit *hits, size_t *nhits);
/* The hits at POS (a run in the sorted array), or NULL. */
const struct go_hit *go_hit_at(const struct go_hit *hits, size_t nhits, uint64_t pos,
			       size_t *count);

/* A function as one table tells it: virtual address and size (0: unknown). */
struct go_sym {
	bool found;
	bool ambiguous; /* two different definitions */
	uint64_t vaddr, size;
};

/*
 * .gopclntab. go_pcln_funcs fills SYMS[i] for each of the N NAMES; the
 * size is up to the next function's entry, so it includes the padding.
 * Both return 0, -ENOENT (no table), or -errno with WHY set (the table
 * exists but cannot be trusted).
 */
struct go_pcln;
int go_pcln_funcs(const struct elf_view *f, const char *const *names, size_t n, struct go_sym *syms,
		  char *why, size_t whylen);

/*
 * The return instructions of FN (entry at file offset OFF, virtual address
 * VADDR, SIZE bytes, padding included or not): fills fn->nret and
 * fn->ret_offset, or returns -errno with fn->why set.
 */
/* go_spill.c: sets fn->args_spilled from the function's code (see go_elf.h). */
void go_find_spills(csh h, const uint8_t *code, uint64_t size, uint64_t vaddr, struct go_func *fn);

int go_find_rets(const struct elf_view *f, uint64_t off, uint64_t vaddr, uint64_t size,
		 struct go_func *fn);

#endif /* GO_ELF_IMPL_H */
