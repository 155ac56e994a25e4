// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: elf_find_symbols() and elf_inspect() on an
 * arbitrary file. The input is written to a memfd created once, and opened
 * by path through /proc/self/fd as the daemon opens libraries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf_symbols.h"

static const char *names[] = {
    "f1", "f2", "foo", "bar", "SSL_write", "SSL_read", "_init", "",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static int fd = -1;
static char path[64];

static void load_input(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("fuzz_elf_symbols", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_symbol syms[NNAMES];
	size_t i;
	int ret;

	load_input(data, size);
	for (i = 0; i < NNAMES; i++)
		syms[i] = (struct elf_symbol){.name = names[i]};
	ret = elf_find_symbols(path, syms, NNAMES);
	if (ret > (int)NNAMES)
		abort();
	/* An offset a uprobe would be placed at must be in the file. */
	for (i = 0; ret > 0 && i < NNAMES; i++)
		if (syms[i].found && syms[i].offset >= size)
			abort();
	elf_inspect(path);
	return 0;
}
