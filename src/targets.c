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
#include "file_open.h"
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

#define SWEEP_PERIOD_NS (5ull * 1000000000)
/* Uprobe registration is kept fast this long after a process starts: the
 * next client of a script or a loop attaches in ~40 us, not a grace period
 * (uprobe_warm.h). */
#define WARM_WINDOW_NS (10ull * 1000000000)
/* A process is idle after this long without a client connection. */
#define IDLE_MIN_NS (10ull * 1000000000)
/* A failed marker attach is tried again by the next process mapping the
 * file, at most this often. */
#define MARKER_RETRY_NS (1000ull * 1000000)
#define IDLE_CHECK_NS	(1000ull * 1000000)

struct targets {
	struct tls_trace *skel;
	const char *proc_root;
	struct arm_config arm;
	struct file_registry *files;
	struct proc_table *procs;
	struct predictor *predict;
	unsigned narmed;	 /* processes with arm.armed */
	uint64_t cur_map_ts;	 /* time of the mapping being handled, 0 if none */
	uint64_t next_disarm_ns; /* earliest pending server-only check */
	uint64_t last_sweep_ns, last_idle_check_ns;
	struct log_ratelimit refused_log, attach_fail_log;
	struct targets_stats stats;
};

/* ---- arming state, kept in step with narmed ---------------------------- */

/* Apply the bookkeeping of a policy call: narmed follows arm.armed. */
static void note_armed(struct targets *t, struct tls_proc *p, bool was_armed)
{
	if (p->arm.armed && !was_armed)
		t->narmed++;
	else if (!p->arm.armed && was_armed)
		t->narmed--;
	if (p->arm.disarm_at_ns && p->arm.disarm_at_ns < t->next_disarm_ns)
		t->next_disarm_ns = p->arm.disarm_at_ns;
}

/* Seccomp mode 2 (a filter) in /proc/<pid>/status. */
static bool has_seccomp_filter(const struct targets *t, pid_t pid)
{
	char file[PATH_MAX], line[128];
	bool filtered = false;
	FILE *f;

	snprintf(file, sizeof(file), "%s/%d/status", t->proc_root, pid);
	f = fopen(file, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Seccomp:", 8)) {
			filtered = atoi(line + 8) == 2;
			break;
		}
	}
	fclose(f);
	return filtered;
}

static bool seccomp_filtered(const struct targets *t, pid_t pid)
{
	return t->arm.seccomp_unsafe && has_seccomp_filter(t, pid);
}

/* ---- files ---------------------------------------------------------------- */

/* How long after the mapping being handled its probes were in, at in_ns. */
static uint64_t note_map_to_attach(struct targets *t, uint64_t map_ts, uint64_t in_ns)
{
	uint64_t d;

	if (!map_ts || in_ns < map_ts)
		return 0;
	d = in_ns - map_ts;
	t->stats.map_to_attach_count++;
	t->stats.map_to_attach_ns_total += d;
	if (d > t->stats.map_to_attach_ns_max)
		t->stats.map_to_attach_ns_max = d;
	return d;
}

/*
 * Classify a file open on FD. A TLS file is added to the registry (which
 * takes FD); otherwise FD is closed, and a plain file is remembered as such.
 * A file that could not be read is not remembered: the next mapping retries.
 */
static struct tls_file *file_classify(struct targets *t, int fd, const struct file_id *id,
				      const char *path)
{
	struct tls_verdict v;
	struct tls_file *f;
	char funcs[160];
	uint64_t t0 = monotonic_ns();
	int err = tls_classify(fd, path, false, &v);

	log_debug("analysed %s in %llu us", path, (unsigned long long)(monotonic_ns() - t0) / 1000);
	if (err || !v.traced) {
		close(fd);
		if (!err)
			file_registry_note_plain(t->files, id, t0);
		return NULL;
	}
	f = file_registry_add(t->files, id, fd, path, &v.syms);
	if (!f) {
		log_warn("TLS library %s not traced: %u TLS files known already", path,
			 TLS_FILES_MAX);
		return NULL;
	}
	tls_file_describe(&f->syms, funcs, sizeof(funcs));
	log_info("TLS library found: %s (%s)", path, funcs);
	return f;
}

