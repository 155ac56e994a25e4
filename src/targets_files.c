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

/* ---- files ---------------------------------------------------------------- */

/* How long after the mapping being handled its probes were in, at in_ns. */
uint64_t note_map_to_attach(struct targets *t, uint64_t map_ts, uint64_t in_ns)
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
 * A verdict on a file: a TLS file is added to the registry (which takes
 * *fd, set to -1 then); a plain file is remembered as such. A file that could
 * not be read is not remembered: the next mapping retries.
 */
static struct tls_file *file_verdict(struct targets *t, const struct file_id *id, int *fd,
				     const char *path, int err, const struct tls_verdict *v,
				     uint64_t took_ns)
{
	struct tls_file *f = file_registry_find(t->files, id);
	char funcs[160];

	log_debug("analysed %s in %llu us", path, (unsigned long long)took_ns / 1000);
	if (f)
		return f; /* found meanwhile (prediction analyses on its own) */
	if (err == -EFBIG) {
		struct stat st = {0};

		fstat(*fd, &st);
		log_warn("%s not analysed: a symbol or string table is over the %d MB limit "
			 "(file of %lld MB; not traced)",
			 path, ELF_TABLE_MAX_MB, (long long)st.st_size >> 20);
	}
	if (err || !v->traced) {
		if (!err || err == -EFBIG)
			file_registry_note_plain(t->files, id, monotonic_ns());
		return NULL;
	}
	f = file_registry_add(t->files, id, *fd, path, &v->syms);
	*fd = -1;
	if (!f) {
		log_warn("TLS library %s not traced: %u TLS files known already", path,
			 TLS_FILES_MAX);
		return NULL;
	}
	tls_file_describe(&f->syms, funcs, sizeof(funcs));
	log_info("TLS library found: %s (%s)", path, funcs);
	return f;
}

/* Classify a file open on FD here and now (prediction). FD is taken. */
static struct tls_file *file_classify_now(struct targets *t, int fd, const struct file_id *id,
					  const char *path)
{
	struct tls_verdict v;
	uint64_t t0 = monotonic_ns();
	int err = tls_classify(fd, path, false, &v);
	struct tls_file *f = file_verdict(t, id, &fd, path, err, &v, monotonic_ns() - t0);

	if (fd >= 0)
		close(fd);
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

enum loop_read file_loop_read(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > ANALYSE_INLINE_MAX)
		return LOOP_READ_LARGE;
	return file_pages_cached(fd, (uint64_t)st.st_size) ? LOOP_READ_NOW : LOOP_READ_UNCACHED;
}

/*
 * The registry's entry for a mapped file: known, or analysed now if small
 * and cached. Another file neither known nor known to be plain is analysed
 * off the event loop: the process waits for the verdict
 * (targets_collect_analyses).
 */
/* The mapping process as a waiter for a verdict: tracked (created if need
 * be) so that an exec or exit meanwhile makes the verdict stale for it. */
static struct analysis_waiter waiter_for(struct targets *t, const struct proc_mapping *m)
{
	struct tls_proc *p = proc_table_get(t->procs, m->pid);

	return (struct analysis_waiter){
	    .pid = m->pid, .image = p ? p->image : 0, .map_ts = m->ts_ns};
}

struct tls_file *file_for_mapping(struct targets *t, const struct proc_mapping *m)
{
	struct file_id id = {m->maj, m->min, m->ino};
	struct tls_file *f = file_registry_find(t->files, &id);
	struct analysis_waiter w;
	enum loop_read how;
	const char *why;
	bool dropped;
	int fd;

	if (f || file_registry_known_plain(t->files, &id, monotonic_ns()))
		return f;
	if (analysis_is_pending(&id)) {
		w = waiter_for(t, m);
		analysis_wait(&id, &w, &dropped);
		t->rescan |= dropped;
		return NULL;
	}
	fd = file_open_mapped(t->proc_root, m->pid, m->path, &id, m->start, m->end, &why);
	if (why)
		log_refused(t, m->pid, m->path, why, fd >= 0);
	if (fd < 0)
		return NULL;
	/* A small file whose pages are all cached is analysed here: a
	 * process's first call may be a few ms away, and the bounded reader
	 * takes well under a millisecond for a library (libssl: ~50 us). A
	 * larger one (node, a crafted file), or one that would be read from
	 * the disk (a cold 2 MB libstdc++: 42 ms, every other process's
	 * arming waiting behind it), goes to a worker, and the process waits
	 * for the verdict. */
	how = file_loop_read(fd);
	if (how == LOOP_READ_NOW)
		return file_classify_now(t, fd, &id, m->path);
	w = waiter_for(t, m);
	if (analysis_submit(&id, fd, m->path, &w, how == LOOP_READ_UNCACHED))
		t->rescan = true;
	return NULL;
}

void targets_collect_analyses(struct targets *t)
{
	struct analysis *a = analysis_done();

	while (a) {
		struct analysis *next = a->next;
		struct tls_file *f =
		    file_verdict(t, &a->id, &a->fd, a->path, a->err, &a->verdict, a->took_ns);

		for (size_t i = 0; f && i < a->nwaiters; i++) {
			struct tls_proc *p = proc_table_find(t->procs, a->waiters[i].pid);

			if (!p || p->image != a->waiters[i].image)
				continue; /* exited or exec'd since */
			t->cur_map_ts = a->waiters[i].map_ts;
			proc_add_file(t, p, f);
			t->cur_map_ts = 0;
		}
		analysis_free(a);
		a = next;
	}
}

bool targets_need_rescan(struct targets *t)
{
	bool r = t->rescan;

	t->rescan = false;
	return r;
}

/* Lookup for prediction: a library of the predicted process's root
 * (ROOT_FD), by the path that root's ld.so cache gives (predict.h).
 * DEFERRED NULL: analysed now even if read from the disk (start-up). */
struct tls_file *file_for_path(int root_fd, const char *path, bool analyse, bool *deferred,
			       void *ctx)
{
	struct targets *t = ctx;
	struct file_id id;
	struct tls_file *f;
	enum loop_read how;
	int fd;

	if (file_stat_in_root(root_fd, path, &id, NULL) < 0)
		return NULL;
	f = file_registry_find(t->files, &id);
	if (f || !analyse || file_registry_known_plain(t->files, &id, monotonic_ns()))
		return f;
	if (analysis_is_pending(&id)) {
		if (deferred)
			*deferred = true;
		return NULL;
	}
	/* The file stat'ed and no other (replaced since: -ESTALE). */
	fd = file_open_in_root(root_fd, path, &id, NULL);
	if (fd < 0)
		return NULL;
	/* Not here, in the event loop: a large file is analysed by a worker
	 * when a process maps it, an uncached one now (either way this
	 * prediction cannot tell, and the process is armed at the mapping). */
	how = file_loop_read(fd);
	if (how == LOOP_READ_LARGE) {
		close(fd);
		if (deferred)
			*deferred = true;
		return NULL;
	}
	if (deferred && how == LOOP_READ_UNCACHED) {
		*deferred = true;
		/* Nobody waits: on -ENOMEM the mapping submits it again. */
		(void)analysis_submit(&id, fd, path, NULL, true);
		return NULL;
	}
	return file_classify_now(t, fd, &id, path);
}

/* The file's own probes (markers; all data probes in system-wide mode): in
 * place while it is referenced. A failed attach is retried by the next
 * process mapping it, at most every MARKER_RETRY_NS. */
void file_attach_shared(struct targets *t, struct tls_file *f)
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
