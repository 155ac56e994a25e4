// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "elf_symbols.h"
#include "log.h"
#include "tls_trace.skel.h"

struct probe_spec {
	const char *symbol;
	bool required;
	/* Programs are looked up by name in the skeleton. */
	const char *entry;
	const char *ret; /* NULL: entry probe only */
};

static const struct probe_spec openssl_probes[] = {
	{"SSL_write", true, "ssl_write_entry", "ssl_write_return"},
	{"SSL_read", true, "ssl_read_entry", "ssl_read_return"},
	/* OpenSSL 1.1.1 and later; Python's _ssl uses only these. */
	{"SSL_write_ex", false, "ssl_write_ex_entry", "ssl_write_ex_return"},
	{"SSL_read_ex", false, "ssl_read_ex_entry", "ssl_read_ex_return"},
	{"SSL_shutdown", false, "ssl_close_entry", NULL},
	{"SSL_free", false, "ssl_close_entry", NULL},
};

#define NPROBES (sizeof(openssl_probes) / sizeof(openssl_probes[0]))

static int attach_one(struct tls_trace *skel, struct attached_lib *a, const char *prog_name,
		      uint64_t offset, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
	struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, prog_name);
	struct bpf_link *link;

	if (!prog || a->nlinks >= ATTACH_MAX_LINKS)
		return -EINVAL;
	/* The offset is a file offset, as the uprobe PMU expects; a pid of -1
	 * puts the breakpoint in every process that maps the file. */
	link = bpf_program__attach_uprobe_opts(prog, a->pid, a->lib.path, offset, &opts);
	if (!link)
		return -errno;
	a->links[a->nlinks++] = link;
	return 0;
}

static void note_function(struct attached_lib *a, const char *name)
{
	size_t used = strlen(a->functions);

	snprintf(a->functions + used, sizeof(a->functions) - used, "%s%s", used ? "," : "", name);
}

int attach_tls_lib(struct tls_trace *skel, const struct tls_lib *lib, pid_t pid,
		   struct attached_lib *out)
{
	struct elf_symbol syms[NPROBES];
	int err;

	memset(out, 0, sizeof(*out));
	out->lib = *lib;
	out->pid = pid;
	for (size_t i = 0; i < NPROBES; i++)
		syms[i] = (struct elf_symbol){.name = openssl_probes[i].symbol};
	err = elf_find_symbols(lib->path, syms, NPROBES);
	if (err < 0)
		return err;
	for (size_t i = 0; i < NPROBES; i++) {
		if (openssl_probes[i].required && !syms[i].found)
			return -ENOENT;
	}
	for (size_t i = 0; i < NPROBES; i++) {
		const struct probe_spec *p = &openssl_probes[i];

		if (!syms[i].found)
			continue;
		err = attach_one(skel, out, p->entry, syms[i].offset, false);
		if (!err && p->ret)
			err = attach_one(skel, out, p->ret, syms[i].offset, true);
		if (err) {
			log_warn("cannot attach to %s in %s: %s", p->symbol, lib->path,
				 strerror(-err));
			detach_tls_lib(out);
			return err;
		}
		note_function(out, p->symbol);
	}
	return 0;
}

void detach_tls_lib(struct attached_lib *a)
{
	for (int i = 0; i < a->nlinks; i++)
		bpf_link__destroy(a->links[i]);
	a->nlinks = 0;
}
