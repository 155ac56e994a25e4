// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Names for suggested patterns: a monitor from the host, a check from the
 * method and path template. Guesses for a person to read and rename; what
 * must hold is that they are letters, digits and '-' only, so that
 * "<monitor>.<check>" is a plain YAML key with exactly one dot.
 */
#include <stdbool.h>
#include <string.h>
#include "call_summary.h"
#include "suggest.h"

#define PLACEHOLDER	CALL_TEMPLATE_PLACEHOLDER
#define PLACEHOLDER_LEN (sizeof(PLACEHOLDER) - 1)

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_lower(c) || is_upper(c) || is_digit(c);
}

static char to_lower(char c)
{
	return is_upper(c) ? c - 'A' + 'a' : c;
}

static char to_upper(char c)
{
	return is_lower(c) ? c - 'a' + 'A' : c;
}

/* Appends to a bounded name; what does not fit is dropped. */
struct name {
	char *buf;
	size_t len, size;
};

static void name_put(struct name *n, char c)
{
	if (n->len + 1 < n->size) {
		n->buf[n->len++] = c;
		n->buf[n->len] = '\0';
	}
}

/* Letters and digits of s[0..len) in lower case, other runs as one '-'. */
static void put_label(struct name *n, const char *s, size_t len)
{
	bool dash = n->len > 0 && n->buf[n->len - 1] != '-';

	for (size_t i = 0; i < len; i++) {
		if (is_alnum(s[i])) {
			if (dash && n->len > 0 && n->buf[n->len - 1] != '-')
				name_put(n, '-');
			dash = false;
			name_put(n, to_lower(s[i]));
		} else {
			dash = true;
		}
	}
}

static bool all_of(const char *s, size_t len, const char *set)
{
	for (size_t i = 0; i < len; i++) {
		if (!strchr(set, s[i]) || !s[i])
			return false;
	}
	return len > 0;
}

/* Second-level labels under a two-letter country domain that are not the
 * owner's name (www.bbc.co.uk is bbc's). */
static bool is_generic_second_level(const char *s, size_t len)
{
	static const char *const generic[] = {"co", "com", "net", "org", "gov", "edu", "ac",
					      "or", "ne",  "go",  "gob", "mil", "ltd", "plc"};

	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
		if (strlen(generic[i]) == len && !memcmp(generic[i], s, len))
			return true;
	}
	return false;
}

/* The label that names the owner: before the top-level domain, and before a
 * generic second level under a country domain. */
static void owner_label(const char *name, size_t len, const char **label, size_t *label_len)
{
	const char *start[8];
	size_t lens[8], n = 0, pick;

	/* Only the last labels matter: keep the final 8 non-empty ones. */
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && name[j] != '.')
			j++;
		if (j > i) {
			if (n == 8) {
				memmove(start, start + 1, 7 * sizeof(start[0]));
				memmove(lens, lens + 1, 7 * sizeof(lens[0]));
				n = 7;
			}
			start[n] = name + i;
			lens[n++] = j - i;
		}
		i = j + 1;
	}
	*label = name;
	*label_len = 0;
	if (n == 0)
		return;
	pick = n == 1 ? 0 : n - 2;
	if (n >= 3 && lens[n - 1] == 2 && is_generic_second_level(start[n - 2], lens[n - 2]))
		pick = n - 3;
	*label = start[pick];
	*label_len = lens[pick];
}

size_t suggest_monitor_name(const char *host, char *buf, size_t size)
{
	struct name n = {.buf = buf,
			 .size = size > SUGGEST_MONITOR_MAX + 1 ? SUGGEST_MONITOR_MAX + 1 : size};
	size_t hlen = strlen(host), name_len;
	const char *port = NULL, *close;

	buf[0] = '\0';
	if (host[0] == '[' && (close = strchr(host, ']'))) {
		/* [v6]:port: no name to take, the address and port are it. */
		put_label(&n, "ip6", 3);
		put_label(&n, host + 1, close - host - 1);
		if (close[1] == ':')
			put_label(&n, close + 2, strlen(close + 2));
	} else {
		port = memchr(host, ':', hlen);
		name_len = port ? (size_t)(port - host) : hlen;
		if (all_of(host, name_len, "0123456789.") &&
		    strcspn(host, "0123456789") < name_len) {
			put_label(&n, "ip", 2);
			put_label(&n, host, hlen);
		} else {
			const char *label;
			size_t label_len;

			owner_label(host, name_len, &label, &label_len);
			put_label(&n, label, label_len);
		}
	}
	while (n.len > 0 && n.buf[n.len - 1] == '-')
		n.buf[--n.len] = '\0';
	if (n.len == 0)
		put_label(&n, "host", 4);
	return n.len;
}

