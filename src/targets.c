// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "arm_policy.h"
#include "attach.h"
#include "file_analysis.h"
#include "file_open.h"
#include "elf_symbols.h"
#include "file_registry.h"
#include "kernel_check.h"
#include "ldcache.h"
#include "log.h"
#include "predict.h"
#include "proc_scan.h"
#include "proc_table.h"
#include "targets.h"
#include "tls_backend.h"
#include "uprobe_warm.h"
#include "tls_trace.skel.h"

#include "targets_impl.h"

/* ---- construction ---------------------------------------------------------- */

static void count_soname(const char *soname, const char *path, void *ctx)
{
	(*(size_t *)ctx)++;
}

/*
 * Load the host's ld.so cache now (the root of pid 1: the node's with
 * hostPID, ours on a host; ours if pid 1's is out of reach), so the first
 * exec does not pay for it, and say so if it has none. Every other root is loaded when an exec
 * there needs it (predict_roots.h); the daemon's own root matters only to its own processes (in an
 * image FROM scratch, it has no cache: that is fine).
 */
static void check_host_cache(struct targets *t)
{
	struct root_key key;
	size_t n = 0;
	int root_fd = predict_host_root_open(t->proc_root, &key);

	if (root_fd >= 0) {
		predict_each_soname(t->predict, root_fd, &key, monotonic_ns(), "", count_soname,
				    &n);
		close(root_fd);
	}
	if (!n)
		log_warn("cannot read %s in the host's root (%s): its processes are armed when "
			 "they map a TLS library, not at exec",
			 t->ldcache, root_fd < 0 ? strerror(-root_fd) : "none there, or unusable");
	else
		log_debug("ld.so cache of the host's root: %zu libraries", n);
}

struct targets *targets_new(struct tls_trace *skel, const struct targets_config *cfg)
{
	struct targets *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->skel = skel;
	t->proc_root = cfg->proc_root;
	t->exclude_comm = cfg->exclude_comm;
	t->nexclude_comm = cfg->nexclude_comm;
	t->arm = (struct arm_config){
	    .per_process = cfg->per_process,
	    .disarm_delay_ns = cfg->disarm_delay_ns,
	    .idle_min_ns = IDLE_MIN_NS,
	    .max_armed = cfg->max_armed,
	    .seccomp_unsafe = kernel_uretprobe_seccomp_unsafe(),
	};
	t->next_disarm_ns = UINT64_MAX;
	/* A few lines a minute: a hostile user can make many paths lie. */
	t->refused_log = (struct log_ratelimit){.interval_ns = 60ull * 1000000000, .burst = 10};
	t->attach_fail_log = (struct log_ratelimit){.interval_ns = 60ull * 1000000000, .burst = 10};
	t->files = file_registry_new();
	t->procs = proc_table_new();
	t->predict = predict_new(cfg->ldcache, file_for_path, t);
	if (!t->files || !t->procs || !t->predict) {
		targets_free(t);
		return NULL;
	}
	t->ldcache = cfg->ldcache ? cfg->ldcache : LDCACHE_PATH;
	check_host_cache(t);
	return t;
}

/* ---- discovery events ------------------------------------------------------ */

/* A process starts: the next one may need probes, fast. Both modes keep
 * uprobe registration fast at the rate a busy host needs for a second
 * (uprobe_warm.h); system-wide mode also at the slow rate for a while. */
static void keep_attach_fast(const struct targets *t)
{
	uint64_t now = monotonic_ns();

	uprobe_warm_busy(now);
	if (!t->arm.per_process)
		uprobe_warm_until(now + WARM_WINDOW_NS);
}

/* Predict from the DT_NEEDED chain of the executable process PID just
 * mapped (M), through the ld.so cache of that process's own root. */
