// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <signal.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "kernel_check.h"
#include "elf_symbols.h"
#include "ldcache.h"
#include "proc_scan.h"
#include "log.h"
#include "targets.h"
#include "uprobe_warm.h"
#include "tls_trace.skel.h"

/* Bounds: files remembered (verdicts included), processes tracked, TLS
 * files one process maps at once. */
#define FILES_MAX	8192
#define PROCS_MAX	65536
#define FILES_PER_PROC	4
#define FILE_BUCKETS	4096
#define PROC_BUCKETS	16384
#define SWEEP_PERIOD_NS (5ull * 1000000000)
#define FILE_LINGER_NS	(60ull * 1000000000)
/* Uprobe registration is kept fast this long after a process starts or is
 * armed: the next client of a script or a loop attaches in ~40 us, not a
 * grace period (uprobe_warm.h). */
#define WARM_WINDOW_NS (10ull * 1000000000)
/* A process is idle after this long without a client connection. */
#define IDLE_MIN_NS (10ull * 1000000000)

enum verdict {
	VERDICT_NOT_TLS, /* no OpenSSL functions: never probed */
	VERDICT_TLS,
};

/* A file identity: device and inode, as the kernel reports them. */
struct file_id {
	uint32_t maj, min;
	uint64_t ino;
};

struct tls_file {
	struct tls_file *next;
	struct file_id id;
	enum verdict verdict;
	char mapped_path[PATH_MAX]; /* in the mount namespace of a process mapping it */
	char open_path[PATH_MAX];   /* how we opened it from ours */
	struct tls_file_syms syms;
	struct probe_set markers;
	struct probe_set data_all; /* system-wide mode: data probes for all processes */
	unsigned users;		   /* processes mapping it (+1 when pinned from the ld.so cache) */
	uint64_t idle_since_ns;	   /* users dropped to 0 then; probes linger a while */
	bool pinned;
};

struct proc_file {
	struct tls_file *file;
	struct probe_set data;
	bool pending; /* an attach job is under way */
};

struct tls_proc {
	struct tls_proc *next;
	pid_t pid;
	struct file_id exe; /* its executable, once known */
	bool awaiting_exe;  /* exec seen; its next mapping is the executable */
	uint32_t roles;
	bool server_only;      /* data probes removed: it only serves */
	bool idle;	       /* no data probes: too many armed; armed at its next connection */
	bool counted;	       /* counted in narmed */
	uint64_t active_ns;    /* armed, or last seen with a client connection */
	uint64_t last_map_ns;  /* time of its latest mapping record handled */
	uint64_t generation;   /* changes when its probes are dropped: stale jobs */
	bool seccomp_skipped;  /* not probed: seccomp vs. uretprobe syscall */
	uint64_t disarm_at_ns; /* 0: no disarm pending */
	struct proc_file files[FILES_PER_PROC];
	int nfiles;
};

/*
 * Executables seen mapping TLS files, and which. A process exec'ing one of
 * them gets its data probes as soon as the executable is mapped, before the
 * dynamic linker or dlopen() maps the library: the kernel then installs the
 * breakpoints when the library is mapped, and the first call cannot race the
 * attach. A program's first run on the host is covered by the mapping record
 * alone, which usually, but not always, beats its first call.
 */
#define LEARNED_MAX 1024
struct learned_exe {
	struct file_id exe;
	struct tls_file *files[FILES_PER_PROC];
	int nfiles;
};

/* sonames the dynamic linker resolves (ld.so cache), for predicting what an
 * executable will map from its DT_NEEDED entries. */
struct soname_path {
	char *soname, *path;
	int needs_tls; /* memo: -1 unknown, 0 no, 1 yes */
	struct tls_file *tls;
};

struct targets {
	struct tls_trace *skel;
	bool per_process;
	bool uretprobe_unsafe; /* kernel_release_uretprobe_seccomp_unsafe() */
	struct soname_path *sonames;
	size_t nsonames;
	struct learned_exe learned[LEARNED_MAX];
	unsigned nlearned, learned_next;
	uint64_t disarm_delay_ns;
	unsigned max_armed, narmed;
	uint64_t last_idle_check_ns;
	struct tls_file *files[FILE_BUCKETS];
	struct tls_proc *procs[PROC_BUCKETS];
	unsigned nfiles, nprocs;
	uint64_t last_sweep_ns;
	uint64_t cur_map_ts;	 /* time of the mapping being handled, 0 if none */
	uint64_t next_disarm_ns; /* earliest pending disarm; UINT64_MAX if none */
	uint64_t generations;
	struct targets_stats stats;
};

static unsigned file_bucket(uint32_t maj, uint32_t min, uint64_t ino)
{
	uint64_t x = ino * 0x9e3779b97f4a7c15ull ^ ((uint64_t)maj << 20 | min);

	return (unsigned)(x >> 40) % FILE_BUCKETS;
}