static bool placeholder_at(const char *s, size_t len)
{
	return len >= PLACEHOLDER_LEN && !memcmp(s, PLACEHOLDER, PLACEHOLDER_LEN);
}

/* A segment of nothing but placeholders ("{id}", "{id}{id}"). */
static bool placeholder_only(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i += PLACEHOLDER_LEN) {
		if (!placeholder_at(s + i, len - i))
			return false;
	}
	return true;
}

/* v1, v2, v1beta1, v3alpha: API versions, not names. */
static bool is_version(const char *s, size_t len)
{
	size_t i = 1;

	if (len < 2 || to_lower(s[0]) != 'v' || !is_digit(s[1]))
		return false;
	while (i < len && is_digit(s[i]))
		i++;
	while (i < len && is_lower(to_lower(s[i])))
		i++;
	while (i < len && is_digit(s[i]))
		i++;
	return i == len;
}

static bool ends_with(const char *w, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (to_lower(w[len - n + i]) != suffix[i])
			return false;
	}
	return true;
}

/* English plural to singular, the common API nouns only: customers,
 * companies, addresses, batches, boxes. Returns the word's new length and
 * whether it ends in 'y' instead of "ies". */
static size_t singular_len(const char *w, size_t len, bool *to_y)
{
	*to_y = false;
	if (len <= 3 || is_digit(w[len - 1]))
		return len;
	if (ends_with(w, len, "ies")) {
		*to_y = true;
		return len - 3;
	}
	if (ends_with(w, len, "sses") || ends_with(w, len, "ches") || ends_with(w, len, "shes") ||
	    ends_with(w, len, "xes"))
		return len - 2;
	if (ends_with(w, len, "ss") || ends_with(w, len, "us") || ends_with(w, len, "is"))
		return len;
	if (ends_with(w, len, "s"))
		return len - 1;
	return len;
}

static void put_word(struct name *n, const char *w, size_t len, bool singular)
{
	bool to_y = false;

	if (singular)
		len = singular_len(w, len, &to_y);
	for (size_t i = 0; i < len; i++)
		name_put(n, i == 0 ? to_upper(w[i]) : w[i]);
	if (to_y)
		name_put(n, is_upper(w[len]) ? 'Y' : 'y');
}

/* The words of one segment, placeholders left out; the last made singular
 * when a placeholder segment follows (customers/{id} is one customer). */
static void put_segment(struct name *n, const char *s, size_t len, bool singular)
{
	const char *last = NULL;
	size_t last_len = 0;

	for (size_t i = 0; i < len;) {
		size_t j = i;

		if (placeholder_at(s + i, len - i)) {
			i += PLACEHOLDER_LEN;
			continue;
		}
		while (j < len && is_alnum(s[j]) && !placeholder_at(s + j, len - j))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		if (last)
			put_word(n, last, last_len, false);
		last = s + i;
		last_len = j - i;
		i = j;
	}
	if (last)
		put_word(n, last, last_len, singular);
}

size_t suggest_check_name(const char *method, const char *template, char *buf, size_t size)
{
	struct name n = {.buf = buf,
			 .size = size > SUGGEST_CHECK_MAX + 1 ? SUGGEST_CHECK_MAX + 1 : size};
	size_t method_len = strlen(method), start_len;
	bool placeholders = false;
	const char *s = template;

	buf[0] = '\0';
	for (size_t i = 0; i < method_len; i++) {
		if (is_alnum(method[i]))
			name_put(&n, n.len == 0 ? to_upper(method[i]) : to_lower(method[i]));
	}
	if (n.len == 0 || !is_upper(n.buf[0])) {
		n.len = 0;
		n.buf[0] = '\0';
		put_word(&n, "Call", 4, false);
	}
	start_len = n.len;
	if (!strcmp(template, "*")) {
		put_word(&n, "Server", 6, false);
		return n.len;
	}
	while (*s) {
		const char *end = strchr(s, '/'), *next;
		size_t len = end ? (size_t)(end - s) : strlen(s);
		bool singular = false;

		next = end ? end + 1 : NULL;
		if (next) {
			const char *next_end = strchr(next, '/');

			singular = placeholder_only(next, next_end ? (size_t)(next_end - next)
								   : strlen(next));
		}
		if (placeholder_only(s, len))
			placeholders = true;
		else if (len > 0 && !is_version(s, len) && !(len == 3 && ends_with(s, 3, "api")))
			put_segment(&n, s, len, singular);
		if (!end)
			break;
		s = next;
	}
	if (n.len == start_len)
		put_word(&n, placeholders ? "ById" : "Root", 4, false);
	return n.len;
}
