// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The bounded ELF file view (elf_view.h): headers through libelf, bytes
 * through pread, each extent checked against the file size first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf_view.h"

/* Section name tables are small (a few hundred bytes); libelf reads them whole. */
#define SHSTRTAB_MAX (64 * 1024)

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;

static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

bool elf_view_in_file(const struct elf_view *v, uint64_t off, uint64_t len)
{
	return off <= v->size && len <= v->size - off;
}

/* Whether COUNT entries of SIZE bytes at OFF lie in the file, without overflowing. */
static bool table_in_file(const struct elf_view *v, uint64_t off, uint64_t count, uint64_t size)
{
	return count <= v->size / size && elf_view_in_file(v, off, count * size);
}

int elf_view_read(const struct elf_view *v, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	if (!elf_view_in_file(v, off, len))
		return -ENOEXEC;
	while (len > 0) {
		ssize_t n = pread(v->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOEXEC; /* truncated under us */
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/*
 * The header tables must lie in the file. libelf quietly treats a section
 * header table past the end as absent (a truncated file would look
 * stripped), so the counts of the ELF header are checked too.
 */
static int check_headers(struct elf_view *v)
{
	size_t shnum, phnum, shstrndx;
	GElf_Ehdr eh;
	GElf_Shdr sh;

	if (elf_kind(v->elf) != ELF_K_ELF || gelf_getclass(v->elf) != ELFCLASS64 ||
	    !gelf_getehdr(v->elf, &eh))
		return -ENOEXEC;
	if (elf_getshdrnum(v->elf, &shnum) || elf_getphdrnum(v->elf, &phnum))
		return -ENOEXEC;
	if (shnum < eh.e_shnum)
		shnum = eh.e_shnum;
	/* With e_shoff set, e_shnum 0 means the count is in section 0: one header at least. */
	if (eh.e_shoff && !shnum)
		shnum = 1;
	if (phnum < eh.e_phnum)
		phnum = eh.e_phnum;
	if (shnum && (eh.e_shentsize != sizeof(Elf64_Shdr) ||
		      !table_in_file(v, eh.e_shoff, shnum, sizeof(Elf64_Shdr))))
		return -ENOEXEC;
	if (phnum && (eh.e_phentsize != sizeof(Elf64_Phdr) ||
		      !table_in_file(v, eh.e_phoff, phnum, sizeof(Elf64_Phdr))))
		return -ENOEXEC;
	if (shnum && !elf_getshdrstrndx(v->elf, &shstrndx) &&
	    gelf_getshdr(elf_getscn(v->elf, shstrndx), &sh) && sh.sh_type == SHT_STRTAB &&
	    sh.sh_size <= SHSTRTAB_MAX && elf_view_in_file(v, sh.sh_offset, sh.sh_size))
		v->names = true;
	return 0;
}

/* Every PT_LOAD must map file bytes that exist, and not wrap the address space. */
static int load_segments(struct elf_view *v)
{
	size_t i, phnum;
	GElf_Phdr ph;

	if (elf_getphdrnum(v->elf, &phnum))
		return -ENOEXEC;
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(v->elf, i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD)
			continue;
		if (v->nloads == ELF_VIEW_MAX_LOADS || ph.p_filesz > ph.p_memsz ||
		    !elf_view_in_file(v, ph.p_offset, ph.p_filesz) ||
		    ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			return -ENOEXEC;
		v->loads[v->nloads++] = ph;
	}
	return 0;
}

void elf_view_close(struct elf_view *v)
{
	elf_end(v->elf);
	close(v->fd);
}

int elf_view_open(struct elf_view *v, int fd)
{
	struct stat st;
	int ret;

	pthread_once(&libelf_once, libelf_init);
	if (!libelf_ok)
		return -ENOSYS;
	memset(v, 0, sizeof(*v));
	v->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (v->fd < 0)
		return -errno;
	if (fstat(v->fd, &st)) {
		ret = -errno;
		close(v->fd);
		return ret;
	}
	v->size = st.st_size;
	if (S_ISREG(st.st_mode))
		v->elf = elf_begin(v->fd, ELF_C_READ, NULL);
	ret = v->elf ? check_headers(v) : -ENOEXEC;
	if (!ret)
		ret = load_segments(v);
	if (ret)
		elf_view_close(v);
	return ret;
}

const GElf_Phdr *elf_view_vaddr_to_off(const struct elf_view *v, uint64_t vaddr, uint64_t len,
				       bool exec, uint64_t *off)
{
	for (size_t i = 0; i < v->nloads; i++) {
		const GElf_Phdr *ph = &v->loads[i];

		if (vaddr < ph->p_vaddr || vaddr - ph->p_vaddr >= ph->p_filesz ||
		    len > ph->p_filesz - (vaddr - ph->p_vaddr))
			continue;
		if (exec && !(ph->p_flags & PF_X))
			continue;
		*off = vaddr - ph->p_vaddr + ph->p_offset;
		return ph;
	}
	return NULL;
}
