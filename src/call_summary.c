// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The discovered-calls summary: a fixed table of rows found by a hash of
 * (method, host, template), each with counters, a latency histogram and the
 * programs seen. Everything is sized at creation: the row table, the hosts,
 * and the strings (bounded by CALL_TEMPLATE_MAX and WIRE_HOST_MAX).
 *
 * When the table is full, a new key takes the slot of the least used row
 * (fewest calls, then seen longest ago), which folds into its host's
 * "(other)" row: the counts stay right per host, and a flood of one-off paths
 * only churns the rows seen once, oldest first, so a new endpoint keeps its
 * row if it is called again soon. Hosts are bounded the same way, folding
 * into the "(other)" host's row, which slot 0 always holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "call_summary.h"
#include "call_template.h"
#include "wire.h"

/*
 * Latency histogram: log-linear over microseconds, 8 buckets per power of
 * two (a bucket's midpoint is within 6.25 % of any value in it), exact below
 * 8 us, up to 2^34 us (4.7 hours; longer calls share the last bucket, and
 * the row's max is exact). 16-bit counters: a full one halves them all,
 * which keeps the distribution's shape (the row's count stays exact).
 */
#define HIST_SUB_BITS 3
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  256
#define HIST_FULL     UINT16_MAX
/* A malloc'd string costs its bytes and about this much bookkeeping. */
#define MALLOC_OVERHEAD 16

struct row {
	uint32_t hash;
	uint16_t next; /* the hash chain: slot + 1, 0 ends it */
	uint16_t host; /* index in hosts[] */
	bool used;
	bool other; /* a host's (other) row: never evicted */
	uint8_t nprograms;
	char method[WIRE_METHOD_MAX + 1];
	char *template; /* malloc'd, or other_template for (other) rows */
	uint64_t count, errors, first_ns, last_ns, max_ns;
	struct call_program programs[CALL_PROGRAMS_MAX];
	uint16_t hist[HIST_BUCKETS];
};

/* What eviction compares, apart from the rows so that the scan is short. */
struct rank {
	uint64_t count, last_ns; /* count UINT64_MAX: free or (other), never chosen */
};

struct host {
	char *name; /* NULL: free slot */
	uint32_t hash;
	uint64_t count, last_ns;
};

struct call_summary {
	unsigned rows_max, hosts_max, nbuckets;
	struct row *rows;
	struct rank *ranks;
	uint16_t *buckets; /* slot + 1 of each chain's first row */
	uint16_t *free_rows;
	unsigned nfree;
	struct host *hosts; /* hosts_max + 1: slot 0 is the (other) host */
	size_t string_bytes;
	uint64_t rows_folded, hosts_folded;
};

static char other_template[] = CALL_TEMPLATE_OTHER;

static uint32_t fnv1a(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return (h ^ 0xff) * 16777619u; /* a separator, so "a"+"bc" != "ab"+"c" */
}

static uint32_t key_hash(const char *method, const char *host, const char *template)
{
	return fnv1a(fnv1a(fnv1a(2166136261u, method), host), template);
}

/* ---- histogram ------------------------------------------------------------ */

