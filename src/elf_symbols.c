// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Function symbol lookup for uprobes.
 *
 * A uprobe is placed at a file offset, not at a virtual address, so a
 * symbol's st_value is translated through the PT_LOAD segment that maps it.
 *
 * The file is opened with ELF_C_READ rather than mmap: libelf then reads
 * only what is asked for with pread, and a library truncated under us
 * (package upgrade) gives a read error instead of SIGBUS. Before libelf is
 * asked for a table, its extent is checked against the file size, so a
 * hostile sh_size cannot make libelf allocate and read gigabytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf_symbols.h"

/* Real files have 2 to 5 PT_LOAD segments; many more means a hostile file. */
#define MAX_LOADS 64

/* .gnu.version bit of a non-default ("name@VERSION") symbol; not in glibc's <elf.h>. */
#ifndef VERSYM_HIDDEN
#define VERSYM_HIDDEN 0x8000
#endif

struct elf_file {
	int fd;
	Elf *elf;
	uint64_t size; /* bound for every offset read from the file */
	GElf_Phdr loads[MAX_LOADS];
	size_t nloads;
};

/* One symbol table with its string table and, for .dynsym, its versions. */
struct symtab {
	Elf_Data *syms;
	size_t nsyms;
	const char *strs;
	size_t strs_len;
	Elf_Data *versym; /* .gnu.version, or NULL */
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
};

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;

static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

static bool in_file(const struct elf_file *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

/* Whether COUNT entries of SIZE bytes at OFF lie in the file, without overflowing. */
static bool table_in_file(const struct elf_file *f, uint64_t off, uint64_t count, uint64_t size)
{
	return count <= f->size / size && in_file(f, off, count * size);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * The header tables must lie in the file. libelf quietly treats a section
 * header table past the end as absent (a truncated file would look
 * stripped), so the counts of the ELF header are checked too.
 */
static int check_headers(const struct elf_file *f)
{
	size_t shnum, phnum;
	GElf_Ehdr eh;

	if (elf_kind(f->elf) != ELF_K_ELF || gelf_getclass(f->elf) != ELFCLASS64)
		return -ENOEXEC;
	if (!gelf_getehdr(f->elf, &eh) || elf_getshdrnum(f->elf, &shnum) ||
	    elf_getphdrnum(f->elf, &phnum))
		return -ENOEXEC;
	/* With e_shoff set, e_shnum 0 means the count is in section 0: one header at least. */
	shnum = max_u64(max_u64(shnum, eh.e_shnum), eh.e_shoff ? 1 : 0);
	phnum = max_u64(phnum, eh.e_phnum);
	if (shnum && (eh.e_shentsize != sizeof(Elf64_Shdr) ||
		      !table_in_file(f, eh.e_shoff, shnum, sizeof(Elf64_Shdr))))
		return -ENOEXEC;
	if (phnum && (eh.e_phentsize != sizeof(Elf64_Phdr) ||
		      !table_in_file(f, eh.e_phoff, phnum, sizeof(Elf64_Phdr))))
		return -ENOEXEC;
	return 0;
}

static int load_segments(struct elf_file *f)
{
	size_t i, phnum;
	GElf_Phdr ph;

	if (elf_getphdrnum(f->elf, &phnum))
		return -ENOEXEC;
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(f->elf, i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD)
			continue;
		if (f->nloads == MAX_LOADS)
			return -ENOEXEC;
		f->loads[f->nloads++] = ph;
	}
	return 0;
}

static void elf_file_close(struct elf_file *f)
{
	elf_end(f->elf);
	close(f->fd);
}

/* Open an ELF view of FD (a descriptor of ours: the caller keeps it). */
static int elf_file_open_fd(struct elf_file *f, int fd)
{
	struct stat st;
	int ret;

	pthread_once(&libelf_once, libelf_init);
	if (!libelf_ok)
		return -ENOSYS;
	memset(f, 0, sizeof(*f));
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (f->fd < 0)
		return -errno;
	if (fstat(f->fd, &st)) {
		ret = -errno;
		close(f->fd);
		return ret;
	}
	f->size = st.st_size;
	if (S_ISREG(st.st_mode))
		f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	ret = f->elf ? check_headers(f) : -ENOEXEC;
	if (!ret)
		ret = load_segments(f);
	if (ret)
		elf_file_close(f);
	return ret;
}

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

/* File offset of the byte mapped at VADDR, if a PT_LOAD maps it from the file. */
static bool vaddr_to_offset(const struct elf_file *f, uint64_t vaddr, uint64_t *off)
{
	const GElf_Phdr *ph;
	size_t i;

	for (i = 0; i < f->nloads; i++) {
		ph = &f->loads[i];
		if (vaddr < ph->p_vaddr || vaddr - ph->p_vaddr >= ph->p_filesz)
			continue;
		*off = vaddr - ph->p_vaddr + ph->p_offset;
		return *off < f->size;
	}
	return false;
}

/*
 * Data of a section of type TYPE (and entry size ENTSIZE unless 0), after
 * checking that the section lies in the file.
 */
static Elf_Data *section_data(const struct elf_file *f, Elf_Scn *scn, Elf64_Word type,
			      size_t entsize)
{
	GElf_Shdr sh;
	Elf_Data *d;

	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != type)
		return NULL;
	if ((sh.sh_flags & SHF_COMPRESSED) || !in_file(f, sh.sh_offset, sh.sh_size))
		return NULL;
	if (entsize && sh.sh_entsize != entsize)
		return NULL;
	d = elf_getdata(scn, NULL);
	if (!d || (d->d_size && !d->d_buf))
		return NULL;
	return d;
}

