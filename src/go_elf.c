// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go executables: the file (an x86-64 elf_view),
 * the build information, functions from .symtab, and the API that joins
 * them with .gopclntab (go_pclntab.c) and the return instructions
 * (go_rets.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf_symbols.h"
#include "go_elf_impl.h"

/* The build information is read from the first 64 KiB of its section
 * (as Go's debug/buildinfo does); without sections, up to 16 MiB of each
 * writable segment are searched for it. */
#define BUILDINFO_SEARCH   (64 * 1024)
#define BUILDINFO_SCAN_MAX (16 * 1024 * 1024)
#define BUILDINFO_ALIGN	   16
#define BUILDINFO_HDR	   32
static const char buildinfo_magic[14] = "\xff Go buildinf:";
/* Notes read when looking for Go's build ID note without sections. */
#define NOTES_MAX (64 * 1024)

/* Only x86-64 little-endian files: the probes' register conventions are amd64's. */
int go_file_open(struct elf_view *f, int fd)
{
	GElf_Ehdr eh;
	int ret;

	ret = elf_view_open(f, fd);
	if (ret)
		return ret;
	if (!gelf_getehdr(f->elf, &eh) || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		elf_view_close(f);
		return -ENOEXEC;
	}
	return 0;
}

static bool name_matches(const char *have, const char *want, bool suffix)
{
	size_t hl = strlen(have), wl = strlen(want);

	if (!suffix)
		return hl == wl && !memcmp(have, want, wl);
	return hl >= wl && !memcmp(have + hl - wl, want, wl);
}

bool go_section(const struct elf_view *f, const char *name, bool suffix, struct go_extent *e)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (!f->names || elf_getshdrstrndx(f->elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(f->elf, scn)) && gelf_getshdr(scn, &sh)) {
		const char *have = elf_strptr(f->elf, shstrndx, sh.sh_name);

		if (!have || !name_matches(have, name, suffix))
			continue;
		if (sh.sh_type == SHT_NOBITS || (sh.sh_flags & SHF_COMPRESSED) ||
		    !elf_view_in_file(f, sh.sh_offset, sh.sh_size))
			return false;
		*e = (struct go_extent){.off = sh.sh_offset, .size = sh.sh_size};
		e->vaddr = (sh.sh_flags & SHF_ALLOC) ? sh.sh_addr : 0;
		return true;
	}
	return false;
}

int go_win_init(struct go_window *w, const struct elf_view *f)
{
	*w = (struct go_window){.f = f};
	w->buf = malloc(GO_WINDOW);
	return w->buf ? 0 : -ENOMEM;
}

void go_win_free(struct go_window *w)
{
	free(w->buf);
	w->buf = NULL;
}

const uint8_t *go_win(struct go_window *w, uint64_t off, size_t len)
{
	size_t want;

	if (len > GO_WINDOW || !elf_view_in_file(w->f, off, len))
		return NULL;
	if (off >= w->off && off - w->off <= w->len && len <= w->len - (off - w->off))
		return w->buf + (off - w->off);
	want = w->f->size - off < GO_WINDOW ? w->f->size - off : GO_WINDOW;
	w->len = 0;
	if (elf_view_read(w->f, w->buf, want, off))
		return NULL;
	w->off = off;
	w->len = want;
	return w->buf;
}

static int by_pos(const void *a, const void *b)
{
	const struct go_hit *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->want < y->want ? -1 : x->want > y->want;
}

/*
 * The table is read in chunks that overlap by the longest name (and its
 * NUL), so that a name across two chunks is seen, by the first one only.
 */