/* A path in a mapping record that did not lead to the mapped file. */
static void log_refused(struct targets *t, pid_t pid, const char *path, const char *why,
			bool recovered)
{
	uint64_t suppressed;

	t->stats.files_refused++;
	if (!log_ratelimit_ok(&t->refused_log, monotonic_ns(), &suppressed))
		return;
	log_info("%s of pid %d: path refused (%s)%s (%llu refused in all)", path, pid, why,
		 recovered ? "; opened the mapped file through map_files instead"
			   : "; not analysed",
		 (unsigned long long)t->stats.files_refused);
}

/* The registry's entry for a mapped file: known, or analysed now (only
 * files not known to be plain). */
static struct tls_file *file_for_mapping(struct targets *t, const struct proc_mapping *m)
{
	struct file_id id = {m->maj, m->min, m->ino};
	struct tls_file *f = file_registry_find(t->files, &id);
	const char *why;
	int fd;

	if (f || file_registry_known_plain(t->files, &id, monotonic_ns()))
		return f;
	fd = file_open_mapped(t->proc_root, m->pid, m->path, &id, m->start, m->end, &why);
	if (why)
		log_refused(t, m->pid, m->path, why, fd >= 0);
	if (fd < 0)
		return NULL;
	return file_classify(t, fd, &id, m->path);
}

/* Lookup for prediction: a library of our own root, by path. */
static struct tls_file *file_for_path(const char *path, bool analyse, void *ctx)
{
	struct targets *t = ctx;
	struct file_id id;
	struct tls_file *f;
	struct stat st;
	int fd;

	if (stat(path, &st) < 0)
		return NULL;
	id = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
	f = file_registry_find(t->files, &id);
	if (f || !analyse || file_registry_known_plain(t->files, &id, monotonic_ns()))
		return f;
	fd = file_open_local(path, &id);
	if (fd < 0)
		return NULL;
	f = file_registry_find(t->files, &id); /* replaced since the stat? */
	if (f) {
		close(fd);
		return f;
	}
	return file_classify(t, fd, &id, path);
}

/* The file's own probes (markers; all data probes in system-wide mode): in
 * place while it is referenced. A failed attach is retried by the next
 * process mapping it, at most every MARKER_RETRY_NS. */
static void file_attach_shared(struct targets *t, struct tls_file *f)
{
	uint64_t now = monotonic_ns();
	int err;

	if (f->markers.nlinks > 0 || now < f->markers_retry_ns)
		return;
	/* Data probes first: the mapping process's first call is near. */
	if (!t->arm.per_process && f->data_all.nlinks == 0) {
		err = attach_data_probes(t->skel, f->fd, &f->syms, -1, &f->data_all);
		if (err)
			log_warn("cannot attach to %s: %s", f->path, strerror(-err));
		else
			note_map_to_attach(t, t->cur_map_ts, monotonic_ns());
	}
	err = attach_marker_probes(t->skel, f->fd, &f->syms, &f->markers);
	if (err) {
		f->markers_retry_ns = now + MARKER_RETRY_NS;
		log_warn("cannot attach client/server markers to %s: %s (retried with the next "
			 "process mapping it)",
			 f->path, strerror(-err));
		return;
	}
	f->markers_retry_ns = 0;
	log_info("attached to %s (%s)", f->path,
		 t->arm.per_process ? "markers; data probes per process" : "all processes");
}

/* ---- processes ----------------------------------------------------------- */

static void submit_attach(struct targets *t, struct tls_proc *p, struct proc_file *pf)
{
	struct attach_job *j;

	if (pf->data.nlinks > 0 || pf->pending)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->fd = fcntl(pf->file->fd, F_DUPFD_CLOEXEC, 0);
	if (j->fd < 0) {
		free(j);
		t->stats.attach_failures++;
		return;
	}
	file_ref(pf->file);
	j->file = pf->file;
	j->pid = p->pid;
	j->syms = pf->file->syms;
	j->generation = p->generation;
	j->map_ts = t->cur_map_ts;
	pf->pending = true;
	attach_jobs_submit(j);
}

