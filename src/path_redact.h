/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Secrets inside request paths never leave the host: a path segment that
 * is a credential (a webhook's token, a bot token, a key) is replaced by
 * PATH_TOKEN before the call is logged or sent. Names and ordinary ids
 * (numbers, UUIDs, short or hex ids under 32 characters) are kept: the
 * Orchestrator matches its url regexes against the path, and folding ids
 * is the summary's business (call_template.h), not the wire's.
 *
 * The rule, per segment (README "What leaves the host"):
 * - Telegram: "bot<digits>:<token>" becomes "bot:token";
 * - Discord: the segment after ".../webhooks/<digits>/";
 * - Slack: the segment after "/services/T.../B.../";
 * - any segment of PATH_TOKEN_MIN_LEN characters or more, made only of
 *   letters, digits and - _ . ~ + =, that is not a UUID nor all digits,
 *   and either is hex of 32 characters or more, or looks random: two kinds
 *   of characters (lower case, upper case, digits) or more, changing kind at
 *   least once every 3 characters (a capital starting a word, as in
 *   camelCase, is not counted). Slugs (how-to-2023), camelCase names and
 *   file names keep; API keys, JWTs, webhook secrets and long opaque ids
 *   (indistinguishable from keys by their shape) become PATH_TOKEN.
 */
#ifndef PATH_REDACT_H
#define PATH_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define PATH_TOKEN	   ":token"
#define PATH_TOKEN_MIN_LEN 20

/* Whether a segment is a UUID (8-4-4-4-12 hex digits); also how the
 * summary's templates tell one (call_template.c). */
bool path_segment_is_uuid(const char *s, size_t len);

/* Whether one segment (no '/') is a secret by the generic rule above. */
bool path_segment_is_secret(const char *seg, size_t len);

/*
 * Rewrite path[0..len) in place, every secret segment replaced (never
 * longer than it was). Returns the new length; path is not NUL-terminated
 * by it.
 */
size_t path_redact(char *path, size_t len);

#endif /* PATH_REDACT_H */
