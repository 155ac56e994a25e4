// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "predict_roots.h"

struct slot {
	bool in_use;
	struct predict_root root;
};

struct predict_roots {
	char *cache_path;
	struct slot slots[PREDICT_ROOTS_MAX];
	uint64_t tick; /* LRU clock: one per lookup */
	struct predict_roots_stats stats;
};

struct predict_roots *predict_roots_new(const char *cache_path)
{
	struct predict_roots *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cache_path = strdup(cache_path ? cache_path : LDCACHE_PATH);
	if (!r->cache_path) {
		free(r);
		return NULL;
	}
	return r;
}

/* Forget a root's cache (the entry stays). */
static void drop_cache(struct predict_roots *r, struct predict_root *e)
{
	for (size_t i = 0; e->memo && i < e->cache.n; i++)
		free(e->memo[i].tls_path);
	free(e->memo);
	e->memo = NULL;
	ldcache_list_free(&e->cache);
	r->stats.bytes -= e->cache_bytes;
	e->cache_bytes = 0;
}

static void evict(struct predict_roots *r, struct slot *s)
{
	drop_cache(r, &s->root);
	memset(s, 0, sizeof(*s));
	r->stats.roots--;
	r->stats.evicted++;
}

void predict_roots_free(struct predict_roots *r)
{
	if (!r)
		return;
	for (int i = 0; i < PREDICT_ROOTS_MAX; i++) {
		if (r->slots[i].in_use)
			drop_cache(r, &r->slots[i].root);
	}
	free(r->cache_path);
	free(r);
}

/* Opens the directory root_path as a root and keys it by its device, inode
 * and the mount namespace at mntns_path (0 where that cannot be read). */
static int root_open_keyed(const char *root_path, const char *mntns_path, struct root_key *key)
{
	struct stat st;
	int fd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return err;
	}
	key->dev = st.st_dev;
	key->ino = st.st_ino;
	key->mntns = stat(mntns_path, &st) ? 0 : st.st_ino;
	return fd;
}

int predict_root_open(const char *proc_root, pid_t pid, struct root_key *key)
{
	char root[PATH_MAX], mntns[PATH_MAX];

	/* A magic link, followed on purpose: it is the process's root as the
	 * kernel resolves it for that process (its mount namespace's view). */
	snprintf(root, sizeof(root), "%s/%d/root", proc_root, pid);
	snprintf(mntns, sizeof(mntns), "%s/%d/ns/mnt", proc_root, pid);
	return root_open_keyed(root, mntns, key);
}

int predict_host_root_open(const char *proc_root, struct root_key *key)
{
	char mntns[PATH_MAX];
	int fd = predict_root_open(proc_root, 1, key);

	if (fd >= 0)
		return fd;
	/* Pid 1 out of reach (a sandbox's pid 1 holding capabilities we do
	 * not, a pid namespace of our own): our own root, as before. */
	snprintf(mntns, sizeof(mntns), "%s/self/ns/mnt", proc_root);
	return root_open_keyed("/", mntns, key);
}

static bool key_equal(const struct root_key *a, const struct root_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->mntns == b->mntns;
}

static struct slot *lru_slot(struct predict_roots *r, const struct slot *except, bool loaded)
{
	struct slot *lru = NULL;

	for (int i = 0; i < PREDICT_ROOTS_MAX; i++) {
		struct slot *s = &r->slots[i];

		if (!s->in_use || s == except || (loaded && !s->root.cache_bytes))
			continue;
		if (!lru || s->root.used < lru->root.used)
			lru = s;
	}
	return lru;
}

/* The slot for a root not held: a free one, or the least recently used. */
static struct slot *new_slot(struct predict_roots *r, const struct root_key *key)
{
	struct slot *s = NULL;

	for (int i = 0; i < PREDICT_ROOTS_MAX && !s; i++) {
		if (!r->slots[i].in_use)
			s = &r->slots[i];
	}
	if (!s) {
		s = lru_slot(r, NULL, false);
		evict(r, s);
	}
	s->in_use = true;
	s->root.key = *key;
	s->root.check_ns = 0; /* load at once */
	r->stats.roots++;
	return s;
}

