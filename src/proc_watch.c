// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "proc_watch.h"

/* 16 data pages per CPU: exec storms produce ~6 records of ~100 bytes per
 * process; this holds a few hundred processes between two wake-ups. */
#define DATA_PAGES 16

struct proc_watch {
	struct proc_watch_ops ops;
	int *fds;		       /* one per stream */
	struct proc_watch_ring *rings; /* the streams' rings, in the same order */
	int nstreams;
	uint64_t lost;
};

static int open_stream(int cpu, int *fd, struct proc_watch_ring *r)
{
	struct perf_event_attr attr = {
	    .type = PERF_TYPE_SOFTWARE,
	    .size = sizeof(attr),
	    .config = PERF_COUNT_SW_DUMMY,
	    .mmap = 1,
	    .mmap2 = 1,
	    .comm = 1,
	    .comm_exec = 1,
	    .task = 1,
	    /* Wake us for every record: the first SSL call of a new
	     * process follows its libssl mapping within milliseconds.
	     * (wakeup_events counts only samples; side-band records need
	     * a byte watermark.) */
	    .watermark = 1,
	    .wakeup_watermark = 1,
	    /* Every record ends with its time, on our clock: we report
	     * how long after a mapping its probes were in. */
	    .sample_id_all = 1,
	    .sample_type = PERF_SAMPLE_TIME,
	    .use_clockid = 1,
	    .clockid = CLOCK_MONOTONIC,
	};
	long page = sysconf(_SC_PAGESIZE);

	*fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (*fd < 0)
		return -errno;
	r->data_size = (size_t)page * DATA_PAGES;
	r->base = mmap(NULL, page + r->data_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (r->base == MAP_FAILED) {
		int err = -errno;

		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/* Mark the CPUs listed in a sysfs CPU list ("0-3,5"). Returns 0 or -errno. */
static int read_cpu_list(const char *file, bool *cpus, int ncpu)
{
	char buf[4096], *p = buf;
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	while (*p >= '0' && *p <= '9') {
		long lo = strtol(p, &p, 10), hi = lo;

		if (*p == '-')
			hi = strtol(p + 1, &p, 10);
		for (long c = lo; c <= hi && c < ncpu; c++)
			cpus[c] = true;
		if (*p != ',')
			break;
		p++;
	}
	return 0;
}

/*
 * One stream per online CPU, every one required: a CPU without its stream
 * would hide the processes that run there. Only a CPU that is not online (or
 * went offline meanwhile: ENODEV) is skipped. Some kernel refusing the
 * stream (EINVAL for an attribute it lacks, EACCES without CAP_PERFMON) is
 * an error the caller reports, never a quiet run without discovery.
 */
struct proc_watch *proc_watch_new(const struct proc_watch_ops *ops)
{
	struct proc_watch *w = calloc(1, sizeof(*w));
	int ncpu = sysconf(_SC_NPROCESSORS_CONF), err = 0;
	bool *online;

	if (!w)
		return NULL;
	if (ncpu < 1)
		ncpu = 1;
	w->ops = *ops;
	w->fds = calloc(ncpu, sizeof(*w->fds));
	w->rings = calloc(ncpu, sizeof(*w->rings));
	online = calloc(ncpu, sizeof(*online));
	if (!w->fds || !w->rings || !online) {
		err = -ENOMEM;
		goto fail;
	}
	if (read_cpu_list("/sys/devices/system/cpu/online", online, ncpu))
		memset(online, true, ncpu * sizeof(*online)); /* try them all */
	for (int cpu = 0; cpu < ncpu; cpu++) {
		if (!online[cpu])
			continue;
		err = open_stream(cpu, &w->fds[w->nstreams], &w->rings[w->nstreams]);
		if (err == -ENODEV)
			continue; /* went offline */
		if (err)
			goto fail;
		w->nstreams++;
	}
	if (w->nstreams == 0) {
		err = -ENODEV;
		goto fail;
	}
	free(online);
	return w;
fail:
	free(online);
	proc_watch_free(w);
	errno = -err;
	return NULL;
}

const char *proc_watch_error_hint(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "CAP_PERFMON (or root) is needed; where kernel.perf_event_paranoid is above "
		       "2 "
		       "(Debian's and Ubuntu's kernels) CAP_SYS_ADMIN is";
	case EINVAL:
	case EOPNOTSUPP:
	case ENOENT:
		return "this kernel refuses a dummy software perf event with mmap2, task and "
		       "comm_exec records on a CPU";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	default:
		return "";
	}
}

void proc_watch_free(struct proc_watch *w)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!w)
		return;
	for (int i = 0; i < w->nstreams; i++) {
		munmap(w->rings[i].base, page + w->rings[i].data_size);
		close(w->fds[i]);
	}
	free(w->fds);
	free(w->rings);
	free(w);
}