/* The .gnu.version section describing the symbol table SYMSCN, if any. */
static Elf_Data *find_versym(const struct elf_file *f, Elf_Scn *symscn)
{
	size_t ndx = elf_ndxscn(symscn);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(f->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return NULL;
		if (sh.sh_type == SHT_GNU_versym && sh.sh_link == ndx)
			return section_data(f, scn, SHT_GNU_versym, sizeof(GElf_Versym));
	}
	return NULL;
}

static int symtab_open(const struct elf_file *f, Elf_Scn *scn, struct symtab *t)
{
	Elf_Data *strs;
	GElf_Shdr sh;

	memset(t, 0, sizeof(*t));
	if (!gelf_getshdr(scn, &sh))
		return -ENOEXEC;
	t->syms = section_data(f, scn, sh.sh_type, sizeof(Elf64_Sym));
	strs = section_data(f, elf_getscn(f->elf, sh.sh_link), SHT_STRTAB, 0);
	if (!t->syms || !strs)
		return -ENOEXEC;
	t->nsyms = t->syms->d_size / sizeof(Elf64_Sym);
	t->strs = strs->d_buf;
	t->strs_len = strs->d_size;
	/* Only .dynsym has versions in a side table; .symtab names carry them. */
	if (sh.sh_type == SHT_DYNSYM)
		t->versym = find_versym(f, scn);
	return 0;
}

/*
 * The name at OFF without its version: "SSL_write@@OPENSSL_3.0.0" gives
 * "SSL_write" and DFLT true ("@@" marks the default version, "@" an older
 * one). Names longer than MAX cannot match and are not scanned further.
 */
static bool symtab_name(const struct symtab *t, uint64_t off, size_t max, const char **name,
			size_t *len, bool *dflt)
{
	const char *p;
	size_t avail, i;

	if (off >= t->strs_len)
		return false;
	p = t->strs + off;
	avail = t->strs_len - off;
	if (avail > max + 1)
		avail = max + 1;
	for (i = 0; i < avail && p[i] && p[i] != '@'; i++)
		;
	if (i == 0 || i == avail)
		return false;
	*name = p;
	*len = i;
	*dflt = !p[i] || (i + 1 < t->strs_len - off && p[i + 1] == '@');
	return true;
}

static bool versym_hidden(const struct symtab *t, size_t idx)
{
	GElf_Versym v;

	return t->versym && gelf_getversym(t->versym, idx, &v) && (v & VERSYM_HIDDEN);
}

/* Take SYM for every wanted name it matches better than what was kept. */
static void match_symbol(const struct elf_file *f, const struct symtab *t, size_t idx,
			 const GElf_Sym *sym, struct search *s)
{
	const char *name;
	size_t len, i;
	uint64_t off;
	bool dflt;
	int rank;

	if (!symtab_name(t, sym->st_name, s->maxlen, &name, &len, &dflt))
		return;
	/*
	 * Callers bind to the default version of a global symbol; an older
	 * version or a local function of the same name is only a fallback.
	 */
	dflt = dflt && !versym_hidden(t, idx);
	rank = 1 + (dflt ? 2 : 0) + (GELF_ST_BIND(sym->st_info) != STB_LOCAL ? 1 : 0);
	for (i = 0; i < s->n; i++) {
		if (s->wants[i].len != len || memcmp(s->syms[i].name, name, len))
			continue;
		if (s->wants[i].rank >= rank || !vaddr_to_offset(f, sym->st_value, &off))
			continue;
		s->wants[i].rank = rank;
		s->syms[i].offset = off;
		s->syms[i].found = true;
	}
}