static unsigned proc_bucket(pid_t pid)
{
	return (unsigned)pid % PROC_BUCKETS;
}

static int add_soname(const char *soname, const char *path, void *ctx);

struct targets *targets_new(struct tls_trace *skel, bool per_process, uint64_t disarm_delay_ns,
			    unsigned max_armed)
{
	struct targets *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->skel = skel;
	t->per_process = per_process;
	t->next_disarm_ns = UINT64_MAX;
	t->uretprobe_unsafe = kernel_uretprobe_seccomp_unsafe();
	if (per_process)
		ldcache_for_each_file("/etc/ld.so.cache", add_soname, t);
	t->disarm_delay_ns = disarm_delay_ns;
	t->max_armed = max_armed;
	return t;
}

static struct tls_file *file_find(struct targets *t, uint32_t maj, uint32_t min, uint64_t ino)
{
	for (struct tls_file *f = t->files[file_bucket(maj, min, ino)]; f; f = f->next) {
		if (f->id.ino == ino && f->id.maj == maj && f->id.min == min)
			return f;
	}
	return NULL;
}

static struct tls_proc *proc_find(struct targets *t, pid_t pid)
{
	for (struct tls_proc *p = t->procs[proc_bucket(pid)]; p; p = p->next) {
		if (p->pid == pid)
			return p;
	}
	return NULL;
}

/*
 * A path that opens the mapped file from our mount namespace: the plain path
 * when it names the same file here, else through the process's root (a
 * container), else the mapping itself in /proc/<pid>/map_files (a file
 * deleted or replaced on disk since it was mapped; needs CAP_SYS_ADMIN).
 * Returns 0 or -ENOENT.
 */
static int open_path(pid_t pid, const char *mapped, const struct file_id *id, uint64_t start,
		     uint64_t end, char *out, size_t size)
{
	struct stat st;

	if (stat(mapped, &st) == 0 && st.st_ino == id->ino && major(st.st_dev) == id->maj &&
	    minor(st.st_dev) == id->min) {
		snprintf(out, size, "%s", mapped);
		return 0;
	}
	if (pid <= 0)
		return -ENOENT;
	if (snprintf(out, size, "/proc/%d/root%s", pid, mapped) < (int)size &&
	    stat(out, &st) == 0 && st.st_ino == id->ino)
		return 0;
	if (end > start &&
	    snprintf(out, size, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)start,
		     (unsigned long long)end) < (int)size &&
	    stat(out, &st) == 0 && st.st_ino == id->ino)
		return 0;
	return -ENOENT;
}

/* Reopen a known file for attaching: the path that worked when it was
 * analysed, if it still names it, else through this process. */
static int file_path(const struct tls_file *f, pid_t pid, char *out, size_t size)
{
	struct stat st;

	if (stat(f->open_path, &st) == 0 && st.st_ino == f->id.ino) {
		snprintf(out, size, "%s", f->open_path);
		return 0;
	}
	return open_path(pid, f->mapped_path, &f->id, 0, 0, out, size);
}

/* Decide once per file whether it carries OpenSSL. Failures to read it are
 * not remembered: the next process mapping it retries. */
static struct tls_file *file_analyse(struct targets *t, const struct proc_mapping *m)
{
	struct file_id id = {m->maj, m->min, m->ino};
	char path[PATH_MAX], funcs[160];
	struct tls_file *f;
	uint64_t t0;
	unsigned b;
	int err;

	if (t->nfiles >= FILES_MAX)
		return NULL;
	if (open_path(m->pid, m->path, &id, m->start, m->end, path, sizeof(path)))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->id = id;
	snprintf(f->mapped_path, sizeof(f->mapped_path), "%s", m->path);
	snprintf(f->open_path, sizeof(f->open_path), "%s", path);
	t0 = monotonic_ns();
	err = tls_file_resolve(path, &f->syms);
	log_debug("analysed %s in %llu us", m->path,
		  (unsigned long long)(monotonic_ns() - t0) / 1000);
	if (err && err != -ENOENT && err != -ENOEXEC) {
		free(f);
		return NULL;
	}
	f->verdict = err ? VERDICT_NOT_TLS : VERDICT_TLS;
	if (f->verdict == VERDICT_TLS) {
		tls_file_describe(&f->syms, funcs, sizeof(funcs));
		log_info("TLS library found: %s (%s)", m->path, funcs);
		t->stats.files_tls++;
	}
	b = file_bucket(f->id.maj, f->id.min, f->id.ino);
	f->next = t->files[b];
	t->files[b] = f;
	t->nfiles++;
	return f;
}

/* How long after the mapping being handled its probes were in, at in_ns
 * (0: unknown). */
