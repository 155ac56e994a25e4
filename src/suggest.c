// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * suggest_config: the Orchestrator's patterns for the rows of the summary
 * (see suggest.h for the rules the output keeps and why).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suggest.h"
#include "wire.h"

#define PLACEHOLDER	CALL_TEMPLATE_PLACEHOLDER
#define PLACEHOLDER_LEN (sizeof(PLACEHOLDER) - 1)
/* A key: monitor, '.', check, and room for a uniqueness suffix. */
#define KEY_MAX (SUGGEST_MONITOR_MAX + 1 + SUGGEST_CHECK_MAX + 12)
/* More specific templates named in a pattern's comment (all are excluded). */
#define EXCLUDED_SHOWN 3

enum row_fate {
	ROW_PATTERN,	 /* gets a pattern */
	ROW_BELOW_COUNT, /* under --min-count: no pattern, still excluded from others */
	ROW_TOO_WIDE,	 /* its url regex would pass SUGGEST_URL_REGEX_MAX */
};

struct suggestion {
	const struct call_row *row;
	enum row_fate fate;
	size_t nsegments, template_len;
	size_t prefix_len, suffix_len; /* text before the first, after the last {id} */
	bool literal;	/* no placeholder: no template more specific can overlap it */
	char *url_body; /* the template's regex, unanchored, no exclusions */
	char *url;	/* the regex written: anchored, with exclusions */
	size_t nexcluded;
	const struct suggestion *shown[EXCLUDED_SHOWN];
	char monitor[SUGGEST_MONITOR_MAX + 1];
	char key[KEY_MAX + 1];
};

/* ---- what the wire can carry (wire.c) ---------------------------------- */

static bool method_ok(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > WIRE_METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	}
	return true;
}

static bool host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > WIRE_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(".-_:[]%", c)))
			return false;
	}
	return true;
}

static bool template_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > WIRE_DATAGRAM_MAX || (t[0] != '/' && strcmp(t, "*")))
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return false;
	}
	return true;
}

/* ---- templates as segments ---------------------------------------------- */

static bool placeholder_at(const char *s, size_t len)
{
	return len >= PLACEHOLDER_LEN && !memcmp(s, PLACEHOLDER, PLACEHOLDER_LEN);
}

static size_t segment_len(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash ? (size_t)(slash - s) : strlen(s);
}

static size_t segments(const char *t)
{
	size_t n = 1;

	for (; *t; t++)
		n += *t == '/';
	return n;
}

/* 0: literal text, 1: text and placeholders, 2: placeholders only. */
static int segment_rank(const char *s, size_t len)
{
	bool text = false, ph = false;

	for (size_t i = 0; i < len;) {
		if (placeholder_at(s + i, len - i)) {
			ph = true;
			i += PLACEHOLDER_LEN;
		} else {
			text = true;
			i++;
		}
	}
	return !ph ? 0 : text ? 1 : 2;
}

/* Placeholders are "?*" in glob terms (one or more characters, never '/'),
 * and s is one segment (no '/'): the classic greedy glob match. */
static bool segment_matches(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star_p = 0, star_s = 0;
	bool star = false;

	while (si < slen) {
		if (pi < plen && placeholder_at(p + pi, plen - pi)) {
			pi += PLACEHOLDER_LEN;
			si++;
			star = true;
			star_p = pi;
			star_s = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star) {
			pi = star_p;
			si = ++star_s;
		} else {
			return false;
		}
	}
	return pi == plen;
}

static size_t text_before_placeholder(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && !placeholder_at(s + i, len - i))
		i++;
	return i;
}

static size_t text_after_placeholder(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 &&
	       !(i >= PLACEHOLDER_LEN && placeholder_at(s + i - PLACEHOLDER_LEN, PLACEHOLDER_LEN)))
		i--;
	return len - i;
}