/* Does the string table contain any wanted name? (Merged tails included:
 * a name stored as the end of a longer one is still a substring.) */
static bool strings_mention_any(const struct symtab *t, const struct search *s)
{
	if (!t->strs || !t->strs_len) /* an empty table names nothing */
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (s->wants[i].len &&
		    memmem(t->strs, t->strs_len, s->syms[i].name, s->wants[i].len))
			return true;
	}
	return false;
}

static int scan_symtab(const struct elf_file *f, Elf_Scn *scn, struct search *s)
{
	struct symtab t;
	GElf_Sym sym;
	size_t i;
	int ret;

	ret = symtab_open(f, scn, &t);
	if (ret)
		return ret;
	/* Most files name none of the wanted functions: one memmem pass over
	 * the strings rules them out without decoding every symbol (libc's
	 * 3000: ~0.7 ms before). */
	if (!strings_mention_any(&t, s))
		return 0;
	/* Entry 0 is the reserved null symbol. */
	for (i = 1; i < t.nsyms; i++) {
		if (!gelf_getsym(t.syms, i, &sym))
			return -ENOEXEC;
		/* An ifunc symbol is the resolver, not the implementation called. */
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
		    !sym.st_value)
			continue;
		match_symbol(f, &t, i, &sym, s);
	}
	return 0;
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
static int scan_file(const struct elf_file *f, struct search *s)
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
	struct elf_file f;
	struct search s;
	size_t i;
	int ret;

	if (n && !syms)
		return -EINVAL;
	ret = search_init(&s, syms, n);
	if (ret)
		return ret;
	ret = elf_file_open_fd(&f, fd);
	if (!ret) {
		ret = scan_file(&f, &s);
		elf_file_close(&f);
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
	struct elf_file f;
	Elf_Scn *scn = NULL;
	size_t shstrndx, nphdr;
	GElf_Shdr sh;
	int ret;

	ret = elf_file_open_fd(&f, fd);
	if (ret)
		return ret;
	if (elf_getphdrnum(f.elf, &nphdr) == 0) {
		for (size_t i = 0; i < nphdr; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(f.elf, i, &ph) && ph.p_type == PT_INTERP)
				ret |= ELF_HAS_INTERP;
		}
	}
	if (elf_getshdrstrndx(f.elf, &shstrndx) != 0)
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
	elf_file_close(&f);
	return ret;
}

int elf_needed_fd(int fd, elf_needed_cb cb, void *ctx)
{
	struct elf_file f;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int ret, n = 0;

	if (!cb)
		return -EINVAL;
	ret = elf_file_open_fd(&f, fd);
	if (ret)
		return ret;
	while ((scn = elf_nextscn(f.elf, scn))) {
		Elf_Data *dyn, *strs;
		GElf_Shdr ssh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		dyn = section_data(&f, scn, SHT_DYNAMIC, sizeof(Elf64_Dyn));
		strs = section_data(&f, elf_getscn(f.elf, sh.sh_link), SHT_STRTAB, 0);
		if (!dyn || !strs || !gelf_getshdr(elf_getscn(f.elf, sh.sh_link), &ssh))
			break;
		for (size_t i = 0; i < dyn->d_size / sizeof(Elf64_Dyn); i++) {
			GElf_Dyn d;

			if (!gelf_getdyn(dyn, (int)i, &d) || d.d_tag == DT_NULL)
				break;
			if (d.d_tag != DT_NEEDED || d.d_un.d_val >= strs->d_size)
				continue;
			/* Must be NUL-terminated inside the string table. */
			if (!memchr((const char *)strs->d_buf + d.d_un.d_val, '\0',
				    strs->d_size - d.d_un.d_val))
				continue;
			n++;
			if (cb((const char *)strs->d_buf + d.d_un.d_val, ctx))
				break;
		}
		break; /* one dynamic section */
	}
	elf_file_close(&f);
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
