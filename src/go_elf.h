/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Go executables: what the Go TLS back end needs to probe crypto/tls inside
 * a statically linked Go program, found whether or not it keeps its symbol
 * table.
 *
 * - The build: .go.buildinfo (Go version), and whether it uses the
 *   register ABI (Go >= 1.17 on amd64), which the probes require.
 * - Functions by full Go name ("crypto/tls.(*Conn).Read"): from .symtab
 *   when present, else from .gopclntab (binaries built -ldflags='-s -w').
 *   The function table's entries are relative to the text start, which the
 *   pclntab header holds up to Go 1.25 and runtime.moduledata holds from
 *   Go 1.26 on: an offset that cannot be proven is not given.
 * - Return instructions: Go functions get no return probes (a uretprobe
 *   rewrites the return address, and a goroutine stack copy then fails with
 *   "unexpected return pc"); the result is read by uprobes on every RET of
 *   the function, found by disassembling it. A function that leaves by a
 *   jump out of its own body (a tail call) cannot be covered and is refused.
 *
 * Files are untrusted: every table is bounds-checked against the file, and
 * what is decoded is capped.
 */
#ifndef GO_ELF_H
#define GO_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return instructions kept per function; a function with more is refused. */
#define GO_RET_MAX 16

struct go_build {
	char version[32]; /* "go1.19.8"; "" when .go.buildinfo does not say */
	int major, minor; /* 1, 19; 0, 0 when unknown */
	bool regabi;	  /* register ABI (Go >= 1.17, amd64): the probes need it */
	bool has_symtab;  /* functions come from .symtab, else from .gopclntab */
};

struct go_func {
	const char *name;		 /* in: full Go name, "crypto/tls.(*Conn).Read" */
	bool want_rets;			 /* in: also find its return instructions */
	bool found;			 /* out: entry (and, if wanted, every return) proven */
	uint64_t offset;		 /* out: file offset of the entry */
	uint64_t size;			 /* out: bytes of code */
	unsigned nret;			 /* out: return instructions, when want_rets */
	uint64_t ret_offset[GO_RET_MAX]; /* out: their file offsets */
	/*
	 * out, with the returns: the function stores its first two argument
	 * registers (RAX, RBX: the receiver and a slice's pointer) to their
	 * spill slots before anything else can change them, and nothing else
	 * writes those slots: at each of its RETs they are at [RSP+8] and
	 * [RSP+16]. Then a RET probe alone has the call's arguments.
	 */
	bool args_spilled;
	char why[128]; /* out: when not found, why ("not in .gopclntab", "tail jump at +0x1c2") */
};

/*
 * Is the ELF file open on FD a Go executable? 1 (b filled), 0 (not Go),
 * -errno (not readable; -ENOEXEC: not a 64-bit little-endian x86-64 ELF
 * file). Go: build information (.go.buildinfo, or its magic at the start of
 * a writable segment), .note.go.buildid (or the note itself), or a
 * .gopclntab section. The version comes from the build information, in the
 * format of Go >= 1.18 (inline) or older (pointers).
 */
int go_elf_inspect(int fd, struct go_build *b);

/*
 * Find the N functions of FUNCS in the Go executable open on FD. Returns
 * how many were found (>= 0), or -errno: -ENOEXEC (not a 64-bit x86-64 ELF
 * file, neither .symtab nor a pclntab, or a corrupt .symtab), -EFBIG (a
 * .symtab over ELF_TABLE_MAX), -ENOMEM. Per function, found/why say what
 * was proven: when both .symtab and the pclntab can be read they must
 * agree; a pclntab that cannot be trusted (corrupt, text start unproven)
 * gives nothing, and its reason is the why of every function .symtab does
 * not have. Offsets are file offsets (what uprobes take), in an executable
 * segment; returns are found only for functions left by RET alone.
 */
int go_elf_find_funcs(int fd, struct go_func *funcs, size_t n);

#endif /* GO_ELF_H */