static void log_none(const struct predict_root *e, int err)
{
	const char *why = !err		  ? "no libraries in it"
			  : err == -EFBIG ? "over the size limit"
					  : strerror(-err);

	log_debug("no ld.so cache used in root %llu:%llu (mount namespace %llu): %s; its "
		  "processes are armed when they map TLS (looked at again in %llu s)",
		  (unsigned long long)e->key.dev, (unsigned long long)e->key.ino,
		  (unsigned long long)e->key.mntns, why,
		  (unsigned long long)(ROOT_RETRY_NS / 1000000000));
}

/* Read the cache of root ROOT_FD into S (anything held before is gone). */
static int load(struct predict_roots *r, struct slot *s, int root_fd, const struct file_id *id,
		uint64_t size)
{
	struct predict_root *e = &s->root;
	struct file_id got = *id;
	struct slot *lru;
	int fd, err;

	if (size > ROOT_CACHE_SIZE_MAX) {
		r->stats.too_big++;
		return -EFBIG;
	}
	/* Room in the byte budget: the least recently used caches go. */
	while (r->stats.bytes + size > ROOTS_CACHE_BYTES_MAX && (lru = lru_slot(r, s, true)))
		evict(r, lru);
	/* The file stat'ed, and no other: opened inside the root again. */
	fd = file_open_in_root(root_fd, r->cache_path, &got, NULL);
	if (fd < 0)
		return fd;
	err = ldcache_load_fd(fd, ROOT_CACHE_SIZE_MAX, &e->cache);
	close(fd);
	if (err)
		return err;
	e->memo = calloc(e->cache.n ? e->cache.n : 1, sizeof(*e->memo));
	if (!e->memo) {
		ldcache_list_free(&e->cache);
		return -ENOMEM;
	}
	for (size_t i = 0; i < e->cache.n; i++)
		e->memo[i].needs_tls = -1;
	e->cache_id = *id;
	e->cache_bytes = size ? size : 1; /* nonzero: "loaded" for the budget's LRU */
	r->stats.bytes += e->cache_bytes;
	return 0;
}

/* Time to look at the root's cache file again: reload it if it is another
 * file than the one held (or none was held). */
static void refresh(struct predict_roots *r, struct slot *s, int root_fd, uint64_t now_ns)
{
	struct predict_root *e = &s->root;
	struct file_id id;
	uint64_t size = 0;
	int err = file_stat_in_root(root_fd, r->cache_path, &id, &size);

	if (!err && e->cache_bytes && file_id_equal(&id, &e->cache_id)) {
		e->check_ns = now_ns + ROOT_RECHECK_NS;
		return;
	}
	drop_cache(r, e);
	r->stats.loads++;
	if (!err)
		err = load(r, s, root_fd, &id, size);
	if (!err && e->cache.n) {
		e->check_ns = now_ns + ROOT_RECHECK_NS;
		log_debug("ld.so cache of root %llu:%llu (mount namespace %llu): %zu libraries",
			  (unsigned long long)e->key.dev, (unsigned long long)e->key.ino,
			  (unsigned long long)e->key.mntns, e->cache.n);
		return;
	}
	drop_cache(r, e); /* an empty cache is none */
	r->stats.none++;
	e->check_ns = now_ns + ROOT_RETRY_NS;
	log_none(e, err);
}

struct predict_root *predict_roots_get(struct predict_roots *r, int root_fd,
				       const struct root_key *key, uint64_t now_ns)
{
	struct slot *s = NULL;

	for (int i = 0; i < PREDICT_ROOTS_MAX && !s; i++) {
		if (r->slots[i].in_use && key_equal(&r->slots[i].root.key, key))
			s = &r->slots[i];
	}
	if (!s)
		s = new_slot(r, key);
	s->root.used = ++r->tick;
	if (now_ns >= s->root.check_ns)
		refresh(r, s, root_fd, now_ns);
	return s->root.cache.n ? &s->root : NULL;
}

struct predict_roots_stats predict_roots_stats(const struct predict_roots *r)
{
	return r->stats;
}
