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

static void proc_make_idle(struct targets *t, struct tls_proc *p);

/*
 * Is the process one the user asked never to trace (--exclude-comm)? Its
 * command name is read each time (only when names are given): exec sets it
 * before the executable is mapped, but the exec record may be read after
 * the new image's mappings (one stream per CPU), so nothing kept from an
 * earlier look can be trusted.
 */
static bool excluded(struct targets *t, struct tls_proc *p)
{
	char file[PATH_MAX], comm[32] = "";
	bool was = p->excluded;
	ssize_t n = -1;
	int fd;

	if (!t->nexclude_comm)
		return false;
	snprintf(file, sizeof(file), "%s/%d/comm", t->proc_root, p->pid);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
	}
	if (n <= 0)
		return false; /* gone, or unreadable: asked again next time */
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	p->excluded = false;
	for (size_t i = 0; i < t->nexclude_comm && !p->excluded; i++)
		p->excluded = !strcmp(comm, t->exclude_comm[i]);
	if (p->excluded && !was) {
		t->stats.procs_excluded++;
		log_debug("pid %d (%s) not traced: --exclude-comm", p->pid, comm);
	}
	if (p->excluded && p->arm.armed)
		proc_make_idle(t, p); /* armed as its parent, before its exec was read */
	return p->excluded;
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
	/* A file the process maps now goes before predicted ones (an exec may
	 * predict files it will not map: other private copies it once used). */
	j->urgent = !t->predicting;
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
void drop_probes(struct targets *t, struct tls_proc *p)
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
/*
 * A slot for a new file: a free one, or, when all are taken and the process
 * really maps this one, a slot held by a file that was only predicted. An
 * exec is predicted to map every file its executable mapped lately (other
 * private libssl copies, say): four of those filled the slots, and the copy
 * actually mapped was never armed (found by test_known_private_copy_one_shots).
 */
static struct proc_file *file_slot(struct targets *t, struct tls_proc *p)
{
	if (p->nfiles < PROC_FILES_MAX)
		return &p->files[p->nfiles++];
	for (int i = 0; i < p->nfiles && !t->predicting; i++) {
		struct proc_file *pf = &p->files[i];

		if (!pf->predicted)
			continue;
		/* An attach still running for it is stale: its file differs. */
		if (pf->data.nlinks > 0) {
			probe_set_detach_async(&pf->data);
			t->stats.detaches++;
		}
		file_unref(pf->file, monotonic_ns());
		return pf;
	}
	t->stats.files_per_proc_full++;
	return NULL;
}

void proc_add_file(struct targets *t, struct tls_proc *p, struct tls_file *f)
{
	bool was = p->arm.armed;
	struct proc_file *pf;
	enum arm_action a;
	int i;

	for (i = 0; i < p->nfiles && p->files[i].file != f; i++)
		;
	if (i < p->nfiles) {
		p->files[i].predicted &= t->predicting; /* a real mapping confirms it */
	} else {
		pf = file_slot(t, p);
		if (!pf)
			return;
		*pf = (struct proc_file){.file = f, .predicted = t->predicting};
		file_ref(f);
	}
	a = excluded(t, p) ? ARM_NONE
			   : arm_on_tls_file(&t->arm, &p->arm, t->narmed,
					     seccomp_filtered(t, p->pid), monotonic_ns());
	note_armed(t, p, was);
	if (a == ARM_ATTACH)
		arm_files(t, p); /* its own probes first: its first call is near */
	else if (a == ARM_REFUSE_SECCOMP)
		log_seccomp(t, p->pid);
	file_attach_shared(t, f);
	/* Learned from real mappings only: predicted files are not news. */
	if (p->exe.ino && !t->predicting)
		predict_learn(t->predict, &p->exe, &f->id);
}

/* Forget what a process maps (exit or exec); the entry stays for exec. */
void proc_clear(struct targets *t, struct tls_proc *p)
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

void proc_remove(struct targets *t, struct tls_proc *p)
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
	if (!log_ratelimit_ok(&t->attach_fail_log, monotonic_ns(), &suppressed))
		return;
	/* A process that exited before its probes were in: whatever calls it
	 * made were missed (a one-shot client faster than its attach). */
	if (j->err == -ESRCH || j->err == -ENOENT)
		log_info("pid %d exited before its probes were attached (%s): its calls, if any, "
			 "were missed (%llu attach failures in all)",
			 j->pid, pf_path(j), (unsigned long long)t->stats.attach_failures);
	else
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
			/* Not urgent: queued at exec from a prediction, before the
			 * process mapped the file. */
			log_debug("attached to pid %d %s in %llu us (%llu us after the mapping%s)",
				  j->pid, pf_path(j), (unsigned long long)j->took_ns / 1000,
				  (unsigned long long)since_map / 1000,
				  j->urgent ? "" : "; predicted at exec");
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

	if (!p || excluded(t, p))
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