int go_find_names(const struct elf_view *f, const struct go_extent *tab, const char *const *names,
		  size_t n, struct go_hit *hits, size_t *nhits)
{
	size_t maxlen = 0, over, cap;
	uint8_t *buf;
	int ret = 0;

	*nhits = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = names[i] ? strnlen(names[i], GO_NAME_MAX + 1) : 0;

		if (l <= GO_NAME_MAX && l > maxlen)
			maxlen = l;
	}
	if (!maxlen || !elf_view_in_file(f, tab->off, tab->size))
		return 0;
	over = maxlen + 1;
	cap = GO_WINDOW + over;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (uint64_t base = 0; base < tab->size && !ret; base += GO_WINDOW) {
		size_t len = tab->size - base < cap ? tab->size - base : cap;

		ret = elf_view_read(f, buf, len, tab->off + base);
		for (size_t i = 0; !ret && i < n; i++) {
			size_t l = names[i] ? strnlen(names[i], GO_NAME_MAX + 1) : 0;
			const uint8_t *p = buf;

			if (!l || l > GO_NAME_MAX)
				continue;
			while ((p = memmem(p, len - (p - buf), names[i], l))) {
				size_t at = p - buf;

				p++;
				if (at >= GO_WINDOW)
					break; /* the next chunk sees it */
				if (at + l >= len || buf[at + l])
					continue;
				if (*nhits == GO_HITS_MAX)
					break;
				hits[(*nhits)++] = (struct go_hit){.pos = base + at, .want = i};
			}
		}
	}
	free(buf);
	qsort(hits, *nhits, sizeof(*hits), by_pos);
	return ret;
}