static uint64_t note_map_to_attach(struct targets *t, uint64_t in_ns)
{
	uint64_t d;

	if (!t->cur_map_ts || in_ns < t->cur_map_ts)
		return 0;
	d = in_ns - t->cur_map_ts;
	t->stats.map_to_attach_count++;
	t->stats.map_to_attach_ns_total += d;
	if (d > t->stats.map_to_attach_ns_max)
		t->stats.map_to_attach_ns_max = d;
	return d;
}

/* The markers live while some process maps the file. */
static void file_use(struct targets *t, struct tls_file *f, pid_t pid)
{
	char path[PATH_MAX];
	int err;

	if (f->users++ > 0)
		return;
	t->stats.files_probed++;
	f->idle_since_ns = 0;
	if (f->markers.nlinks > 0 || f->data_all.nlinks > 0)
		return; /* still attached from its previous users */
	if (file_path(f, pid, path, sizeof(path)))
		return;
	/* Data probes first: the mapping process's first call is near. */
	if (!t->per_process) {
		err = attach_data_probes(t->skel, path, &f->syms, -1, &f->data_all);
		if (err)
			log_warn("cannot attach to %s: %s", path, strerror(-err));
		else
			note_map_to_attach(t, monotonic_ns());
	}
	err = attach_marker_probes(t->skel, path, &f->syms, &f->markers);
	if (err)
		log_warn("cannot attach client/server markers to %s: %s", path, strerror(-err));
	if (!err) {
		log_info("attached to %s (%s)", path,
			 t->per_process ? "markers; data probes per process" : "all processes");
	}
}

/* Detached only after FILE_LINGER_NS without users: a program run again
 * and again (a cron job, a shell loop) finds its probes in place. */
static void file_unuse(struct targets *t, struct tls_file *f)
{
	if (--f->users > 0)
		return;
	t->stats.files_probed--;
	f->idle_since_ns = monotonic_ns();
}

static void detach_idle_files(struct targets *t, uint64_t now_ns)
{
	for (unsigned b = 0; b < FILE_BUCKETS; b++) {
		for (struct tls_file *f = t->files[b]; f; f = f->next) {
			if (f->users > 0 || !f->idle_since_ns ||
			    now_ns - f->idle_since_ns < FILE_LINGER_NS)
				continue;
			f->idle_since_ns = 0;
			if (f->markers.nlinks || f->data_all.nlinks)
				log_info("detached from %s: no process maps it", f->open_path);
			probe_set_detach_async(&f->markers);
			probe_set_detach_async(&f->data_all);
		}
	}
}

