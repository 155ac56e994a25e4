// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include "proc_table.h"

#define PROC_BUCKETS 16384

struct proc_table {
	struct tls_proc *buckets[PROC_BUCKETS];
	unsigned count;
	uint64_t dropped;
	uint64_t generations;
};

static unsigned bucket(pid_t pid)
{
	return (unsigned)pid % PROC_BUCKETS;
}

struct proc_table *proc_table_new(void)
{
	return calloc(1, sizeof(struct proc_table));
}

void proc_table_free(struct proc_table *t)
{
	if (!t)
		return;
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		while (t->buckets[b]) {
			struct tls_proc *p = t->buckets[b];

			t->buckets[b] = p->next;
			free(p);
		}
	}
	free(t);
}

struct tls_proc *proc_table_find(struct proc_table *t, pid_t pid)
{
	for (struct tls_proc *p = t->buckets[bucket(pid)]; p; p = p->next) {
		if (p->pid == pid)
			return p;
	}
	return NULL;
}

struct tls_proc *proc_table_get(struct proc_table *t, pid_t pid)
{
	struct tls_proc *p = proc_table_find(t, pid);

	if (p)
		return p;
	if (t->count >= PROC_TABLE_MAX) {
		t->dropped++;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->generation = ++t->generations;
	p->next = t->buckets[bucket(pid)];
	t->buckets[bucket(pid)] = p;
	t->count++;
	return p;
}

void proc_table_remove(struct proc_table *t, struct tls_proc *p)
{
	struct tls_proc **pp = &t->buckets[bucket(p->pid)];

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = p->next;
	t->count--;
	free(p);
}

void proc_table_each(struct proc_table *t, void (*fn)(struct tls_proc *p, void *ctx), void *ctx)
{
	for (unsigned b = 0; b < PROC_BUCKETS; b++) {
		struct tls_proc *p = t->buckets[b];

		while (p) {
			struct tls_proc *next = p->next;

			fn(p, ctx);
			p = next;
		}
	}
}

unsigned proc_table_count(const struct proc_table *t)
{
	return t->count;
}

uint64_t proc_table_dropped(const struct proc_table *t)
{
	return t->dropped;
}

uint64_t proc_table_next_generation(struct proc_table *t)
{
	return ++t->generations;
}