static struct tls_file *predict_exe(struct targets *t, const struct proc_mapping *m,
				    const struct file_id *exe, bool *deferred)
{
	struct tls_file *f = NULL;
	struct root_key key;
	uint64_t t0 = monotonic_ns();
	int root_fd = predict_root_open(t->proc_root, m->pid, &key), fd;

	*deferred = false;
	if (root_fd < 0)
		return NULL; /* gone already */
	fd = file_open_mapped(t->proc_root, m->pid, m->path, exe, m->start, m->end, NULL);
	if (fd >= 0) {
		const char *verdict;
		enum loop_read how;

		/* The executable's headers are read here only when that cannot
		 * wait on the disk (a cold node: ~30 ms of scattered reads). A
		 * large one is learned from its processes' mappings (node is
		 * its own TLS file); a small one not cached is predicted at a
		 * later exec. */
		how = file_loop_read(fd);
		if (how == LOOP_READ_LARGE) {
			verdict = "not read (large: learned from its mappings)";
		} else if (how == LOOP_READ_UNCACHED) {
			*deferred = true;
			verdict = "not known yet (not in the page cache)";
		} else {
			f = predict_from_needed(t->predict, root_fd, &key, fd, t0, deferred);
			verdict = f	      ? "loads TLS"
				  : *deferred ? "not known yet (a library is not in the page cache)"
					      : "no TLS";
		}
		close(fd);
		log_debug("predicted for %s in %llu us: %s", m->path,
			  (unsigned long long)(monotonic_ns() - t0) / 1000, verdict);
	}
	close(root_fd);
	return f;
}

/* The executable of a process that just exec'd is mapped: arm it now if
 * this executable is known or predicted to map TLS files. */
static void proc_exe_mapped(struct targets *t, struct tls_proc *p, const struct proc_mapping *m)
{
	const struct learned_exe *l;

	p->awaiting_exe = false;
	p->exe = (struct file_id){m->maj, m->min, m->ino};
	l = predict_learned(t->predict, &p->exe);
	if (!l && t->arm.per_process) {
		bool deferred;
		struct tls_file *f = predict_exe(t, m, &p->exe, &deferred);

		/* No verdict yet: the next exec predicts again (this process
		 * is armed when it maps the file, or its verdict comes). */
		if (f || !deferred)
			predict_learn(t->predict, &p->exe, f ? &f->id : NULL);
		l = predict_learned(t->predict, &p->exe);
	}
	t->predicting = true;
	for (int i = 0; l && i < l->nfiles; i++) {
		struct tls_file *f = file_registry_find(t->files, &l->files[i]);

		if (f)
			proc_add_file(t, p, f);
	}
	t->predicting = false;
}

void targets_on_mapping(struct targets *t, const struct proc_mapping *m)
{
	struct tls_proc *p = proc_table_find(t->procs, m->pid);
	struct tls_file *f;

	t->cur_map_ts = m->ts_ns;
	if (p && p->awaiting_exe)
		proc_exe_mapped(t, p, m);
	f = file_for_mapping(t, m);
	if (f) {
		p = proc_table_get(t->procs, m->pid);
		if (p)
			proc_add_file(t, p, f);
	} else if (!p) {
		p = proc_table_find(t->procs, m->pid);
	}
	if (p && m->ts_ns > p->last_map_ns)
		p->last_map_ns = m->ts_ns;
	t->cur_map_ts = 0;
}

void targets_on_fork(struct targets *t, pid_t parent, pid_t child)
{
	struct tls_proc *pp = proc_table_find(t->procs, parent), *c;

	/* A child shares its parent's mappings without new mmap records, and
	 * waits for the files the parent waits for. */
	if (!pp)
		return;
	if (pp->nfiles == 0 && !analysis_pending())
		return;
	c = proc_table_get(t->procs, child);
	if (!c)
		return;
	analysis_fork(parent, child, c->image);
	c->exe = pp->exe;
	for (int i = 0; i < pp->nfiles; i++)
		proc_add_file(t, c, pp->files[i].file);
}

void targets_on_exec(struct targets *t, pid_t pid, uint64_t ts_ns)
{
	/* Only while someone maps TLS files is it worth tracking every exec. */
	struct tls_proc *p =
	    t->arm.per_process ? proc_table_get(t->procs, pid) : proc_table_find(t->procs, pid);

	keep_attach_fast(t);
	if (!p)
		return;
	/*
	 * Records are handled oldest first across the CPUs' streams
	 * (proc_watch_drain), so the new image's mappings come after its exec.
	 * Should a mapping newer than this exec have been handled anyway,
	 * clearing now would drop the probes it just armed: the exec is older
	 * news.
	 */
	if (ts_ns && p->last_map_ns > ts_ns)
		return;
	proc_clear(t, p); /* the new image maps its files anew */
	p->image++;
	p->exe = (struct file_id){0};
	p->awaiting_exe = true;
}

bool targets_on_exit(struct targets *t, pid_t pid)
{
	struct tls_proc *p = proc_table_find(t->procs, pid);

	if (p)
		proc_remove(t, p);
	return p != NULL;
}

/* ---- start-up ----------------------------------------------------------- */