/* Seccomp mode 2 (a filter) in /proc/<pid>/status. */
static bool has_seccomp_filter(pid_t pid)
{
	char file[64], line[128];
	bool filtered = false;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/status", pid);
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

/* A process starts: the next one may need probes, fast. System-wide mode
 * keeps uprobe registration fast for a while (per-process mode does for
 * good, main.c); both keep it fast at the rate a busy host needs for a
 * second (uprobe_warm.h). */
static void keep_attach_fast(void)
{
	uint64_t now = monotonic_ns();

	uprobe_warm_busy(now);
	uprobe_warm_until(now + WARM_WINDOW_NS);
}

static bool proc_armed(const struct tls_proc *p)
{
	for (int i = 0; i < p->nfiles; i++) {
		if (p->files[i].data.nlinks > 0 || p->files[i].pending)
			return true;
	}
	return false;
}

/* Keep narmed, the number of processes with data probes in or on their way. */
static void proc_recount(struct targets *t, struct tls_proc *p)
{
	bool armed = proc_armed(p);

	if (armed == p->counted)
		return;
	p->counted = armed;
	if (armed)
		t->narmed++;
	else
		t->narmed--;
}

/*
 * Arm one file of a process. Beyond max_armed processes (each armed process
 * costs every probe hit, and the kernel's work to add or remove a probe
 * grows with their number; see disarm_idle), a new process is armed only at
 * its first client connection (force: the connect marker said so).
 */
static void proc_arm_file(struct targets *t, struct tls_proc *p, struct proc_file *pf, bool force)
{
	struct attach_job *j;

	if (pf->data.nlinks > 0 || pf->pending || p->server_only || !t->per_process)
		return;
	if (!force && (p->idle || (!p->counted && t->narmed >= t->max_armed))) {
		p->idle = true;
		return;
	}
	if (t->uretprobe_unsafe && has_seccomp_filter(p->pid)) {
		/* Its filter may kill it on the uretprobe system call. */
		if (!p->seccomp_skipped)
			log_warn("pid %d not traced: it runs under a seccomp filter, and on this "
				 "kernel return probes go through a system call the filter may "
				 "reject",
				 p->pid);
		p->seccomp_skipped = true;
		t->stats.procs_seccomp_skipped++;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	if (file_path(pf->file, p->pid, j->path, sizeof(j->path))) {
		t->stats.attach_failures++;
		free(j);
		return;
	}
	j->pid = p->pid;
	j->syms = pf->file->syms;
	j->generation = p->generation;
	j->file = pf->file;
	j->map_ts = t->cur_map_ts;
	pf->pending = true;
	p->active_ns = monotonic_ns();
	proc_recount(t, p);
	attach_jobs_submit(j);
}

/* Results of the attach workers: install them, or drop those whose process
 * exited, exec'd or turned out to be a server meanwhile. */
void targets_collect_attaches(struct targets *t)
{
	struct attach_job *j = attach_jobs_done();

	while (j) {
		struct attach_job *next = j->next;
		struct tls_proc *p = proc_find(t, j->pid);
		struct proc_file *pf = NULL;

		for (int i = 0; p && i < p->nfiles; i++) {
			if (p->files[i].file == j->file)
				pf = &p->files[i];
		}
		if (!pf || p->generation != j->generation || !pf->pending) {
			probe_set_detach_async(&j->set);
		} else if (j->err) {
			pf->pending = false;
			proc_recount(t, p);
			t->stats.attach_failures++;
			log_debug("cannot attach to pid %d (%s): %s", j->pid, j->path,
				  strerror(-j->err));
		} else {
			uint64_t since_map;

			pf->pending = false;
			pf->data = j->set;
			t->stats.attaches++;
			t->stats.attach_ns_total += j->took_ns;
			if (j->took_ns > t->stats.attach_ns_max)
				t->stats.attach_ns_max = j->took_ns;
			t->cur_map_ts = j->map_ts;
			since_map = note_map_to_attach(t, j->done_ns);
			t->cur_map_ts = 0;
			log_debug("attached to pid %d %s in %llu us (%llu us after the mapping)",
				  j->pid, j->path, (unsigned long long)j->took_ns / 1000,
				  (unsigned long long)since_map / 1000);
		}
		free(j);
		j = next;
	}
}

static void proc_disarm(struct targets *t, struct tls_proc *p)
{
	p->generation = ++t->generations; /* results still coming are stale */
	for (int i = 0; i < p->nfiles; i++) {
		p->files[i].pending = false;
		if (p->files[i].data.nlinks > 0) {
			probe_set_detach_async(&p->files[i].data);
			t->stats.detaches++;
		}
	}
	proc_recount(t, p);
}

static struct tls_proc *proc_get(struct targets *t, pid_t pid)
{
	struct tls_proc *p = proc_find(t, pid);
	unsigned b;

	if (p)
		return p;
	if (t->nprocs >= PROCS_MAX) {
		t->stats.procs_dropped++;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->generation = ++t->generations;
	b = proc_bucket(pid);
	p->next = t->procs[b];
	t->procs[b] = p;
	t->nprocs++;
	return p;
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->ino == b->ino && a->maj == b->maj && a->min == b->min;
}

static struct learned_exe *learned_find(struct targets *t, const struct file_id *exe)
{
	for (unsigned i = 0; i < t->nlearned; i++) {
		if (file_id_equal(&t->learned[i].exe, exe))
			return &t->learned[i];
	}
	return NULL;
}

static struct learned_exe *learn_exe(struct targets *t, const struct file_id *exe);

/* Remember that this process's executable maps f (bounded, oldest replaced). */
static void learn(struct targets *t, const struct tls_proc *p, struct tls_file *f)
{
	struct learned_exe *l;

	if (!p->exe.ino)
		return;
	l = learn_exe(t, &p->exe);
	for (int i = 0; i < l->nfiles; i++) {
		if (l->files[i] == f)
			return;
	}
	if (l->nfiles < FILES_PER_PROC)
		l->files[l->nfiles++] = f;
}

static void proc_add_file(struct targets *t, struct tls_proc *p, struct tls_file *f);

static int add_soname(const char *soname, const char *path, void *ctx)
{
	struct targets *t = ctx;
	struct soname_path *sp;

	if (t->nsonames % 256 == 0) {
		sp = realloc(t->sonames, (t->nsonames + 256) * sizeof(*sp));
		if (!sp)
			return 1;
		t->sonames = sp;
	}
	sp = &t->sonames[t->nsonames];
	sp->soname = strdup(soname);
	sp->path = strdup(path);
	sp->needs_tls = -1;
	sp->tls = NULL;
	if (sp->soname && sp->path)
		t->nsonames++;
	return 0;
}

static struct soname_path *soname_find(struct targets *t, const char *soname)
{
	for (size_t i = 0; i < t->nsonames; i++) {
		if (!strcmp(t->sonames[i].soname, soname))
			return &t->sonames[i];
	}
	return NULL;
}

/* The file at path: already known (analyse false), or analysed now. */
static struct tls_file *file_by_path(struct targets *t, const char *path, bool analyse)
{
	struct stat st;
	struct tls_file *f;

	if (stat(path, &st) < 0)
		return NULL;
	struct proc_mapping m = {
	    .path = path,
	    .maj = major(st.st_dev),
	    .min = minor(st.st_dev),
	    .ino = st.st_ino,
	};
	f = file_find(t, m.maj, m.min, m.ino);
	return f || !analyse ? f : file_analyse(t, &m);
}

/*
 * Prediction is on the path from exec to armed, so it looks at what is
 * already known first: a soname memoised, or a file analysed before (the
 * system's libssl usually is). Only when that finds nothing are unknown
 * files analysed and their dependencies followed. Analysing every
 * dependency in DT_NEEDED order took 5-9 ms for a first curl (libcurl's
 * libnghttp2, libidn2, librtmp -> libgnutls, ... before libssl), most of a
 * one-shot client's ~12 ms to its first write.
 */
struct predict {
	struct targets *t;
	int depth;
	bool deep; /* analyse and recurse, or known facts only */
	struct tls_file *found;
};

static struct tls_file *soname_tls(struct targets *t, struct soname_path *sp, int depth);

static int predict_one(const char *soname, void *ctx)
{
	struct predict *pr = ctx;
	struct soname_path *sp = soname_find(pr->t, soname);

	if (!sp)
		return 0;
	if (pr->deep) {
		pr->found = soname_tls(pr->t, sp, pr->depth);
	} else if (sp->needs_tls >= 0) {
		pr->found = sp->tls;
	} else {
		struct tls_file *f = file_by_path(pr->t, sp->path, false);

		if (f && f->verdict == VERDICT_TLS)
			pr->found = f;
	}
	return pr->found != NULL;
}

/* Which of the DT_NEEDED of path carries OpenSSL: known facts first. */
static struct tls_file *needed_tls(struct targets *t, const char *path, int depth)
{
	struct predict pr = {t, depth, false, NULL};

	elf_needed(path, predict_one, &pr);
	if (!pr.found && depth < 3) {
		pr.deep = true;
		elf_needed(path, predict_one, &pr);
	}
	return pr.found;
}

/* Does this library, or one it needs (three levels deep: curl -> libcurl
 * -> libssl), carry OpenSSL? Memoised per soname. */
static struct tls_file *soname_tls(struct targets *t, struct soname_path *sp, int depth)
{
	struct tls_file *f;

	if (sp->needs_tls >= 0)
		return sp->tls;
	sp->needs_tls = 0; /* cuts dependency cycles */
	f = file_by_path(t, sp->path, true);
	if (!f || f->verdict != VERDICT_TLS)
		f = needed_tls(t, sp->path, depth + 1);
	sp->needs_tls = f != NULL;
	sp->tls = f;
	return f;
}

/* The TLS library an executable will map, predicted from its DT_NEEDED. */
static struct tls_file *predict_tls(struct targets *t, const char *exe_path)
{
	return t->nsonames ? needed_tls(t, exe_path, 0) : NULL;
}

/* Remember a prediction, positive or negative, for the next exec. */
static struct learned_exe *learn_exe(struct targets *t, const struct file_id *exe)
{
	struct learned_exe *l = learned_find(t, exe);

	if (l)
		return l;
	if (t->nlearned < LEARNED_MAX)
		l = &t->learned[t->nlearned++];
	else
		l = &t->learned[t->learned_next++ % LEARNED_MAX];
	memset(l, 0, sizeof(*l));
	l->exe = *exe;
	return l;
}

/* The executable of a process that just exec'd is mapped: arm it now if
 * this executable is known to map TLS files. */
static void proc_exe_mapped(struct targets *t, struct tls_proc *p, const struct proc_mapping *m)
{
	struct learned_exe *l;

	p->awaiting_exe = false;
	p->exe = (struct file_id){m->maj, m->min, m->ino};
	l = learned_find(t, &p->exe);
	if (!l && t->per_process) {
		char path[PATH_MAX];
		struct tls_file *f = NULL;

		if (!open_path(m->pid, m->path, &p->exe, m->start, m->end, path, sizeof(path))) {
			uint64_t t0 = monotonic_ns();

			f = predict_tls(t, path);
			log_debug("predicted for %s in %llu us: %s", m->path,
				  (unsigned long long)(monotonic_ns() - t0) / 1000,
				  f ? "loads OpenSSL" : "no OpenSSL");
		}
		l = learn_exe(t, &p->exe);
		if (f)
			l->files[l->nfiles++] = f;
	}
	for (int i = 0; l && i < l->nfiles; i++)
		proc_add_file(t, p, l->files[i]);
}

static void proc_add_file(struct targets *t, struct tls_proc *p, struct tls_file *f)
{
	struct proc_file *pf;

	for (int i = 0; i < p->nfiles; i++) {
		if (p->files[i].file == f) {
			/* Known (another mapping, or learned at exec): attach if an
			 * early attempt failed. */
			proc_arm_file(t, p, &p->files[i], false);
			return;
		}
	}
	if (p->nfiles >= FILES_PER_PROC)
		return;
	pf = &p->files[p->nfiles++];
	pf->file = f;
	/* The process's own probes first (its first call is near), then the
	 * markers of a file new to us (attached in this thread meanwhile). */
	proc_arm_file(t, p, pf, false);
	file_use(t, f, p->pid);
	learn(t, p, f);
}

/* Forget what a process maps (exit or exec); keep the entry for exec. */
static void proc_clear(struct targets *t, struct tls_proc *p)
{
	proc_disarm(t, p);
	for (int i = 0; i < p->nfiles; i++)
		file_unuse(t, p->files[i].file);
	p->nfiles = 0;
	p->roles = 0;
	p->server_only = false;
	p->idle = false;
	p->disarm_at_ns = 0;
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &p->pid);
}

static void proc_remove(struct targets *t, struct tls_proc *p)
{
	struct tls_proc **pp = &t->procs[proc_bucket(p->pid)];

	proc_clear(t, p);
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	t->nprocs--;
	free(p);
}

void targets_on_mapping(struct targets *t, const struct proc_mapping *m)
{
	struct tls_file *f = file_find(t, m->maj, m->min, m->ino);
	struct tls_proc *p = proc_find(t, m->pid);

	t->cur_map_ts = m->ts_ns;
	if (p && p->awaiting_exe)
		proc_exe_mapped(t, p, m);
	if (!f)
		f = file_analyse(t, m);
	if (f && f->verdict == VERDICT_TLS) {
		p = proc_get(t, m->pid);
		if (p)
			proc_add_file(t, p, f);
	}
	if (p && m->ts_ns > p->last_map_ns)
		p->last_map_ns = m->ts_ns;
	t->cur_map_ts = 0;
}

void targets_on_fork(struct targets *t, pid_t parent, pid_t child)
{
	struct tls_proc *pp = proc_find(t, parent), *c;

	/* A child shares its parent's mappings without new mmap records. */
	if (!pp || pp->nfiles == 0)
		return;
	c = proc_get(t, child);
	if (!c)
		return;
	c->exe = pp->exe;
	for (int i = 0; i < pp->nfiles; i++)
		proc_add_file(t, c, pp->files[i].file);
}

void targets_on_exec(struct targets *t, pid_t pid, uint64_t ts_ns)
{
	/* Only while someone maps TLS files is it worth tracking every exec. */
	struct tls_proc *p = t->per_process ? proc_get(t, pid) : proc_find(t, pid);

	/* Processes are starting: the next one may need probes, fast. */
	keep_attach_fast();
	if (!p)
		return;
	/*
	 * One stream per CPU: a process that moved to another CPU during exec
	 * has its new image's mappings read before its exec record. Clearing
	 * it now would drop the probes those mappings just armed (a call
	 * missed in an exec storm, ~1 run in 14): the exec is older news.
	 */
	if (ts_ns && p->last_map_ns > ts_ns)
		return;
	proc_clear(t, p); /* the new image maps its files anew */
	p->exe = (struct file_id){0};
	p->awaiting_exe = true;
}

bool targets_on_exit(struct targets *t, pid_t pid)
{
	struct tls_proc *p = proc_find(t, pid);

	if (p)
		proc_remove(t, p);
	return p != NULL;
}

static struct tls_proc *longest_idle(struct targets *t, uint64_t now_ns);
static void proc_make_idle(struct targets *t, struct tls_proc *p);

void targets_on_role(struct targets *t, pid_t pid, uint32_t roles)
{
	/* May come before the mapping records of the process are read. */
	struct tls_proc *p = proc_get(t, pid);

	if (!p)
		return;
	p->roles |= roles;
	if (p->roles & TLS_ROLE_CLIENT) {
		p->disarm_at_ns = 0;
		p->active_ns = monotonic_ns();
		if (p->server_only || p->idle) {
			/* A server that now calls out (a proxy), or a process
			 * left without probes: trace it, making room if needed. */
			struct tls_proc *q =
			    t->narmed >= t->max_armed ? longest_idle(t, p->active_ns) : NULL;

			if (q)
				proc_make_idle(t, q);
			if (p->server_only)
				log_info("pid %d sets up client connections: tracing it again",
					 pid);
			else
				log_debug("pid %d connects: tracing it", pid);
			p->server_only = p->idle = false;
			for (int i = 0; i < p->nfiles; i++)
				proc_arm_file(t, p, &p->files[i], true);
		}
		return;
	}
	if ((p->roles & TLS_ROLE_SERVER) && t->per_process && !p->server_only && !p->disarm_at_ns) {
		p->disarm_at_ns = monotonic_ns() + t->disarm_delay_ns;
		if (p->disarm_at_ns < t->next_disarm_ns)
			t->next_disarm_ns = p->disarm_at_ns;
	}
}

void targets_note_connected(struct targets *t, pid_t pid, uint64_t now_ns)
{
	struct tls_proc *p = proc_find(t, pid);

	if (p)
		p->active_ns = now_ns;
}

/* Armed, not serving, without a client connection for IDLE_MIN_NS. */
static bool proc_idle_armed(const struct tls_proc *p, uint64_t now_ns)
{
	return p->counted && !p->server_only && now_ns >= p->active_ns &&
	       now_ns - p->active_ns >= IDLE_MIN_NS;
}

/* Remove its probes until its next client connection (the connect marker).
 * Its roles are forgotten in the kernel too, so that marker reports it. */
static void proc_make_idle(struct targets *t, struct tls_proc *p)
{
	proc_disarm(t, p);
	p->idle = true;
	p->roles = 0;
	p->disarm_at_ns = 0;
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &p->pid);
}

static struct tls_proc *longest_idle(struct targets *t, uint64_t now_ns)
{
	struct tls_proc *best = NULL;

	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		for (struct tls_proc *p = t->procs[b]; p; p = p->next) {
			if (proc_idle_armed(p, now_ns) && (!best || p->active_ns < best->active_ns))
				best = p;
		}
	}
	return best;
}