static bool segments_may_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
	int ra = segment_rank(a, alen), rb = segment_rank(b, blen);
	size_t pa, pb, sa, sb, p, s;

	if (ra == 0 && rb == 0)
		return alen == blen && !memcmp(a, b, alen);
	if (ra == 0)
		return segment_matches(b, blen, a, alen);
	if (rb == 0)
		return segment_matches(a, alen, b, blen);
	/* Both have placeholders: the text before the first and after the last
	 * must agree. Exact with one placeholder each (a long enough middle
	 * joins them), a safe "maybe" with more. */
	pa = text_before_placeholder(a, alen);
	pb = text_before_placeholder(b, blen);
	sa = text_after_placeholder(a, alen);
	sb = text_after_placeholder(b, blen);
	p = pa < pb ? pa : pb;
	s = sa < sb ? sa : sb;
	return !memcmp(a, b, p) && !memcmp(a + alen - s, b + blen - s, s);
}

int suggest_templates_may_overlap(const char *a, const char *b)
{
	for (;;) {
		size_t alen = segment_len(a), blen = segment_len(b);

		if (!segments_may_overlap(a, alen, b, blen))
			return 0;
		if (!a[alen] || !b[blen])
			return !a[alen] && !b[blen];
		a += alen + 1;
		b += blen + 1;
	}
}

/* Who keeps the paths two templates share: the first to differ from the
 * left by a more literal segment. A strict total order on templates. */
static int specificity_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t alen = segment_len(a), blen = segment_len(b);
		int ra = segment_rank(a, alen), rb = segment_rank(b, blen), c;

		if (ra != rb)
			return ra - rb;
		c = memcmp(a, b, alen < blen ? alen : blen);
		if (c)
			return c;
		if (alen != blen)
			return alen < blen ? -1 : 1;
		if (!a[alen] && !b[blen])
			return 0;
		if (!a[alen] || !b[blen])
			return !a[alen] ? -1 : 1; /* fewer segments first */
		a += alen + 1;
		b += blen + 1;
	}
}

/* ---- regexes -------------------------------------------------------------- */

/* PCRE's metacharacters outside a class ('#' too, for the x flag); a
 * backslash before any other non-alphanumeric character is also literal. */
static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\^$.|?*+()[]{}#", *s))
			fputc('\\', f);
		fputc(*s, f);
	}
}

