/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A path's template: the segments that vary from call to call (ids) folded
 * into CALL_TEMPLATE_PLACEHOLDER, so that the calls of one API endpoint are
 * counted together. Pure string work, no state: the summary and its tests
 * use it, and so can anything that must agree with the summary's rows.
 */
#ifndef CALL_TEMPLATE_H
#define CALL_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether one path segment (not containing '/') looks like a value rather
 * than a name: a number, a UUID, a long hex string, an e-mail address, an
 * opaque id (letters and digits mixed, e.g. Stripe's cus_9s6XKzkNRiz8i3,
 * AWS's i-0abcd1234ef567890), a date or an address made of digits, or any
 * segment of 32 bytes or more.
 */
bool call_segment_is_id(const char *seg, size_t len);

/*
 * Write the template of path (as sent on the wire: starts with '/', or is
 * "*") into out: each id segment becomes CALL_TEMPLATE_PLACEHOLDER, an id
 * with a short extension keeps it ("{id}.json"). Returns the template's
 * length, or -ENAMETOOLONG when it does not fit in size bytes with its NUL.
 */
int call_template(const char *path, char *out, size_t size);

#endif /* CALL_TEMPLATE_H */