static int by_active_ns(const void *a, const void *b)
{
	const struct tls_proc *x = *(struct tls_proc *const *)a, *y = *(struct tls_proc *const *)b;

	return x->active_ns < y->active_ns ? -1 : x->active_ns > y->active_ns;
}

/*
 * Why at most max_armed processes hold data probes (measured on 6.18 with
 * 1000 and 2000 idle processes armed on one libssl):
 * - every hit of a probe runs through the probes of all processes armed on
 *   that function, one kernel consumer each: +0.13 us per armed process per
 *   traced call (+133 us with 1000);
 * - adding or removing one process's probes makes the kernel check every
 *   process mapping the file against every consumer, under a lock that
 *   fork() waits for: removing 1000 took minutes of CPU and stalled fork.
 * So beyond max_armed, processes idle the longest (no client connection for
 * IDLE_MIN_NS) give their probes back, and new processes are armed at their
 * first client connection. The connect marker wakes the daemon at once and
 * re-arming takes ~50 us while registration is kept fast (uprobe_warm.h); the
 * request follows a TLS handshake and was captured 4 times out of 4 on
 * loopback (0 of 3 with a cold registration, 5-6 ms).
 */
static void disarm_idle(struct targets *t, uint64_t now_ns)
{
	struct tls_proc **idle = NULL;
	size_t n = 0, cap = 0, excess;

	if (t->narmed <= t->max_armed)
		return;
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		for (struct tls_proc *p = t->procs[b]; p; p = p->next) {
			if (!proc_idle_armed(p, now_ns))
				continue;
			if (n == cap) {
				struct tls_proc **more =
				    realloc(idle, (cap ? 2 * cap : 256) * sizeof(*idle));

				if (!more)
					goto out;
				idle = more;
				cap = cap ? 2 * cap : 256;
			}
			idle[n++] = p;
		}
	}
	excess = t->narmed - t->max_armed;
	if (excess > n)
		excess = n;
	if (excess == 0)
		goto out;
	qsort(idle, n, sizeof(*idle), by_active_ns);
	for (size_t i = 0; i < excess; i++)
		proc_make_idle(t, idle[i]);
	log_info("more than %u processes hold probes: the %zu idle the longest give theirs back "
		 "until they connect again",
		 t->max_armed, excess);
