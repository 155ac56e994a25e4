// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the Go executable analysis on real Go programs, built by
 * the Makefile with Debian's golang-go into build/tests/go/ (next to this
 * test's executable): tests/unit/go_tls_peer with symbols, -s -w, and as a
 * stripped PIE, plus `go tool objdump` of its crypto/tls functions, the
 * reference: entries, first instruction, every RET.
 *
 * The pclntab path is proven against the symbol table on the same file: a
 * copy of the unstripped program whose .symtab is hidden must give the
 * same entries and returns; one whose .symtab is falsified must be refused.
 * The Go 1.26 path (text start from runtime.moduledata) runs on a real
 * program too: a copy without sections and with the pclntab header's text
 * start zeroed, as Go 1.26 writes it.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "go_elf.h"

static const char *const tls_funcs[] = {
    "crypto/tls.(*Conn).Read",
    "crypto/tls.(*Conn).Write",
    "crypto/tls.(*Conn).Close",
    "crypto/tls.(*Conn).clientHandshake",
    "crypto/tls.(*Conn).serverHandshake",
};
#define NFUNCS (sizeof(tls_funcs) / sizeof(tls_funcs[0]))

/* What go tool objdump says about one function. */
struct ref_func {
	uint64_t entry, end; /* addresses: first instruction, after the last */
	uint8_t first[16];   /* first instruction's bytes */
	size_t first_len;
	uint64_t rets[32];
	size_t nret;
};

static char go_dir[PATH_MAX];
static char plain[PATH_MAX + 32], stripped[PATH_MAX + 32], pie[PATH_MAX + 32];
static struct ref_func ref[NFUNCS];
static char go_version[64];

static void path_in(char *out, const char *name)
{
	snprintf(out, PATH_MAX + 32, "%s/%s", go_dir, name);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * objdump lines: "TEXT crypto/tls.(*Conn).Read(SB) /usr/.../conn.go", then
 * "  conn.go:1297\t0x5a6be0\t\t493b6610\t\tCMPQ 0x10(R14), SP".
 */
static void load_objdump(void)
{
	char path[PATH_MAX + 32], line[512];
	struct ref_func *cur = NULL;
	FILE *f;

	path_in(path, "go_tls_peer.objdump");
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s (built by the Makefile)", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char hex[64], insn[128];

		if (!strncmp(line, "TEXT ", 5)) {
			cur = NULL;
			for (size_t i = 0; i < NFUNCS; i++) {
				size_t l = strlen(tls_funcs[i]);

				if (!strncmp(line + 5, tls_funcs[i], l) && line[5 + l] == '(')
					cur = &ref[i];
			}
			continue;
		}
		if (!cur || sscanf(line, " %*s %llx %63s %127[^\n]", &addr, hex, insn) != 3)
			continue;
		if (!cur->entry) {
			cur->entry = addr;
			for (size_t i = 0; hex[2 * i] && i < sizeof(cur->first); i++)
				cur->first[cur->first_len++] =
				    hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]);
		}
		cur->end = addr + strlen(hex) / 2;
		if (!strncmp(insn, "RET", 3) && cur->nret < 32)
			cur->rets[cur->nret++] = addr;
	}
	fclose(f);
	for (size_t i = 0; i < NFUNCS; i++) {
		if (!ref[i].entry || !ref[i].nret)
			fail_msg("%s: no %s with a RET", path, tls_funcs[i]);
	}
}

static int setup(void **state)
{
	char exe[PATH_MAX - 16], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f;

	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(go_dir, sizeof(go_dir), "%s/go", exe);
	path_in(plain, "go_tls_peer");
	path_in(stripped, "go_tls_peer-stripped");
	path_in(pie, "go_tls_peer-pie-stripped");
	path_in(path, "go.version");
	f = fopen(path, "r");
	if (!f || !fgets(go_version, sizeof(go_version), f))
		fail_msg("%s: not readable (built by the Makefile)", path);
	go_version[strcspn(go_version, "\n")] = '\0';
	fclose(f);
	load_objdump();
	return 0;
}

