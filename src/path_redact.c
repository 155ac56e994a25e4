// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "path_redact.h"

/* Hex of this length or more is a key or a digest; shorter (a MongoDB
 * ObjectId is 24) is an ordinary id. */
#define HEX_SECRET_MIN_LEN 32
/* A segment after a webhook's id shorter than this is a name, not its token. */
#define CONTEXT_TOKEN_MIN_LEN 16
#define TELEGRAM_TOKEN	      "bot:token"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* base64, base64url, JWT dots, and what keys are joined with. */
static bool is_token_char(char c)
{
	return is_digit(c) || is_lower(c) || is_upper(c) || c == '-' || c == '_' || c == '.' ||
	       c == '~' || c == '+' || c == '=';
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
	}
	return len > 0;
}

bool path_segment_is_uuid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

/* 1 lower case, 2 upper case, 4 digit, 0 anything else. */
static unsigned kind(char c)
{
	return is_lower(c) ? 1 : is_upper(c) ? 2 : is_digit(c) ? 4 : 0;
}

/* A capital starting a word: after a non-capital, before 3 lower-case
 * letters ("Get" of getUserName, not "Xk" of a key). */
static bool starts_word(const char *s, size_t len, size_t i)
{
	if (!is_upper(s[i]) || (i > 0 && is_upper(s[i - 1])) || i + 3 >= len)
		return false;
	return is_lower(s[i + 1]) && is_lower(s[i + 2]) && is_lower(s[i + 3]);
}

/*
 * Random characters change kind (lower, upper, digit) at about 6 neighbours
 * in 10 (base62); words and numbers do not, and camelCase changes only where
 * a capital starts a word, which is not counted. Separators start afresh.
 */
static bool looks_random(const char *s, size_t len)
{
	unsigned kinds = 0, changes = 0, alnum = 0, prev = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned k = kind(s[i]);

		if (!k) {
			prev = 0;
			continue;
		}
		alnum++;
		kinds |= k;
		if (prev && k != prev && !(i > 0 && starts_word(s, len, i - 1)))
			changes++;
		prev = k;
	}
	return (kinds & (kinds - 1)) != 0 && changes * 3 >= alnum;
}

bool path_segment_is_secret(const char *s, size_t len)
{
	bool hex = true;

	if (len < PATH_TOKEN_MIN_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_token_char(s[i]))
			return false;
		hex &= is_hex(s[i]);
	}
	if (path_segment_is_uuid(s, len) || all_digits(s, len))
		return false;
	if (hex)
		return len >= HEX_SECRET_MIN_LEN;
	return looks_random(s, len);
}

/* Telegram's bot API: /bot<bot id>:<secret>/<method>. */
static bool is_telegram_token(const char *s, size_t len)
{
	size_t i = 3, digits;

	if (len < 3 || memcmp(s, "bot", 3))
		return false;
	while (i < len && is_digit(s[i]))
		i++;
	digits = i - 3;
	if (digits == 0 || i == len || s[i] != ':')
		return false;
	for (size_t j = i + 1; j < len; j++) {
		if (!is_token_char(s[j]))
			return false;
	}
	return len - i - 1 >= PATH_TOKEN_MIN_LEN;
}

struct seg {
	const char *s;
	size_t len;
};

static bool seg_is(struct seg g, const char *word)
{
	return g.s && g.len == strlen(word) && !memcmp(g.s, word, g.len);
}

/* A Slack id: a letter then upper-case letters and digits (T0123ABCD). */
static bool slack_id(struct seg g, char first)
{
	if (!g.s || g.len < 2 || g.s[0] != first)
		return false;
	for (size_t i = 1; i < g.len; i++) {
		if (!is_upper(g.s[i]) && !is_digit(g.s[i]))
			return false;
	}
	return true;
}

/* prev[0] is the segment before this one, prev[1] the one before it... */
static bool webhook_token(const struct seg prev[3], size_t len)
{
	if (len < CONTEXT_TOKEN_MIN_LEN)
		return false;
	/* Discord (and its Slack-compatible form): /api/webhooks/<id>/<token> */
	if (seg_is(prev[1], "webhooks") && prev[0].s && all_digits(prev[0].s, prev[0].len))
		return true;
	/* Slack: /services/T.../B.../<secret> */
	return seg_is(prev[2], "services") && slack_id(prev[1], 'T') && slack_id(prev[0], 'B');
}

size_t path_redact(char *path, size_t len)
{
	struct seg prev[3] = {{0}};
	size_t r = 0, w = 0;

	for (;;) {
		const char *slash = memchr(path + r, '/', len - r);
		size_t n = slash ? (size_t)(slash - (path + r)) : len - r;
		const char *put = path + r;
		size_t put_len = n;

		if (is_telegram_token(path + r, n)) {
			put = TELEGRAM_TOKEN;
			put_len = strlen(TELEGRAM_TOKEN);
		} else if (webhook_token(prev, n) || path_segment_is_secret(path + r, n)) {
			put = PATH_TOKEN;
			put_len = strlen(PATH_TOKEN);
		}
		/* Never longer than the segment: w stays at or before r. */
		memmove(path + w, put, put_len);
		prev[2] = prev[1];
		prev[1] = prev[0];
		prev[0] = (struct seg){path + w, put_len};
		w += put_len;
		r += n;
		if (!slash)
			break;
		path[w++] = '/';
		r++;
	}
	return w;
}