out:
	free(idle);
}

/*
 * Records of one process can reach us out of order when it ran on several
 * CPUs (one stream per CPU): a mapping read after the exit would leave an
 * entry behind. Sweep for processes that are gone.
 */
static void sweep_dead(struct targets *t)
{
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		struct tls_proc *p = t->procs[b];

		while (p) {
			struct tls_proc *next = p->next;

			if (kill(p->pid, 0) < 0 && errno == ESRCH)
				proc_remove(t, p);
			p = next;
		}
	}
}

void targets_tick(struct targets *t, uint64_t now_ns)
{
	if (now_ns - t->last_sweep_ns > SWEEP_PERIOD_NS) {
		t->last_sweep_ns = now_ns;
		sweep_dead(t);
		detach_idle_files(t, now_ns);
	}
	if (t->per_process && now_ns - t->last_idle_check_ns > 1000000000ull) {
		t->last_idle_check_ns = now_ns;
		disarm_idle(t, now_ns);
	}
	/* Walk the table only when a disarm is due (it is mostly idle). */
	if (now_ns < t->next_disarm_ns)
		return;
	t->next_disarm_ns = UINT64_MAX;
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		for (struct tls_proc *p = t->procs[b]; p; p = p->next) {
			if (!p->disarm_at_ns)
				continue;
			if (now_ns < p->disarm_at_ns) {
				if (p->disarm_at_ns < t->next_disarm_ns)
					t->next_disarm_ns = p->disarm_at_ns;
				continue;
			}
			p->disarm_at_ns = 0;
			if (p->roles & TLS_ROLE_CLIENT)
				continue;
			p->server_only = true;
			proc_disarm(t, p);
			log_info("pid %d only serves TLS: its data probes are removed", p->pid);
		}
	}
}

