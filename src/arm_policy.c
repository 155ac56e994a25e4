// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include "arm_policy.h"
#include <linux/types.h>
#include "bpf/tls_trace.h"

enum arm_action arm_on_tls_file(const struct arm_config *c, struct arm_state *s, unsigned narmed,
				bool seccomp_filtered, uint64_t now)
{
	if (!c->per_process || s->server_only)
		return ARM_NONE;
	if (s->armed)
		return ARM_ATTACH; /* one more file of an armed process */
	if (s->idle || narmed >= c->max_armed) {
		s->idle = true; /* armed at its first client connection */
		return ARM_NONE;
	}
	if (c->seccomp_unsafe && seccomp_filtered) {
		bool first = !s->seccomp_skipped;

		s->seccomp_skipped = true;
		return first ? ARM_REFUSE_SECCOMP : ARM_NONE;
	}
	s->armed = true;
	s->active_ns = now;
	return ARM_ATTACH;
}

enum arm_action arm_on_roles(const struct arm_config *c, struct arm_state *s, uint32_t roles,
			     unsigned narmed, bool seccomp_filtered, uint64_t now, bool *make_room)
{
	*make_room = false;
	s->roles |= roles;
	if (s->roles & TLS_ROLE_CLIENT) {
		s->disarm_at_ns = 0;
		s->active_ns = now;
		if (!c->per_process || !(s->server_only || s->idle) || s->armed)
			return ARM_NONE;
		if (c->seccomp_unsafe && seccomp_filtered) {
			bool first = !s->seccomp_skipped;

			s->seccomp_skipped = true;
			return first ? ARM_REFUSE_SECCOMP : ARM_NONE;
		}
		/* A server that now calls out (a proxy), or a process left
		 * without probes by the cap: trace it, within the cap. */
		*make_room = narmed >= c->max_armed;
		s->server_only = s->idle = false;
		s->armed = true;
		return ARM_ATTACH;
	}
	if ((s->roles & TLS_ROLE_SERVER) && c->per_process && !s->server_only && !s->disarm_at_ns)
		s->disarm_at_ns = now + c->disarm_delay_ns;
	return ARM_NONE;
}

void arm_on_connected(struct arm_state *s, uint64_t now)
{
	s->active_ns = now;
}

void arm_on_attach_failed(struct arm_state *s)
{
	s->armed = false;
}

enum arm_action arm_on_timer(const struct arm_config *c, struct arm_state *s, uint64_t now)
{
	if (!s->disarm_at_ns || now < s->disarm_at_ns)
		return ARM_NONE;
	s->disarm_at_ns = 0;
	if (s->roles & TLS_ROLE_CLIENT)
		return ARM_NONE;
	s->server_only = true;
	if (!s->armed)
		return ARM_NONE;
	s->armed = false;
	return ARM_DETACH;
}

void arm_make_idle(struct arm_state *s)
{
	s->armed = false;
	s->idle = true;
	s->roles = 0;
	s->disarm_at_ns = 0;
}

bool arm_is_idle(const struct arm_config *c, const struct arm_state *s, uint64_t now)
{
	return s->armed && !s->server_only && now >= s->active_ns &&
	       now - s->active_ns >= c->idle_min_ns;
}

static int by_active(const void *a, const void *b)
{
	const struct arm_state *x = *(struct arm_state *const *)a;
	const struct arm_state *y = *(struct arm_state *const *)b;

	return x->active_ns < y->active_ns ? -1 : x->active_ns > y->active_ns;
}

size_t arm_select_idle(const struct arm_config *c, struct arm_state **candidates, size_t n,
		       unsigned narmed)
{
	size_t excess;

	if (narmed <= c->max_armed || n == 0)
		return 0;
	excess = narmed - c->max_armed;
	qsort(candidates, n, sizeof(*candidates), by_active);
	return excess < n ? excess : n;
}

long arm_pick_victim(struct arm_state *const *armed, size_t n)
{
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		if (best < 0 || armed[i]->active_ns < armed[best]->active_ns)
			best = (long)i;
	}
	return best;
}