/* Attach every file of an armed process that has no probes yet. */
static void arm_files(struct targets *t, struct tls_proc *p)
{
	for (int i = 0; i < p->nfiles; i++)
		submit_attach(t, p, &p->files[i]);
}

/* Remove its data probes; attach results still coming become stale. */
static void drop_probes(struct targets *t, struct tls_proc *p)
{
	p->generation = proc_table_next_generation(t->procs);
	for (int i = 0; i < p->nfiles; i++) {
		p->files[i].pending = false;
		if (p->files[i].data.nlinks > 0) {
			probe_set_detach_async(&p->files[i].data);
			t->stats.detaches++;
		}
	}
}

static void log_seccomp(struct targets *t, pid_t pid)
{
	t->stats.procs_seccomp_skipped++;
	log_warn("pid %d not traced: it runs under a seccomp filter, and on this kernel return "
		 "probes go through a system call the filter may reject",
		 pid);
}

/* A process maps (or will map) a TLS file. */
static void proc_add_file(struct targets *t, struct tls_proc *p, struct tls_file *f)
{
	bool was = p->arm.armed;
	enum arm_action a;
	int i;

	for (i = 0; i < p->nfiles && p->files[i].file != f; i++)
		;
	if (i == p->nfiles) {
		if (p->nfiles >= PROC_FILES_MAX)
			return;
		p->files[p->nfiles++] = (struct proc_file){.file = f};
		file_ref(f);
	}
	a = arm_on_tls_file(&t->arm, &p->arm, t->narmed, seccomp_filtered(t, p->pid),
			    monotonic_ns());
	note_armed(t, p, was);
	if (a == ARM_ATTACH)
		arm_files(t, p); /* its own probes first: its first call is near */
	else if (a == ARM_REFUSE_SECCOMP)
		log_seccomp(t, p->pid);
	file_attach_shared(t, f);
	if (p->exe.ino)
		predict_learn(t->predict, &p->exe, &f->id);
}

/* Forget what a process maps (exit or exec); the entry stays for exec. */
static void proc_clear(struct targets *t, struct tls_proc *p)
{
	uint64_t now = monotonic_ns();

	drop_probes(t, p);
	if (p->arm.armed)
		t->narmed--;
	for (int i = 0; i < p->nfiles; i++)
		file_unref(p->files[i].file, now);
	p->nfiles = 0;
	memset(&p->arm, 0, sizeof(p->arm));
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &p->pid);
}

static void proc_remove(struct targets *t, struct tls_proc *p)
{
	proc_clear(t, p);
	proc_table_remove(t->procs, p);
}

/* Give its probes back until its next client connection; the kernel
 * forgets its roles so that the connect marker reports it again. */
static void proc_make_idle(struct targets *t, struct tls_proc *p)
{
	bool was = p->arm.armed;

	drop_probes(t, p);
	arm_make_idle(&p->arm);
	note_armed(t, p, was);
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &p->pid);
}

/* ---- construction ---------------------------------------------------------- */

struct targets *targets_new(struct tls_trace *skel, const struct targets_config *cfg)
{
	struct targets *t = calloc(1, sizeof(*t));
	struct ldcache_list cache = {0};

	if (!t)
		return NULL;
	t->skel = skel;
	t->proc_root = cfg->proc_root;
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
	if (ldcache_load(cfg->ldcache, &cache))
		log_warn("cannot read %s: no prediction at exec", cfg->ldcache);
	t->files = file_registry_new();
	t->procs = proc_table_new();
	t->predict = predict_new(&cache, file_for_path, t);
	ldcache_list_free(&cache);
	if (!t->files || !t->procs || !t->predict) {
		targets_free(t);
		return NULL;
	}
	return t;
}