/* Processes running at start: their executable is /proc/<pid>/exe. */
static void note_exe(struct targets *t, const char *proc_root, pid_t pid)
{
	char path[PATH_MAX];
	struct tls_proc *p;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/exe", proc_root, pid);
	if (stat(path, &st) < 0)
		return;
	p = proc_get(t, pid);
	if (p)
		p->exe = (struct file_id){major(st.st_dev), minor(st.st_dev), st.st_ino};
}

struct scan_ctx {
	struct targets *t;
	const char *proc_root;
};

static void scan_mapping(const struct proc_mapping *m, void *ctx)
{
	targets_on_mapping(((struct scan_ctx *)ctx)->t, m);
}

static int scan_pid(pid_t pid, void *ctx)
{
	struct scan_ctx *sc = ctx;

	/* Executables are learned only for per-process probes. */
	if (sc->t->per_process)
		note_exe(sc->t, sc->proc_root, pid);
	proc_scan_maps(sc->proc_root, pid, scan_mapping, sc);
	return 0;
}

void targets_scan_proc(struct targets *t, const char *proc_root)
{
	struct scan_ctx sc = {t, proc_root};

	keep_attach_fast();
	proc_scan_pids(proc_root, scan_pid, &sc);
}

void targets_detach_all(struct targets *t)
{
	attach_jobs_drain();
	targets_collect_attaches(t);
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		for (struct tls_proc *p = t->procs[b]; p; p = p->next)
			proc_disarm(t, p);
	}
	for (unsigned b = 0; b < FILE_BUCKETS; b++) {
		for (struct tls_file *f = t->files[b]; f; f = f->next) {
			probe_set_detach_async(&f->markers);
			probe_set_detach_async(&f->data_all);
		}
	}
	detach_reaper_drain();
}

