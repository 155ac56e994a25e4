// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_registry.h"

#define TLS_BUCKETS 256
/* Slots looked at for one identity in the plain-file cache. */
#define PLAIN_WAYS 8

struct plain_slot {
	struct file_id id; /* ino 0: empty */
	uint64_t seen_ns;
};

struct file_registry {
	struct tls_file *buckets[TLS_BUCKETS];
	unsigned ntls;
	struct plain_slot plain[NOT_TLS_CACHE];
	struct file_registry_stats stats;
};

static uint64_t id_hash(const struct file_id *id)
{
	uint64_t x = id->ino * 0x9e3779b97f4a7c15ull ^ ((uint64_t)id->maj << 20 | id->min);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

struct file_registry *file_registry_new(void)
{
	return calloc(1, sizeof(struct file_registry));
}

static void entry_free(struct tls_file *f)
{
	probe_set_detach_async(&f->markers);
	probe_set_detach_async(&f->data_all);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

void file_registry_free(struct file_registry *r)
{
	if (!r)
		return;
	for (unsigned b = 0; b < TLS_BUCKETS; b++) {
		while (r->buckets[b]) {
			struct tls_file *f = r->buckets[b];

			r->buckets[b] = f->next;
			entry_free(f);
		}
	}
	free(r);
}

struct tls_file *file_registry_find(struct file_registry *r, const struct file_id *id)
{
	for (struct tls_file *f = r->buckets[id_hash(id) % TLS_BUCKETS]; f; f = f->next) {
		if (file_id_equal(&f->id, id))
			return f;
	}
	return NULL;
}

struct tls_file *file_registry_add(struct file_registry *r, const struct file_id *id, int fd,
				   const char *path, const struct tls_file_syms *syms)
{
	unsigned b = id_hash(id) % TLS_BUCKETS;
	struct tls_file *f;

	if (r->ntls >= TLS_FILES_MAX) {
		r->stats.full++;
		close(fd);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path ? path : "?"))) {
		free(f);
		close(fd);
		return NULL;
	}
	f->id = *id;
	f->fd = fd;
	f->syms = *syms;
	f->next = r->buckets[b];
	r->buckets[b] = f;
	r->ntls++;
	r->stats.tls_seen++;
	return f;
}

void file_ref(struct tls_file *f)
{
	f->refs++;
	f->idle_since_ns = 0;
}

void file_unref(struct tls_file *f, uint64_t now_ns)
{
	if (f->refs == 0 || --f->refs > 0)
		return;
	f->idle_since_ns = now_ns ? now_ns : 1;
}

unsigned file_registry_expire(struct file_registry *r, uint64_t now_ns, uint64_t linger_ns)
{
	unsigned freed = 0;

	for (unsigned b = 0; b < TLS_BUCKETS; b++) {
		struct tls_file **pp = &r->buckets[b];

		while (*pp) {
			struct tls_file *f = *pp;

			if (f->refs > 0 || !f->idle_since_ns || now_ns < f->idle_since_ns ||
			    now_ns - f->idle_since_ns < linger_ns) {
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			entry_free(f);
			r->ntls--;
			r->stats.expired++;
			freed++;
		}
	}
	return freed;
}

bool file_registry_known_plain(struct file_registry *r, const struct file_id *id, uint64_t now_ns)
{
	uint64_t h = id_hash(id);

	for (unsigned i = 0; i < PLAIN_WAYS; i++) {
		struct plain_slot *s = &r->plain[(h + i) & (NOT_TLS_CACHE - 1)];

		if (s->id.ino && file_id_equal(&s->id, id)) {
			s->seen_ns = now_ns;
			return true;
		}
	}
	return false;
}

void file_registry_note_plain(struct file_registry *r, const struct file_id *id, uint64_t now_ns)
{
	uint64_t h = id_hash(id);
	struct plain_slot *victim = NULL;

	for (unsigned i = 0; i < PLAIN_WAYS; i++) {
		struct plain_slot *s = &r->plain[(h + i) & (NOT_TLS_CACHE - 1)];

		if (!s->id.ino || file_id_equal(&s->id, id)) {
			victim = s;
			break;
		}
		if (!victim || s->seen_ns < victim->seen_ns)
			victim = s;
	}
	if (victim->id.ino && !file_id_equal(&victim->id, id))
		r->stats.plain_evicted++;
	victim->id = *id;
	victim->seen_ns = now_ns;
}

void file_registry_each(struct file_registry *r, void (*fn)(struct tls_file *f, void *ctx),
			void *ctx)
{
	for (unsigned b = 0; b < TLS_BUCKETS; b++) {
		for (struct tls_file *f = r->buckets[b]; f; f = f->next)
			fn(f, ctx);
	}
}

struct file_registry_stats file_registry_stats(const struct file_registry *r)
{
	struct file_registry_stats s = r->stats;

	s.tls_files = r->ntls;
	s.referenced = 0;
	for (unsigned b = 0; b < TLS_BUCKETS; b++) {
		for (const struct tls_file *f = r->buckets[b]; f; f = f->next)
			s.referenced += f->refs > 0;
	}
	return s;
}