/* Processes running at start: their executable is /proc/<pid>/exe. */
static void note_exe(struct targets *t, pid_t pid)
{
	char path[PATH_MAX];
	struct tls_proc *p;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/exe", t->proc_root, pid);
	if (stat(path, &st) < 0)
		return;
	p = proc_table_get(t->procs, pid);
	if (p)
		p->exe = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
}

static void scan_mapping(const struct proc_mapping *m, void *ctx)
{
	targets_on_mapping(ctx, m);
}

static int scan_pid(pid_t pid, void *ctx)
{
	struct targets *t = ctx;

	/* Executables are learned only for per-process probes. */
	if (t->arm.per_process)
		note_exe(t, pid);
	proc_scan_maps(t->proc_root, pid, scan_mapping, t);
	return 0;
}

void targets_scan_proc(struct targets *t)
{
	keep_attach_fast(t);
	proc_scan_pids(t->proc_root, scan_pid, t);
	/* What the walk found is complete only with the verdicts. */
	analysis_drain();
	targets_collect_analyses(t);
}

struct pin_ctx {
	struct targets *t;
	int root_fd;
	struct root_key key;
};

static void pin_cached(const char *soname, const char *path, void *ctx)
{
	struct pin_ctx *c = ctx;
	struct tls_file *f = file_for_path(c->root_fd, path, true, NULL, c->t);

	if (f && !f->pinned) {
		f->pinned = true;
		file_ref(f);
		file_attach_shared(c->t, f);
	}
}

static void pin_lib(const char *lib_prefix, void *ctx)
{
	struct pin_ctx *c = ctx;

	predict_each_soname(c->t->predict, c->root_fd, &c->key, monotonic_ns(), lib_prefix,
			    pin_cached, c);
}

/* The host's cache (the root of pid 1, or ours): what the node's processes
 * load. */
void targets_pin_ldcache(struct targets *t)
{
	struct pin_ctx c = {.t = t};

	if (t->arm.per_process)
		return;
	c.root_fd = predict_host_root_open(t->proc_root, &c.key);
	if (c.root_fd < 0)
		return;
	tls_backend_each_lib(pin_lib, &c);
	close(c.root_fd);
}

/* ---- the end --------------------------------------------------------------- */

static void drop_proc_probes(struct tls_proc *p, void *ctx)
{
	drop_probes(ctx, p);
}

static void drop_file_probes(struct tls_file *f, void *ctx)
{
	probe_set_detach_async(&f->markers);
	probe_set_detach_async(&f->data_all);
}

void targets_detach_all(struct targets *t)
{
	analysis_drain();
	targets_collect_analyses(t);
	attach_jobs_drain();
	targets_collect_attaches(t);
	proc_table_each(t->procs, drop_proc_probes, t);
	file_registry_each(t->files, drop_file_probes, NULL);
	detach_reaper_drain();
}

static void release_proc(struct tls_proc *p, void *ctx)
{
	for (int i = 0; i < p->nfiles; i++)
		file_unref(p->files[i].file, 1);
	p->nfiles = 0;
}

void targets_free(struct targets *t)
{
	if (!t)
		return;
	if (t->procs && t->files) {
		targets_detach_all(t);
		proc_table_each(t->procs, release_proc, NULL);
	}
	proc_table_free(t->procs);
	file_registry_free(t->files);
	predict_free(t->predict);
	free(t);
}

struct count_ctx {
	struct targets_stats *s;
};

static void count_proc(struct tls_proc *p, void *ctx)
{
	struct targets_stats *s = ((struct count_ctx *)ctx)->s;

	s->procs_server += p->arm.server_only;
	s->procs_idle += p->arm.idle;
	for (int i = 0; i < p->nfiles; i++) {
		if (p->files[i].data.nlinks > 0) {
			s->procs_armed++;
			break;
		}
	}
}

struct targets_stats targets_stats(struct targets *t)
{
	struct targets_stats s = t->stats;
	struct file_registry_stats fs = file_registry_stats(t->files);

	s.files_tls = fs.tls_seen;
	s.files_probed = fs.referenced;
	s.files_expired = fs.expired;
	s.files_full = fs.full;
	s.plain_evicted = fs.plain_evicted;
	s.procs_dropped = proc_table_dropped(t->procs);
	s.procs_armed = s.procs_server = s.procs_idle = 0;
	proc_table_each(t->procs, count_proc, &(struct count_ctx){&s});
	return s;
}
