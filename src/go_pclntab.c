// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Functions from Go's pclntab, the table the Go runtime itself uses to name
 * the function at a PC: present in every Go executable, stripped or not.
 *
 * Layouts (amd64, 8-byte pointers), from Go's runtime/symtab.go and
 * debug/gosym:
 * - header: magic (Go 1.2 0xfffffffb, 1.16 0xfffffffa, 1.18 0xfffffff0,
 *   1.20 0xfffffff1), two zero bytes, PC quantum (1), pointer size (8);
 *   then nfunc, and from 1.16 nfiles, [1.18: textStart], and the offsets
 *   of funcnametab, cutab, filetab, pctab and the function table.
 * - function table: nfunc pairs (entry, funcoff) and the end PC. Up to 1.17
 *   the fields are pointers and the entry an address; from 1.18 they are
 *   uint32 and the entry is an offset from the text start.
 * - _func at funcoff: the entry again, then nameOff into funcnametab (up to
 *   1.15: into the pclntab itself).
 *
 * The text start: the header holds it from 1.18 to 1.25; from Go 1.26 that
 * field is zero and only runtime.moduledata (its "text" field) has it. The
 * moduledata is found by its first field, which points at the pclntab, and
 * is accepted only if its other fields agree with the table (the name table
 * and function table pointers, the function count, minpc/maxpc against the
 * first and last entries, text/etext in one executable segment). A text
 * start that cannot be proven this way gives no function at all: an entry
 * off by a few bytes puts probes in the middle of instructions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "go_elf_impl.h"

#define MAGIC_12  0xfffffffbu
#define MAGIC_116 0xfffffffau
#define MAGIC_118 0xfffffff0u
#define MAGIC_120 0xfffffff1u

/* No Go program has a million functions (kubectl: ~80,000). */
#define NFUNC_MAX (1u << 22)

/* runtime.moduledata, 8-byte words: the fields that prove it. */
enum {
	MD_PCHEADER = 0,
	MD_FUNCNAMETAB = 1,
	MD_FTAB = 16,
	MD_FTAB_LEN = 17,
	MD_MINPC = 20,
	MD_MAXPC = 21,
	MD_TEXT = 22,
	MD_ETEXT = 23,
	MD_WORDS = 24,
};

struct pcln {
	struct go_extent tab; /* the whole table (size: what may belong to it) */
	unsigned ver;	      /* 12, 116 or 118 (1.20 has 1.18's layout) */
	uint64_t nfunc;
	unsigned field;		    /* function table field size: 8, or 4 from 1.18 */
	uint64_t ftab;		    /* offsets in the table: function table, */
	uint64_t funcdata;	    /* base of funcoff, */
	uint64_t names, names_size; /* names (nameOff base) */
	uint64_t text;		    /* 1.18+: base of entries */
};

static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* Function table field I (entry or funcoff), or false if out of the table. */
static bool ftab_field(struct go_window *w, const struct pcln *p, uint64_t i, uint64_t *v)
{
	const uint8_t *b = go_win(w, p->tab.off + p->ftab + i * p->field, p->field);

	if (!b)
		return false;
	*v = p->field == 4 ? go_le32(b) : go_le64(b);
	return true;
}

/*
 * Read the header at the start of P->tab (of which P->tab.size bytes may
 * belong to the table). Only checks what lies in the header itself and
 * that the tables fit; returns false if this is not a pclntab we know.
 */
