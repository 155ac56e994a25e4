// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the ELF symbol lookup: the system libssl.so.3 (found through
 * ld.so.cache), a small library compiled here to cover symbol versions,
 * locals, ifuncs and a load address that differs from the file offset, and
 * files that are not ELF or are broken.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf_symbols.h"
#include "ldcache.h"

static const char *ssl_names[] = {
    "SSL_write",    "SSL_write_ex",	     "SSL_read", "SSL_read_ex", "SSL_free",
    "SSL_shutdown", "SSL_set_connect_state",
};
#define NSSL (sizeof(ssl_names) / sizeof(ssl_names[0]))

/*
 * Library built by the tests: foo has an old (foo@V1) and a default
 * (foo@@V2) version, local_fn is local, ifn is an ifunc, undef_fn is only
 * referenced. Its text is linked at 0x200000 so offsets and addresses differ.
 */
static const char lib_src[] =
    "int foo_v1(void) { return 1; }\n"
    "int foo_v2(void) { return 2; }\n"
    "__asm__(\".symver foo_v1, foo@V1\");\n"
    "__asm__(\".symver foo_v2, foo@@V2\");\n"
    "int bar(void) { return 3; }\n"
    "static __attribute__((used, noinline)) int local_fn(void) { return 4; }\n"
    "int ifn_impl(void) { return 5; }\n"
    "static void *ifn_resolver(void) { return (void *)ifn_impl; }\n"
    "int ifn(void) __attribute__((ifunc(\"ifn_resolver\")));\n"
    "extern int undef_fn(void);\n"
    "int call_undef(void) { return undef_fn(); }\n";
static const char lib_map[] = "V1 { global: foo; bar; ifn; ifn_impl; call_undef; local: *; };\n"
			      "V2 { global: foo; } V1;\n";

static char tmpdir[64];
static char ssl_path[4096];
static char lib_path[128];	/* "" when no compiler is available */
static char stripped_path[128]; /* same, linked with -s */

static int find_ssl(const char *soname, const char *path, void *ctx)
{
	(void)ctx;
	if (strcmp(soname, "libssl.so.3"))
		return 0;
	snprintf(ssl_path, sizeof(ssl_path), "%s", path);
	return 1;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void tmp_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static bool compile_lib(const char *out, const char *extra)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cc -shared -fPIC -nostdlib -O1 -Wl,--version-script=%s/lib.map "
		 "-Wl,-Ttext-segment=0x200000 %s -o %s %s/lib.c 2>/dev/null",
		 tmpdir, extra, out, tmpdir);
	return system(cmd) == 0;
}

static int setup(void **state)
{
	char path[128];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_elf_symbols.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (ldcache_for_each_file(NULL, find_ssl, NULL) != 1)
		return -1;
	tmp_path(path, sizeof(path), "lib.c");
	write_file(path, lib_src, strlen(lib_src));
	tmp_path(path, sizeof(path), "lib.map");
	write_file(path, lib_map, strlen(lib_map));
	tmp_path(lib_path, sizeof(lib_path), "lib.so");
	tmp_path(stripped_path, sizeof(stripped_path), "lib-stripped.so");
	if (!compile_lib(lib_path, "") || !compile_lib(stripped_path, "-s"))
		lib_path[0] = stripped_path[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

/* File offset of VADDR, computed from PATH's program headers without libelf. */
static uint64_t phdr_offset(const char *path, uint64_t vaddr)
{
	uint64_t off = 0;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd, i;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &eh, sizeof(eh), 0), sizeof(eh));
	for (i = 0; i < eh.e_phnum; i++) {
		assert_int_equal(pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)),
				 sizeof(ph));
		if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			off = vaddr - ph.p_vaddr + ph.p_offset;
	}
	close(fd);
	return off;
}

/*
 * Load PATH, and check that NAME's code in memory is what the file holds at
 * OFFSET, and that OFFSET is what the program headers give for its address.
 */