static unsigned hist_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned e, idx;

	if (us < HIST_SUB)
		return (unsigned)us;
	e = 63 - __builtin_clzll(us);
	idx = HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	      (unsigned)((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* A bucket's midpoint, in ns. */
static double hist_mid_ns(unsigned idx)
{
	unsigned e, sub;

	if (idx < HIST_SUB)
		return (idx + 0.5) * 1000.0;
	e = (idx - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	sub = (idx - HIST_SUB) % HIST_SUB;
	return (double)((2 * (HIST_SUB + sub) + 1) * (1ull << (e - HIST_SUB_BITS))) * 500.0;
}

static void hist_halve(uint16_t *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		h[i] = h[i] ? (uint16_t)((h[i] + 1) / 2) : 0;
}

static void hist_add(uint16_t *h, uint64_t ns)
{
	unsigned i = hist_bucket(ns);

	if (h[i] == HIST_FULL)
		hist_halve(h);
	h[i]++;
}

/* into += from, both scaled down alike until every sum fits. */
static void hist_merge(uint16_t *into, const uint16_t *from)
{
	uint32_t max = 0;
	unsigned shift = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if ((uint32_t)into[i] + from[i] > max)
			max = (uint32_t)into[i] + from[i];
	while ((max >> shift) > HIST_FULL)
		shift++;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint32_t sum = (uint32_t)into[i] + from[i];

		into[i] = (uint16_t)(sum >> shift ? sum >> shift : sum ? 1 : 0);
	}
}

/*
 * The quantiles qs[0..n) (ascending) in ms, in one pass: for each, the
 * midpoint of the bucket holding it, at most the row's max.
 */
static void hist_quantiles_ms(const uint16_t *h, const double *qs, double *out, unsigned n,
			      uint64_t max_ns)
{
	uint64_t total = 0, seen = 0;
	unsigned q = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += h[i];
	for (unsigned i = 0; i < HIST_BUCKETS && q < n; i++) {
		seen += h[i];
		while (q < n && total && (double)seen >= qs[q] * (double)total) {
			double ns = hist_mid_ns(i);

			out[q++] = (ns < (double)max_ns ? ns : (double)max_ns) / 1e6;
		}
	}
	for (; q < n; q++)
		out[q] = total ? (double)max_ns / 1e6 : 0;
}

/* ---- programs --------------------------------------------------------------- */

static void program_add_pid(struct call_program *p, uint32_t pid)
{
	for (unsigned i = 0; i < p->npids; i++)
		if (p->pids[i] == pid)
			return;
	if (p->npids == CALL_PIDS_MAX) {
		/* Keep the latest: a pid seen now is the one worth looking at. */
		memmove(p->pids, p->pids + 1, sizeof(p->pids[0]) * (CALL_PIDS_MAX - 1));
		p->npids--;
	}
	p->pids[p->npids++] = pid;
}

/* The first CALL_PROGRAMS_MAX programs seen keep their place. */
static struct call_program *program_find(struct row *r, const char *comm)
{
	for (unsigned i = 0; i < r->nprograms; i++)
		if (!strncmp(r->programs[i].comm, comm, sizeof(r->programs[i].comm)))
			return &r->programs[i];
	if (r->nprograms == CALL_PROGRAMS_MAX)
		return NULL;
	struct call_program *p = &r->programs[r->nprograms++];

	memset(p, 0, sizeof(*p));
	strncpy(p->comm, comm, sizeof(p->comm) - 1);
	return p;
}

/* ---- the table ------------------------------------------------------------ */

static size_t string_cost(const char *s)
{
	return strlen(s) + 1 + MALLOC_OVERHEAD;
}

static int find_row(const struct call_summary *s, uint32_t hash, const char *method,
		    const char *host, const char *template)
{
	for (unsigned i = s->buckets[hash & (s->nbuckets - 1)]; i; i = s->rows[i - 1].next) {
		const struct row *r = &s->rows[i - 1];

		if (r->hash == hash && !strcmp(r->method, method) &&
		    !strcmp(r->template, template) && !strcmp(s->hosts[r->host].name, host))
			return (int)i - 1;
	}
	return -1;
}

static void chain_insert(struct call_summary *s, unsigned idx)
{
	uint16_t *b = &s->buckets[s->rows[idx].hash & (s->nbuckets - 1)];

	s->rows[idx].next = *b;
	*b = (uint16_t)(idx + 1);
}

static void chain_remove(struct call_summary *s, unsigned idx)
{
	uint16_t *link = &s->buckets[s->rows[idx].hash & (s->nbuckets - 1)];

	while (*link && *link != idx + 1)
		link = &s->rows[*link - 1].next;
	if (*link)
		*link = s->rows[idx].next;
}

static void row_free(struct call_summary *s, unsigned idx)
{
	struct row *r = &s->rows[idx];

	chain_remove(s, idx);
	if (r->template != other_template) {
		s->string_bytes -= string_cost(r->template);
		free(r->template);
	}
	memset(r, 0, sizeof(*r));
	s->ranks[idx].count = UINT64_MAX;
	s->free_rows[s->nfree++] = (uint16_t)idx;
}

static void row_fold(struct call_summary *s, unsigned from, unsigned into)
{
	struct row *f = &s->rows[from], *t = &s->rows[into];

	if (f->count) {
		if (!t->count || f->first_ns < t->first_ns)
			t->first_ns = f->first_ns;
		if (f->last_ns > t->last_ns)
			t->last_ns = f->last_ns;
		if (f->max_ns > t->max_ns)
			t->max_ns = f->max_ns;
		t->count += f->count;
		t->errors += f->errors;
		hist_merge(t->hist, f->hist);
	}
	for (unsigned i = 0; i < f->nprograms; i++) {
		struct call_program *p = program_find(t, f->programs[i].comm);

		for (unsigned j = 0; p && j < f->programs[i].npids; j++)
			program_add_pid(p, f->programs[i].pids[j]);
	}
	row_free(s, from);
}

static void row_make_other(struct call_summary *s, unsigned idx)
{
	struct row *r = &s->rows[idx];

	chain_remove(s, idx);
	s->string_bytes -= string_cost(r->template);
	free(r->template);
	r->template = other_template;
	strcpy(r->method, CALL_METHOD_ANY);
	r->other = true;
	r->hash = key_hash(r->method, s->hosts[r->host].name, r->template);
	chain_insert(s, idx);
	s->ranks[idx].count = UINT64_MAX;
}

/* The least used row that is not an (other) row: fewest calls, then oldest. */
static unsigned least_used_row(const struct call_summary *s)
{
	unsigned best = 0;

	for (unsigned i = 1; i < s->rows_max; i++) {
		const struct rank *a = &s->ranks[i], *b = &s->ranks[best];

		if (a->count < b->count || (a->count == b->count && a->last_ns < b->last_ns))
			best = i;
	}
	return best;
}

/*
 * A free slot. When none is left, the least used row folds into its host's
 * (other) row, or becomes that row if the host has none yet (then the next
 * least used goes). Ends: (other) rows are at most hosts_max + 1, fewer
 * than the slots.
 */
static unsigned row_take(struct call_summary *s)
{
	while (!s->nfree) {
		unsigned victim = least_used_row(s);
		struct row *v = &s->rows[victim];
		const char *host = s->hosts[v->host].name;
		int other = find_row(s, key_hash(CALL_METHOD_ANY, host, other_template),
				     CALL_METHOD_ANY, host, other_template);

		s->rows_folded++;
		if (other >= 0)
			row_fold(s, victim, (unsigned)other);
		else
			row_make_other(s, victim);
	}
	return s->free_rows[--s->nfree];
}

static int find_host(const struct call_summary *s, uint32_t hash, const char *name)
{
	for (unsigned i = 0; i <= s->hosts_max; i++)
		if (s->hosts[i].name && s->hosts[i].hash == hash && !strcmp(s->hosts[i].name, name))
			return (int)i;
	return -1;
}

/* Every row of host h folds into the (other) host's row (slot 0). */
static void host_fold(struct call_summary *s, unsigned h)
{
	for (unsigned i = 1; i < s->rows_max; i++)
		if (s->rows[i].used && s->rows[i].host == h)
			row_fold(s, i, 0);
	s->string_bytes -= string_cost(s->hosts[h].name);
	free(s->hosts[h].name);
	memset(&s->hosts[h], 0, sizeof(s->hosts[h]));
	s->hosts_folded++;
}

/* A slot for a new host: a free one, or the least used host's, folded. */
static int host_take(struct call_summary *s, uint32_t hash, const char *name)
{
	unsigned best = 0;
	char *copy;

	for (unsigned i = 1; i <= s->hosts_max; i++) {
		const struct host *a = &s->hosts[i], *b = &s->hosts[best];

		if (!a->name) {
			best = i;
			break;
		}
		if (!best || a->count < b->count ||
		    (a->count == b->count && a->last_ns < b->last_ns))
			best = i;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	if (s->hosts[best].name)
		host_fold(s, best);
	s->hosts[best].name = copy;
	s->hosts[best].hash = hash;
	s->string_bytes += string_cost(copy);
	return (int)best;
}

static int row_new(struct call_summary *s, uint32_t hash, const char *method, const char *host,
		   const char *template, bool other)
{
	int h = find_host(s, fnv1a(2166136261u, host), host), found;
	char *copy = NULL;
	unsigned idx;

	if (h < 0)
		h = host_take(s, fnv1a(2166136261u, host), host);
	if (h < 0)
		return h;
	if (!other && !(copy = strdup(template)))
		return -ENOMEM;
	idx = row_take(s);
	/* Taking a slot may have made this host's (other) row. */
	if (other && (found = find_row(s, hash, method, host, template)) >= 0) {
		s->free_rows[s->nfree++] = (uint16_t)idx;
		return found;
	}
	struct row *r = &s->rows[idx];

	r->used = true;
	r->other = other;
	r->host = (uint16_t)h;
	r->hash = hash;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->template = other ? other_template : copy;
	if (copy)
		s->string_bytes += string_cost(copy);
	s->ranks[idx] = (struct rank){other ? UINT64_MAX : 0, 0};
	chain_insert(s, idx);
	return (int)idx;
}

static void row_add(struct row *r, const struct call_seen *c)
{
	struct call_program *p = program_find(r, c->comm ? c->comm : "?");

	if (!r->count || c->when_ns < r->first_ns)
		r->first_ns = c->when_ns;
	if (c->when_ns > r->last_ns)
		r->last_ns = c->when_ns;
	if (c->latency_ns > r->max_ns)
		r->max_ns = c->latency_ns;
	r->count++;
	r->errors += c->status >= 400 || c->status <= 0;
	hist_add(r->hist, c->latency_ns);
	if (p)
		program_add_pid(p, c->pid);
}

void call_summary_add(struct call_summary *s, const struct call_seen *c)
{
	char template[CALL_TEMPLATE_MAX + 1];
	const char *method = c->method, *tpl = template;
	bool other = false;
	uint32_t hash;
	int idx, h;

	if (call_template(c->path, template, sizeof(template)) < 0) {
		method = CALL_METHOD_ANY;
		tpl = other_template;
		other = true;
	}
	hash = key_hash(method, c->host, tpl);
	idx = find_row(s, hash, method, c->host, tpl);
	if (idx < 0)
		idx = row_new(s, hash, method, c->host, tpl, other);
	if (idx < 0)
		idx = 0; /* out of memory for a string: counted in the (other) host */
	row_add(&s->rows[idx], c);
	if (!s->rows[idx].other)
		s->ranks[idx] = (struct rank){s->rows[idx].count, s->rows[idx].last_ns};
	h = s->rows[idx].host;
	s->hosts[h].count++;
	if (c->when_ns > s->hosts[h].last_ns)
		s->hosts[h].last_ns = c->when_ns;
}

/* ---- life cycle and reading ---------------------------------------------- */

static unsigned buckets_for(unsigned rows_max)
{
	unsigned n = 1;

	while (n < 2 * rows_max)
		n <<= 1;
	return n;
}

static size_t fixed_bytes(unsigned rows_max, unsigned hosts_max)
{
	return sizeof(struct call_summary) +
	       rows_max * (sizeof(struct row) + sizeof(struct rank) + sizeof(uint16_t)) +
	       buckets_for(rows_max) * sizeof(uint16_t) + (hosts_max + 1) * sizeof(struct host);
}

size_t call_summary_bytes_max(unsigned rows_max, unsigned hosts_max)
{
	return fixed_bytes(rows_max, hosts_max) +
	       rows_max * (CALL_TEMPLATE_MAX + 1 + MALLOC_OVERHEAD) +
	       hosts_max * (WIRE_HOST_MAX + 1 + MALLOC_OVERHEAD);
}

struct call_summary *call_summary_new(unsigned rows_max, unsigned hosts_max)
{
	struct call_summary *s;

	if (rows_max > UINT16_MAX - 1 || hosts_max < 1 || hosts_max + 2 > rows_max) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rows_max = rows_max;
	s->hosts_max = hosts_max;
	s->nbuckets = buckets_for(rows_max);
	/* calloc'd: the kernel gives the row pages only once a row is used. */
	s->rows = calloc(rows_max, sizeof(*s->rows));
	s->ranks = calloc(rows_max, sizeof(*s->ranks));
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	s->free_rows = calloc(rows_max, sizeof(*s->free_rows));
	s->hosts = calloc(hosts_max + 1, sizeof(*s->hosts));
	if (!s->rows || !s->ranks || !s->buckets || !s->free_rows || !s->hosts) {
		call_summary_free(s);
		return NULL;
	}
	/* Lowest slots first, so that the pages in use stay few. */
	for (unsigned i = rows_max; i-- > 1;) {
		s->free_rows[s->nfree++] = (uint16_t)i;
		s->ranks[i].count = UINT64_MAX;
	}
	s->hosts[0].name = other_template;
	s->hosts[0].hash = fnv1a(2166136261u, other_template);
	s->ranks[0].count = UINT64_MAX;
	s->rows[0] = (struct row){.used = true, .other = true, .template = other_template};
	strcpy(s->rows[0].method, CALL_METHOD_ANY);
	s->rows[0].hash = key_hash(CALL_METHOD_ANY, other_template, other_template);
	chain_insert(s, 0);
	return s;
}

void call_summary_free(struct call_summary *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->rows && i < s->rows_max; i++)
		if (s->rows[i].used && s->rows[i].template != other_template)
			free(s->rows[i].template);
	for (unsigned i = 1; s->hosts && i <= s->hosts_max; i++)
		free(s->hosts[i].name);
	free(s->rows);
	free(s->ranks);
	free(s->buckets);
	free(s->free_rows);
	free(s->hosts);
	free(s);
}

static void row_view(const struct call_summary *s, const struct row *r, struct call_row *out)
{
	out->method = r->method;
	out->host = s->hosts[r->host].name;
	out->template = r->template;
	out->count = r->count;
	out->errors = r->errors;
	static const double qs[] = {0.50, 0.95, 0.99};
	double v[3];

	hist_quantiles_ms(r->hist, qs, v, 3, r->max_ns);
	out->p50_ms = v[0];
	out->p95_ms = v[1];
	out->p99_ms = v[2];
	out->max_ms = (double)r->max_ns / 1e6;
	out->first_seen_ns = r->first_ns;
	out->last_seen_ns = r->last_ns;
	out->nprograms = r->nprograms;
	memcpy(out->programs, r->programs, sizeof(out->programs));
}

bool call_summary_walk(const struct call_summary *s, unsigned *cursor, call_row_cb cb, void *ctx)
{
	for (unsigned i = *cursor; i < s->rows_max; i++) {
		const struct row *r = &s->rows[i];
		struct call_row view;

		if (!r->used || !r->count)
			continue;
		row_view(s, r, &view);
		if (cb(&view, ctx)) {
			*cursor = i;
			return false;
		}
	}
	*cursor = s->rows_max;
	return true;
}

struct call_summary_stats call_summary_stats(const struct call_summary *s)
{
	struct call_summary_stats st = {
	    .rows_folded = s->rows_folded,
	    .hosts_folded = s->hosts_folded,
	    .bytes = fixed_bytes(s->rows_max, s->hosts_max) + s->string_bytes,
	};

	for (unsigned i = 0; i < s->rows_max; i++)
		st.rows += s->rows[i].used && s->rows[i].count;
	for (unsigned i = 1; i <= s->hosts_max; i++)
		st.hosts += s->hosts[i].name != NULL;
	return st;
}