static bool parse_header(const struct elf_view *f, struct pcln *p)
{
	uint8_t h[72];
	uint64_t off[6], end;
	size_t hlen, noff;
	uint32_t magic;

	if (p->tab.size < 16 || elf_view_read(f, h, 16, p->tab.off))
		return false;
	magic = go_le32(h);
	if (h[4] || h[5] || h[6] != 1 || h[7] != 8)
		return false;
	switch (magic) {
	case MAGIC_12:
		p->ver = 12, hlen = 16, noff = 0;
		break;
	case MAGIC_116:
		p->ver = 116, hlen = 64, noff = 5;
		break;
	case MAGIC_118:
	case MAGIC_120:
		p->ver = 118, hlen = 72, noff = 5;
		break;
	default:
		return false;
	}
	if (p->tab.size < hlen || elf_view_read(f, h, hlen, p->tab.off))
		return false;
	p->nfunc = go_le64(h + 8);
	if (!p->nfunc || p->nfunc > NFUNC_MAX)
		return false;
	for (size_t i = 0; i < noff; i++) {
		off[i] = go_le64(h + hlen - 8 * (noff - i));
		if (off[i] < hlen || off[i] >= p->tab.size)
			return false;
	}
	if (p->ver == 12) {
		p->field = 8;
		p->ftab = 16;
		p->funcdata = 0;
		p->names = 0;
		p->names_size = p->tab.size;
	} else {
		p->field = p->ver == 118 ? 4 : 8;
		p->ftab = off[4];
		p->funcdata = off[4];
		p->names = off[0];
		/* The name table ends where the next table starts. */
		end = p->tab.size;
		for (size_t i = 1; i < noff; i++) {
			if (off[i] > p->names && off[i] < end)
				end = off[i];
		}
		p->names_size = end - p->names;
		p->text = p->ver == 118 ? go_le64(h + 24) : 0;
	}
	/* nfunc pairs and the end entry. */
	return (2 * p->nfunc + 1) * p->field <= p->tab.size - p->ftab;
}

/* The first function's _func must repeat the first entry: a cheap proof of the layout. */
static bool first_func_agrees(const struct elf_view *f, const struct pcln *p)
{
	struct go_window w;
	uint64_t entry, funcoff, fentry;
	const uint8_t *b;
	bool ok = false;

	if (go_win_init(&w, f))
		return false;
	if (ftab_field(&w, p, 0, &entry) && ftab_field(&w, p, 1, &funcoff) &&
	    funcoff <= p->tab.size - p->funcdata - p->field &&
	    (b = go_win(&w, p->tab.off + p->funcdata + funcoff, p->field))) {
		fentry = p->field == 4 ? go_le32(b) : go_le64(b);
		ok = fentry == entry;
	}
	go_win_free(&w);
	return ok;
}

/*
 * Call CB at each 8-byte-aligned address of the non-executable PT_LOAD
 * segments where the 8 bytes, masked with MASK, equal PAT. CB returns
 * nonzero to stop. (Go never puts these tables in the text segment.)
 */
typedef int (*scan_cb)(const struct elf_view *f, const GElf_Phdr *ph, uint64_t off, void *ctx);

static bool masked_equal(const uint8_t *b, const uint8_t *pat, const uint8_t *mask)
{
	for (size_t i = 0; i < 8; i++) {
		if ((b[i] & mask[i]) != pat[i])
			return false;
	}
	return true;
}

static int scan_data(const struct elf_view *f, const uint8_t pat[8], const uint8_t mask[8],
		     scan_cb cb, void *ctx)
{
	const size_t patlen = 8;
	uint8_t *buf = malloc(GO_WINDOW);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < f->nloads && !ret; i++) {
		const GElf_Phdr *ph = &f->loads[i];
		uint64_t skip = (8 - (ph->p_vaddr & 7)) & 7;

		if (ph->p_flags & PF_X)
			continue;
		for (uint64_t pos = skip; pos + patlen <= ph->p_filesz && !ret; pos += GO_WINDOW) {
			size_t len =
			    ph->p_filesz - pos < GO_WINDOW ? ph->p_filesz - pos : GO_WINDOW;

			ret = elf_view_read(f, buf, len, ph->p_offset + pos);
			for (size_t at = 0; !ret && at + patlen <= len; at += 8) {
				if (masked_equal(buf + at, pat, mask))
					ret = cb(f, ph, ph->p_offset + pos + at, ctx);
			}
		}
	}
	free(buf);
	return ret < 0 ? ret : 0;
}

struct table_search {
	struct pcln found;
	unsigned count;
};