/* ---- discovery events ------------------------------------------------------ */

/* A process starts: the next one may need probes, fast. System-wide mode
 * keeps uprobe registration fast for a while (per-process mode does for
 * good, main.c); both keep it fast at the rate a busy host needs for a
 * second (uprobe_warm.h). */
static void keep_attach_fast(const struct targets *t)
{
	uint64_t now = monotonic_ns();

	uprobe_warm_busy(now);
	if (!t->arm.per_process)
		uprobe_warm_until(now + WARM_WINDOW_NS);
}

/* The executable of a process that just exec'd is mapped: arm it now if
 * this executable is known or predicted to map TLS files. */
static void proc_exe_mapped(struct targets *t, struct tls_proc *p, const struct proc_mapping *m)
{
	const struct learned_exe *l;

	p->awaiting_exe = false;
	p->exe = (struct file_id){m->maj, m->min, m->ino};
	l = predict_learned(t->predict, &p->exe);
	if (!l && t->arm.per_process && file_same_root(t->proc_root, m->pid)) {
		struct tls_file *f = NULL;
		int fd = file_open_mapped(t->proc_root, m->pid, m->path, &p->exe, m->start, m->end,
					  NULL);

		if (fd >= 0) {
			uint64_t t0 = monotonic_ns();

			f = predict_from_needed(t->predict, fd);
			close(fd);
			log_debug("predicted for %s in %llu us: %s", m->path,
				  (unsigned long long)(monotonic_ns() - t0) / 1000,
				  f ? "loads TLS" : "no TLS");
		}
		predict_learn(t->predict, &p->exe, f ? &f->id : NULL);
		l = predict_learned(t->predict, &p->exe);
	}
	for (int i = 0; l && i < l->nfiles; i++) {
		struct tls_file *f = file_registry_find(t->files, &l->files[i]);

		if (f)
			proc_add_file(t, p, f);
	}
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
	}
	if (p && m->ts_ns > p->last_map_ns)
		p->last_map_ns = m->ts_ns;
	t->cur_map_ts = 0;
}