const struct go_hit *go_hit_at(const struct go_hit *hits, size_t nhits, uint64_t pos, size_t *count)
{
	size_t lo = 0, hi = nhits;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (hits[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	*count = 0;
	while (lo + *count < nhits && hits[lo + *count].pos == pos)
		(*count)++;
	return *count ? hits + lo : NULL;
}

/* ---- build information -------------------------------------------------- */

/* A Go string (pointer, length) at VADDR, copied into OUT if it fits. */
static bool read_go_string(const struct elf_view *f, uint64_t vaddr, char *out, size_t outlen)
{
	uint8_t hdr[16];
	uint64_t off, len;

	if (!elf_view_vaddr_to_off(f, vaddr, sizeof(hdr), false, &off) ||
	    elf_view_read(f, hdr, sizeof(hdr), off))
		return false;
	len = go_le64(hdr + 8);
	if (len >= outlen || !elf_view_vaddr_to_off(f, go_le64(hdr), len, false, &off) ||
	    elf_view_read(f, out, len, off))
		return false;
	out[len] = '\0';
	return true;
}

/* Varint-prefixed string (Go >= 1.18): the length, then the bytes. */
static bool read_inline_string(const uint8_t *p, size_t avail, char *out, size_t outlen)
{
	uint64_t len = 0;
	size_t i;

	for (i = 0; i < avail && i < 10; i++) {
		len |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			break;
	}
	if (i >= avail || i == 10)
		return false;
	i++;
	if (len >= outlen || len > avail - i)
		return false;
	memcpy(out, p + i, len);
	out[len] = '\0';
	return true;
}

/* "go1.19.8", "go1.21rc2", "devel go1.22-abcdef Tue ...": 1, 19. */
static void parse_version(struct go_build *b)
{
	const char *v = b->version;
	unsigned major, minor;

	for (char *c = b->version; *c; c++) {
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	}
	if (!strncmp(v, "devel ", 6))
		v += 6;
	if (sscanf(v, "go%u.%u", &major, &minor) == 2 && major < 1000 && minor < 1000) {
		b->major = major;
		b->minor = minor;
	}
	/* Go 1.17 could still be built without the register ABI. */
	b->regabi =
	    (b->major > 1 || (b->major == 1 && b->minor >= 17)) && !strstr(b->version, "noregabi");
}

/* Look for the blob in the LEN bytes at file offset OFF (16-byte aligned in memory). */
static bool buildinfo_at(const struct elf_view *f, uint64_t off, uint64_t len, struct go_build *b)
{
	uint8_t *buf;
	bool found = false;

	len = len < BUILDINFO_SEARCH ? len : BUILDINFO_SEARCH;
	if (len < BUILDINFO_HDR || !(buf = malloc(len)))
		return false;
	if (elf_view_read(f, buf, len, off))
		len = 0;
	for (size_t at = 0; at + BUILDINFO_HDR <= len; at += BUILDINFO_ALIGN) {
		const uint8_t *p = buf + at;

		if (memcmp(p, buildinfo_magic, sizeof(buildinfo_magic)))
			continue;
		found = true;
		if (p[14] != 8) /* pointer size */
			break;
		if (p[15] & 2)
			read_inline_string(p + BUILDINFO_HDR, len - at - BUILDINFO_HDR, b->version,
					   sizeof(b->version));
		else if (!(p[15] & 1)) /* little endian */
			read_go_string(f, go_le64(p + 16), b->version, sizeof(b->version));
		break;
	}
	free(buf);
	return found;
}

/*
 * The blob in a writable segment, sections stripped: Go's internal linker
 * puts it at the start (Go's debug/buildinfo looks only there, in the first
 * one); after an external link it follows .data. Up to BUILDINFO_SCAN_MAX
 * bytes of each writable segment are searched.
 */
static bool buildinfo_scan(const struct elf_view *f, const GElf_Phdr *ph, struct go_build *b)
{
	uint64_t skip = (BUILDINFO_ALIGN - ph->p_vaddr % BUILDINFO_ALIGN) % BUILDINFO_ALIGN;
	uint64_t end = ph->p_filesz < BUILDINFO_SCAN_MAX ? ph->p_filesz : BUILDINFO_SCAN_MAX;
	uint8_t *buf = malloc(GO_WINDOW);
	bool found = false;

	if (!buf)
		return false;
	for (uint64_t pos = skip; pos + BUILDINFO_HDR <= end && !found; pos += GO_WINDOW) {
		size_t len = end - pos < GO_WINDOW ? end - pos : GO_WINDOW;

		if (elf_view_read(f, buf, len, ph->p_offset + pos))
			break;
		for (size_t at = 0; at + sizeof(buildinfo_magic) <= len; at += BUILDINFO_ALIGN) {
			if (!memcmp(buf + at, buildinfo_magic, sizeof(buildinfo_magic))) {
				found = buildinfo_at(f, ph->p_offset + pos + at,
						     ph->p_filesz - pos - at, b);
				break;
			}
		}
	}
	free(buf);
	return found;
}

/*
 * The build information blob: its own section, or (sections stripped) in a
 * writable data segment. Returns whether the magic was found; the version
 * is filled if it can be read.
 */
static bool read_buildinfo(const struct elf_view *f, struct go_build *b)
{
	struct go_extent e;

	if (go_section(f, ".go.buildinfo", false, &e))
		return buildinfo_at(f, e.off, e.size, b);
	for (size_t i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];

		if ((ph->p_flags & (PF_X | PF_W)) == PF_W && buildinfo_scan(f, ph, b))
			return true;
	}
	return false;
}

/* Go's build ID note (owner "Go", type 4), for files without sections. */
static bool has_go_note(const struct elf_view *f)
{
	size_t phnum;
	GElf_Phdr ph;
	bool found = false;

	if (elf_getphdrnum(f->elf, &phnum))
		return false;
	for (size_t i = 0; i < phnum && !found; i++) {
		uint8_t *buf;

		if (!gelf_getphdr(f->elf, i, &ph) || ph.p_type != PT_NOTE ||
		    ph.p_filesz > NOTES_MAX || ph.p_filesz < 16 || !(buf = malloc(ph.p_filesz)))
			continue;
		if (elf_view_read(f, buf, ph.p_filesz, ph.p_offset))
			ph.p_filesz = 0;
		for (size_t at = 0; at + 12 <= ph.p_filesz && !found;) {
			uint32_t namesz = go_le32(buf + at), descsz = go_le32(buf + at + 4);
			uint64_t next = at + 12 + (((uint64_t)namesz + 3) & ~3ull) +
					(((uint64_t)descsz + 3) & ~3ull);

			/* The name is "Go\0\0" (namesz 4). */
			found = namesz == 4 && go_le32(buf + at + 8) == 4 &&
				at + 16 <= ph.p_filesz && !memcmp(buf + at + 12, "Go\0\0", 4);
			if (next > ph.p_filesz)
				break;
			at = next;
		}
		free(buf);
	}
	return found;
}

static bool has_symtab(const struct elf_view *f)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(f->elf, scn)) && gelf_getshdr(scn, &sh)) {
		if (sh.sh_type == SHT_SYMTAB && sh.sh_size > sizeof(Elf64_Sym))
			return true;
	}
	return false;
}

