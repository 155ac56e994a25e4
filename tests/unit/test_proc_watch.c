// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Decoding of perf side-band records (MMAP2, FORK, EXIT, COMM, LOST). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "proc_watch.h"

struct seen {
	int mapped, forked, execed, exited;
	char order[16]; /* 'f'ork, 'e'xec, e'x'it, in the order handled */
	uint64_t exec_ts;
	char path[256];
	pid_t pid, parent;
	uint64_t ino, ts;
};

static void on_mapped(const struct proc_mapping *m, void *ctx)
{
	struct seen *s = ctx;

	s->mapped++;
	snprintf(s->path, sizeof(s->path), "%s", m->path);
	s->pid = m->pid;
	s->ino = m->ino;
	s->ts = m->ts_ns;
}

static void on_forked(pid_t parent, pid_t child, void *ctx)
{
	struct seen *s = ctx;

	s->forked++;
	s->order[strlen(s->order) % (sizeof(s->order) - 1)] = 'f';
	s->parent = parent;
	s->pid = child;
}

static void on_execed(pid_t pid, uint64_t ts_ns, void *ctx)
{
	struct seen *s = ctx;

	s->execed++;
	s->exec_ts = ts_ns;
	s->order[strlen(s->order) % (sizeof(s->order) - 1)] = 'e';
}

static void on_exited(pid_t pid, void *ctx)
{
	struct seen *s = ctx;

	s->exited++;
	s->order[strlen(s->order) % (sizeof(s->order) - 1)] = 'x';
}

static struct proc_watch_ops ops_for(struct seen *s)
{
	return (struct proc_watch_ops){on_mapped, on_forked, on_execed, on_exited, s};
}

/* An MMAP2 record as the kernel writes it: name NUL-padded to 8, then time. */
static size_t make_mmap2(uint8_t *buf, const char *name, uint64_t ino, uint64_t ts)
{
	struct perf_event_header h = {.type = PERF_RECORD_MMAP2};
	uint32_t ids[2] = {42, 43};
	uint64_t addr[3] = {0x7f0000000000, 0x1000, 0};
	uint32_t dev[2] = {8, 1};
	uint64_t inode[2] = {ino, 0};
	uint32_t prot[2] = {5, 2};
	size_t off = sizeof(h), n = strlen(name) + 1, padded = (n + 7) & ~(size_t)7;

	memcpy(buf + off, ids, 8), off += 8;
	memcpy(buf + off, addr, 24), off += 24;
	memcpy(buf + off, dev, 8), off += 8;
	memcpy(buf + off, inode, 16), off += 16;
	memcpy(buf + off, prot, 8), off += 8;
	memset(buf + off, 0, padded);
	memcpy(buf + off, name, n - 1), off += padded;
	memcpy(buf + off, &ts, 8), off += 8;
	h.size = off;
	memcpy(buf, &h, sizeof(h));
	return off;
}

static void test_mmap2(void **state)
{
	uint8_t buf[512];
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);
	size_t n = make_mmap2(buf, "/usr/lib/x86_64-linux-gnu/libssl.so.3", 1234, 987654321);

	assert_int_equal(proc_watch_parse_record(buf, n, &ops, NULL), 0);
	assert_int_equal(s.mapped, 1);
	assert_string_equal(s.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_int_equal(s.pid, 42);
	assert_int_equal(s.ino, 1234);
	assert_int_equal(s.ts, 987654321);
	/* Names of every length around the padding boundary. */
	for (int len = 1; len < 40; len++) {
		char name[64] = "/";

		memset(name + 1, 'a', len);
		name[len + 1] = '\0';
		n = make_mmap2(buf, name, 1, 555);
		assert_int_equal(proc_watch_parse_record(buf, n, &ops, NULL), 0);
		assert_string_equal(s.path, name);
		assert_int_equal(s.ts, 555);
	}
}

static void test_anonymous_and_short(void **state)
{
	uint8_t buf[512];
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);
	size_t n = make_mmap2(buf, "[vdso]", 1, 1);

	assert_int_equal(proc_watch_parse_record(buf, n, &ops, NULL), 0);
	assert_int_equal(s.mapped, 0);
	/* A size that lies: longer than the buffer, or too short for the type. */
	assert_int_equal(proc_watch_parse_record(buf, n - 1, &ops, NULL), -22);
	((struct perf_event_header *)buf)->size = 20;
	assert_int_equal(proc_watch_parse_record(buf, 20, &ops, NULL), -22);
	assert_int_equal(proc_watch_parse_record(buf, 4, &ops, NULL), -22);
}

