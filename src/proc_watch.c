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

struct stream {
	int fd;
	void *base; /* metadata page, then the data pages */
	size_t data_size;
};

struct proc_watch {
	struct proc_watch_ops ops;
	struct stream *streams;
	int nstreams;
	uint64_t lost;
};

static int open_stream(int cpu, struct stream *s)
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

	s->fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	s->data_size = (size_t)page * DATA_PAGES;
	s->base = mmap(NULL, page + s->data_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->base == MAP_FAILED) {
		int err = -errno;

		close(s->fd);
		s->fd = -1;
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
	w->streams = calloc(ncpu, sizeof(*w->streams));
	online = calloc(ncpu, sizeof(*online));
	if (!w->streams || !online) {
		err = -ENOMEM;
		goto fail;
	}
	if (read_cpu_list("/sys/devices/system/cpu/online", online, ncpu))
		memset(online, true, ncpu * sizeof(*online)); /* try them all */
	for (int cpu = 0; cpu < ncpu; cpu++) {
		if (!online[cpu])
			continue;
		err = open_stream(cpu, &w->streams[w->nstreams]);
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
		munmap(w->streams[i].base, page + w->streams[i].data_size);
		close(w->streams[i].fd);
	}
	free(w->streams);
	free(w);
}

int proc_watch_add_to_epoll(struct proc_watch *w, int epfd)
{
	for (int i = 0; i < w->nstreams; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->streams[i].fd};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->streams[i].fd, &ev) < 0)
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

/* Consume one CPU's ring. A record may wrap around the end: copy it out. */
static int drain_stream(struct proc_watch *w, struct stream *s)
{
	struct perf_event_mmap_page *meta = s->base;
	uint8_t *data = (uint8_t *)s->base + sysconf(_SC_PAGESIZE);
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail;
	uint8_t copy[8192];
	int handled = 0;

	while (tail < head) {
		size_t off = tail % s->data_size;
		struct perf_event_header h;
		const void *rec;

		if (off + sizeof(h) <= s->data_size) {
			memcpy(&h, data + off, sizeof(h));
		} else {
			size_t first = s->data_size - off;

			memcpy(&h, data + off, first);
			memcpy((uint8_t *)&h + first, data, sizeof(h) - first);
		}
		if (h.size < sizeof(h) || h.size > head - tail)
			break; /* corrupt: resynchronise at head */
		if (off + h.size <= s->data_size) {
			rec = data + off;
		} else if (h.size <= sizeof(copy)) {
			size_t first = s->data_size - off;

			memcpy(copy, data + off, first);
			memcpy(copy + first, data, h.size - first);
			rec = copy;
		} else {
			rec = NULL;
		}
		if (rec)
			proc_watch_parse_record(rec, h.size, &w->ops, &w->lost);
		tail += h.size;
		handled++;
	}
	__atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
	return handled;
}

int proc_watch_drain(struct proc_watch *w)
{
	int handled = 0;

	for (int i = 0; i < w->nstreams; i++)
		handled += drain_stream(w, &w->streams[i]);
	return handled;
}

uint64_t proc_watch_lost(const struct proc_watch *w)
{
	return w->lost;
}