static char *template_regex(const char *t)
{
	char *out = NULL;
	size_t size;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	while (*t) {
		if (placeholder_at(t, strlen(t))) {
			fputs("[^/]+", f);
			t += PLACEHOLDER_LEN;
		} else {
			char one[2] = {*t++, '\0'};

			put_escaped(f, one);
		}
	}
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

/* ^(?!(?:A|B)$)R$ : R, except the paths of the more specific A and B. */
/* What any path of both templates must start and end with: a quick "no"
 * for most pairs before the segment by segment test. */
static bool ends_agree(const struct suggestion *a, const struct suggestion *b)
{
	const char *ta = a->row->template, *tb = b->row->template;
	size_t p = a->prefix_len < b->prefix_len ? a->prefix_len : b->prefix_len;
	size_t s = a->suffix_len < b->suffix_len ? a->suffix_len : b->suffix_len;

	return a->nsegments == b->nsegments && !memcmp(ta, tb, p) &&
	       !memcmp(ta + a->template_len - s, tb + b->template_len - s, s);
}

static bool excludes(const struct suggestion *e, const struct suggestion *more_specific)
{
	return ends_agree(e, more_specific) &&
	       suggest_templates_may_overlap(more_specific->row->template, e->row->template);
}

/* ^(?!(?:A|B)$)R$ : R, except the paths of the more specific A and B. Past
 * SUGGEST_URL_REGEX_MAX the row is left out: only counted, not written. */
static int build_url(struct suggestion *e, struct suggestion *group, size_t ngroup)
{
	size_t size, i = e - group, len = 1 + strlen(e->url_body) + 1;
	FILE *f = open_memstream(&e->url, &size);

	if (!f)
		return -ENOMEM;
	fputc('^', f);
	/* Where a literal template and another differ first, the literal one
	 * has a literal segment: it comes first, and excludes nothing. */
	for (size_t j = 0; j < i && !e->literal; j++) {
		if (!excludes(e, &group[j]))
			continue;
		if (e->nexcluded < EXCLUDED_SHOWN)
			e->shown[e->nexcluded] = &group[j];
		len += (e->nexcluded ? 1 : 6) + strlen(group[j].url_body);
		if (len + 3 <= SUGGEST_URL_REGEX_MAX) {
			fputs(e->nexcluded ? "|" : "(?!(?:", f);
			fputs(group[j].url_body, f);
		}
		e->nexcluded++;
	}
	if (e->nexcluded)
		fputs(")$)", f);
	fprintf(f, "%s$", e->url_body);
	if (fclose(f)) {
		free(e->url);
		e->url = NULL;
		return -ENOMEM;
	}
	if (len + (e->nexcluded ? 3 : 0) > SUGGEST_URL_REGEX_MAX)
		e->fate = ROW_TOO_WIDE;
	return 0;
}

/* ---- the rows kept and their order --------------------------------------- */

static bool host_wanted(const char *host, const struct suggest_opts *opts)
{
	size_t name_len = strlen(host);

	if (!opts->nhosts)
		return true;
	if (host[0] != '[' && strchr(host, ':'))
		name_len = strchr(host, ':') - host;
	else if (host[0] == '[' && strstr(host, "]:"))
		name_len = strstr(host, "]:") - host + 1;
	for (size_t i = 0; i < opts->nhosts; i++) {
		const char *h = opts->hosts[i];

		if (!strcasecmp(h, host) ||
		    (strlen(h) == name_len && !strncasecmp(h, host, name_len)))
			return true;
	}
	return false;
}

bool suggest_row_fits_wire(const struct call_row *r)
{
	return method_ok(r->method) && host_ok(r->host) && template_ok(r->template);
}

static bool row_kept(const struct call_row *r, const struct suggest_opts *opts)
{
	return suggest_row_fits_wire(r) && host_wanted(r->host, opts);
}

/* Method, host, then most specific template first: each (method, host)
 * group is contiguous, in the order exclusions are decided. */
static int group_order(const void *pa, const void *pb)
{
	const struct call_row *a = ((const struct suggestion *)pa)->row;
	const struct call_row *b = ((const struct suggestion *)pb)->row;
	int c = strcmp(a->method, b->method);

	if (!c)
		c = strcmp(a->host, b->host);
	if (!c)
		c = specificity_cmp(a->template, b->template);
	if (!c && a->count != b->count)
		c = a->count > b->count ? -1 : 1; /* of the same call twice, the busier first */
	return c;
}

static bool same_call(const struct call_row *a, const struct call_row *b)
{
	return !strcmp(a->method, b->method) && !strcmp(a->host, b->host) &&
	       !strcmp(a->template, b->template);
}

/* For writing: by monitor, host, most calls first. */
static int output_order(const void *pa, const void *pb)
{
	const struct suggestion *ea = *(const struct suggestion *const *)pa;
	const struct suggestion *eb = *(const struct suggestion *const *)pb;
	int c = strcmp(ea->monitor, eb->monitor);

	if (!c)
		c = strcmp(ea->row->host, eb->row->host);
	if (!c && ea->row->count != eb->row->count)
		c = ea->row->count > eb->row->count ? -1 : 1;
	if (!c)
		c = strcmp(ea->row->method, eb->row->method);
	return c ? c : strcmp(ea->row->template, eb->row->template);
}

/* The keys given so far; for a key that others wanted too, the next
 * number to try after it (so n rows of one name cost n lookups, not n^2). */
struct key_slot {
	const char *key;
	unsigned next;
};

struct key_set {
	struct key_slot *slots;
	size_t mask;
};

static struct key_slot *key_slot(struct key_set *set, const char *key)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	size_t i;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (i = h & set->mask; set->slots[i].key; i = (i + 1) & set->mask) {
		if (!strcmp(set->slots[i].key, key))
			break;
	}
	return &set->slots[i];
}

/* Unique keys: monitor.check, then monitor.check2, monitor.check3... */
static int assign_keys(struct suggestion **order, size_t n)
{
	struct key_set set = {0};
	size_t size = 16;

	while (size < 2 * n + 1)
		size *= 2;
	set.slots = calloc(size, sizeof(*set.slots));
	if (!set.slots)
		return -ENOMEM;
	set.mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		struct suggestion *e = order[i];
		char check[SUGGEST_CHECK_MAX + 1];
		size_t base = strlen(e->monitor) + 1;
		struct key_slot *wanted, *slot;

		suggest_check_name(e->row->method, e->row->template, check, sizeof(check));
		snprintf(e->key, sizeof(e->key), "%s.%s", e->monitor, check);
		wanted = slot = key_slot(&set, e->key);
		if (wanted->key) {
			unsigned k = wanted->next ? wanted->next : 2;

			do {
				snprintf(e->key + base, sizeof(e->key) - base, "%s%u", check, k++);
				slot = key_slot(&set, e->key);
			} while (slot->key);
			wanted->next = k;
		}
		slot->key = e->key;
	}
	free(set.slots);
	return 0;
}

