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
#include "kernel_check.h"
#include "log.h"
#include "workq.h"
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static enum attach_mode mode = ATTACH_PERF_EVENT;

const char *attach_mode_name(enum attach_mode m)
{
	return m == ATTACH_UPROBE_MULTI ? "uprobe_multi links" : "perf-event uprobes";
}

enum attach_mode attach_prepare(struct tls_trace *skel, bool force_perf_event)
{
	struct bpf_program *prog;

	mode = !force_perf_event && kernel_running_at_least(6, 6) ? ATTACH_UPROBE_MULTI
								  : ATTACH_PERF_EVENT;
	/* Load only the programs the mode uses. */
	bpf_object__for_each_program(prog, skel->obj)
	{
		bool dispatcher = !strcmp(bpf_program__name(prog), "tls_entry") ||
				  !strcmp(bpf_program__name(prog), "tls_return");

		if (mode == ATTACH_UPROBE_MULTI) {
			bpf_program__set_autoload(prog, dispatcher);
			bpf_program__set_expected_attach_type(prog, ATTACH_TYPE_UPROBE_MULTI);
		} else {
			bpf_program__set_autoload(prog, !dispatcher);
		}
	}
	return mode;
}

/* The file a descriptor names, as the kernel's uprobe attach wants a path:
 * it follows this magic link to exactly that inode, never a path again. */
static void fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* pid -1 (perf) or 0 (multi) puts the breakpoint in every process that maps
 * the file; otherwise only that process traps. */
static int link_multi(int prog_fd, const char *path, const uint64_t *offsets,
		      const uint64_t *cookies, unsigned cnt, bool retprobe, pid_t pid)
{
	struct link_create_uprobe_multi attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = prog_fd;
	attr.attach_type = ATTACH_TYPE_UPROBE_MULTI;
	attr.path = (uintptr_t)path;
	attr.offsets = (uintptr_t)offsets;
	attr.cookies = (uintptr_t)cookies;
	attr.cnt = cnt;
	attr.multi_flags = retprobe ? UPROBE_MULTI_RETURN : 0;
	attr.pid = pid > 0 ? (__u32)pid : 0;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

/* The functions of a file's back end that are of this kind and found. */
static size_t pick_funcs(const struct tls_file_syms *syms, enum tls_probe_kind kind,
			 const struct tls_func_desc **out, size_t max)
{
	size_t n = 0;

	if (!syms->backend)
		return 0;
	for (size_t i = 0; i < syms->backend->nfuncs && n < max; i++) {
		const struct tls_func_desc *d = &syms->backend->funcs[i];

		if (d->kind == kind && syms->found[d->fn])
			out[n++] = d;
	}
	return n;
}

static int add_multi(struct tls_trace *skel, struct probe_set *set, const char *path,
		     const struct tls_file_syms *syms, const struct tls_func_desc *const *list,
		     size_t n, bool retprobe, pid_t pid)
{
	struct bpf_program *prog = retprobe ? skel->progs.tls_return : skel->progs.tls_entry;
	uint64_t offsets[TLS_FN_COUNT + TLS_RET_PROBES_MAX],
	    cookies[TLS_FN_COUNT + TLS_RET_PROBES_MAX];
	unsigned cnt = 0;
	int fd;

	for (size_t i = 0; i < n; i++) {
		if (retprobe && !list[i]->return_prog)
			continue;
		if (list[i]->at_returns) {
			/* Plain uprobes on each return instruction (Go). */
			for (unsigned r = 0; !retprobe && r < syms->nret && cnt < NELEM(offsets);
			     r++) {
				if (syms->ret_fn[r] != list[i]->fn)
					continue;
				offsets[cnt] = syms->ret_offset[r];
				cookies[cnt++] = list[i]->fn;
			}
			continue;
		}
		if (cnt < NELEM(offsets)) {
			offsets[cnt] = syms->offset[list[i]->fn];
			cookies[cnt++] = list[i]->fn;
		}
	}
	if (cnt == 0)
		return 0;
	if (set->nlinks >= PROBE_SET_MAX)
		return -E2BIG;
	fd = link_multi(bpf_program__fd(prog), path, offsets, cookies, cnt, retprobe, pid);
	if (fd < 0)
		return fd;
	set->links[set->nlinks++] = (struct probe_link){.link = NULL, .fd = fd};
	return 0;
}

static int add_perf(struct tls_trace *skel, struct probe_set *set, const char *path,
		    uint64_t offset, const char *prog_name, bool retprobe, pid_t pid)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
	struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, prog_name);
	struct bpf_link *link;

	if (!prog || set->nlinks >= PROBE_SET_MAX)
		return -EINVAL;
	link = bpf_program__attach_uprobe_opts(prog, pid > 0 ? pid : -1, path, offset, &opts);
	if (!link)
		return -errno;
	set->links[set->nlinks++] = (struct probe_link){.link = link, .fd = -1};
	return 0;
}