void targets_on_fork(struct targets *t, pid_t parent, pid_t child)
{
	struct tls_proc *pp = proc_table_find(t->procs, parent), *c;

	/* A child shares its parent's mappings without new mmap records. */
	if (!pp || pp->nfiles == 0)
		return;
	c = proc_table_get(t->procs, child);
	if (!c)
		return;
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
	 * One stream per CPU: a process that moved to another CPU during exec
	 * has its new image's mappings read before its exec record. Clearing
	 * it now would drop the probes those mappings just armed: the exec is
	 * older news.
	 */
	if (ts_ns && p->last_map_ns > ts_ns)
		return;
	proc_clear(t, p); /* the new image maps its files anew */
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

/* ---- attach results -------------------------------------------------------- */

static struct proc_file *proc_file_of(struct tls_proc *p, const struct tls_file *f)
{
	for (int i = 0; p && i < p->nfiles; i++) {
		if (p->files[i].file == f)
			return &p->files[i];
	}
	return NULL;
}

static bool proc_has_probes(const struct tls_proc *p)
{
	for (int i = 0; i < p->nfiles; i++) {
		if (p->files[i].data.nlinks > 0 || p->files[i].pending)
			return true;
	}
	return false;
}

static const char *pf_path(const struct attach_job *j)
{
	return j->file->path;
}

static void attach_failed(struct targets *t, struct tls_proc *p, const struct attach_job *j)
{
	uint64_t suppressed;
	bool was = p->arm.armed;

	t->stats.attach_failures++;
	if (!proc_has_probes(p)) {
		arm_on_attach_failed(&p->arm);
		note_armed(t, p, was);
	}
	/* A process that exited meanwhile is no failure worth a line. */
	if (j->err == -ESRCH || j->err == -ENOENT) {
		log_debug("cannot attach to pid %d (%s): %s", j->pid, pf_path(j),
			  strerror(-j->err));
		return;
	}
	if (log_ratelimit_ok(&t->attach_fail_log, monotonic_ns(), &suppressed))
		log_warn("cannot attach to pid %d (%s): %s (%llu attach failures in all)", j->pid,
			 pf_path(j), strerror(-j->err),
			 (unsigned long long)t->stats.attach_failures);
}

/* Results of the attach workers: install them, or drop those whose process
 * exited, exec'd or turned out to be a server meanwhile. */
void targets_collect_attaches(struct targets *t)
{
	struct attach_job *j = attach_jobs_done();

	while (j) {
		struct attach_job *next = j->next;
		struct tls_proc *p = proc_table_find(t->procs, j->pid);
		struct proc_file *pf = proc_file_of(p, j->file);

		if (!pf || p->generation != j->generation || !pf->pending) {
			probe_set_detach_async(&j->set);
		} else if (j->err) {
			pf->pending = false;
			attach_failed(t, p, j);
		} else {
			uint64_t since_map;

			pf->pending = false;
			pf->data = j->set;
			t->stats.attaches++;
			t->stats.attach_ns_total += j->took_ns;
			if (j->took_ns > t->stats.attach_ns_max)
				t->stats.attach_ns_max = j->took_ns;
			since_map = note_map_to_attach(t, j->map_ts, j->done_ns);
			log_debug("attached to pid %d %s in %llu us (%llu us after the mapping)",
				  j->pid, pf_path(j), (unsigned long long)j->took_ns / 1000,
				  (unsigned long long)since_map / 1000);
		}
		close(j->fd);
		file_unref(j->file, monotonic_ns());
		free(j);
		j = next;
	}
}

/* ---- roles and activity ---------------------------------------------------- */

struct armed_list {
	struct arm_state **states;
	struct tls_proc **procs;
	size_t n, cap;
	uint64_t now;
	const struct targets *t;
	bool idle_only;
	const struct tls_proc *except;
};

static void collect_armed(struct tls_proc *p, void *ctx)
{
	struct armed_list *l = ctx;

	if (!p->arm.armed || p == l->except)
		return;
	if (l->idle_only && !arm_is_idle(&l->t->arm, &p->arm, l->now))
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct arm_state **s = realloc(l->states, cap * sizeof(*s));
		struct tls_proc **q;

		if (!s)
			return;
		l->states = s;
		q = realloc(l->procs, cap * sizeof(*q));
		if (!q)
			return;
		l->procs = q;
		l->cap = cap;
	}
	l->states[l->n] = &p->arm;
	l->procs[l->n] = p;
	l->n++;
}

/* The process owning a state pointer in an armed_list. */
static struct tls_proc *list_proc(const struct armed_list *l, const struct arm_state *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->procs[i] && &l->procs[i]->arm == s)
			return l->procs[i];
	}
	return NULL;
}

static void armed_list_free(struct armed_list *l)
{
	free(l->states);
	free(l->procs);
}

/* The cap is reached and P must be armed: the least recently active armed
 * process gives its slot (its next connection re-arms it). */
static void make_room(struct targets *t, struct tls_proc *p, uint64_t now)
{
	struct armed_list l = {.now = now, .t = t, .except = p};
	struct tls_proc *victim;
	long i;

	proc_table_each(t->procs, collect_armed, &l);
	i = arm_pick_victim(l.states, l.n);
	victim = i >= 0 ? l.procs[i] : NULL;
	if (victim) {
		if (!arm_is_idle(&t->arm, &victim->arm, now))
			t->stats.procs_evicted++;
		log_debug("pid %d gives its probes to pid %d (%u processes armed)", victim->pid,
			  p->pid, t->arm.max_armed);
		proc_make_idle(t, victim);
	}
	armed_list_free(&l);
}

