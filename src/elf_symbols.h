/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Function symbol lookup in ELF files (libelf), giving the file offsets
 * uprobes are attached at. Files are untrusted: tables are checked against
 * the file size before libelf reads them.
 */
#ifndef ELF_SYMBOLS_H
#define ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A table larger than this is refused (-EFBIG): reading it would take too
 * long, and no real library comes close (node's .symtab: 10 MB). */
#define ELF_TABLE_MAX_MB 256
#define ELF_TABLE_MAX	 ((uint64_t)ELF_TABLE_MAX_MB * 1024 * 1024)

struct elf_symbol {
	const char *name; /* in: exact name, without version ("SSL_write") */
	uint64_t offset;  /* out: file offset of the function's first byte */
	bool found;	  /* out */
};

/*
 * Look up the N function symbols of SYMS in .dynsym and .symtab of the
 * 64-bit ELF file PATH. Only defined STT_FUNC symbols count (GNU ifuncs are
 * resolvers, not the function, so they are ignored); a version suffix
 * ("@@OPENSSL_3.0.0", "@OPENSSL_1_1_0") is not part of the name. When a name
 * is defined several times, the default version of a global symbol wins.
 *
 * Returns the number of symbols found (>= 0), -ENOENT (and other open
 * errors) when the file cannot be opened, -ENOEXEC when it is not a 64-bit
 * ELF file or is corrupt, -EFBIG when a table it would read is larger than
 * ELF_TABLE_MAX, -ENOMEM.
 */
int elf_find_symbols(const char *path, struct elf_symbol *syms, size_t n);
/* The same on an open descriptor (the caller keeps it; it is not moved). */
int elf_find_symbols_fd(int fd, struct elf_symbol *syms, size_t n);

#define ELF_HAS_SYMTAB (1 << 0) /* .symtab: all symbols, absent when stripped */
#define ELF_HAS_DYNSYM (1 << 1) /* .dynsym: exported symbols only */

#define ELF_HAS_INTERP (1 << 2) /* PT_INTERP: dynamically linked */
#define ELF_IS_GO      (1 << 3) /* built by the Go toolchain */

/*
 * What kind of ELF file this is, for the coverage report: ELF_HAS_* and
 * ELF_IS_GO bits, or -errno (-ENOEXEC when not a readable ELF file).
 */
int elf_inspect(const char *path);
int elf_inspect_fd(int fd);

/* Calls cb with each DT_NEEDED library name (a soname) of the file; a
 * nonzero return stops. Returns the number of names, or -errno. */
typedef int (*elf_needed_cb)(const char *soname, void *ctx);
int elf_needed(const char *path, elf_needed_cb cb, void *ctx);
int elf_needed_fd(int fd, elf_needed_cb cb, void *ctx);

#endif /* ELF_SYMBOLS_H */
