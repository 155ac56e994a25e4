// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the Go executable analysis on synthetic files: small ELF
 * files built here with a text segment, a pclntab in the layouts of Go 1.16,
 * 1.20 and 1.26 (no text start in the header: runtime.moduledata has it),
 * build information in both formats, and hostile variants (truncated,
 * counts and offsets out of range, tables that disagree, code that leaves
 * by a tail jump). Real Go executables are in test_go_elf.c.
 *
 * With GO_ELF_CORPUS=DIR set, the synthetic files are also written to DIR:
 * the seed corpus of tests/fuzz/fuzz_go_elf.c.
 */
#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "go_elf.h"

/* The file: headers, text, pclntab (read-only data), data, section headers. */
#define TEXT_OFF	0x100
#define TEXT_VA		0x401100
#define TEXT_SIZE	0x300
#define RO_OFF		0x400
#define RO_VA		0x402400
#define RO_SIZE		0x400
#define DATA_OFF	0x800
#define DATA_VA		0x403800
#define DATA_SIZE	0x200
#define BI_OFF		DATA_OFF	   /* build information */
#define BISTR_OFF	(DATA_OFF + 0x40)  /* its version string (old format) */
#define MD_OFF		(DATA_OFF + 0x80)  /* runtime.moduledata */
#define MD_SIZE		0xc0		   /* the words the analysis reads */
#define MD2_OFF		(MD_OFF + MD_SIZE) /* room for a second one */
#define DATA_VA_OF(off) (DATA_VA + ((off)-DATA_OFF))
#define SH_OFF		0xa00
#define NSECT		5
#define SHSTR_OFF	(SH_OFF + NSECT * 64)
#define FILE_SIZE	(SHSTR_OFF + 0x80)
#define SLOT		0x40 /* each function's room in the text, padded with 0xCC */
#define FUNC_SZ		40   /* bytes of a _func written */

struct synth_func {
	const char *name;
	const uint8_t *code;
	size_t len;
};

struct synth {
	unsigned ver;	 /* 116, 120 (text start in the header) or 126 (moduledata) */
	bool sections;	 /* section headers (else found by scanning) */
	bool moduledata; /* write runtime.moduledata */
	const char *version;
	bool old_buildinfo; /* Go < 1.18: pointers to a Go string */
	const struct synth_func *funcs;
	size_t nfunc;
	/* out: where things are, for the tests that break them */
	size_t pcln_off, ftab_off, names_off, func_off[8];
	uint8_t img[FILE_SIZE];
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v, p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v), put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v), put32(p + 4, v >> 32);
}

static void write_headers(struct synth *s)
{
	static const struct {
		uint32_t flags;
		uint64_t off, va, size;
	} loads[] = {
	    {PF_R | PF_X, TEXT_OFF, TEXT_VA, TEXT_SIZE},
	    {PF_R, RO_OFF, RO_VA, RO_SIZE},
	    {PF_R | PF_W, DATA_OFF, DATA_VA, DATA_SIZE},
	};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)s->img;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TEXT_VA;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 3;
	for (size_t i = 0; i < 3; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(s->img + sizeof(*eh)) + i;

		*ph = (Elf64_Phdr){.p_type = PT_LOAD,
				   .p_flags = loads[i].flags,
				   .p_offset = loads[i].off,
				   .p_vaddr = loads[i].va,
				   .p_paddr = loads[i].va,
				   .p_filesz = loads[i].size,
				   .p_memsz = loads[i].size,
				   .p_align = 0x1000};
	}
}

