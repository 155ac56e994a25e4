/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Orchestrator's reading of its in-process configuration, for tests of
 * suggest-config (the unit test and the fuzz target include this file):
 * YAML parsed by libyaml, only the top-level `patterns:` read, each key
 * split on its first dot, each value a map of method/host/url regexes
 * compiled by PCRE2 with no options (Erlang's `re` is PCRE; case-sensitive).
 * A field matches when its regex is found anywhere in the value (a search,
 * not a full match); an omitted or null field matches everything, `any` is
 * `.*`. The first pattern that matches wins, in an order the file does not
 * decide: so a call must match at most one.
 *
 * Stricter than the Orchestrator where suggest-config promises more: keys
 * have exactly one dot and are unique, values hold exactly method, host and
 * url as strings.
 */
#ifndef ORCHESTRATOR_PATTERNS_H
#define ORCHESTRATOR_PATTERNS_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define OP_FIELDS 3 /* method, host, url */

struct op_pattern {
	char *key;
	char *source[OP_FIELDS];
	pcre2_code *re[OP_FIELDS]; /* NULL: matches everything */
};

struct op_config {
	struct op_pattern *v;
	size_t n;
	char err[256];
};

static const char *const op_field_names[OP_FIELDS] = {"method", "host", "url"};

static int op_fail(struct op_config *cfg, const char *what, const char *detail)
{
	snprintf(cfg->err, sizeof(cfg->err), "%s%s%s", what, detail ? ": " : "",
		 detail ? detail : "");
	return -1;
}

static const char *op_scalar(yaml_document_t *doc, yaml_node_t *node)
{
	(void)doc;
	return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
						      : NULL;
}

static int op_add_field(struct op_config *cfg, struct op_pattern *p, int field, const char *value)
{
	const char *re = strcmp(value, "any") ? value : ".*";
	int errcode;
	PCRE2_SIZE erroff;

	p->source[field] = strdup(value);
	p->re[field] =
	    pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &errcode, &erroff, NULL);
	if (!p->re[field]) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return op_fail(cfg, "a regex does not compile", (const char *)msg);
	}
	return 0;
}

static int op_add_pattern(struct op_config *cfg, yaml_document_t *doc, const char *key,
			  yaml_node_t *value)
{
	struct op_pattern *p;
	const char *dot = strchr(key, '.');
	bool seen[OP_FIELDS] = {false};
	yaml_node_pair_t *pair;

	if (!dot || dot == key || !dot[1] || strchr(dot + 1, '.'))
		return op_fail(cfg, "a key is not <monitor>.<check> with one dot", key);
	for (size_t i = 0; i < cfg->n; i++) {
		if (!strcmp(cfg->v[i].key, key))
			return op_fail(cfg, "a key twice", key);
	}
	if (!value || value->type != YAML_MAPPING_NODE)
		return op_fail(cfg, "a pattern is not a map", key);
	cfg->v = realloc(cfg->v, (cfg->n + 1) * sizeof(*cfg->v));
	p = &cfg->v[cfg->n++];
	memset(p, 0, sizeof(*p));
	p->key = strdup(key);
	for (pair = value->data.mapping.pairs.start; pair < value->data.mapping.pairs.top; pair++) {
		const char *k = op_scalar(doc, yaml_document_get_node(doc, pair->key));
		const char *v = op_scalar(doc, yaml_document_get_node(doc, pair->value));
		int field = -1;

		for (int f = 0; f < OP_FIELDS && k; f++) {
			if (!strcmp(k, op_field_names[f]))
				field = f;
		}
		if (field < 0 || !v || seen[field])
			return op_fail(cfg, "a pattern field is not method/host/url: string", key);
		seen[field] = true;
		if (op_add_field(cfg, p, field, v))
			return -1;
	}
	for (int f = 0; f < OP_FIELDS; f++) {
		if (!seen[f])
			return op_fail(cfg, "a pattern without all of method, host, url", key);
	}
	return 0;
}

static void op_free(struct op_config *cfg)
{
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->v[i].key);
		for (int f = 0; f < OP_FIELDS; f++) {
			free(cfg->v[i].source[f]);
			pcre2_code_free(cfg->v[i].re[f]);
		}
	}
	free(cfg->v);
	cfg->v = NULL;
	cfg->n = 0;
}

/* Returns 0, or -1 with cfg->err saying why the document is not one. */
static int op_load(struct op_config *cfg, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *patterns = NULL;
	yaml_node_pair_t *pair;
	int ret = 0;

	memset(cfg, 0, sizeof(*cfg));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(cfg->err, sizeof(cfg->err), "not YAML: %s at line %zu",
			 parser.problem ? parser.problem : "?", parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE ||
	    root->data.mapping.pairs.top - root->data.mapping.pairs.start != 1) {
		ret = op_fail(cfg, "the document is not a map of one key", NULL);
		goto out;
	}
	pair = root->data.mapping.pairs.start;
	if (strcmp(op_scalar(&doc, yaml_document_get_node(&doc, pair->key)) ?: "", "patterns")) {
		ret = op_fail(cfg, "the one key is not patterns", NULL);
		goto out;
	}
	patterns = yaml_document_get_node(&doc, pair->value);
	if (!patterns || patterns->type != YAML_MAPPING_NODE) {
		ret = op_fail(cfg, "patterns is not a map", NULL);
		goto out;
	}
	for (pair = patterns->data.mapping.pairs.start;
	     !ret && pair < patterns->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(&doc, pair->key);

		if (!key || key->type != YAML_SCALAR_NODE ||
		    key->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			ret = op_fail(cfg, "a key is not a plain scalar", NULL);
		else
			ret = op_add_pattern(cfg, &doc, op_scalar(&doc, key),
					     yaml_document_get_node(&doc, pair->value));
	}
	/* One document only. */
	if (!ret) {
		yaml_document_t more;

		if (!yaml_parser_load(&parser, &more))
			ret = op_fail(cfg, "trailing text after the document", NULL);
		else {
			if (yaml_document_get_root_node(&more))
				ret = op_fail(cfg, "a second document", NULL);
			yaml_document_delete(&more);
		}
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret)
		op_free(cfg);
	return ret;
}

static bool op_search(const pcre2_code *re, const char *subject)
{
	pcre2_match_data *md;
	int rc;

	if (!re)
		return true;
	md = pcre2_match_data_create_from_pattern(re, NULL);
	rc = pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	if (rc < PCRE2_ERROR_NOMATCH) {
		fprintf(stderr, "pcre2_match error %d\n", rc);
		abort();
	}
	return rc >= 0;
}

static bool op_pattern_matches(const struct op_pattern *p, const char *method, const char *host,
			       const char *path)
{
	return op_search(p->re[0], method) && op_search(p->re[1], host) &&
	       op_search(p->re[2], path);
}

/* How many patterns match the call; *which is the last one found. */
static size_t op_match(const struct op_config *cfg, const char *method, const char *host,
		       const char *path, size_t *which)
{
	size_t count = 0;

	for (size_t i = 0; i < cfg->n; i++) {
		if (op_pattern_matches(&cfg->v[i], method, host, path)) {
			count++;
			*which = i;
		}
	}
	return count;
}

#endif /* ORCHESTRATOR_PATTERNS_H */