static int attach_kind(struct tls_trace *skel, int file_fd, const struct tls_file_syms *syms,
		       enum tls_probe_kind kind, pid_t pid, struct probe_set *out)
{
	const struct tls_func_desc *list[TLS_FN_COUNT];
	size_t n = pick_funcs(syms, kind, list, TLS_FN_COUNT);
	char path[64];
	int err = 0;

	memset(out, 0, sizeof(*out));
	fd_path(file_fd, path, sizeof(path));
	if (mode == ATTACH_UPROBE_MULTI) {
		err = add_multi(skel, out, path, syms, list, n, false, pid);
		if (!err)
			err = add_multi(skel, out, path, syms, list, n, true, pid);
	} else {
		for (size_t i = 0; i < n && !err; i++) {
			uint64_t off = syms->offset[list[i]->fn];

			if (list[i]->at_returns) {
				for (unsigned r = 0; r < syms->nret && !err; r++) {
					if (syms->ret_fn[r] == list[i]->fn)
						err = add_perf(skel, out, path, syms->ret_offset[r],
							       list[i]->entry_prog, false, pid);
				}
				continue;
			}
			err = add_perf(skel, out, path, off, list[i]->entry_prog, false, pid);
			if (!err && list[i]->return_prog)
				err =
				    add_perf(skel, out, path, off, list[i]->return_prog, true, pid);
		}
	}
	if (err)
		probe_set_detach_async(out);
	return err;
}

int attach_data_probes(struct tls_trace *skel, int file_fd, const struct tls_file_syms *syms,
		       pid_t pid, struct probe_set *out)
{
	return attach_kind(skel, file_fd, syms, TLS_PROBE_DATA, pid, out);
}

int attach_marker_probes(struct tls_trace *skel, int file_fd, const struct tls_file_syms *syms,
			 struct probe_set *out)
{
	return attach_kind(skel, file_fd, syms, TLS_PROBE_MARKER, -1, out);
}

int attach_placeholder_probe(struct tls_trace *skel, int file_fd, uint64_t offset, pid_t pid,
			     struct probe_set *out)
{
	const uint64_t cookie = 0; /* no function: the dispatcher returns at once */
	char path[64];
	int fd;