static void check_offset(const char *path, const char *name, uint64_t offset)
{
	struct link_map *lm = NULL;
	uint8_t file[32];
	Dl_info info;
	void *h, *p;
	int fd;

	h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	assert_non_null(h);
	p = dlsym(h, name);
	assert_non_null(p);
	assert_true(dladdr1(p, &info, (void **)&lm, RTLD_DL_LINKMAP));
	assert_int_equal(phdr_offset(path, (uintptr_t)p - lm->l_addr), offset);

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, sizeof(file), offset), sizeof(file));
	close(fd);
	/* A uprobe active on this function (any tracer on the host, ours
	 * included, attached for all processes) shows as an int3 (0xcc) in
	 * place of the first instruction byte: compare the rest then. */
	if (((uint8_t *)p)[0] == 0xcc)
		assert_memory_equal((uint8_t *)p + 1, file + 1, sizeof(file) - 1);
	else
		assert_memory_equal(p, file, sizeof(file));
	dlclose(h);
}

static void test_libssl(void **state)
{
	struct elf_symbol syms[NSSL];
	size_t i, j;

	(void)state;
	for (i = 0; i < NSSL; i++)
		syms[i] = (struct elf_symbol){.name = ssl_names[i]};
	assert_int_equal(elf_find_symbols(ssl_path, syms, NSSL), NSSL);
	for (i = 0; i < NSSL; i++) {
		assert_true(syms[i].found);
		assert_true(syms[i].offset != 0);
		for (j = 0; j < i; j++)
			assert_true(syms[i].offset != syms[j].offset);
	}
	check_offset(ssl_path, "SSL_write", syms[0].offset);
	check_offset(ssl_path, "SSL_shutdown", syms[5].offset);
}

/* Names that are not there, or are a prefix or an extension of one that is, or are empty. */
static void test_libssl_missing_symbol(void **state)
{
	struct elf_symbol syms[] = {
	    {.name = "SSL_write"}, {.name = "SSL_no_such_function"},
	    {.name = "SSL_writ"},  {.name = "SSL_write_"},
	    {.name = ""},	   {.name = NULL},
	};

	(void)state;
	syms[1].found = true; /* stale result from a previous call */
	assert_int_equal(elf_find_symbols(ssl_path, syms, 6), 1);
	assert_true(syms[0].found);
	assert_false(syms[1].found);
	assert_int_equal(syms[1].offset, 0);
	assert_false(syms[2].found);
	assert_false(syms[3].found);
	assert_false(syms[4].found);
	assert_false(syms[5].found);
	assert_int_equal(elf_find_symbols(ssl_path, NULL, 0), 0);
}

static void test_versions_locals_ifuncs(void **state)
{
	struct elf_symbol syms[] = {
	    {.name = "foo"},	  {.name = "foo_v1"},	{.name = "foo_v2"},
	    {.name = "bar"},	  {.name = "local_fn"}, {.name = "ifn"},
	    {.name = "ifn_impl"}, {.name = "undef_fn"}, {.name = "foo@@V2"},
	};

	(void)state;
	if (!lib_path[0])
		skip();
	assert_int_equal(elf_find_symbols(lib_path, syms, 9), 6);
	/* The default version, the one callers bind to. */
	assert_true(syms[0].found && syms[2].found);
	assert_int_equal(syms[0].offset, syms[2].offset);
	assert_true(syms[1].found && syms[1].offset != syms[0].offset);
	assert_true(syms[3].found);
	assert_true(syms[4].found);
	assert_false(syms[5].found); /* ifunc: the resolver, not a function */
	assert_true(syms[6].found);
	assert_false(syms[7].found); /* undefined */
	assert_false(syms[8].found); /* versions are not part of names */
	check_offset(lib_path, "foo", syms[0].offset);
	check_offset(lib_path, "bar", syms[3].offset);
}