void targets_on_role(struct targets *t, pid_t pid, uint32_t roles)
{
	/* May come before the mapping records of the process are read. */
	struct tls_proc *p = proc_table_get(t->procs, pid);
	uint64_t now = monotonic_ns();
	bool was, was_server, room;
	enum arm_action a;

	if (!p)
		return;
	was = p->arm.armed;
	was_server = p->arm.server_only;
	a = arm_on_roles(&t->arm, &p->arm, roles, t->narmed, seccomp_filtered(t, pid), now, &room);
	note_armed(t, p, was);
	if (a == ARM_REFUSE_SECCOMP)
		log_seccomp(t, pid);
	if (a != ARM_ATTACH)
		return;
	if (room)
		make_room(t, p, now);
	if (was_server)
		log_info("pid %d sets up client connections: tracing it again", pid);
	else
		log_debug("pid %d connects: tracing it", pid);
	arm_files(t, p);
}

void targets_note_connected(struct targets *t, pid_t pid, uint64_t now_ns)
{
	struct tls_proc *p = proc_table_find(t->procs, pid);

	if (p)
		arm_on_connected(&p->arm, now_ns);
}

/* ---- timers ---------------------------------------------------------------- */

static void disarm_idle(struct targets *t, uint64_t now_ns)
{
	struct armed_list l = {.now = now_ns, .t = t, .idle_only = true};
	size_t shed;

	if (t->narmed <= t->arm.max_armed)
		return;
	proc_table_each(t->procs, collect_armed, &l);
	shed = arm_select_idle(&t->arm, l.states, l.n, t->narmed);
	for (size_t i = 0; i < shed; i++) {
		struct tls_proc *p = list_proc(&l, l.states[i]);

		if (p)
			proc_make_idle(t, p);
	}
	if (shed)
		log_info("more than %u processes hold probes: the %zu idle the longest give theirs "
			 "back until they connect again",
			 t->arm.max_armed, shed);
	armed_list_free(&l);
}

struct timer_ctx {
	struct targets *t;
	uint64_t now;
};

static void check_server_only(struct tls_proc *p, void *ctx)
{
	struct timer_ctx *tc = ctx;
	struct targets *t = tc->t;
	bool was = p->arm.armed;

	if (!p->arm.disarm_at_ns)
		return;
	if (arm_on_timer(&t->arm, &p->arm, tc->now) == ARM_DETACH) {
		drop_probes(t, p);
		log_info("pid %d only serves TLS: its data probes are removed", p->pid);
	}
	note_armed(t, p, was);
}

/*
 * Records of one process can reach us out of order when it ran on several
 * CPUs (one stream per CPU): a mapping read after the exit would leave an
 * entry behind. Sweep for processes that are gone.
 */
static void remove_if_dead(struct tls_proc *p, void *ctx)
{
	if (kill(p->pid, 0) < 0 && errno == ESRCH)
		proc_remove(ctx, p);
}

void targets_tick(struct targets *t, uint64_t now_ns)
{
	if (now_ns - t->last_sweep_ns > SWEEP_PERIOD_NS) {
		t->last_sweep_ns = now_ns;
		proc_table_each(t->procs, remove_if_dead, t);
		file_registry_expire(t->files, now_ns, FILE_LINGER_NS);
	}
	if (t->arm.per_process && now_ns - t->last_idle_check_ns > IDLE_CHECK_NS) {
		t->last_idle_check_ns = now_ns;
		disarm_idle(t, now_ns);
	}
	/* Walk the table only when a disarm is due (it is mostly idle). */
	if (now_ns < t->next_disarm_ns)
		return;
	t->next_disarm_ns = UINT64_MAX;
	proc_table_each(t->procs, check_server_only, &(struct timer_ctx){t, now_ns});
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
}

static void pin_cached(const char *soname, const char *path, void *ctx)
{
	struct targets *t = ctx;
	struct tls_file *f = file_for_path(path, true, t);

	if (f && !f->pinned) {
		f->pinned = true;
		file_ref(f);
		file_attach_shared(t, f);
	}
}

void targets_pin_ldcache(struct targets *t)
{
	if (!t->arm.per_process)
		predict_each_soname(t->predict, "libssl.so", pin_cached, t);
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
