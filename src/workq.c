// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>
#include "workq.h"

/* Append w to a head/tail list (a queue, or a done list). */
static void list_append(struct work **head, struct work **tail, struct work *w)
{
	w->next = NULL;
	if (*tail)
		(*tail)->next = w;
	else
		*head = w;
	*tail = w;
}

void thread_default_priority(void)
{
	/* Linux: PRIO_PROCESS with 0 is the calling thread. */
	setpriority(PRIO_PROCESS, 0, 0);
}

static void *worker(void *arg)
{
	struct workq *q = arg;

	if (q->default_priority)
		thread_default_priority();
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct work *w;

		while (!q->head)
			pthread_cond_wait(&q->more, &q->lock);
		w = q->head;
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
		q->running++;
		pthread_mutex_unlock(&q->lock);
		w->fn(w);
		pthread_mutex_lock(&q->lock);
		q->running--;
		if (!q->head && !q->running)
			pthread_cond_broadcast(&q->idle);
	}
	return NULL;
}

int workq_start(struct workq *q, int n, size_t stack)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, worker, q) == 0) {
			pthread_mutex_lock(&q->lock);
			q->threads++;
			pthread_mutex_unlock(&q->lock);
		}
	}
	pthread_attr_destroy(&attr);
	return q->threads;
}

static void submit(struct workq *q, struct work *w, bool first)
{
	pthread_mutex_lock(&q->lock);
	if (q->threads == 0) {
		pthread_mutex_unlock(&q->lock);
		w->fn(w);
		return;
	}
	if (first) {
		w->next = q->head;
		q->head = w;
		if (!q->tail)
			q->tail = w;
	} else {
		list_append(&q->head, &q->tail, w);
	}
	q->queued++;
	/* One worker per item: waking them all costs more than the work. */
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
}

void workq_submit(struct workq *q, struct work *w)
{
	submit(q, w, false);
}

void workq_submit_first(struct workq *q, struct work *w)
{
	submit(q, w, true);
}

unsigned workq_backlog(struct workq *q)
{
	unsigned n;

	pthread_mutex_lock(&q->lock);
	n = q->queued;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void workq_drain(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->head || q->running)
		pthread_cond_wait(&q->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

int workq_done_init(struct workq_done *d)
{
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return d->efd < 0 ? -errno : 0;
}

void workq_done_push(struct workq_done *d, struct work *w)
{
	uint64_t one = 1;

	pthread_mutex_lock(&d->lock);
	list_append(&d->head, &d->tail, w);
	pthread_mutex_unlock(&d->lock);
	if (d->efd >= 0 && write(d->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the reader is woken anyway */
	}
}

struct work *workq_done_take(struct workq_done *d)
{
	struct work *list;
	uint64_t n;

	if (d->efd >= 0 && read(d->efd, &n, sizeof(n)) < 0) {
		/* nothing signalled: items pushed from the loop itself are listed too */
	}
	pthread_mutex_lock(&d->lock);
	list = d->head;
	d->head = d->tail = NULL;
	pthread_mutex_unlock(&d->lock);
	return list;
}