static void write_sections(struct synth *s, size_t pcln_size)
{
	static const char names[] = "\0.text\0.gopclntab\0.go.buildinfo\0.shstrtab";
	Elf64_Ehdr *eh = (Elf64_Ehdr *)s->img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(s->img + SH_OFF);

	eh->e_shoff = SH_OFF;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = NSECT;
	eh->e_shstrndx = 4;
	memcpy(s->img + SHSTR_OFF, names, sizeof(names));
	sh[1] = (Elf64_Shdr){.sh_name = 1,
			     .sh_type = SHT_PROGBITS,
			     .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			     .sh_addr = TEXT_VA,
			     .sh_offset = TEXT_OFF,
			     .sh_size = TEXT_SIZE};
	sh[2] = (Elf64_Shdr){.sh_name = 7,
			     .sh_type = SHT_PROGBITS,
			     .sh_flags = SHF_ALLOC,
			     .sh_addr = RO_VA,
			     .sh_offset = RO_OFF,
			     .sh_size = pcln_size};
	sh[3] = (Elf64_Shdr){.sh_name = 18,
			     .sh_type = SHT_PROGBITS,
			     .sh_flags = SHF_ALLOC | SHF_WRITE,
			     .sh_addr = DATA_VA,
			     .sh_offset = BI_OFF,
			     .sh_size = 0x80};
	sh[4] = (Elf64_Shdr){
	    .sh_name = 32, .sh_type = SHT_STRTAB, .sh_offset = SHSTR_OFF, .sh_size = sizeof(names)};
}

static void write_buildinfo(struct synth *s)
{
	uint8_t *p = s->img + BI_OFF;
	size_t len = strlen(s->version);

	memcpy(p, "\xff Go buildinf:", 14);
	p[14] = 8;
	if (s->old_buildinfo) {
		put64(p + 16, DATA_VA_OF(BISTR_OFF));
		/* A Go string header, then the bytes. */
		put64(s->img + BISTR_OFF, DATA_VA_OF(BISTR_OFF + 16));
		put64(s->img + BISTR_OFF + 8, len);
		memcpy(s->img + BISTR_OFF + 16, s->version, len);
	} else {
		p[15] = 2;
		p[32] = len; /* a one-byte varint */
		memcpy(p + 33, s->version, len);
		p[33 + len] = 0; /* empty module information */
	}
}

/* Go 1.16 (8-byte fields, entries are addresses) or 1.18+ (4-byte, offsets from text). */
static size_t write_pclntab(struct synth *s)
{
	bool wide = s->ver == 116;
	size_t hlen = wide ? 64 : 72, field = wide ? 8 : 4, at, ftab, funcs;
	uint8_t *t = s->img + RO_OFF;
	uint32_t nameoff[8];

	s->pcln_off = RO_OFF;
	put32(t, wide ? 0xfffffffa : 0xfffffff1);
	t[6] = 1, t[7] = 8;
	put64(t + 8, s->nfunc);
	if (s->ver == 120)
		put64(t + 24, TEXT_VA);
	/* funcnametab, then one byte each for cutab, filetab, pctab. */
	at = hlen;
	s->names_off = RO_OFF + at;
	for (size_t i = 0; i < s->nfunc; i++) {
		nameoff[i] = at - hlen;
		strcpy((char *)t + at, s->funcs[i].name);
		at += strlen(s->funcs[i].name) + 1;
	}
	put64(t + hlen - 40, hlen);
	put64(t + hlen - 32, at);
	put64(t + hlen - 24, at + 1);
	put64(t + hlen - 16, at + 2);
	ftab = (at + 3 + 7) & ~(size_t)7;
	put64(t + hlen - 8, ftab);
	s->ftab_off = RO_OFF + ftab;
	funcs = ftab + (2 * s->nfunc + 1) * field;
	for (size_t i = 0; i <= s->nfunc; i++) {
		uint64_t entry = wide ? TEXT_VA + i * SLOT : i * SLOT;
		uint8_t *e = t + ftab + 2 * i * field;
		uint64_t funcoff = funcs + i * FUNC_SZ - ftab;

		if (wide) {
			put64(e, entry);
			if (i < s->nfunc)
				put64(e + 8, funcoff);
		} else {
			put32(e, entry);
			if (i < s->nfunc)
				put32(e + 4, funcoff);
		}
		if (i == s->nfunc)
			break;
		s->func_off[i] = RO_OFF + funcs + i * FUNC_SZ;
		if (wide)
			put64(t + funcs + i * FUNC_SZ, entry);
		else
			put32(t + funcs + i * FUNC_SZ, entry);
		put32(t + funcs + i * FUNC_SZ + field, nameoff[i]);
	}
	return funcs + s->nfunc * FUNC_SZ;
}

