/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes hold data probes: the decisions alone, as pure functions
 * of (configuration, a process's state, an event, the time) -> an action.
 * The caller (targets.c) does the kernel work the action asks for and
 * reports back only what can fail (an attach). No clock, no I/O here, so
 * every rule is unit-tested with a fake clock (tests/unit/test_arm_policy.c).
 *
 * The rules, and why:
 * - Per-process mode: a process that maps a TLS library (or is predicted
 *   to at exec) is armed at once: a one-shot client writes its request
 *   ~12 ms after exec, and a uprobe scoped to its pid costs no one else.
 * - A process seen only serving (server marker, or a response written
 *   first) for disarm_delay_ns loses its probes: servers pay nothing. The
 *   client marker re-arms it (a reverse proxy calling out).
 * - At most max_armed processes hold probes: each armed process costs every
 *   probe hit ~0.13 us, and the kernel's attach/detach work grows with
 *   their number. Beyond the cap, new processes wait for their first client
 *   connection (the client marker), and the processes without a client
 *   connection for the longest (idle_min_ns at least) give theirs back.
 *   A client connection that must be armed when the cap is reached takes
 *   the slot of the least recently active armed process: the cap holds.
 * - On kernels 6.11-6.13 return probes go through a system call a seccomp
 *   filter may reject (killing the process): processes under a filter are
 *   never armed there.
 * - System-wide mode: data probes are per file for all processes; nothing
 *   is armed per process.
 */
#ifndef ARM_POLICY_H
#define ARM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arm_config {
	bool per_process;
	uint64_t disarm_delay_ns; /* server-only after this long */
	uint64_t idle_min_ns;	  /* without a client connection: idle */
	unsigned max_armed;
	bool seccomp_unsafe; /* uretprobes vs. seccomp filters (6.11-6.13) */
};

/* What the policy knows of one process (kept in its process table entry). */
struct arm_state {
	uint32_t roles;	       /* TLS_ROLE_* seen */
	bool armed;	       /* data probes in, or on their way */
	bool server_only;      /* disarmed: it only serves */
	bool idle;	       /* unarmed until its next client connection */
	bool seccomp_skipped;  /* never armed: seccomp filter on a 6.11-6.13 kernel */
	uint64_t active_ns;    /* armed, or last seen with a client connection */
	uint64_t disarm_at_ns; /* server-only check due then; 0: none */
};

enum arm_action {
	ARM_NONE,
	ARM_ATTACH,	    /* attach its data probes (to the files not yet attached) */
	ARM_DETACH,	    /* remove its data probes */
	ARM_REFUSE_SECCOMP, /* not armed: seccomp filter (log it once) */
};

/*
 * The process maps a TLS file (or is predicted to). NARMED: processes armed
 * now. SECCOMP_FILTERED: it runs under a seccomp filter (only asked when
 * config->seccomp_unsafe).
 */
enum arm_action arm_on_tls_file(const struct arm_config *c, struct arm_state *s, unsigned narmed,
				bool seccomp_filtered, uint64_t now);

/*
 * The markers saw new roles. On ARM_ATTACH, *make_room says an armed
 * process must give its probes back first (arm_pick_victim).
 */
enum arm_action arm_on_roles(const struct arm_config *c, struct arm_state *s, uint32_t roles,
			     unsigned narmed, bool seccomp_filtered, uint64_t now, bool *make_room);

/* It has an open client connection now. */
void arm_on_connected(struct arm_state *s, uint64_t now);

/* Its pending attach failed (process gone, limits): not armed. */
void arm_on_attach_failed(struct arm_state *s);

/* A server-only check is due (disarm_at_ns reached): ARM_DETACH or ARM_NONE. */
enum arm_action arm_on_timer(const struct arm_config *c, struct arm_state *s, uint64_t now);

/* Give the probes back until the next client connection (the caller also
 * forgets its roles in the kernel so the marker reports it again). */
void arm_make_idle(struct arm_state *s);

/* Armed, not serving, no client connection for idle_min_ns. */
bool arm_is_idle(const struct arm_config *c, const struct arm_state *s, uint64_t now);

/*
 * Over the cap: sorts CANDIDATES (the idle processes, arm_is_idle) oldest
 * activity first and returns how many of them, from the front, must be
 * made idle so that NARMED comes back to max_armed.
 */
size_t arm_select_idle(const struct arm_config *c, struct arm_state **candidates, size_t n,
		       unsigned narmed);

/* Among ARMED states, the one to make room for a forced arm: the least
 * recently active. -1 when N is 0. */
long arm_pick_victim(struct arm_state *const *armed, size_t n);

#endif /* ARM_POLICY_H */