static int table_candidate(const struct elf_view *f, const GElf_Phdr *ph, uint64_t off, void *ctx)
{
	struct table_search *s = ctx;
	struct pcln p = {.tab = {.off = off}};

	p.tab.vaddr = ph->p_vaddr + (off - ph->p_offset);
	p.tab.size = ph->p_filesz - (off - ph->p_offset);
	if (!parse_header(f, &p) || !first_func_agrees(f, &p))
		return 0;
	if (s->count++ == 0)
		s->found = p;
	return 0;
}

/* The table: its section, or (sections stripped) the one table in the data segments. */
static int find_table(const struct elf_view *f, struct pcln *p, char *why, size_t whylen)
{
	/* Any of the four magics (0xfffffff0, f1, fa, fb), quantum 1, pointer size 8. */
	static const uint8_t pat[8] = {0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8};
	static const uint8_t mask[8] = {0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct table_search s = {.count = 0};
	int ret;

	/* PIE executables call it .data.rel.ro.gopclntab. */
	if (go_section(f, ".gopclntab", true, &p->tab)) {
		if (!p->tab.vaddr || !parse_header(f, p) || !first_func_agrees(f, p)) {
			why_set(why, whylen, ".gopclntab of an unknown format");
			return -ENOEXEC;
		}
		return 0;
	}
	ret = scan_data(f, pat, mask, table_candidate, &s);
	if (ret)
		return ret;
	if (s.count == 0)
		return -ENOENT;
	if (s.count > 1) {
		why_set(why, whylen, "%u function tables", s.count);
		return -ENOEXEC;
	}
	*p = s.found;
	return 0;
}

/* ---- the text start from runtime.moduledata (Go 1.26) -------------------- */

struct md_search {
	const struct pcln *p;
	uint64_t first, last; /* entry offsets of the first function and of the end */
	uint64_t text;
	unsigned count, disagree;
};

static int md_candidate(const struct elf_view *f, const GElf_Phdr *ph, uint64_t off, void *ctx)
{
	struct md_search *s = ctx;
	const struct pcln *p = s->p;
	uint8_t b[MD_WORDS * 8];
	uint64_t w[MD_WORDS], toff;

	if (ph->p_filesz - (off - ph->p_offset) < sizeof(b) || elf_view_read(f, b, sizeof(b), off))
		return 0;
	for (size_t i = 0; i < MD_WORDS; i++)
		w[i] = go_le64(b + 8 * i);
	if (w[MD_PCHEADER] != p->tab.vaddr || w[MD_FUNCNAMETAB] != p->tab.vaddr + p->names ||
	    w[MD_FTAB] != p->tab.vaddr + p->ftab || w[MD_FTAB_LEN] != p->nfunc + 1)
		return 0;
	if (w[MD_TEXT] > w[MD_MINPC] || w[MD_MINPC] > w[MD_MAXPC] || w[MD_MAXPC] > w[MD_ETEXT] ||
	    !elf_view_vaddr_to_off(f, w[MD_TEXT], w[MD_ETEXT] - w[MD_TEXT], true, &toff))
		return 0;
	if (w[MD_MINPC] - w[MD_TEXT] != s->first || w[MD_MAXPC] - w[MD_TEXT] != s->last)
		return 0;
	if (s->count++ && s->text != w[MD_TEXT])
		s->disagree++;
	s->text = w[MD_TEXT];
	return 0;
}

static int text_from_moduledata(const struct elf_view *f, struct pcln *p, char *why, size_t whylen)
{
	struct md_search s = {.p = p};
	uint8_t pat[8], mask[8];
	struct go_window w;
	bool ok;
	int ret;

	if (go_win_init(&w, f))
		return -ENOMEM;
	ok = ftab_field(&w, p, 0, &s.first) && ftab_field(&w, p, 2 * p->nfunc, &s.last);
	go_win_free(&w);
	if (!ok)
		return -ENOEXEC;
	for (size_t i = 0; i < 8; i++)
		pat[i] = p->tab.vaddr >> (8 * i), mask[i] = 0xff;
	ret = scan_data(f, pat, mask, md_candidate, &s);
	if (ret)
		return ret;
	if (s.count == 0 || s.disagree) {
		why_set(why, whylen,
			s.count
			    ? "text start not proven: runtime.moduledata candidates disagree"
			    : "text start not proven: no runtime.moduledata matches .gopclntab");
		return -ENOEXEC;
	}
	p->text = s.text;
	return 0;
}

/* ---- looking functions up ------------------------------------------------ */

static void record(struct go_sym *g, uint64_t vaddr, uint64_t size)
{
	if (g->found && (g->vaddr != vaddr || g->size != size))
		g->ambiguous = true;
	g->found = true;
	g->vaddr = vaddr;
	g->size = size;
}

/*
 * Walk the function table once: each function's _func gives its name
 * offset, compared with the places where wanted names stand. The walk also
 * checks what it reads: entries in order, each _func repeating its entry.
 */
static int walk(const struct elf_view *f, const struct pcln *p, const struct go_hit *hits,
		size_t nhits, struct go_sym *syms, char *why, size_t whylen)
{
	struct go_window ft, fn;
	uint64_t entry, funcoff, next;
	int ret = 0;

	if (go_win_init(&ft, f))
		return -ENOMEM;
	if (go_win_init(&fn, f)) {
		go_win_free(&ft);
		return -ENOMEM;
	}
	if (!ftab_field(&ft, p, 0, &next))
		ret = -ENOEXEC;
	for (uint64_t i = 0; i < p->nfunc && !ret; i++) {
		const struct go_hit *h;
		const uint8_t *b;
		uint64_t fentry;
		int32_t nameoff;
		size_t nh;

		entry = next;
		/* parse_header made the table hold ftab: no underflow below. */
		if (!ftab_field(&ft, p, 2 * i + 1, &funcoff) ||
		    !ftab_field(&ft, p, 2 * i + 2, &next) || next < entry ||
		    funcoff > p->tab.size - p->funcdata - (p->field + 4) ||
		    !(b = go_win(&fn, p->tab.off + p->funcdata + funcoff, p->field + 4))) {
			why_set(why, whylen, "function table entry %llu is corrupt",
				(unsigned long long)i);
			ret = -ENOEXEC;
			break;
		}
		fentry = p->field == 4 ? go_le32(b) : go_le64(b);
		nameoff = (int32_t)go_le32(b + p->field);
		if (nameoff < 0 || !(h = go_hit_at(hits, nhits, (uint64_t)nameoff, &nh)))
			continue;
		if (fentry != entry) {
			why_set(why, whylen, "function %llu: _func and table disagree",
				(unsigned long long)i);
			ret = -ENOEXEC;
			break;
		}
		for (; nh--; h++)
			record(&syms[h->want], p->ver == 118 ? p->text + entry : entry,
			       next - entry);
	}
	go_win_free(&fn);
	go_win_free(&ft);
	return ret;
}

int go_pcln_funcs(const struct elf_view *f, const char *const *names, size_t n, struct go_sym *syms,
		  char *why, size_t whylen)
{
	struct go_hit hits[GO_HITS_MAX];
	struct pcln p = {.nfunc = 0};
	struct go_extent names_tab;
	size_t nhits;
	uint64_t toff;
	int ret;

	ret = find_table(f, &p, why, whylen);
	if (ret)
		return ret;
	if (p.ver == 118 && !p.text) {
		ret = text_from_moduledata(f, &p, why, whylen);
		if (ret)
			return ret;
	}
	if (p.ver == 118 && !elf_view_vaddr_to_off(f, p.text, 1, true, &toff)) {
		why_set(why, whylen, "text start 0x%llx not in an executable segment",
			(unsigned long long)p.text);
		return -ENOEXEC;
	}
	names_tab = (struct go_extent){.off = p.tab.off + p.names, .size = p.names_size};
	ret = go_find_names(f, &names_tab, names, n, hits, &nhits);
	if (ret || !nhits)
		return ret;
	return walk(f, &p, hits, nhits, syms, why, whylen);
}