void targets_free(struct targets *t)
{
	if (!t)
		return;
	targets_detach_all(t);
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		while (t->procs[b]) {
			struct tls_proc *p = t->procs[b];

			t->procs[b] = p->next;
			free(p);
		}
	}
	for (unsigned b = 0; b < FILE_BUCKETS; b++) {
		while (t->files[b]) {
			struct tls_file *f = t->files[b];

			t->files[b] = f->next;
			free(f);
		}
	}
	for (size_t i = 0; i < t->nsonames; i++) {
		free(t->sonames[i].soname);
		free(t->sonames[i].path);
	}
	free(t->sonames);
	free(t);
}

struct targets_stats targets_stats(const struct targets *t)
{
	struct targets_stats s = t->stats;
	uint64_t armed = 0, server = 0, idle = 0;

	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		for (struct tls_proc *p = t->procs[b]; p; p = p->next) {
			server += p->server_only;
			idle += p->idle;
			for (int i = 0; i < p->nfiles; i++) {
				if (p->files[i].data.nlinks > 0) {
					armed++;
					break;
				}
			}
		}
	}
	s.procs_armed = armed;
	s.procs_server = server;
	s.procs_idle = idle;
	return s;
}

struct pin_ctx {
	struct targets *t;
};

static int pin_cached(const char *soname, const char *path, void *ctx)
{
	struct targets *t = ((struct pin_ctx *)ctx)->t;
	struct stat st;
	struct tls_file *f;

	if (strncmp(soname, "libssl.so", 9) != 0 || stat(path, &st) < 0)
		return 0;
	struct proc_mapping m = {
	    .pid = 0,
	    .path = path,
	    .maj = major(st.st_dev),
	    .min = minor(st.st_dev),
	    .ino = st.st_ino,
	};
	f = file_find(t, m.maj, m.min, m.ino);
	if (!f)
		f = file_analyse(t, &m);
	if (f && f->verdict == VERDICT_TLS && !f->pinned) {
		f->pinned = true;
		file_use(t, f, 0);
	}
	return 0;
}

void targets_pin_ldcache(struct targets *t, const char *ldcache_file)
{
	struct pin_ctx ctx = {t};
	int err;

	if (t->per_process)
		return;
	err = ldcache_for_each_file(ldcache_file, pin_cached, &ctx);
	if (err)
		log_warn("cannot read %s: %s", ldcache_file, strerror(-err));
}
