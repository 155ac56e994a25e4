// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_analysis.h"
#include "log.h"

static struct {
	struct workq q;
	struct workq_done done;
	struct analysis *pending; /* submitted, not collected: the event loop's */
	size_t npending;
} an = {
    .q = WORKQ_INIT(an.q),
    .done = WORKQ_DONE_INIT,
};

static void run(struct work *w)
{
	struct analysis *a = (struct analysis *)w;
	uint64_t t0 = monotonic_ns();

	a->err = tls_classify(a->fd, a->path, false, &a->verdict);
	a->took_ns = monotonic_ns() - t0;
	workq_done_push(&an.done, &a->work);
}

int analysis_start(int threads)
{
	int err = workq_done_init(&an.done);

	if (err)
		return err;
	an.q.default_priority = true;
	if (threads > 0 && workq_start(&an.q, threads, 256 * 1024) == 0)
		return -EAGAIN;
	return 0;
}

int analysis_eventfd(void)
{
	return an.done.efd;
}

static struct analysis *find_pending(const struct file_id *id)
{
	for (struct analysis *a = an.pending; a; a = a->next) {
		if (file_id_equal(&a->id, id))
			return a;
	}
	return NULL;
}

static bool add_waiter(struct analysis *a, const struct analysis_waiter *w)
{
	for (size_t i = 0; i < a->nwaiters; i++) {
		if (a->waiters[i].pid == w->pid && a->waiters[i].image == w->image)
			return true;
	}
	if (a->nwaiters == ANALYSIS_WAITERS_MAX)
		return false;
	a->waiters[a->nwaiters++] = *w;
	return true;
}

bool analysis_is_pending(const struct file_id *id)
{
	return find_pending(id) != NULL;
}

bool analysis_wait(const struct file_id *id, const struct analysis_waiter *w, bool *dropped)
{
	struct analysis *a = find_pending(id);

	*dropped = false;
	if (!a)
		return false;
	*dropped = !add_waiter(a, w);
	return true;
}

int analysis_submit(const struct file_id *id, int fd, const char *path,
		    const struct analysis_waiter *w, bool small)
{
	struct analysis *a = calloc(1, sizeof(*a));

	if (!a || !(a->path = strdup(path))) {
		free(a);
		close(fd);
		return -ENOMEM;
	}
	a->id = *id;
	a->fd = fd;
	if (w)
		add_waiter(a, w);
	a->next = an.pending;
	an.pending = a;
	an.npending++;
	a->work.fn = run;
	if (small)
		workq_submit_first(&an.q, &a->work);
	else
		workq_submit(&an.q, &a->work);
	return 0;
}

void analysis_fork(pid_t parent, pid_t child, uint64_t child_image)
{
	for (struct analysis *a = an.pending; a; a = a->next) {
		for (size_t i = 0; i < a->nwaiters; i++) {
			if (a->waiters[i].pid == parent) {
				struct analysis_waiter w = a->waiters[i];

				w.pid = child;
				w.image = child_image;
				add_waiter(a, &w);
				break;
			}
		}
	}
}

static void unlink_pending(struct analysis *a)
{
	struct analysis **pp = &an.pending;

	while (*pp && *pp != a)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = a->next;
		an.npending--;
	}
}

struct analysis *analysis_done(void)
{
	struct analysis *list = (struct analysis *)workq_done_take(&an.done), *a;

	/* Relink through ->next, off the pending list. */
	for (a = list; a; a = (struct analysis *)a->work.next) {
		unlink_pending(a);
		a->next = (struct analysis *)a->work.next;
	}
	return list;
}

void analysis_free(struct analysis *a)
{
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a);
}

void analysis_drain(void)
{
	workq_drain(&an.q);
}

size_t analysis_pending(void)
{
	return an.npending;
}
