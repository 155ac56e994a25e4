// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "attach.h"
#include "kernel_check.h"
#include "log.h"
#include "uprobe_warm.h"
#include "workq.h"

/*
 * The semaphore stays warm for about one grace period after the last writer.
 * On a quiet host that is ~10-20 ms (measured: a registration 10 ms after
 * the last write found it warm 11 times in 12, 20 ms after it 0 times in
 * 12), so no write rate a daemon can afford keeps it warm on an idle host
 * (each write costs ~0.15 ms of CPU here, ~0.2 ms more in the kernel's RCU
 * threads). It is kept warm where it pays: after process starts, when the
 * next client is likely. While processes are starting (an exec storm, a
 * script's loop) grace periods end much sooner: at one write per 20 ms a
 * third of the attaches in an exec storm found it cold again (p90 9.5 ms,
 * max 19.5 ms, measured); at one per 2 ms none did (max 115 us). So it is
 * one write per 2 ms for a second after each process start
 * (uprobe_warm_busy), and one per 20 ms until uprobe_warm_until.
 *
 * Where every grace period is expedited (/sys/kernel/rcu_expedited = 1,
 * rcu_normal = 0: some distributions and VMs boot so) a cold registration
 * waits ~0.3 ms, not 7-25 ms: no write is made then (re-checked once a
 * second while warming is asked for).
 */
#define ROUND_NS      (20ull * 1000000)
#define BUSY_ROUND_NS (2ull * 1000000)
#define BUSY_NS	      (1000ull * 1000000)
#define RECHECK_NS    (1000ull * 1000000)

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct tls_trace *skel;
	int fd;
	uint64_t until_ns;
	_Atomic uint64_t busy_until_ns;
	bool stopping, started;
	pthread_t thread;
	_Atomic uint64_t rounds;
} warm = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/* Are all of the kernel's grace periods expedited? Then a cold
 * registration is fast and warming costs for nothing. */
static bool rcu_all_expedited(void)
{
	char e = '0', n = '0';
	FILE *f = fopen("/sys/kernel/rcu_expedited", "re");

	if (f) {
		e = (char)fgetc(f);
		fclose(f);
	}
	f = fopen("/sys/kernel/rcu_normal", "re");
	if (f) {
		n = (char)fgetc(f);
		fclose(f);
	}
	return e == '1' && n != '1';
}

/* Sleep until monotonic time ns, or until woken (warm.lock held). */
static void wait_until(uint64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull};

	pthread_cond_timedwait(&warm.wake, &warm.lock, &ts);
}

/*
 * One write per round, alternately: register the placeholder, then (next
 * round) hand it to the reaper, whose removal is the write (its own
 * grace-period waits happen there, off this thread). Half the work of
 * registering and removing in every round, for the same write rate.
 */
static void *warm_main(void *arg)
{
	struct probe_set held = {0};
	bool failed = false, expedited = false;
	uint64_t checked = 0;

	thread_default_priority();
	pthread_mutex_lock(&warm.lock);
	while (!warm.stopping) {
		uint64_t now = monotonic_ns();
		bool busy = now < atomic_load_explicit(&warm.busy_until_ns, memory_order_relaxed);

		if (!busy && now >= warm.until_ns && held.nlinks == 0) {
			pthread_cond_wait(&warm.wake, &warm.lock);
			continue;
		}
		if (now >= checked + RECHECK_NS) {
			expedited = rcu_all_expedited();
			checked = now;
		}
		if (expedited && held.nlinks == 0) {
			wait_until(now + RECHECK_NS);
			continue;
		}
		pthread_mutex_unlock(&warm.lock);
		if (held.nlinks > 0) {
			probe_set_detach_async(&held);
		} else {
			int err = attach_placeholder_probe(warm.skel, warm.fd, 0, getpid(), &held);

			if (err && !failed)
				log_warn("cannot keep uprobe registration fast: %s",
					 strerror(-err));
			failed |= err != 0;
			if (!err)
				atomic_fetch_add(&warm.rounds, 1);
		}
		pthread_mutex_lock(&warm.lock);
		if (!warm.stopping)
			wait_until(now + (busy ? BUSY_ROUND_NS : ROUND_NS));
	}
	pthread_mutex_unlock(&warm.lock);
	probe_set_detach_async(&held);
	return NULL;
}

int uprobe_warm_start(struct tls_trace *skel)
{
	static const unsigned char nops[64] = {[0 ... 63] = 0x90};
	pthread_condattr_t cattr;
	pthread_attr_t attr;
	int fd, err;

	/* Perf-event uprobes (before 6.6) cannot be kept warm this way: say so
	 * once instead of waking up every round to fail. */
	if (!attach_has_uprobe_multi())
		return -ENOTSUP;
	/* A private, never-mapped file: the placeholder probe lands nowhere. */
	fd = memfd_create("metrist-uprobe-warm", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, nops, sizeof(nops)) != (ssize_t)sizeof(nops)) {
		close(fd);
		return -EIO;
	}
	warm.fd = fd;
	warm.skel = skel;
	/* Rounds are timed on the monotonic clock, like the deadlines. */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_destroy(&warm.wake);
	pthread_cond_init(&warm.wake, &cattr);
	pthread_condattr_destroy(&cattr);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	err = pthread_create(&warm.thread, &attr, warm_main, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		close(fd);
		return -err;
	}
	warm.started = true;
	return 0;
}

void uprobe_warm_until(uint64_t until_ns)
{
	pthread_mutex_lock(&warm.lock);
	if (until_ns > warm.until_ns) {
		bool was_idle = monotonic_ns() >= warm.until_ns;

		warm.until_ns = until_ns;
		if (was_idle)
			pthread_cond_signal(&warm.wake);
	}
	pthread_mutex_unlock(&warm.lock);
}

void uprobe_warm_busy(uint64_t now_ns)
{
	uint64_t until = now_ns + BUSY_NS;
	uint64_t was = atomic_load_explicit(&warm.busy_until_ns, memory_order_relaxed);

	/* Called for every exec: store only when it moves on by a round's worth,
	 * and take the lock only when the fast rounds begin. */
	if (until < was + BUSY_ROUND_NS)
		return;
	atomic_store_explicit(&warm.busy_until_ns, until, memory_order_relaxed);
	if (was <= now_ns) { /* was slow or idle: start the fast rounds now */
		pthread_mutex_lock(&warm.lock);
		pthread_cond_signal(&warm.wake);
		pthread_mutex_unlock(&warm.lock);
	}
}

void uprobe_warm_stop(void)
{
	if (!warm.started)
		return;
	pthread_mutex_lock(&warm.lock);
	warm.stopping = true;
	pthread_cond_signal(&warm.wake);
	pthread_mutex_unlock(&warm.lock);
	pthread_join(warm.thread, NULL);
	warm.started = false;
}

uint64_t uprobe_warm_rounds(void)
{
	return atomic_load(&warm.rounds);
}