/* runtime.moduledata: the fields the analysis checks. */
static void write_moduledata(struct synth *s, size_t pcln_size)
{
	uint8_t *m = s->img + MD_OFF;
	uint64_t pcln = RO_VA, names = s->names_off - RO_OFF, ftab = s->ftab_off - RO_OFF;

	(void)pcln_size;
	put64(m, pcln);
	put64(m + 8, pcln + names);
	put64(m + 16 * 8, pcln + ftab);
	put64(m + 17 * 8, s->nfunc + 1);
	put64(m + 20 * 8, TEXT_VA);
	put64(m + 21 * 8, TEXT_VA + s->nfunc * SLOT);
	put64(m + 22 * 8, TEXT_VA);
	put64(m + 23 * 8, TEXT_VA + TEXT_SIZE);
}

static void synth_build(struct synth *s)
{
	size_t pcln_size;

	memset(s->img, 0, sizeof(s->img));
	write_headers(s);
	memset(s->img + TEXT_OFF, 0xcc, TEXT_SIZE);
	for (size_t i = 0; i < s->nfunc; i++)
		memcpy(s->img + TEXT_OFF + i * SLOT, s->funcs[i].code, s->funcs[i].len);
	pcln_size = write_pclntab(s);
	if (s->version)
		write_buildinfo(s);
	if (s->moduledata)
		write_moduledata(s, pcln_size);
	if (s->sections)
		write_sections(s, pcln_size);
}

/* The image in a memfd (or its first LEN bytes), for the fd interface. */
static int synth_fd(const struct synth *s, size_t len)
{
	int fd = memfd_create("go_synth", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s->img, len), (ssize_t)len);
	return fd;
}

static void save_seed(const struct synth *s, const char *name, size_t len)
{
	const char *dir = getenv("GO_ELF_CORPUS");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s->img, 1, len, f), len);
	fclose(f);
}

/* ---- code ----------------------------------------------------------------- */

/* The shape of a Go function: stack check, body with two returns, morestack, jump back. */
static const uint8_t code_read[] = {
    0x49, 0x3b, 0x66, 0x10,	  /* +0  cmp rsp, [r14+0x10] */
    0x76, 0x0f,			  /* +4  jbe +0x15 */
    0x48, 0x85, 0xc0,		  /* +6  test rax, rax */
    0x74, 0x03,			  /* +9  je +0xe */
    0x31, 0xc0,			  /* +11 xor eax, eax */
    0xc3,			  /* +13 ret */
    0xb8, 0x01, 0x00, 0x00, 0x00, /* +14 mov eax, 1 */
    0xf3, 0xc3,			  /* +19 rep ret */
    0xe8, 0x00, 0x00, 0x00, 0x00, /* +21 call +26 (morestack) */
    0xeb, 0xe4,			  /* +26 jmp +0 */
};
static const uint64_t code_read_rets[] = {13, 19};

static const uint8_t code_write[] = {
    0x48, 0x89, 0xc3, /* +0 mov rbx, rax */
    0xcc,	      /* +3 int3 (code follows: not padding) */
    0x90,	      /* +4 nop */
    0xc2, 0x08, 0x00, /* +5 ret 8 */
    0xeb, 0xf6,	      /* +8 jmp +0 */
    0x04, 0xcc,	      /* +10 add al, 0xcc (ends in a padding byte) */
    0xc3,	      /* +12 ret */
};
static const uint64_t code_write_rets[] = {5, 12};