int proc_watch_add_to_epoll(struct proc_watch *w, int epfd)
{
	for (int i = 0; i < w->nstreams; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->fds[i]};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fds[i], &ev) < 0)
			return -errno;
	}
	return 0;
}

/* The layouts below are those of perf_event.h; with sample_id_all each
 * record is followed by its time (see TRAILER_SIZE), which only MMAP2
 * records, whose size varies, need to locate. */
struct rec_mmap2 {
	struct perf_event_header h;
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino, ino_generation;
	uint32_t prot, flags;
	char filename[];
};

struct rec_task {
	struct perf_event_header h;
	uint32_t pid, ppid, tid, ptid;
	uint64_t time;
};

struct rec_comm {
	struct perf_event_header h;
	uint32_t pid, tid;
	char comm[];
};

struct rec_lost {
	struct perf_event_header h;
	uint64_t id, lost;
};

/* With sample_id_all and PERF_SAMPLE_TIME, every record ends with a u64 time. */
#define TRAILER_SIZE sizeof(uint64_t)

static void on_mmap2(const struct rec_mmap2 *r, size_t size, const struct proc_watch_ops *ops)
{
	char path[4096];
	size_t room = size - sizeof(*r), n = strnlen(r->filename, room);
	size_t padded = (n + 1 + 7) & ~(size_t)7;
	uint64_t ts = 0;

	/* The build-id variant carries no device/inode; we never ask for it. */
	if (r->h.misc & PERF_RECORD_MISC_MMAP_BUILD_ID)
		return;
	if (n >= sizeof(path))
		n = sizeof(path) - 1;
	memcpy(path, r->filename, n);
	path[n] = '\0'; /* the kernel pads with NULs; never trust that */
	if (path[0] != '/' || !ops->mapped)
		return; /* anonymous, [vdso], memfd: no file to probe */
	/* The name is NUL-padded to 8 bytes; the time follows it. */
	if (room >= padded + TRAILER_SIZE)
		memcpy(&ts, (const uint8_t *)r + sizeof(*r) + padded, sizeof(ts));
	struct proc_mapping m = {
	    .ts_ns = ts,
	    .pid = r->pid,
	    .path = path,
	    .maj = r->maj,
	    .min = r->min,
	    .ino = r->ino,
	    .start = r->addr,
	    .end = r->addr + r->len,
	};
	ops->mapped(&m, ops->ctx);
}

int proc_watch_parse_record(const void *rec, size_t size, const struct proc_watch_ops *ops,
			    uint64_t *lost)
{
	const struct perf_event_header *h = rec;

	if (size < sizeof(*h) || h->size > size)
		return -EINVAL;
	size = h->size;
	switch (h->type) {
	case PERF_RECORD_MMAP2:
		if (size < sizeof(struct rec_mmap2))
			return -EINVAL;
		on_mmap2(rec, size, ops);
		return 0;
	case PERF_RECORD_FORK:
	case PERF_RECORD_EXIT: {
		const struct rec_task *t = rec;

		if (size < sizeof(*t))
			return -EINVAL;
		if (t->pid != t->tid)
			return 0; /* a thread, not a process */
		if (h->type == PERF_RECORD_FORK && t->pid != t->ppid && ops->forked)
			ops->forked(t->ppid, t->pid, ops->ctx);
		if (h->type == PERF_RECORD_EXIT && ops->exited)
			ops->exited(t->pid, ops->ctx);
		return 0;
	}
	case PERF_RECORD_COMM: {
		const struct rec_comm *c = rec;

		if (size < sizeof(*c))
			return -EINVAL;
		if ((h->misc & PERF_RECORD_MISC_COMM_EXEC) && c->pid == c->tid && ops->execed) {
			uint64_t ts = 0;

			/* The time is the record's last 8 bytes (sample_id_all). */
			if (size >= sizeof(*c) + TRAILER_SIZE)
				memcpy(&ts, (const uint8_t *)rec + size - TRAILER_SIZE, sizeof(ts));
			ops->execed(c->pid, ts, ops->ctx);
		}
		return 0;
	}
	case PERF_RECORD_LOST: {
		const struct rec_lost *l = rec;

		if (size < sizeof(*l))
			return -EINVAL;
		if (lost)
			*lost += l->lost;
		return 0;
	}
	}
	return 0;
}

