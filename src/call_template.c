// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Path templates. The rules lean towards keeping a segment: a name folded by
 * mistake merges two endpoints into one row, while an id kept by mistake
 * only costs rows, which the summary's cap bounds anyway.
 */
#include <errno.h>
#include <string.h>
#include "call_summary.h"
#include "call_template.h"
#include "path_redact.h"

/* A segment this long is a value whatever it is made of (tokens, slugs). */
#define ID_LEN_ANY 32
/* Hex strings: a short one needs a digit ("facade" is a word). */
#define HEX_LEN_WITH_DIGIT 8
#define HEX_LEN_ANY	   16
/* Digits and separators only (2024-01-15, 10.0.0.1): this many digits. */
#define NUMERIC_DIGITS_MIN 4
/* Short codes mostly made of digits (AB123456), not x86_64 or sha256. */
#define CODE_LEN_MIN	8
#define CODE_DIGITS_MIN 4
/* A run of letters and digits this long may be a random token. */
#define TOKEN_RUN_MIN 10
/* "{id}.json": an extension is a letter then up to 4 letters or digits. */
#define EXT_LEN_MAX 5

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Characters ids are made of (base64url, base64, dots of a JWT, %-escapes). */
static bool is_token_char(char c)
{
	return is_digit(c) || is_alpha(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
	       c == '=' || c == '+' || c == '%';
}

/* Something before and after an '@' (or its escape %40). */
static bool is_email_like(const char *s, size_t len)
{
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] == '@')
			return true;
		if (s[i] == '%' && i + 3 < len && s[i + 1] == '4' && s[i + 2] == '0')
			return true;
	}
	return false;
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/*
 * A run of letters and digits that looks random: letters and digits mixed
 * (cus_9s6XKzkNRiz8i3, i-0abcd1234ef567890), or mixed case with two capitals
 * in a row (NffrFeUfNVxHib, a base62 id without digits); camelCase names
 * (listPaymentMethods) have no capitals in a row.
 */
static bool run_is_token(const char *s, size_t len)
{
	bool digit = false, letter = false, lower = false, upper_pair = false;

	if (len < TOKEN_RUN_MIN)
		return false;
	for (size_t i = 0; i < len; i++) {
		digit |= is_digit(s[i]);
		letter |= is_alpha(s[i]);
		lower |= s[i] >= 'a' && s[i] <= 'z';
		upper_pair |= i > 0 && is_upper(s[i]) && is_upper(s[i - 1]);
	}
	return (digit && letter) || (upper_pair && lower);
}

bool call_segment_is_id(const char *s, size_t len)
{
	size_t digits = 0, letters = 0, hex = 0, run = 0;
	bool token = false;

	if (len == 0)
		return false;
	if (len >= ID_LEN_ANY || path_segment_is_uuid(s, len) || is_email_like(s, len))
		return true;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && (is_digit(s[i]) || is_alpha(s[i]))) {
			digits += is_digit(s[i]);
			letters += is_alpha(s[i]);
			hex += is_hex(s[i]);
			run++;
			continue;
		}
		if (i < len && !is_token_char(s[i]))
			return false; /* ':' ',' '(' ...: a name with syntax, keep it */
		token |= run_is_token(s + i - run, run);
		run = 0;
	}
	if (digits == len)
		return true;
	if (hex == len && (len >= HEX_LEN_ANY || (len >= HEX_LEN_WITH_DIGIT && digits)))
		return true;
	if (letters == 0)
		return digits >= NUMERIC_DIGITS_MIN;
	if (len >= CODE_LEN_MIN && digits >= CODE_DIGITS_MIN && digits * 2 >= len)
		return true;
	return token;
}

/* The length of an extension ending the segment ("json" of "12.json"), or 0. */
static size_t extension_len(const char *s, size_t len)
{
	for (size_t n = 1; n <= EXT_LEN_MAX && n + 1 < len; n++) {
		char c = s[len - n];

		if (s[len - n - 1] == '.')
			return is_alpha(c) ? n : 0;
		if (!is_alpha(c) && !is_digit(c))
			return 0;
	}
	return 0;
}

static int put(char *out, size_t size, size_t *n, const char *s, size_t len)
{
	if (*n + len >= size)
		return -ENAMETOOLONG;
	memcpy(out + *n, s, len);
	*n += len;
	return 0;
}

static int put_segment(char *out, size_t size, size_t *n, const char *s, size_t len)
{
	static const char ph[] = CALL_TEMPLATE_PLACEHOLDER;
	size_t ext = extension_len(s, len);

	if (call_segment_is_id(s, len))
		return put(out, size, n, ph, sizeof(ph) - 1);
	if (ext && call_segment_is_id(s, len - ext - 1)) {
		if (put(out, size, n, ph, sizeof(ph) - 1))
			return -ENAMETOOLONG;
		return put(out, size, n, s + len - ext - 1, ext + 1);
	}
	return put(out, size, n, s, len);
}

int call_template(const char *path, char *out, size_t size)
{
	const char *p = path;
	size_t n = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (put_segment(out, size, &n, p, len))
			return -ENAMETOOLONG;
		if (!slash)
			break;
		if (put(out, size, &n, "/", 1))
			return -ENAMETOOLONG;
		p = slash + 1;
	}
	out[n] = '\0';
	return (int)n;
}