static const uint8_t code_tail[] = {
    0x48, 0x85, 0xc0,		  /* test rax, rax */
    0x74, 0x01,			  /* je +6 */
    0xc3,			  /* ret */
    0xe9, 0x00, 0x10, 0x00, 0x00, /* jmp far away: a tail call */
};

static const uint8_t code_indirect[] = {0x48, 0x85, 0xc0, 0x74, 0x01, 0xc3, 0xff, 0xe0};
static const uint8_t code_invalid[] = {0x90, 0x06, 0xc3}; /* push es: not in 64-bit mode */
static const uint8_t code_mid[] = {0xeb, 0x01, 0xb8, 0xc3, 0, 0, 0, 0xc3}; /* jump into the mov */
static const uint8_t code_runs_off[] = {0xc3, 0x90};
static const uint8_t code_far[] = {0xc3, 0xcb};
static uint8_t code_many[GO_RET_MAX + 2];

static const struct synth_func funcs_std[] = {
    {"main.main", (const uint8_t[]){0xc3}, 1},
    {"crypto/tls.(*Conn).Read", code_read, sizeof(code_read)},
    {"crypto/tls.(*Conn).Write", code_write, sizeof(code_write)},
    {"crypto/tls.(*Conn).Tail", code_tail, sizeof(code_tail)},
    {"crypto/tls.(*Conn).Indirect", code_indirect, sizeof(code_indirect)},
    {"crypto/tls.(*Conn).Invalid", code_invalid, sizeof(code_invalid)},
    {"crypto/tls.(*Conn).Mid", code_mid, sizeof(code_mid)},
    {"crypto/tls.(*Conn).Many", code_many, sizeof(code_many)},
};
#define NSTD (sizeof(funcs_std) / sizeof(funcs_std[0]))

static void synth_std(struct synth *s, unsigned ver, bool sections)
{
	memset(code_many, 0xc3, sizeof(code_many));
	*s = (struct synth){.ver = ver,
			    .sections = sections,
			    .moduledata = true,
			    .version = "go1.26.0",
			    .funcs = funcs_std,
			    .nfunc = NSTD};
	synth_build(s);
}

/* Look up every standard function, with returns. */
static int lookup(const struct synth *s, size_t len, struct go_func *fn)
{
	int fd = synth_fd(s, len), ret;

	for (size_t i = 0; i < NSTD; i++)
		fn[i] = (struct go_func){.name = funcs_std[i].name, .want_rets = true};
	ret = go_elf_find_funcs(fd, fn, NSTD);
	close(fd);
	return ret;
}

static void expect_rets(const struct go_func *fn, size_t slot, const uint64_t *rets, size_t n)
{
	assert_true(fn->found);
	assert_int_equal(fn->offset, TEXT_OFF + slot * SLOT);
	assert_int_equal(fn->nret, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fn->ret_offset[i], fn->offset + rets[i]);
}

static void expect_refused(const struct go_func *fn, const char *why)
{
	assert_false(fn->found);
	if (!strstr(fn->why, why))
		fail_msg("%s: why is \"%s\", expected \"%s\"", fn->name, fn->why, why);
}

/* What every layout must give for the standard functions. */
static void expect_std(const struct go_func *fn)
{
	expect_rets(&fn[0], 0, (const uint64_t[]){0}, 1);
	expect_rets(&fn[1], 1, code_read_rets, 2);
	assert_int_equal(fn[1].size, SLOT); /* up to the next entry: padding included */
	expect_rets(&fn[2], 2, code_write_rets, 2);
	expect_refused(&fn[3], "tail jump at +0x6");
	expect_refused(&fn[4], "indirect jump at +0x6");
	expect_refused(&fn[5], "invalid instruction at +0x1");
	expect_refused(&fn[6], "middle of an instruction");
	expect_refused(&fn[7], "more than 16 return");
}

/* ---- tests ------------------------------------------------------------------ */