int go_elf_inspect(int fd, struct go_build *b)
{
	struct go_extent e;
	struct elf_view f;
	bool is_go;
	int ret;

	memset(b, 0, sizeof(*b));
	ret = go_file_open(&f, fd);
	if (ret)
		return ret;
	is_go = read_buildinfo(&f, b);
	is_go |= go_section(&f, ".note.go.buildid", false, &e) ||
		 go_section(&f, ".gopclntab", true, &e) || has_go_note(&f);
	if (is_go) {
		parse_version(b);
		b->has_symtab = has_symtab(&f);
	}
	elf_view_close(&f);
	return is_go ? 1 : 0;
}

/* ---- .symtab ------------------------------------------------------------- */

static int symtab_funcs(const struct elf_view *f, const char *const *names, size_t n,
			struct go_sym *syms)
{
	enum { PER_CHUNK = GO_WINDOW / sizeof(Elf64_Sym) };
	struct go_extent symx, strx;
	struct go_hit hits[GO_HITS_MAX];
	Elf_Scn *scn = NULL;
	Elf64_Sym *chunk;
	size_t nhits;
	GElf_Shdr sh, strsh;
	int ret;

	while ((scn = elf_nextscn(f->elf, scn)) && gelf_getshdr(scn, &sh)) {
		if (sh.sh_type == SHT_SYMTAB)
			break;
	}
	if (!scn)
		return -ENOENT;
	if (sh.sh_entsize != sizeof(Elf64_Sym) || !elf_view_in_file(f, sh.sh_offset, sh.sh_size) ||
	    !gelf_getshdr(elf_getscn(f->elf, sh.sh_link), &strsh) || strsh.sh_type != SHT_STRTAB ||
	    !elf_view_in_file(f, strsh.sh_offset, strsh.sh_size))
		return -ENOEXEC;
	if (sh.sh_size > ELF_TABLE_MAX || strsh.sh_size > ELF_TABLE_MAX)
		return -EFBIG;
	symx = (struct go_extent){.off = sh.sh_offset, .size = sh.sh_size};
	strx = (struct go_extent){.off = strsh.sh_offset, .size = strsh.sh_size};
	ret = go_find_names(f, &strx, names, n, hits, &nhits);
	if (ret || !nhits)
		return ret;
	chunk = malloc(PER_CHUNK * sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (uint64_t first = 0; first < symx.size / sizeof(*chunk) && !ret; first += PER_CHUNK) {
		size_t cnt = symx.size / sizeof(*chunk) - first;

		cnt = cnt < PER_CHUNK ? cnt : PER_CHUNK;
		ret = elf_view_read(f, chunk, cnt * sizeof(*chunk),
				    symx.off + first * sizeof(*chunk));
		for (size_t i = 0; !ret && i < cnt; i++) {
			const Elf64_Sym *s = &chunk[i];
			const struct go_hit *h;
			size_t nh;

			if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
			    !s->st_value || !(h = go_hit_at(hits, nhits, s->st_name, &nh)))
				continue;
			for (; nh--; h++) {
				struct go_sym *g = &syms[h->want];

				if (g->found && (g->vaddr != s->st_value || g->size != s->st_size))
					g->ambiguous = true;
				g->found = true;
				g->vaddr = s->st_value;
				g->size = s->st_size;
			}
		}
	}
	free(chunk);
	return ret;
}

/* ---- finding functions --------------------------------------------------- */

#define WHY(fn, ...) snprintf((fn)->why, sizeof((fn)->why), __VA_ARGS__)

/* Code larger than this is not disassembled (Go's largest functions are ~100 KiB). */
#define GO_CODE_MAX (4 * 1024 * 1024)

