/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Orchestrator's in-process configuration for the calls discovered: a
 * YAML document with one key, `patterns:`, whose keys are
 * `<monitor>.<check>` and whose values are `method`, `host` and `url`
 * regular expressions (PCRE, as Erlang's `re` reads them).
 *
 * The Orchestrator searches each regex in the field (unanchored,
 * case-sensitive; `url` is the path we send) and takes the first pattern
 * that matches, in an order we cannot choose. So every regex written here
 * is anchored ^...$ with its metacharacters escaped, a template's
 * placeholder becomes one path segment's worth of characters ([^/]+), and
 * no two patterns can match one call: where two templates of a method and
 * host could match the same path (/v1/customers/{id} and
 * /v1/customers/search), the more specific one keeps its pattern and the
 * other excludes it with a negative lookahead:
 *
 *     url: '^(?!(?:/v1/customers/search)$)/v1/customers/[^/]+$'
 *
 * "More specific" compares segments from the left: a literal segment before
 * one that mixes text and placeholders, before a placeholder alone. A row
 * left out by --min-count is still excluded from the others, so its calls
 * stay unmatched (and show in the Orchestrator's log) instead of being
 * counted under another check. A host's "(other)" row (its folded, least
 * used templates) has no path to match: it is skipped, with a comment.
 */
#ifndef SUGGEST_H
#define SUGGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "call_summary.h"

/* Longest monitor and check names written (longer ones are cut). */
#define SUGGEST_MONITOR_MAX 40
#define SUGGEST_CHECK_MAX   64
/* A url regex longer than this (a template overlapping very many more
 * specific ones) is not suggested: it would be unreadable, and Erlang's
 * PCRE refuses compiled patterns over 64 KiB. */
#define SUGGEST_URL_REGEX_MAX 8192

struct suggest_opts {
	const char *const *hosts; /* only these hosts (a host, or host:port); none: all */
	size_t nhosts;
	uint64_t min_count;    /* only rows seen at least this often */
	const char *generator; /* named in the header comment, e.g. the program */
};

/*
 * Write the configuration for @rows to @out. Rows whose method, host or
 * template could not have come from the wire (see wire.c) are skipped with
 * a comment. Returns 0, or -EIO if writing failed, -ENOMEM.
 */
int suggest_config(FILE *out, const struct call_row *rows, size_t n,
		   const struct suggest_opts *opts);

/*
 * Whether the row's method, host and template could have come from the wire
 * (see wire.c); suggest_config skips the others.
 */
bool suggest_row_fits_wire(const struct call_row *r);

/*
 * The pieces, for tests. Each writes a NUL-terminated name into @buf
 * (@size > 1) and returns its length.
 *
 * Monitor from host: the name's label before its top-level domain
 * (api.stripe.com -> stripe, www.bbc.co.uk -> bbc), the port dropped; an IP
 * literal keeps address and port (127.0.0.1:8443 -> ip-127-0-0-1-8443).
 * Lower case letters, digits and '-', neither starting nor ending with '-'.
 */
size_t suggest_monitor_name(const char *host, char *buf, size_t size);

/*
 * Check from method and template: GET /v1/customers/{id}/invoices ->
 * GetCustomerInvoices. Version segments (v1, v2beta1) and "api" are
 * dropped, the segment before a placeholder is made singular, words are
 * split on anything not a letter or digit and camel-cased. Letters and
 * digits only, starting with the method's capital.
 */
size_t suggest_check_name(const char *method, const char *template, char *buf, size_t size);

/*
 * Whether some path could match both templates' url regexes. May say yes
 * when they cannot (then a lookahead excludes nothing), never no when they
 * can.
 */
int suggest_templates_may_overlap(const char *a, const char *b);

#endif /* SUGGEST_H */