static void test_go126_moduledata(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	synth_std(&s, 126, false);
	save_seed(&s, "go126-nosections", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 3);
	expect_std(fn);
	/* The same with sections. */
	synth_std(&s, 126, true);
	save_seed(&s, "go126-sections", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 3);
	expect_std(fn);
}

static void test_go120_header(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	synth_std(&s, 120, true);
	s.moduledata = false;
	synth_build(&s);
	save_seed(&s, "go120", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 3);
	expect_std(fn);
}

static void test_go116(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	synth_std(&s, 116, false);
	s.moduledata = false;
	s.version = "go1.16.15";
	s.old_buildinfo = true;
	synth_build(&s);
	save_seed(&s, "go116-oldbuildinfo", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 3);
	expect_std(fn);
}

/* Go 1.26 without a moduledata that proves the text start: no offsets at all. */
static void test_go126_unproven(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	synth_std(&s, 126, true);
	s.moduledata = false;
	synth_build(&s);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	for (size_t i = 0; i < NSTD; i++) {
		expect_refused(&fn[i], "no runtime.moduledata matches");
		assert_int_equal(fn[i].offset, 0);
	}
	/* A moduledata whose minpc does not match the first entry. */
	synth_std(&s, 126, true);
	put64(s.img + MD_OFF + 20 * 8, TEXT_VA + 1);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], "no runtime.moduledata matches");
	/* One that counts another number of functions. */
	synth_std(&s, 126, true);
	put64(s.img + MD_OFF + 17 * 8, NSTD);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	/* Two that prove different text starts. */
	synth_std(&s, 126, true);
	memcpy(s.img + MD2_OFF, s.img + MD_OFF, MD_SIZE);
	put64(s.img + MD2_OFF + 20 * 8, TEXT_VA + 0x10);
	put64(s.img + MD2_OFF + 21 * 8, TEXT_VA + 0x10 + NSTD * SLOT);
	put64(s.img + MD2_OFF + 22 * 8, TEXT_VA + 0x10);
	put64(s.img + MD2_OFF + 23 * 8, TEXT_VA + TEXT_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], "candidates disagree");
}

static void test_buildinfo(void **state)
{
	static const struct {
		const char *version;
		bool old;
		int major, minor;
		bool regabi;
	} cases[] = {
	    {"go1.26.0", false, 1, 26, true},
	    {"go1.16.15", true, 1, 16, false},
	    {"go1.17.13", true, 1, 17, true},
	    {"go1.17 X:noregabi", true, 1, 17, false},
	    {"devel go1.27-1a2b3c Tue", false, 1, 27, true},
	    {"gopher", false, 0, 0, false},
	};
	struct go_build b;
	struct synth s;
	int fd;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		synth_std(&s, 126, i % 2);
		s.version = cases[i].version;
		s.old_buildinfo = cases[i].old;
		synth_build(&s);
		fd = synth_fd(&s, FILE_SIZE);
		assert_int_equal(go_elf_inspect(fd, &b), 1);
		assert_string_equal(b.version, cases[i].version);
		assert_int_equal(b.major, cases[i].major);
		assert_int_equal(b.minor, cases[i].minor);
		assert_int_equal(b.regabi, cases[i].regabi);
		assert_false(b.has_symtab);
		close(fd);
	}
	/* Without sections, the blob is found anywhere in a writable segment (after
	 * .data when externally linked), not only at its start. */
	synth_std(&s, 126, false);
	{
		Elf64_Phdr *data = (Elf64_Phdr *)(s.img + sizeof(Elf64_Ehdr)) + 2;
		uint8_t blob[0x40];

		memcpy(blob, s.img + BI_OFF, sizeof(blob));
		memset(s.img + BI_OFF, 0x5a, sizeof(blob));
		data->p_filesz = data->p_memsz = 0x10000 + sizeof(blob);
		fd = synth_fd(&s, FILE_SIZE);
		assert_int_equal(pwrite(fd, blob, sizeof(blob), DATA_OFF + 0x10000), sizeof(blob));
		assert_int_equal(go_elf_inspect(fd, &b), 1);
		assert_string_equal(b.version, "go1.26.0");
		close(fd);
	}
	/* No build information, no Go section: not Go. */
	synth_std(&s, 126, false);
	memset(s.img + BI_OFF, 0, 0x40);
	fd = synth_fd(&s, FILE_SIZE);
	assert_int_equal(go_elf_inspect(fd, &b), 0);
	close(fd);
	/* Another machine: not an ELF file we analyse. */
	synth_std(&s, 126, false);
	((Elf64_Ehdr *)s.img)->e_machine = EM_AARCH64;
	fd = synth_fd(&s, FILE_SIZE);
	assert_int_equal(go_elf_inspect(fd, &b), -ENOEXEC);
	assert_int_equal(lookup(&s, FILE_SIZE, (struct go_func[NSTD]){0}), -ENOEXEC);
	close(fd);
}