/*
 * Decide FN from what the two tables say. When both were read they must
 * agree: same entry, and the symbol's exact size within the pclntab's
 * (which runs to the next function's entry).
 */
static void settle(const struct elf_view *f, struct go_func *fn, const struct go_sym *st,
		   const struct go_sym *pc, bool pcln_ok, const char *pcln_why)
{
	const struct go_sym *use = st->found ? st : pc;
	uint64_t off;

	if (st->ambiguous || pc->ambiguous) {
		WHY(fn, "defined twice in %s", st->ambiguous ? ".symtab" : ".gopclntab");
		return;
	}
	if (!st->found && !pc->found) {
		if (!pcln_ok && pcln_why[0])
			WHY(fn, "%s", pcln_why);
		else
			WHY(fn, "not in .symtab or .gopclntab");
		return;
	}
	if (st->found && !pc->found && pcln_ok) {
		WHY(fn, "in .symtab, not in .gopclntab");
		return;
	}
	if (st->found && pc->found && (st->vaddr != pc->vaddr || st->size > pc->size)) {
		WHY(fn, ".symtab and .gopclntab disagree (0x%llx+%llu, 0x%llx+%llu)",
		    (unsigned long long)st->vaddr, (unsigned long long)st->size,
		    (unsigned long long)pc->vaddr, (unsigned long long)pc->size);
		return;
	}
	if (!use->size || use->size > GO_CODE_MAX) {
		WHY(fn, "implausible size %llu", (unsigned long long)use->size);
		return;
	}
	if (!elf_view_vaddr_to_off(f, use->vaddr, use->size, true, &off)) {
		WHY(fn, "0x%llx+%llu is not in an executable segment",
		    (unsigned long long)use->vaddr, (unsigned long long)use->size);
		return;
	}
	fn->offset = off;
	fn->size = use->size;
	if (fn->want_rets && go_find_rets(f, off, use->vaddr, use->size, fn))
		return;
	fn->found = true;
}

int go_elf_find_funcs(int fd, struct go_func *funcs, size_t n)
{
	struct go_sym *st = NULL, *pc = NULL;
	const char **names = NULL;
	char pcln_why[sizeof(funcs->why)] = "";
	struct elf_view f;
	int ret, sret, pret, found = 0;

	if (n && !funcs)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		funcs[i].found = false;
		funcs[i].offset = funcs[i].size = 0;
		funcs[i].nret = 0;
		funcs[i].why[0] = '\0';
	}
	ret = go_file_open(&f, fd);
	if (ret)
		return ret;
	names = calloc(n ? n : 1, sizeof(*names));
	st = calloc(n ? n : 1, sizeof(*st));
	pc = calloc(n ? n : 1, sizeof(*pc));
	if (!names || !st || !pc) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = funcs[i].name;
	/*
	 * A broken .symtab makes the file suspect: refused whole. A pclntab
	 * that cannot be trusted tells nothing, and why goes to each function
	 * the symbol table does not have.
	 */
	sret = symtab_funcs(&f, names, n, st);
	if (sret && sret != -ENOENT) {
		ret = sret;
		goto out;
	}
	pret = go_pcln_funcs(&f, names, n, pc, pcln_why, sizeof(pcln_why));
	if (pret == -ENOMEM || (pret == -ENOENT && sret == -ENOENT)) {
		ret = pret == -ENOMEM ? -ENOMEM : -ENOEXEC; /* no table at all: not Go */
		goto out;
	}
	if (pret) {
		memset(pc, 0, n * sizeof(*pc));
		if (!pcln_why[0])
			snprintf(pcln_why, sizeof(pcln_why), "no .gopclntab");
	}
	for (size_t i = 0; i < n; i++) {
		if (!funcs[i].name || strnlen(funcs[i].name, GO_NAME_MAX + 1) > GO_NAME_MAX)
			WHY(&funcs[i], "no such name");
		else
			settle(&f, &funcs[i], &st[i], &pc[i], !pret, pcln_why);
		found += funcs[i].found;
	}
	ret = found;
out:
	free(names);
	free(st);
	free(pc);
	elf_view_close(&f);
	return ret;
}