/* Without .symtab only exported symbols are left, still with the right version. */
static void test_stripped(void **state)
{
	struct elf_symbol syms[] = {
	    {.name = "foo"},
	    {.name = "foo_v2"},
	    {.name = "bar"},
	    {.name = "local_fn"},
	};
	struct elf_symbol full = {.name = "foo"};

	(void)state;
	if (!lib_path[0])
		skip();
	assert_int_equal(elf_find_symbols(stripped_path, syms, 4), 2);
	assert_true(syms[0].found && syms[2].found);
	assert_false(syms[1].found || syms[3].found);
	assert_int_equal(elf_find_symbols(lib_path, &full, 1), 1);
	assert_int_equal(syms[0].offset, full.offset);
}

static void test_has_symbol_tables(void **state)
{
	(void)state;
	assert_true(elf_inspect(ssl_path) & ELF_HAS_DYNSYM);
	assert_int_equal(elf_inspect("/etc/passwd"), -ENOEXEC);
	assert_int_equal(elf_inspect("/nonexistent"), -ENOENT);
	if (!lib_path[0])
		skip();
	assert_int_equal(elf_inspect(lib_path) & (ELF_HAS_SYMTAB | ELF_HAS_DYNSYM),
			 ELF_HAS_SYMTAB | ELF_HAS_DYNSYM);
	assert_int_equal(elf_inspect(stripped_path) & (ELF_HAS_SYMTAB | ELF_HAS_DYNSYM),
			 ELF_HAS_DYNSYM);
}

static void test_not_elf(void **state)
{
	struct elf_symbol sym = {.name = "SSL_write"};

	(void)state;
	assert_int_equal(elf_find_symbols("/etc/passwd", &sym, 1), -ENOEXEC);
	assert_int_equal(elf_find_symbols("/nonexistent/libssl.so.3", &sym, 1), -ENOENT);
	assert_int_equal(elf_find_symbols("/", &sym, 1), -ENOEXEC);
	assert_int_equal(elf_find_symbols("/dev/null", &sym, 1), -ENOEXEC);
	assert_false(sym.found);
}

static void test_elf32(void **state)
{
	struct elf_symbol sym = {.name = "f"};
	Elf32_Ehdr eh = {
	    .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS32, ELFDATA2LSB, EV_CURRENT},
	    .e_type = ET_DYN,
	    .e_machine = EM_386,
	    .e_version = EV_CURRENT,
	    .e_ehsize = sizeof(Elf32_Ehdr),
	};
	char path[128];

	(void)state;
	tmp_path(path, sizeof(path), "elf32");
	write_file(path, &eh, sizeof(eh));
	assert_int_equal(elf_find_symbols(path, &sym, 1), -ENOEXEC);
}

static void copy_prefix(const char *from, const char *to, size_t len)
{
	char *buf = malloc(len);
	int fd;

	assert_non_null(buf);
	fd = open(from, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, 0), len);
	close(fd);
	write_file(to, buf, len);
	free(buf);
}

static void test_truncated(void **state)
{
	static const size_t cuts[] = {4, 64, 4096, 100000};
	struct elf_symbol syms[NSSL];
	char path[128];
	size_t i, j;

	(void)state;
	tmp_path(path, sizeof(path), "truncated.so");
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		copy_prefix(ssl_path, path, cuts[i]);
		for (j = 0; j < NSSL; j++)
			syms[j] = (struct elf_symbol){.name = ssl_names[j]};
		assert_int_equal(elf_find_symbols(path, syms, NSSL), -ENOEXEC);
		assert_int_equal(elf_inspect(path), -ENOEXEC);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_libssl),
	    cmocka_unit_test(test_libssl_missing_symbol),
	    cmocka_unit_test(test_versions_locals_ifuncs),
	    cmocka_unit_test(test_stripped),
	    cmocka_unit_test(test_has_symbol_tables),
	    cmocka_unit_test(test_not_elf),
	    cmocka_unit_test(test_elf32),
	    cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