/* Every truncation of the file: no crash, and nothing found outside the file. */
static void test_truncated(void **state)
{
	struct go_func fn[NSTD];
	struct go_build b;
	struct synth s;

	for (int sections = 0; sections < 2; sections++) {
		synth_std(&s, 126, sections);
		for (size_t len = 0; len < FILE_SIZE; len += 8) {
			int fd = synth_fd(&s, len), ret;

			ret = go_elf_inspect(fd, &b);
			assert_true(ret == 1 || ret == 0 || ret == -ENOEXEC);
			close(fd);
			ret = lookup(&s, len, fn);
			assert_true(ret <= 3);
			for (size_t i = 0; ret > 0 && i < NSTD; i++)
				assert_true(!fn[i].found || fn[i].offset + fn[i].size <= len);
		}
	}
	synth_std(&s, 126, false);
	save_seed(&s, "go126-truncated", DATA_OFF + 0x40);
}

static void test_hostile_counts(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	/* nfunc far beyond the table. */
	synth_std(&s, 126, true);
	put64(s.img + s.pcln_off + 8, 0xffffffffull);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], ".gopclntab of an unknown format");
	synth_std(&s, 126, true);
	put64(s.img + s.pcln_off + 8, 1ull << 62);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], ".gopclntab of an unknown format");
	/* The same without sections: no table found, not Go as far as functions go. */
	synth_std(&s, 126, false);
	put64(s.img + s.pcln_off + 8, 0xffffffffull);
	save_seed(&s, "go126-nfunc-huge", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), -ENOEXEC);
	/* Table offsets out of the table. */
	synth_std(&s, 126, true);
	put64(s.img + s.pcln_off + 64, 0x7fffffffffffffffull);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], ".gopclntab of an unknown format");
	synth_std(&s, 126, true);
	put64(s.img + s.pcln_off + 32, RO_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], ".gopclntab of an unknown format");
}

static void test_hostile_entries(void **state)
{
	struct go_func fn[NSTD];
	struct synth s;

	/* A function's _func offset out of the table: the table is corrupt. */
	synth_std(&s, 126, true);
	put32(s.img + s.ftab_off + 3 * 8 + 4, 0xfffffff0u);
	save_seed(&s, "go126-funcoff-out", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], "function table entry 3 is corrupt");
	/* Entries out of order. */
	synth_std(&s, 126, true);
	put32(s.img + s.ftab_off + 2 * 8, 0x2000);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[0], "function table entry 2 is corrupt");
	/* A _func that does not repeat its entry. */
	synth_std(&s, 126, true);
	put32(s.img + s.func_off[1], 0x7);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[2], "function 1: _func and table disagree");
	/* A name offset out of the name table: that function has no name we know. */
	synth_std(&s, 126, true);
	put32(s.img + s.func_off[1] + 4, 0x7ffffff0u);
	save_seed(&s, "go126-nameoff-out", FILE_SIZE);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 2);
	expect_refused(&fn[1], "not in .symtab or .gopclntab");
	/* The end entry past the text: the last function leaves the executable segment. */
	synth_std(&s, 120, true);
	put32(s.img + s.ftab_off + NSTD * 8, 0x10000);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 3);
	expect_refused(&fn[NSTD - 1], "not in an executable segment");
	/* The same in Go 1.26: the moduledata's maxpc then proves nothing. */
	synth_std(&s, 126, true);
	put32(s.img + s.ftab_off + NSTD * 8, 0x10000);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], "no runtime.moduledata matches");
	/* The text start pointing into data (Go 1.20 header). */
	synth_std(&s, 120, true);
	put64(s.img + s.pcln_off + 24, DATA_VA);
	assert_int_equal(lookup(&s, FILE_SIZE, fn), 0);
	expect_refused(&fn[1], "text start 0x403800 not in an executable segment");
}