/* ---- the file, read independently of the code under test -------------------- */

struct blob {
	uint8_t *p;
	size_t len;
};

static struct blob slurp(const char *path)
{
	struct blob b;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		fail_msg("%s: %s", path, strerror(errno));
	b.len = st.st_size;
	b.p = malloc(b.len);
	assert_non_null(b.p);
	assert_int_equal(read(fd, b.p, b.len), (ssize_t)b.len);
	close(fd);
	return b;
}

/* A copy in a memfd, for the variants the tests make. */
static int blob_fd(const struct blob *b)
{
	int fd = memfd_create("go_variant", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
	return fd;
}

static uint64_t vaddr_to_off(const struct blob *b, uint64_t va)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b->p;

	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(b->p + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD && va >= ph->p_vaddr && va < ph->p_vaddr + ph->p_filesz)
			return va - ph->p_vaddr + ph->p_offset;
	}
	fail_msg("0x%llx is not in the file", (unsigned long long)va);
	return 0;
}

static Elf64_Shdr *section(const struct blob *b, const char *name, uint32_t type)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b->p;
	Elf64_Shdr *sh = (Elf64_Shdr *)(b->p + eh->e_shoff);
	const char *names = (const char *)b->p + sh[eh->e_shstrndx].sh_offset;

	for (int i = 0; i < eh->e_shnum; i++) {
		if ((!name || !strcmp(names + sh[i].sh_name, name)) &&
		    (!type || sh[i].sh_type == type))
			return &sh[i];
	}
	return NULL;
}

/* ---- looking up --------------------------------------------------------------- */

static int find(int fd, struct go_func *fn)
{
	for (size_t i = 0; i < NFUNCS; i++)
		fn[i] = (struct go_func){.name = tls_funcs[i], .want_rets = true};
	return go_elf_find_funcs(fd, fn, NFUNCS);
}

static int find_path(const char *path, struct go_func *fn)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		fail_msg("%s: %s (built by the Makefile)", path, strerror(errno));
	ret = find(fd, fn);
	close(fd);
	return ret;
}

static void expect_all(const struct go_func *fn, int ret)
{
	for (size_t i = 0; i < NFUNCS; i++) {
		if (!fn[i].found)
			fail_msg("%s not found: %s", fn[i].name, fn[i].why);
	}
	assert_int_equal(ret, NFUNCS);
}

/* Every return is a C3 byte inside the function, after its entry. */
static void expect_rets_sane(const struct blob *b, const struct go_func *fn)
{
	for (size_t i = 0; i < NFUNCS; i++) {
		assert_true(fn[i].nret > 0);
		for (unsigned r = 0; r < fn[i].nret; r++) {
			assert_true(fn[i].ret_offset[r] > fn[i].offset);
			assert_true(fn[i].ret_offset[r] < fn[i].offset + fn[i].size);
			assert_int_equal(b->p[fn[i].ret_offset[r]], 0xc3);
		}
	}
}

/* The same code as the unstripped program: returns at the same places, padding after. */
static void expect_like(const struct blob *b, const struct go_func *fn, const struct go_func *want)
{
	expect_rets_sane(b, fn);
	for (size_t i = 0; i < NFUNCS; i++) {
		assert_int_equal(fn[i].nret, want[i].nret);
		for (unsigned r = 0; r < fn[i].nret; r++)
			assert_int_equal(fn[i].ret_offset[r] - fn[i].offset,
					 want[i].ret_offset[r] - want[i].offset);
		assert_memory_equal(b->p + fn[i].offset, ref[i].first, ref[i].first_len);
		assert_true(fn[i].size >= want[i].size);
		for (uint64_t at = want[i].size; at < fn[i].size; at++)
			assert_int_equal(b->p[fn[i].offset + at], 0xcc);
	}
}