static void test_task_records(void **state)
{
	struct {
		struct perf_event_header h;
		uint32_t pid, ppid, tid, ptid;
		uint64_t time;
	} r = {{PERF_RECORD_FORK, 0, sizeof(r)}, 100, 50, 100, 50, 0};
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);

	assert_int_equal(proc_watch_parse_record(&r, sizeof(r), &ops, NULL), 0);
	assert_int_equal(s.forked, 1);
	assert_int_equal(s.parent, 50);
	assert_int_equal(s.pid, 100);
	/* A new thread is no new process. */
	r.pid = 50, r.tid = 101;
	assert_int_equal(proc_watch_parse_record(&r, sizeof(r), &ops, NULL), 0);
	assert_int_equal(s.forked, 1);
	r.h.type = PERF_RECORD_EXIT;
	r.pid = r.tid = 100;
	assert_int_equal(proc_watch_parse_record(&r, sizeof(r), &ops, NULL), 0);
	assert_int_equal(s.exited, 1);
}

static void test_comm_exec_and_lost(void **state)
{
	struct {
		struct perf_event_header h;
		uint32_t pid, tid;
		char comm[16];
	} c = {{PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, sizeof(c)}, 7, 7, "curl"};
	struct {
		struct perf_event_header h;
		uint64_t id, lost;
	} l = {{PERF_RECORD_LOST, 0, sizeof(l)}, 1, 17};
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);
	uint64_t lost = 0;

	assert_int_equal(proc_watch_parse_record(&c, sizeof(c), &ops, NULL), 0);
	assert_int_equal(s.execed, 1);
	c.h.misc = 0; /* prctl(PR_SET_NAME): not an exec */
	assert_int_equal(proc_watch_parse_record(&c, sizeof(c), &ops, NULL), 0);
	assert_int_equal(s.execed, 1);
	assert_int_equal(proc_watch_parse_record(&l, sizeof(l), &ops, &lost), 0);
	assert_int_equal(lost, 17);
}

/* sample_id_all: the exec's time is the record's last 8 bytes, after the
 * NUL-padded name (the daemon orders it against mapping records). */
static void test_comm_exec_time(void **state)
{
	struct {
		struct perf_event_header h;
		uint32_t pid, tid;
		char comm[8];
		uint64_t time;
	} c = {{PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, sizeof(c)}, 7, 7, "curl", 123456789};
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);

	assert_int_equal(proc_watch_parse_record(&c, sizeof(c), &ops, NULL), 0);
	assert_int_equal(s.execed, 1);
	assert_int_equal(s.exec_ts, 123456789);
}

/* A ring of data_size bytes after a metadata page, as the kernel maps it,
 * starting at position start (its tail). */
struct test_ring {
	struct proc_watch_ring r;
	uint64_t pos;
};

static void ring_init(struct test_ring *t, size_t data_size, uint64_t start)
{
	long page = sysconf(_SC_PAGESIZE);

	t->r =
	    (struct proc_watch_ring){.base = calloc(1, page + data_size), .data_size = data_size};
	assert_non_null(t->r.base);
	((struct perf_event_mmap_page *)t->r.base)->data_tail = start;
	((struct perf_event_mmap_page *)t->r.base)->data_head = start;
	t->pos = start;
}

/* Append a record (wrapping around the end as the kernel does). */
static void ring_put(struct test_ring *t, const void *rec, size_t n)
{
	uint8_t *data = (uint8_t *)t->r.base + sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < n; i++)
		data[(t->pos + i) % t->r.data_size] = ((const uint8_t *)rec)[i];
	t->pos += n;
	((struct perf_event_mmap_page *)t->r.base)->data_head = t->pos;
}

struct task_rec {
	struct perf_event_header h;
	uint32_t pid, ppid, tid, ptid;
	uint64_t time, trailer_time;
};

struct exec_rec {
	struct perf_event_header h;
	uint32_t pid, tid;
	char comm[8];
	uint64_t trailer_time;
};

static void put_task(struct test_ring *t, uint32_t type, uint32_t pid, uint32_t ppid, uint64_t ts)
{
	struct task_rec r = {{type, 0, sizeof(r)}, pid, ppid, pid, ppid, ts, ts};

	ring_put(t, &r, sizeof(r));
}