/* Functions that leave otherwise than by RET, and padding handling. */
static void test_rets_edge(void **state)
{
	const struct synth_func funcs[] = {
	    {"a", code_runs_off, sizeof(code_runs_off)},
	    {"b", code_far, sizeof(code_far)},
	    {"c", (const uint8_t[]){0xcc, 0xcc}, 2},
	};
	struct go_func fn[3] = {{.name = "a", .want_rets = true},
				{.name = "b", .want_rets = true},
				{.name = "c", .want_rets = false}};
	struct synth s = {
	    .ver = 126, .moduledata = true, .funcs = funcs, .nfunc = 3, .version = "go1.26.1"};
	int fd;

	synth_build(&s);
	save_seed(&s, "go126-rets-edge", FILE_SIZE);
	fd = synth_fd(&s, FILE_SIZE);
	assert_int_equal(go_elf_find_funcs(fd, fn, 3), 1);
	expect_refused(&fn[0], "runs past its end");
	expect_refused(&fn[1], "far return");
	/* Without want_rets, only the entry is proven. */
	assert_true(fn[2].found);
	assert_int_equal(fn[2].offset, TEXT_OFF + 2 * SLOT);
	assert_int_equal(fn[2].nret, 0);
	fn[2].want_rets = true;
	assert_int_equal(go_elf_find_funcs(fd, fn, 3), 0);
	expect_refused(&fn[2], "runs past its end");
	close(fd);
}

static void test_bad_arguments(void **state)
{
	struct go_func fn = {.name = NULL};
	struct go_build b;
	struct synth s;
	int fd;

	assert_int_equal(go_elf_find_funcs(-1, &fn, 1), -EBADF);
	assert_int_equal(go_elf_inspect(-1, &b), -EBADF);
	assert_int_equal(go_elf_find_funcs(0, NULL, 1), -EINVAL);
	synth_std(&s, 126, true);
	fd = synth_fd(&s, FILE_SIZE);
	assert_int_equal(go_elf_find_funcs(fd, &fn, 1), 0);
	expect_refused(&fn, "no such name");
	assert_int_equal(go_elf_find_funcs(fd, NULL, 0), 0);
	close(fd);
	/* An empty file is not ELF. */
	fd = memfd_create("empty", MFD_CLOEXEC);
	assert_int_equal(go_elf_inspect(fd, &b), -ENOEXEC);
	close(fd);
}

/* Only x86 is linked from capstone (src/capstone_x86_only.c). */
static void test_capstone_x86_only(void **state)
{
	csh h;

	assert_int_equal(cs_open(CS_ARCH_ARM, CS_MODE_ARM, &h), CS_ERR_ARCH);
	assert_int_equal(cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &h), CS_ERR_ARCH);
	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h), CS_ERR_OK);
	cs_close(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_go126_moduledata),
	    cmocka_unit_test(test_go120_header),
	    cmocka_unit_test(test_go116),
	    cmocka_unit_test(test_go126_unproven),
	    cmocka_unit_test(test_buildinfo),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_hostile_counts),
	    cmocka_unit_test(test_hostile_entries),
	    cmocka_unit_test(test_rets_edge),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_capstone_x86_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
