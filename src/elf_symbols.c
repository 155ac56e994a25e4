// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Function symbol lookup for uprobes.
 *
 * A uprobe is placed at a file offset, not at a virtual address, so a
 * symbol's st_value is translated through the PT_LOAD segment that maps it.
 *
 * The file is read through a bounded view (elf_view.h): never mapped (a
 * library truncated under us would raise SIGBUS) and never read whole:
 * libelf (ELF_C_READ) reads the headers with pread, and the symbol, string
 * and dynamic tables are read by us in fixed-size chunks, after their
 * extent was checked against the file size and a size limit. So a 100 MB
 * executable or a sparse crafted file costs one 64 KiB buffer, and a table
 * over ELF_TABLE_MAX is refused (-EFBIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_symbols.h"
#include "elf_view.h"

/* .gnu.version bit of a non-default ("name@VERSION") symbol; not in glibc's <elf.h>. */
#ifndef VERSYM_HIDDEN
#define VERSYM_HIDDEN 0x8000
#endif

/* Tables are read in chunks of this size: the memory an analysis takes. */
#define ELF_CHUNK (64 * 1024)
/* Places in a string table where a wanted name may start a symbol name. */
#define ELF_CANDIDATES_MAX 256

/* Where a section's bytes are in the file. */
struct extent {
	uint64_t off, size;
};

/* One symbol table with its string table and, for .dynsym, its versions. */
struct symtab {
	struct extent syms, strs;
	struct extent versym; /* .gnu.version; size 0 if none */
};

/* A string table offset where wanted name WANT stands as a symbol name. */
struct candidate {
	uint64_t name_off;
	size_t want;
	bool dflt; /* no version, or the default one ("@@") */
};

/* Per wanted name: its length, and how good the match kept so far is (0: none). */
struct want {
	size_t len;
	int rank;
};

/* The best rank (match_symbol): a global symbol, default version. */
#define RANK_BEST 4

struct search {
	struct elf_symbol *syms;
	struct want *wants;
	size_t n;
	size_t maxlen; /* longest wanted name */
	struct candidate cand[ELF_CANDIDATES_MAX];
	size_t ncand;
};

/* The path forms open the file themselves: non-blocking, so that a FIFO
 * cannot stall the caller (it then fails as not a regular file). */
static int open_path(const char *path)
{
	int fd;

	if (!path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* Where a section's bytes are, after checking its type and that it lies in
 * the file (never compressed: tables we read are not). */
static int section_extent(const struct elf_view *f, Elf_Scn *scn, Elf64_Word type, size_t entsize,
			  struct extent *e)
{
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != type)
		return -ENOEXEC;
	if ((sh.sh_flags & SHF_COMPRESSED) || !elf_view_in_file(f, sh.sh_offset, sh.sh_size))
		return -ENOEXEC;
	if (entsize && sh.sh_entsize != entsize)
		return -ENOEXEC;
	if (sh.sh_size > ELF_TABLE_MAX)
		return -EFBIG;
	e->off = sh.sh_offset;
	e->size = sh.sh_size;
	return 0;
}

/* The .gnu.version section describing the symbol table SYMSCN, if any. */
static void find_versym(const struct elf_view *f, Elf_Scn *symscn, struct extent *e)
{
	size_t ndx = elf_ndxscn(symscn);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	e->size = 0;
	while ((scn = elf_nextscn(f->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return;
		if (sh.sh_type == SHT_GNU_versym && sh.sh_link == ndx) {
			if (section_extent(f, scn, SHT_GNU_versym, sizeof(Elf64_Half), e))
				e->size = 0;
			return;
		}
	}
}

static int symtab_open(const struct elf_view *f, Elf_Scn *scn, struct symtab *t)
{
	GElf_Shdr sh;
	int ret;

	memset(t, 0, sizeof(*t));
	if (!gelf_getshdr(scn, &sh))
		return -ENOEXEC;
	ret = section_extent(f, scn, sh.sh_type, sizeof(Elf64_Sym), &t->syms);
	if (!ret)
		ret = section_extent(f, elf_getscn(f->elf, sh.sh_link), SHT_STRTAB, 0, &t->strs);
	if (ret)
		return ret;
	/* Only .dynsym has versions in a side table; .symtab names carry them. */
	if (sh.sh_type == SHT_DYNSYM)
		find_versym(f, scn, &t->versym);
	return 0;
}

/*
 * Every place in the string table where a wanted name stands as a symbol
 * name would: followed by its end or by a version ("SSL_write@@OPENSSL_3.0.0"
 * is the default version, "@" one older). A symbol's st_name may point into
 * the middle of a longer string (merged tails), so any position counts.
 * The table is read in chunks that overlap by the longest name: memory stays
 * at one chunk however large the table is. No candidate at all (most
 * files) rules the table out before a single symbol is decoded.
 */
static int find_candidates(const struct elf_view *f, const struct symtab *t, struct search *s)
{
	size_t over = s->maxlen + 2, cap = ELF_CHUNK + over;
	uint8_t *buf = malloc(cap);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	s->ncand = 0;
	for (uint64_t base = 0; base < t->strs.size && !ret; base += ELF_CHUNK) {
		size_t len = t->strs.size - base < cap ? t->strs.size - base : cap;

		ret = elf_view_read(f, buf, len, t->strs.off + base);
		for (size_t i = 0; !ret && i < s->n; i++) {
			/* A version is never part of a name ("foo@@V2" names nothing). */
			const uint8_t *p = buf;
			size_t l = s->wants[i].len;

			if (l && memchr(s->syms[i].name, '@', l))
				l = 0;

			while (l && (p = memmem(p, len - (p - buf), s->syms[i].name, l))) {
				size_t at = p - buf;

				p++;
				if (at >= ELF_CHUNK)
					break; /* the next chunk sees it */
				if (at + l >= len || (buf[at + l] && buf[at + l] != '@'))
					continue;
				if (s->ncand == ELF_CANDIDATES_MAX)
					break; /* a hostile table: the first ones count */
				s->cand[s->ncand++] = (struct candidate){
				    .name_off = base + at,
				    .want = i,
				    .dflt = !buf[at + l] ||
					    (at + l + 1 < len && buf[at + l + 1] == '@'),
				};
			}
		}
	}
	free(buf);
	return ret;
}

static int by_name_off(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	return x->name_off < y->name_off ? -1 : x->name_off > y->name_off;
}

static bool versym_hidden(const struct elf_view *f, const struct symtab *t, size_t idx)
{
	Elf64_Half v;

	if ((idx + 1) * sizeof(v) > t->versym.size)
		return false;
	return !elf_view_read(f, &v, sizeof(v), t->versym.off + idx * sizeof(v)) &&
	       (v & VERSYM_HIDDEN);
}

/* Take SYM for every wanted name it matches better than what was kept. */
static void match_symbol(const struct elf_view *f, const struct symtab *t, size_t idx,
			 const Elf64_Sym *sym, struct search *s)
{
	struct candidate key = {.name_off = sym->st_name};
	const struct candidate *c = bsearch(&key, s->cand, s->ncand, sizeof(key), by_name_off);
	uint64_t off;

	if (!c)
		return;
	/* All candidates at this offset (bsearch found one of them). */
	while (c > s->cand && c[-1].name_off == key.name_off)
		c--;
	for (; c < s->cand + s->ncand && c->name_off == key.name_off; c++) {
		/*
		 * Callers bind to the default version of a global symbol; an
		 * older version or a local function of the same name is only
		 * a fallback.
		 */
		bool dflt = c->dflt && !versym_hidden(f, t, idx);
		int rank = 1 + (dflt ? 2 : 0) + (ELF64_ST_BIND(sym->st_info) != STB_LOCAL ? 1 : 0);

		if (s->wants[c->want].rank >= rank ||
		    !elf_view_vaddr_to_off(f, sym->st_value, 0, false, &off))
			continue;
		s->wants[c->want].rank = rank;
		s->syms[c->want].offset = off;
		s->syms[c->want].found = true;
	}
}

static int scan_symtab(const struct elf_view *f, Elf_Scn *scn, struct search *s)
{
	enum { PER_CHUNK = ELF_CHUNK / sizeof(Elf64_Sym) };
	Elf64_Sym *syms;
	struct symtab t;
	uint64_t nsyms;
	int ret;

	ret = symtab_open(f, scn, &t);
	if (!ret)
		ret = find_candidates(f, &t, s);
	if (ret || s->ncand == 0)
		return ret;
	qsort(s->cand, s->ncand, sizeof(*s->cand), by_name_off);
	syms = malloc(PER_CHUNK * sizeof(*syms));
	if (!syms)
		return -ENOMEM;
	nsyms = t.syms.size / sizeof(Elf64_Sym);
	/* Entry 0 is the reserved null symbol. */
	for (uint64_t first = 0; first < nsyms && !ret; first += PER_CHUNK) {
		size_t n = nsyms - first < PER_CHUNK ? nsyms - first : PER_CHUNK;

		ret = elf_view_read(f, syms, n * sizeof(*syms), t.syms.off + first * sizeof(*syms));
		for (size_t i = first ? 0 : 1; !ret && i < n; i++) {
			/* An ifunc symbol is the resolver, not the implementation called. */
			if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC ||
			    syms[i].st_shndx == SHN_UNDEF || !syms[i].st_value)
				continue;
			match_symbol(f, &t, first + i, &syms[i], s);
		}
	}
	free(syms);
	return ret;
}

static bool search_complete(const struct search *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->wants[i].rank < RANK_BEST)
			return false;
	}
	return true;
}

/*
 * Scan the first .dynsym and the first .symtab; there is at most one of each
 * in a sane file. When the exported symbols already gave every name its best
 * match, .symtab is not read: node's is 10 MB with its strings, and reading
 * it tripled the time from node's first mapping to its probes.
 */
static int scan_file(const struct elf_view *f, struct search *s)
{
	bool seen_dynsym = false, seen_symtab = false;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int ret;

	while ((scn = elf_nextscn(f->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (sh.sh_type == SHT_DYNSYM && !seen_dynsym)
			seen_dynsym = true;
		else if (sh.sh_type == SHT_SYMTAB && !seen_symtab)
			seen_symtab = true;
		else
			continue;
		ret = scan_symtab(f, scn, s);
		if (ret || search_complete(s))
			return ret;
	}
	return 0;
}

static int search_init(struct search *s, struct elf_symbol *syms, size_t n)
{
	size_t i;

	s->syms = syms;
	s->n = n;
	s->maxlen = 0;
	s->wants = calloc(n ? n : 1, sizeof(*s->wants));
	if (!s->wants)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		syms[i].offset = 0;
		syms[i].found = false;
		s->wants[i].len = syms[i].name ? strlen(syms[i].name) : 0;
		if (s->wants[i].len > s->maxlen)
			s->maxlen = s->wants[i].len;
	}
	return 0;
}

int elf_find_symbols_fd(int fd, struct elf_symbol *syms, size_t n)
{
	struct elf_view f;
	struct search s;
	size_t i;
	int ret;

	if (n && !syms)
		return -EINVAL;
	ret = search_init(&s, syms, n);
	if (ret)
		return ret;
	ret = elf_view_open(&f, fd);
	if (!ret) {
		ret = scan_file(&f, &s);
		elf_view_close(&f);
	}
	free(s.wants);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		ret += syms[i].found;
	return ret;
}

int elf_find_symbols(const char *path, struct elf_symbol *syms, size_t n)
{
	int fd = open_path(path), ret;

	if (fd < 0)
		return fd;
	ret = elf_find_symbols_fd(fd, syms, n);
	close(fd);
	return ret;
}

/* Go binaries carry these sections whether stripped or not. */
static bool is_go_section(const char *name)
{
	return !strcmp(name, ".go.buildinfo") || !strcmp(name, ".gopclntab") ||
	       !strcmp(name, ".note.go.buildid");
}

int elf_inspect_fd(int fd)
{
	struct elf_view f;
	Elf_Scn *scn = NULL;
	size_t shstrndx, nphdr;
	GElf_Shdr sh;
	int ret;

	ret = elf_view_open(&f, fd);
	if (ret)
		return ret;
	if (elf_getphdrnum(f.elf, &nphdr) == 0) {
		for (size_t i = 0; i < nphdr; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(f.elf, i, &ph) && ph.p_type == PT_INTERP)
				ret |= ELF_HAS_INTERP;
		}
	}
	/* Section names come from .shstrtab, which libelf reads whole: only a
	 * table the view found sane is looked at. */
	if (!f.names || elf_getshdrstrndx(f.elf, &shstrndx) != 0)
		shstrndx = SHN_UNDEF;
	while ((scn = elf_nextscn(f.elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh)) {
			ret = -ENOEXEC;
			break;
		}
		/* A table holding only the null symbol is as good as none. */
		if (sh.sh_type == SHT_SYMTAB && sh.sh_size > sizeof(Elf64_Sym))
			ret |= ELF_HAS_SYMTAB;
		else if (sh.sh_type == SHT_DYNSYM && sh.sh_size > sizeof(Elf64_Sym))
			ret |= ELF_HAS_DYNSYM;
		name = shstrndx != SHN_UNDEF ? elf_strptr(f.elf, shstrndx, sh.sh_name) : NULL;
		if (name && is_go_section(name))
			ret |= ELF_IS_GO;
	}
	elf_view_close(&f);
	return ret;
}

/* Longest soname read from a DT_NEEDED entry; longer ones are skipped. */
#define SONAME_MAX 256

int elf_needed_fd(int fd, elf_needed_cb cb, void *ctx)
{
	enum { PER_CHUNK = ELF_CHUNK / sizeof(Elf64_Dyn) };
	struct extent dyn, strs;
	struct elf_view f;
	Elf_Scn *scn = NULL;
	Elf64_Dyn *d = NULL;
	GElf_Shdr sh;
	int ret, n = 0;
	bool stop = false;

	if (!cb)
		return -EINVAL;
	ret = elf_view_open(&f, fd);
	if (ret)
		return ret;
	while ((scn = elf_nextscn(f.elf, scn)) && gelf_getshdr(scn, &sh)) {
		if (sh.sh_type == SHT_DYNAMIC)
			break;
	}
	if (!scn || section_extent(&f, scn, SHT_DYNAMIC, sizeof(Elf64_Dyn), &dyn) ||
	    section_extent(&f, elf_getscn(f.elf, sh.sh_link), SHT_STRTAB, 0, &strs) ||
	    !(d = malloc(PER_CHUNK * sizeof(*d))))
		goto out; /* no (sane) dynamic section: no names */
	for (uint64_t first = 0; first < dyn.size / sizeof(*d) && !stop; first += PER_CHUNK) {
		size_t cnt = dyn.size / sizeof(*d) - first;

		cnt = cnt < PER_CHUNK ? cnt : PER_CHUNK;
		if (elf_view_read(&f, d, cnt * sizeof(*d), dyn.off + first * sizeof(*d)))
			break;
		for (size_t i = 0; i < cnt && !stop; i++) {
			char name[SONAME_MAX + 1];
			size_t len;

			if (d[i].d_tag == DT_NULL) {
				stop = true;
				break;
			}
			if (d[i].d_tag != DT_NEEDED || d[i].d_un.d_val >= strs.size)
				continue;
			len = strs.size - d[i].d_un.d_val;
			len = len < SONAME_MAX ? len : SONAME_MAX;
			if (elf_view_read(&f, name, len, strs.off + d[i].d_un.d_val))
				continue;
			/* Must be NUL-terminated inside the string table. */
			if (!memchr(name, '\0', len))
				continue;
			n++;
			stop = cb(name, ctx) != 0;
		}
	}
out:
	free(d);
	elf_view_close(&f);
	return n;
}

int elf_inspect(const char *path)
{
	int fd = open_path(path), ret;

	if (fd < 0)
		return fd;
	ret = elf_inspect_fd(fd);
	close(fd);
	return ret;
}

int elf_needed(const char *path, elf_needed_cb cb, void *ctx)
{
	int fd = open_path(path), ret;

	if (fd < 0)
		return fd;
	ret = elf_needed_fd(fd, cb, ctx);
	close(fd);
	return ret;
}