static void put_exec(struct test_ring *t, uint32_t pid, uint64_t ts)
{
	struct exec_rec r = {
	    {PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, sizeof(r)}, pid, pid, "sh", ts};

	ring_put(t, &r, sizeof(r));
}

/*
 * A child's fork record is written on its parent's CPU, its exec on its
 * own: drained ring by ring, CPU 0's exec came before CPU 1's fork, and the
 * daemon handed the new image its parent's libssl. Merged by time, the
 * fork comes first, also when a record wraps around a ring's end.
 */
static void test_drain_in_time_order(void **state)
{
	struct test_ring cpu[2];
	struct proc_watch_ring rings[2];
	struct seen s = {0};
	struct proc_watch_ops ops = ops_for(&s);

	ring_init(&cpu[0], 256, 256 - 20); /* the exec record wraps */
	ring_init(&cpu[1], 256, 0);
	put_exec(&cpu[0], 100, 2000); /* the child's exec */
	put_task(&cpu[0], PERF_RECORD_EXIT, 100, 50, 4000);
	put_task(&cpu[1], PERF_RECORD_FORK, 100, 50, 1000); /* its fork */
	put_task(&cpu[1], PERF_RECORD_FORK, 101, 50, 3000); /* another */
	rings[0] = cpu[0].r;
	rings[1] = cpu[1].r;
	assert_int_equal(proc_watch_drain_rings(rings, 2, &ops, NULL), 4);
	assert_string_equal(s.order, "fefx");
	assert_int_equal(s.exec_ts, 2000);
	assert_int_equal(s.pid, 101);
	/* Each ring is consumed up to the head it saw; a second drain finds
	 * nothing. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(((struct perf_event_mmap_page *)rings[i].base)->data_tail,
				 cpu[i].pos);
	assert_int_equal(proc_watch_drain_rings(rings, 2, &ops, NULL), 0);
	/* A corrupt ring (a size past the head) is skipped to its head, the
	 * other still read. */
	struct perf_event_header bad = {PERF_RECORD_EXIT, 0, 200};

	ring_put(&cpu[0], &bad, sizeof(bad));
	put_task(&cpu[1], PERF_RECORD_EXIT, 101, 50, 5000);
	assert_int_equal(proc_watch_drain_rings(rings, 2, &ops, NULL), 1);
	assert_string_equal(s.order, "fefxx");
	assert_int_equal(((struct perf_event_mmap_page *)rings[0].base)->data_tail, cpu[0].pos);
	free(cpu[0].r.base);
	free(cpu[1].r.base);
}

/* The kernel refusing perf_event_open with err, as an odd kernel (EINVAL)
 * or a missing capability (EACCES) would: a seccomp filter, in a child. */
static int refuse_perf_event_open(int err)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_perf_event_open, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno : 0;
}

/* Exit status of a child that opens the streams, with perf_event_open
 * refused with err (0: not refused): 0 when proc_watch_new did what it
 * should (succeed, or fail with err), 1 when it did not, 2 setup. */
static int open_in_child(int err)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct proc_watch_ops ops = {0};
		struct proc_watch *w;

		if (err && refuse_perf_event_open(err))
			_exit(2);
		w = proc_watch_new(&ops);
		if (!err)
			_exit(w ? 0 : 1);
		_exit(!w && errno == err ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A stream the kernel refuses is an error, never a watch over no CPU. */
static void test_stream_refused(void **state)
{
	if (geteuid() != 0)
		skip(); /* perf_event_open on all CPUs needs CAP_PERFMON */
	assert_int_equal(open_in_child(0), 0);
	assert_int_equal(open_in_child(EINVAL), 0);
	assert_int_equal(open_in_child(ENODEV), 0);
	assert_int_equal(open_in_child(EACCES), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mmap2),	   cmocka_unit_test(test_anonymous_and_short),
	    cmocka_unit_test(test_task_records),   cmocka_unit_test(test_comm_exec_and_lost),
	    cmocka_unit_test(test_comm_exec_time), cmocka_unit_test(test_drain_in_time_order),
	    cmocka_unit_test(test_stream_refused),
	};
	return cmocka_run_group_tests_name("proc_watch", tests, NULL, NULL);
}