/* ---- writing ---------------------------------------------------------------- */

/* Text from a traced process, made safe for one comment line. */
static void put_comment_text(FILE *f, const char *s, size_t max)
{
	size_t n = 0;

	for (; *s && n < max; s++, n++) {
		unsigned char c = *s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	if (*s)
		fputs("...", f);
}

/* YAML single quotes: every byte is literal except the quote, doubled. The
 * regexes hold only printable ASCII (template_ok, host_ok, method_ok). */
static void put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static void put_programs(FILE *f, const struct call_row *r)
{
	unsigned nprog = r->nprograms < CALL_PROGRAMS_MAX ? r->nprograms : CALL_PROGRAMS_MAX;

	if (!nprog)
		return;
	fputs(", programs:", f);
	for (unsigned i = 0; i < nprog; i++) {
		const struct call_program *p = &r->programs[i];
		unsigned npids = p->npids < CALL_PIDS_MAX ? p->npids : CALL_PIDS_MAX;
		char comm[sizeof(p->comm) + 1];

		memcpy(comm, p->comm, sizeof(p->comm));
		comm[sizeof(p->comm)] = '\0';
		fputc(' ', f);
		put_comment_text(f, comm, sizeof(p->comm));
		for (unsigned k = 0; k < npids; k++)
			fprintf(f, "%c%" PRIu32, k ? ',' : '[', p->pids[k]);
		if (npids)
			fputc(']', f);
	}
}

static void put_call(FILE *f, const struct call_row *r)
{
	fprintf(f, "%s %s %s", r->method, r->host, r->template);
}

static void write_pattern(FILE *f, const struct suggestion *e)
{
	const struct call_row *r = e->row;

	fputs("  # ", f);
	put_call(f, r);
	fprintf(f, "\n  # %" PRIu64 " call%s, %" PRIu64 " error%s, p50 %.1f ms, p99 %.1f ms",
		r->count, r->count == 1 ? "" : "s", r->errors, r->errors == 1 ? "" : "s", r->p50_ms,
		r->p99_ms);
	put_programs(f, r);
	fputc('\n', f);
	if (e->nexcluded) {
		fputs("  # except the more specific", f);
		for (size_t i = 0; i < e->nexcluded && i < EXCLUDED_SHOWN; i++)
			fprintf(f, "%s %s", i ? "," : "", e->shown[i]->row->template);
		if (e->nexcluded > EXCLUDED_SHOWN)
			fprintf(f, " and %zu more", e->nexcluded - EXCLUDED_SHOWN);
		fputc('\n', f);
	}
	/* Method and host hold no quote (method_ok, host_ok). */
	fprintf(f, "  %s:\n    method: '^%s$'\n    host: '^", e->key, r->method);
	put_escaped(f, r->host);
	fputs("$'\n    url: ", f);
	put_quoted(f, e->url);
	fputc('\n', f);
}

static void left_out_line(FILE *f, bool *header)
{
	if (!*header)
		fputs("  # Not suggested:\n", f);
	*header = true;
	fputs("  # ", f);
}

static void write_left_out(FILE *f, const struct call_row *rows, size_t n,
			   const struct suggestion *entries, size_t nentries,
			   const struct suggest_opts *opts)
{
	bool header = false;

	for (size_t i = 0; i < nentries; i++) {
		const struct suggestion *e = &entries[i];

		if (e->fate == ROW_PATTERN)
			continue;
		left_out_line(f, &header);
		put_call(f, e->row);
		if (e->fate == ROW_BELOW_COUNT)
			fprintf(f,
				": %" PRIu64 " call%s, under --min-count %" PRIu64
				" (its calls match no pattern)\n",
				e->row->count, e->row->count == 1 ? "" : "s", opts->min_count);
		else
			fprintf(f, ": would have to exclude %zu more specific templates\n",
				e->nexcluded);
	}
	for (size_t i = 0; i < n; i++) {
		const struct call_row *r = &rows[i];
		bool other = !strcmp(r->template, CALL_TEMPLATE_OTHER) && host_ok(r->host);

		if (!host_wanted(r->host, opts) || (!other && row_kept(r, opts)))
			continue;
		left_out_line(f, &header);
		put_comment_text(f, r->method, 32);
		fputc(' ', f);
		put_comment_text(f, r->host, 80);
		if (other)
			fprintf(f,
				": %" PRIu64 " call%s to paths too rarely used to keep apart "
				"(no pattern: it would take every other path)\n",
				r->count, r->count == 1 ? "" : "s");
		else {
			fputc(' ', f);
			put_comment_text(f, r->template, 120);
			fputs(": not a call as sent on the wire\n", f);
		}
	}
}

static void write_header(FILE *f, const struct suggest_opts *opts, size_t npatterns)
{
	fputs("# The Orchestrator's in-process configuration for the calls seen on this\n"
	      "# host: save it as the file named by METRIST_CMA_CONFIG. Keys are\n"
	      "# <monitor>.<check> (rename them as you like, keeping one dot); every\n"
	      "# regex is anchored, and no two patterns match the same call.\n# Written by ",
	      f);
	put_comment_text(f, opts->generator ? opts->generator : "suggest-config", 200);
	fputs(".\n", f);
	fputs(npatterns ? "patterns:\n" : "patterns: {}\n", f);
}

/* ---- suggest_config ----------------------------------------------------------- */

int suggest_config(FILE *out, const struct call_row *rows, size_t n,
		   const struct suggest_opts *opts)
{
	struct suggestion *entries = calloc(n ? n : 1, sizeof(*entries));
	struct suggestion **order = calloc(n ? n : 1, sizeof(*order));
	size_t nentries = 0, kept = 0, npatterns = 0, group;
	int err = -ENOMEM;

	if (!entries || !order)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!row_kept(&rows[i], opts))
			continue;
		entries[nentries].row = &rows[i];
		entries[nentries].fate =
		    rows[i].count >= opts->min_count ? ROW_PATTERN : ROW_BELOW_COUNT;
		suggest_monitor_name(rows[i].host, entries[nentries].monitor,
				     sizeof(entries[nentries].monitor));
		entries[nentries].nsegments = segments(rows[i].template);
		entries[nentries].template_len = strlen(rows[i].template);
		entries[nentries].prefix_len =
		    text_before_placeholder(rows[i].template, entries[nentries].template_len);
		entries[nentries].suffix_len =
		    text_after_placeholder(rows[i].template, entries[nentries].template_len);
		entries[nentries].literal = !strstr(rows[i].template, PLACEHOLDER);
		entries[nentries].url_body = template_regex(rows[i].template);
		if (!entries[nentries++].url_body)
			goto out;
	}
	qsort(entries, nentries, sizeof(*entries), group_order);
	/* The same call twice (two summaries joined): the busier row stands. */
	for (size_t i = 0; i < nentries; i++) {
		if (kept && same_call(entries[kept - 1].row, entries[i].row)) {
			free(entries[i].url_body);
			continue;
		}
		entries[kept++] = entries[i];
	}
	nentries = kept;
	for (size_t i = 0; i < nentries; i = group) {
		for (group = i + 1; group < nentries; group++) {
			if (strcmp(entries[group].row->method, entries[i].row->method) ||
			    strcmp(entries[group].row->host, entries[i].row->host))
				break;
		}
		for (size_t j = i; j < group; j++) {
			if (entries[j].fate == ROW_PATTERN &&
			    (err = build_url(&entries[j], entries + i, group - i)))
				goto out;
			if (entries[j].fate == ROW_PATTERN)
				order[npatterns++] = &entries[j];
		}
	}
	qsort(order, npatterns, sizeof(*order), output_order);
	err = assign_keys(order, npatterns);
	if (err)
		goto out;
	write_header(out, opts, npatterns);
	for (size_t i = 0; i < npatterns; i++)
		write_pattern(out, order[i]);
	write_left_out(out, rows, n, entries, nentries, opts);
	err = fflush(out) || ferror(out) ? -EIO : 0;
out:
	for (size_t i = 0; entries && i < nentries; i++) {
		free(entries[i].url_body);
		free(entries[i].url);
	}
	free(entries);
	free(order);
	return err;
}