static void plain_funcs(struct go_func *fn)
{
	expect_all(fn, find_path(plain, fn));
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_inspect(void **state)
{
	const char *paths[] = {plain, stripped, pie};
	unsigned major, minor;

	assert_int_equal(sscanf(go_version, "go%u.%u", &major, &minor), 2);
	for (size_t i = 0; i < 3; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		struct go_build b;

		assert_true(fd >= 0);
		assert_int_equal(go_elf_inspect(fd, &b), 1);
		assert_string_equal(b.version, go_version);
		assert_int_equal(b.major, major);
		assert_int_equal(b.minor, minor);
		assert_true(b.regabi); /* Debian's Go is >= 1.19 */
		assert_int_equal(b.has_symtab, i == 0);
		close(fd);
	}
	/* Not Go: this test itself. */
	{
		int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		struct go_build b;

		assert_int_equal(go_elf_inspect(fd, &b), 0);
		close(fd);
	}
}

/* With symbols: entries, first instructions and every RET as go tool objdump shows them. */
static void test_plain_matches_objdump(void **state)
{
	struct blob b = slurp(plain);
	struct go_func fn[NFUNCS];

	plain_funcs(fn);
	expect_rets_sane(&b, fn);
	for (size_t i = 0; i < NFUNCS; i++) {
		assert_int_equal(fn[i].offset, vaddr_to_off(&b, ref[i].entry));
		assert_int_equal(fn[i].size, ref[i].end - ref[i].entry);
		assert_memory_equal(b.p + fn[i].offset, ref[i].first, ref[i].first_len);
		assert_int_equal(fn[i].nret, ref[i].nret);
		for (size_t r = 0; r < ref[i].nret; r++)
			assert_int_equal(fn[i].ret_offset[r], vaddr_to_off(&b, ref[i].rets[r]));
	}
	/*
	 * Read stores its receiver and b's pointer to their spill slots in its
	 * prologue (Go 1.17+: MOVQ AX, frame+8(SP); MOVQ BX, frame+16(SP)), so
	 * its RET probes find them at [RSP+8] and [RSP+16]. Write does not
	 * store AX there (it keeps c elsewhere): not proven.
	 */
	assert_true(fn[0].args_spilled);
	assert_false(fn[1].args_spilled);
	free(b.p);
}

/* -s -w and PIE: the same functions from .gopclntab alone. */
static void test_stripped(void **state)
{
	const char *paths[] = {stripped, pie};
	struct go_func want[NFUNCS], fn[NFUNCS];

	plain_funcs(want);
	for (size_t i = 0; i < 2; i++) {
		struct blob b = slurp(paths[i]);

		expect_all(fn, find_path(paths[i], fn));
		expect_like(&b, fn, want);
		free(b.p);
	}
}

/* The unstripped program with its .symtab hidden: the pclntab gives the same entries. */
static void test_pclntab_equals_symtab(void **state)
{
	struct blob b = slurp(plain);
	struct go_func want[NFUNCS], fn[NFUNCS];
	struct go_build bi;
	int fd;

	plain_funcs(want);
	section(&b, ".symtab", SHT_SYMTAB)->sh_type = SHT_PROGBITS;
	fd = blob_fd(&b);
	assert_int_equal(go_elf_inspect(fd, &bi), 1);
	assert_false(bi.has_symtab);
	expect_all(fn, find(fd, fn));
	for (size_t i = 0; i < NFUNCS; i++)
		assert_int_equal(fn[i].offset, want[i].offset);
	expect_like(&b, fn, want);
	close(fd);
	free(b.p);
}

/* A .symtab that disagrees with the pclntab: that function is refused. */
static void test_tables_must_agree(void **state)
{
	struct blob b = slurp(plain);
	Elf64_Shdr *symtab = section(&b, ".symtab", SHT_SYMTAB);
	const char *strs = (const char *)b.p + section(&b, ".strtab", SHT_STRTAB)->sh_offset;
	Elf64_Sym *sym = (Elf64_Sym *)(b.p + symtab->sh_offset);
	struct go_func fn[NFUNCS];
	size_t n = symtab->sh_size / sizeof(*sym), moved = 0;
	int fd;

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(strs + sym[i].st_name, tls_funcs[0])) {
			sym[i].st_value += 16;
			moved++;
		}
	}
	assert_int_equal(moved, 1);
	fd = blob_fd(&b);
	assert_int_equal(find(fd, fn), NFUNCS - 1);
	assert_false(fn[0].found);
	assert_non_null(strstr(fn[0].why, "disagree"));
	close(fd);
	free(b.p);
}

