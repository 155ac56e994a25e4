// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "elf_symbols.h"
#include "kernel_check.h"
#include "log.h"
#include "tls_trace.skel.h"

/*
 * uprobe_multi arrived in Linux 6.6, after the UAPI headers we build with
 * (Debian 12 ships 6.1's): the attach type and the BPF_LINK_CREATE layout
 * for it are spelled out here, as in include/uapi/linux/bpf.h.
 */
#define ATTACH_TYPE_UPROBE_MULTI 48
#define UPROBE_MULTI_RETURN	 (1U << 0)

struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__aligned_u64 path;
	__aligned_u64 offsets;
	__aligned_u64 ref_ctr_offsets;
	__aligned_u64 cookies;
	__u32 cnt;
	__u32 multi_flags;
	__u32 pid;
};

static enum attach_mode mode = ATTACH_PERF_EVENT;

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

const char *attach_mode_name(enum attach_mode m)
{
	return m == ATTACH_UPROBE_MULTI ? "uprobe_multi links" : "perf-event uprobes";
}

enum attach_mode attach_prepare(struct tls_trace *skel, bool force_perf_event)
{
	struct bpf_program *prog;

	mode = !force_perf_event && kernel_running_at_least(6, 6) ? ATTACH_UPROBE_MULTI
								  : ATTACH_PERF_EVENT;
	if (mode == ATTACH_UPROBE_MULTI) {
		bpf_object__for_each_program(prog, skel->obj)
		    bpf_program__set_expected_attach_type(prog, ATTACH_TYPE_UPROBE_MULTI);
	}
	return mode;
}

/* The offset is a file offset, as uprobes expect; pid -1 (perf) or 0
 * (multi) puts the breakpoint in every process that maps the file. */
static int attach_multi(int prog_fd, const char *path, uint64_t offset, bool retprobe, pid_t pid)
{
	struct link_create_uprobe_multi attr;
	uint64_t offsets[1] = {offset};
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = prog_fd;
	attr.attach_type = ATTACH_TYPE_UPROBE_MULTI;
	attr.path = (uintptr_t)path;
	attr.offsets = (uintptr_t)offsets;
	attr.cnt = 1;
	attr.multi_flags = retprobe ? UPROBE_MULTI_RETURN : 0;
	attr.pid = pid > 0 ? (__u32)pid : 0;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

static int attach_one(struct tls_trace *skel, struct attached_lib *a, const char *prog_name,
		      uint64_t offset, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
	struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, prog_name);
	struct probe_link *pl;

	if (!prog || a->nlinks >= ATTACH_MAX_LINKS)
		return -EINVAL;
	pl = &a->links[a->nlinks];
	if (mode == ATTACH_UPROBE_MULTI) {
		pl->link = NULL;
		pl->fd = attach_multi(bpf_program__fd(prog), a->lib.path, offset, retprobe, a->pid);
		if (pl->fd < 0)
			return pl->fd;
	} else {
		pl->fd = -1;
		pl->link =
		    bpf_program__attach_uprobe_opts(prog, a->pid, a->lib.path, offset, &opts);
		if (!pl->link)
			return -errno;
	}
	a->nlinks++;
	return 0;
}

static void probe_link_destroy(struct probe_link *pl)
{
	if (pl->link)
		bpf_link__destroy(pl->link);
	if (pl->fd >= 0)
		close(pl->fd);
	pl->link = NULL;
	pl->fd = -1;
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
		probe_link_destroy(&a->links[i]);
	a->nlinks = 0;
}

/* More threads gain nothing: they all wait for the same grace periods. */
#define DETACH_THREADS_MAX 64

static void *destroy_link(void *link)
{
	probe_link_destroy(link);
	return NULL;
}

void detach_tls_libs(struct attached_lib *libs, size_t n)
{
	pthread_t threads[DETACH_THREADS_MAX];
	int running = 0;

	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < libs[i].nlinks; j++) {
			struct probe_link *link = &libs[i].links[j];

			if (running == DETACH_THREADS_MAX) {
				for (int k = 0; k < running; k++)
					pthread_join(threads[k], NULL);
				running = 0;
			}
			if (pthread_create(&threads[running], NULL, destroy_link, link) == 0)
				running++;
			else
				probe_link_destroy(link);
		}
		libs[i].nlinks = 0;
	}
	for (int k = 0; k < running; k++)
		pthread_join(threads[k], NULL);
}
