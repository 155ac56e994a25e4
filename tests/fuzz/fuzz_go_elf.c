// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: go_elf_inspect() and go_elf_find_funcs() (with return
 * instructions) on an arbitrary file. The input is written to a memfd
 * created once. Seeds: the synthetic Go executables of test_go_pclntab.c
 * (GO_ELF_CORPUS=tests/fuzz/corpus/go_elf build/tests/test_go_pclntab).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "go_elf.h"

static const char *names[] = {
    "main.main",
    "crypto/tls.(*Conn).Read",
    "crypto/tls.(*Conn).Write",
    "crypto/tls.(*Conn).Tail",
    "crypto/tls.(*Conn).Many",
    "a",
    "",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static int fd = -1;

static void load_input(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("fuzz_go_elf", MFD_CLOEXEC);
		if (fd < 0)
			abort();
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct go_func fn[NNAMES];
	struct go_build b;
	int ret;

	load_input(data, size);
	ret = go_elf_inspect(fd, &b);
	if (ret > 1 || memchr(b.version, '\0', sizeof(b.version)) == NULL)
		abort();
	for (size_t i = 0; i < NNAMES; i++)
		fn[i] = (struct go_func){.name = names[i], .want_rets = i % 2 == 1 || i == 4};
	ret = go_elf_find_funcs(fd, fn, NNAMES);
	if (ret > (int)NNAMES)
		abort();
	for (size_t i = 0; i < NNAMES; i++) {
		if (memchr(fn[i].why, '\0', sizeof(fn[i].why)) == NULL || fn[i].nret > GO_RET_MAX)
			abort();
		if (!fn[i].found)
			continue;
		/* A probe is placed only where the file has code. */
		if (fn[i].offset >= size || fn[i].size > size - fn[i].offset || !fn[i].size)
			abort();
		if (!fn[i].want_rets && fn[i].nret)
			abort();
		for (unsigned r = 0; r < fn[i].nret; r++) {
			uint64_t at = fn[i].ret_offset[r];

			if (at < fn[i].offset || at >= fn[i].offset + fn[i].size)
				abort();
			if (r && at <= fn[i].ret_offset[r - 1])
				abort();
		}
	}
	return 0;
}