/*
 * Sections removed (as sstrip does), and then the pclntab header's text
 * start zeroed as Go 1.26 writes it: the table is found by its magic, the
 * text start in runtime.moduledata. Falsifying the moduledata's text field
 * leaves it unproven: no offsets.
 */
static void test_no_sections_go126(void **state)
{
	const char *paths[] = {stripped, pie};
	struct go_func want[NFUNCS], fn[NFUNCS];
	struct go_build bi;

	plain_funcs(want);
	for (size_t p = 0; p < 2; p++) {
		struct blob b = slurp(paths[p]);
		Elf64_Shdr *pcln = section(&b, ".gopclntab", 0);
		Elf64_Ehdr *eh = (Elf64_Ehdr *)b.p;
		uint64_t pcln_off, pcln_va, *md = NULL;
		int fd;

		if (!pcln) /* PIE: .data.rel.ro.gopclntab */
			pcln = section(&b, ".data.rel.ro.gopclntab", 0);
		assert_non_null(pcln);
		pcln_off = pcln->sh_offset;
		pcln_va = pcln->sh_addr;
		eh->e_shoff = 0;
		eh->e_shnum = 0;
		eh->e_shstrndx = 0;
		fd = blob_fd(&b);
		/* The build information without its section (a PIE's is in its second RW segment).
		 */
		assert_int_equal(go_elf_inspect(fd, &bi), 1);
		assert_string_equal(bi.version, go_version);
		expect_all(fn, find(fd, fn));
		expect_like(&b, fn, want);
		close(fd);

		memset(b.p + pcln_off + 24, 0, 8); /* textStart */
		fd = blob_fd(&b);
		expect_all(fn, find(fd, fn));
		expect_like(&b, fn, want);
		close(fd);

		/* runtime.moduledata: the word pointing at the pclntab, its ftab at +16 words. */
		for (size_t at = 0; at + 24 * 8 <= b.len; at += 8) {
			uint64_t *w = (uint64_t *)(b.p + at);

			if (w[0] == pcln_va && w[16] > pcln_va && w[16] < pcln_va + pcln->sh_size &&
			    w[22] && w[22] <= w[20])
				md = w;
		}
		assert_non_null(md);
		md[22] += 0x20;
		fd = blob_fd(&b);
		assert_int_equal(find(fd, fn), 0);
		for (size_t i = 0; i < NFUNCS; i++) {
			assert_false(fn[i].found);
			assert_non_null(strstr(fn[i].why, "text start not proven"));
		}
		close(fd);
		free(b.p);
	}
}

/* The whole analysis of a real program is quick: it reads windows, not whole tables. */
static void test_quick(void **state)
{
	struct go_func fn[NFUNCS];
	struct timespec t0, t1;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_all(fn, find_path(stripped, fn));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("stripped go_tls_peer analysed in %.1f ms\n", ms);
	assert_true(ms < 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inspect),
	    cmocka_unit_test(test_plain_matches_objdump),
	    cmocka_unit_test(test_stripped),
	    cmocka_unit_test(test_pclntab_equals_symtab),
	    cmocka_unit_test(test_tables_must_agree),
	    cmocka_unit_test(test_no_sections_go126),
	    cmocka_unit_test(test_quick),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