/* Copy n bytes at ring position pos (it may wrap around the end). */
static void ring_copy(const struct proc_watch_ring *r, uint64_t pos, void *dst, size_t n)
{
	size_t off = pos % r->data_size, first = r->data_size - off;

	if (n <= first) {
		memcpy(dst, r->data + off, n);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

/* Look at the ring's next record: its size and time. False when none is
 * left (or the ring reads as corrupt: then resynchronise at the head). */
static bool ring_peek(struct proc_watch_ring *r)
{
	struct perf_event_header h;

	if (r->tail >= r->head)
		return false;
	if (r->head - r->tail < sizeof(h))
		goto corrupt;
	ring_copy(r, r->tail, &h, sizeof(h));
	if (h.size < sizeof(h) || h.size > r->head - r->tail)
		goto corrupt;
	r->next_size = h.size;
	r->next_ts = 0;
	if (h.size >= sizeof(h) + TRAILER_SIZE)
		ring_copy(r, r->tail + h.size - TRAILER_SIZE, &r->next_ts, sizeof(r->next_ts));
	return true;
corrupt:
	r->tail = r->head;
	return false;
}

/*
 * Handle what the rings hold, oldest record first across all of them.
 * One ring per CPU, and a process's records are written on the CPU it ran
 * on: its fork record on its parent's, its exec a moment later on another.
 * Read ring by ring, the exec could come first, and the fork would then
 * hand the new image what the parent had mapped (an exec loop's shell
 * started by a TLS client holding libssl, arming every child it forks). A
 * record written before another is in the rings before it, so merging by
 * time what the rings hold when the drain starts puts them in order.
 */
int proc_watch_drain_rings(struct proc_watch_ring *rings, int n, const struct proc_watch_ops *ops,
			   uint64_t *lost)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t copy[8192];
	int handled = 0;

	for (int i = 0; i < n; i++) {
		struct perf_event_mmap_page *meta = rings[i].base;

		rings[i].data = (const uint8_t *)rings[i].base + page;
		rings[i].head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
		rings[i].tail = meta->data_tail;
		rings[i].pending = ring_peek(&rings[i]);
	}
	for (;;) {
		struct proc_watch_ring *r = NULL;
		size_t off;

		for (int i = 0; i < n; i++)
			if (rings[i].pending && (!r || rings[i].next_ts < r->next_ts))
				r = &rings[i];
		if (!r)
			break;
		off = r->tail % r->data_size;
		if (off + r->next_size <= r->data_size) {
			proc_watch_parse_record(r->data + off, r->next_size, ops, lost);
		} else if (r->next_size <= sizeof(copy)) {
			ring_copy(r, r->tail, copy, r->next_size);
			proc_watch_parse_record(copy, r->next_size, ops, lost);
		}
		r->tail += r->next_size;
		handled++;
		r->pending = ring_peek(r);
	}
	for (int i = 0; i < n; i++) {
		struct perf_event_mmap_page *meta = rings[i].base;

		__atomic_store_n(&meta->data_tail, rings[i].head, __ATOMIC_RELEASE);
	}
	return handled;
}

int proc_watch_drain(struct proc_watch *w)
{
	return proc_watch_drain_rings(w->rings, w->nstreams, &w->ops, &w->lost);
}

uint64_t proc_watch_lost(const struct proc_watch *w)
{
	return w->lost;
}