	memset(out, 0, sizeof(*out));
	if (mode != ATTACH_UPROBE_MULTI)
		return -ENOTSUP;
	fd_path(file_fd, path, sizeof(path));
	fd = link_multi(bpf_program__fd(skel->progs.tls_entry), path, &offset, &cookie, 1, false,
			pid);
	if (fd < 0)
		return fd;
	out->links[out->nlinks++] = (struct probe_link){.link = NULL, .fd = fd};
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

/*
 * The reaper: threads closing links handed over by the main thread. Closes
 * from several threads overlap their grace-period waits (measured: 12
 * uprobe_multi links closed in parallel in 83 ms, one by one in > 1 s).
 */
#define REAPER_THREADS 32

struct reap {
	struct work work;
	struct probe_link link;
};

static struct workq reaper = WORKQ_INIT(reaper);
static pthread_once_t reaper_once = PTHREAD_ONCE_INIT;

static void reaper_start(void)
{
	reaper.default_priority = true;
	workq_start(&reaper, REAPER_THREADS, 64 * 1024);
}

static void reap_run(struct work *w)
{
	struct reap *r = (struct reap *)w;

	probe_link_destroy(&r->link);
	free(r);
}

void probe_set_detach_async(struct probe_set *set)
{
	pthread_once(&reaper_once, reaper_start);
	for (int i = 0; i < set->nlinks; i++) {
		struct reap *r = malloc(sizeof(*r));

		if (!r) {
			/* No memory: pay the wait here. */
			probe_link_destroy(&set->links[i]);
			continue;
		}
		r->work.fn = reap_run;
		r->link = set->links[i];
		workq_submit(&reaper, &r->work);
	}
	set->nlinks = 0;
}

/*
 * At exit, a backlog of closes would keep the process alive for backlog /
 * REAPER_THREADS grace periods: each close waits for an RCU Tasks Trace
 * grace period, which during an exec storm on a kernel without expedited
 * grace periods (rcu_expedited = 0) takes long enough that 32 reapers fall
 * behind (measured: all 32 waiting throughout a 6 s storm of one-shot
 * curls, and the exit not done 7 s after SIGTERM). Concurrent waits share
 * grace periods, so one more thread per queued close (up to a bound) ends
 * it in a few.
 */
#define REAPER_EXIT_THREADS 512

void detach_reaper_drain(void)
{
	unsigned backlog = workq_backlog(&reaper);

	if (backlog > 0)
		workq_start(&reaper,
			    backlog < REAPER_EXIT_THREADS ? (int)backlog : REAPER_EXIT_THREADS,
			    64 * 1024);
	workq_drain(&reaper);
}

/*
 * Attach workers: a finished job goes on the done list, and the eventfd
 * wakes the event loop to collect it.
 */
static struct {
	struct workq q;
	struct workq_done done;
	struct tls_trace *skel;
} jobs = {
    .q = WORKQ_INIT(jobs.q),
    .done = WORKQ_DONE_INIT,
};

static void job_run(struct work *w)
{
	struct attach_job *j = (struct attach_job *)w;
	uint64_t start = monotonic_ns();

	j->err = attach_data_probes(jobs.skel, j->fd, &j->syms, j->pid, &j->set);
	j->done_ns = monotonic_ns();
	j->took_ns = j->done_ns - start;
	workq_done_push(&jobs.done, &j->work);
}

int attach_jobs_start(struct tls_trace *skel, int threads)
{
	int err;

	jobs.skel = skel;
	err = workq_done_init(&jobs.done);
	if (err)
		return err;
	return workq_start(&jobs.q, threads, 256 * 1024) > 0 ? 0 : -EAGAIN;
}

int attach_jobs_eventfd(void)
{
	return jobs.done.efd;
}

void attach_jobs_submit(struct attach_job *j)
{
	/* Without workers (none started) the job runs here, and its result is
	 * collected the same way. */
	j->work.fn = job_run;
	if (j->urgent)
		workq_submit_first(&jobs.q, &j->work);
	else
		workq_submit(&jobs.q, &j->work);
}

struct attach_job *attach_jobs_done(void)
{
	struct work *w = workq_done_take(&jobs.done);
	struct attach_job *list = (struct attach_job *)w;

	/* The done list is linked through work.next: mirror it in ->next. */
	for (struct attach_job *j = list; j; j = j->next)
		j->next = (struct attach_job *)j->work.next;
	return list;
}

void attach_jobs_drain(void)
{
	workq_drain(&jobs.q);
}

bool attach_has_uprobe_multi(void)
{
	return mode == ATTACH_UPROBE_MULTI;
}
