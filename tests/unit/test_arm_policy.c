// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The arming policy with a fake clock: budget, idle LRU, server-only
 * shedding, re-arm on connect, the seccomp rule, system-wide mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/types.h>
#include "arm_policy.h"
#include "bpf/tls_trace.h"

#define MS 1000000ull
#define S  1000000000ull

static const struct arm_config cfg = {
    .per_process = true,
    .disarm_delay_ns = 1 * S,
    .idle_min_ns = 10 * S,
    .max_armed = 2,
    .seccomp_unsafe = false,
};

static void test_new_process_armed_at_once(void **state)
{
	struct arm_state s = {0};

	(void)state;
	assert_int_equal(arm_on_tls_file(&cfg, &s, 0, false, 5 * S), ARM_ATTACH);
	assert_true(s.armed);
	assert_int_equal(s.active_ns, 5 * S);
	/* A second file of an armed process: attach it too, not a new slot. */
	assert_int_equal(arm_on_tls_file(&cfg, &s, 2, false, 6 * S), ARM_ATTACH);
	assert_int_equal(s.active_ns, 5 * S);
}

static void test_budget_defers_to_first_connection(void **state)
{
	struct arm_state s = {0};
	bool room;

	(void)state;
	/* Two armed already: the third waits for its client marker. */
	assert_int_equal(arm_on_tls_file(&cfg, &s, 2, false, 1 * S), ARM_NONE);
	assert_false(s.armed);
	assert_true(s.idle);
	/* Mapping another file changes nothing while it waits. */
	assert_int_equal(arm_on_tls_file(&cfg, &s, 1, false, 2 * S), ARM_NONE);
	/* Its first client connection arms it, and asks for room at the cap. */
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 2, false, 3 * S, &room),
			 ARM_ATTACH);
	assert_true(room);
	assert_true(s.armed);
	assert_false(s.idle);
	/* Below the cap no room is needed. */
	memset(&s, 0, sizeof(s));
	s.idle = true;
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 1, false, 3 * S, &room),
			 ARM_ATTACH);
	assert_false(room);
}

static void test_server_only_shed_after_delay(void **state)
{
	struct arm_state s = {0};
	bool room;

	(void)state;
	arm_on_tls_file(&cfg, &s, 0, false, 0);
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_SERVER, 1, false, 100 * MS, &room),
			 ARM_NONE);
	assert_int_equal(s.disarm_at_ns, 1100 * MS);
	assert_int_equal(arm_on_timer(&cfg, &s, 1099 * MS), ARM_NONE);
	assert_true(s.armed);
	assert_int_equal(arm_on_timer(&cfg, &s, 1100 * MS), ARM_DETACH);
	assert_false(s.armed);
	assert_true(s.server_only);
	/* A server-only process mapping another file stays unarmed. */
	assert_int_equal(arm_on_tls_file(&cfg, &s, 0, false, 2 * S), ARM_NONE);
	/* Timer done: nothing more. */
	assert_int_equal(arm_on_timer(&cfg, &s, 5 * S), ARM_NONE);
}

static void test_client_within_delay_is_kept(void **state)
{
	struct arm_state s = {0};
	bool room;

	(void)state;
	arm_on_tls_file(&cfg, &s, 0, false, 0);
	arm_on_roles(&cfg, &s, TLS_ROLE_SERVER, 1, false, 0, &room);
	/* A reverse proxy: serves and calls out within the window. */
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 1, false, 500 * MS, &room),
			 ARM_NONE);
	assert_int_equal(s.disarm_at_ns, 0);
	assert_int_equal(arm_on_timer(&cfg, &s, 2 * S), ARM_NONE);
	assert_true(s.armed);
}

static void test_server_rearmed_on_connect(void **state)
{
	struct arm_state s = {0};
	bool room;

	(void)state;
	arm_on_tls_file(&cfg, &s, 0, false, 0);
	arm_on_roles(&cfg, &s, TLS_ROLE_SERVER, 1, false, 0, &room);
	assert_int_equal(arm_on_timer(&cfg, &s, 1 * S), ARM_DETACH);
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 0, false, 7 * S, &room),
			 ARM_ATTACH);
	assert_true(s.armed);
	assert_false(s.server_only);
	assert_int_equal(s.active_ns, 7 * S);
	/* Already armed: further client roles ask for nothing. */
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 1, false, 8 * S, &room), ARM_NONE);
}

static void test_seccomp_rule(void **state)
{
	struct arm_config unsafe = cfg;
	struct arm_state s = {0}, t = {0};
	bool room;

	(void)state;
	unsafe.seccomp_unsafe = true;
	assert_int_equal(arm_on_tls_file(&unsafe, &s, 0, true, 0), ARM_REFUSE_SECCOMP);
	assert_false(s.armed);
	/* Said once, then quietly refused. */
	assert_int_equal(arm_on_tls_file(&unsafe, &s, 0, true, 0), ARM_NONE);
	s.idle = true;
	assert_int_equal(arm_on_roles(&unsafe, &s, TLS_ROLE_CLIENT, 0, true, 0, &room), ARM_NONE);
	assert_false(s.armed);
	/* No filter: armed as usual; on a safe kernel the filter does not matter. */
	assert_int_equal(arm_on_tls_file(&unsafe, &t, 0, false, 0), ARM_ATTACH);
	memset(&t, 0, sizeof(t));
	assert_int_equal(arm_on_tls_file(&cfg, &t, 0, true, 0), ARM_ATTACH);
}

static void test_system_wide_mode_arms_nobody(void **state)
{
	struct arm_config sw = cfg;
	struct arm_state s = {0};
	bool room;

	(void)state;
	sw.per_process = false;
	assert_int_equal(arm_on_tls_file(&sw, &s, 0, false, 0), ARM_NONE);
	assert_int_equal(arm_on_roles(&sw, &s, TLS_ROLE_SERVER, 0, false, 0, &room), ARM_NONE);
	assert_int_equal(s.disarm_at_ns, 0);
	assert_int_equal(arm_on_roles(&sw, &s, TLS_ROLE_CLIENT, 0, false, 0, &room), ARM_NONE);
	assert_false(s.armed);
}

static void test_idle_lru(void **state)
{
	struct arm_state a = {.armed = true, .active_ns = 5 * S};
	struct arm_state b = {.armed = true, .active_ns = 1 * S};
	struct arm_state c = {.armed = true, .active_ns = 3 * S};
	struct arm_state busy = {.armed = true, .active_ns = 20 * S};
	struct arm_state server = {.armed = true, .server_only = true, .active_ns = 0};
	struct arm_state *cand[3] = {&a, &b, &c};

	(void)state;
	assert_true(arm_is_idle(&cfg, &a, 15 * S));
	assert_false(arm_is_idle(&cfg, &a, 14 * S));
	assert_false(arm_is_idle(&cfg, &busy, 21 * S));
	assert_false(arm_is_idle(&cfg, &server, 100 * S));
	/* 4 armed, cap 2: the two idle the longest go, oldest first. */
	assert_int_equal(arm_select_idle(&cfg, cand, 3, 4), 2);
	assert_ptr_equal(cand[0], &b);
	assert_ptr_equal(cand[1], &c);
	/* Within the cap: nobody. More excess than candidates: all of them. */
	assert_int_equal(arm_select_idle(&cfg, cand, 3, 2), 0);
	assert_int_equal(arm_select_idle(&cfg, cand, 3, 10), 3);
	assert_int_equal(arm_select_idle(&cfg, cand, 0, 10), 0);
}

static void test_victim_is_least_recently_active(void **state)
{
	struct arm_state a = {.armed = true, .active_ns = 5 * S};
	struct arm_state b = {.armed = true, .active_ns = 2 * S};
	struct arm_state *armed[2] = {&a, &b};

	(void)state;
	assert_int_equal(arm_pick_victim(armed, 2), 1);
	assert_int_equal(arm_pick_victim(armed, 0), -1);
}

static void test_make_idle_forgets_roles(void **state)
{
	struct arm_state s = {.armed = true, .roles = TLS_ROLE_CLIENT, .disarm_at_ns = 3};
	bool room;

	(void)state;
	arm_make_idle(&s);
	assert_false(s.armed);
	assert_true(s.idle);
	assert_int_equal(s.roles, 0);
	assert_int_equal(s.disarm_at_ns, 0);
	/* The marker then reports it again, and it is armed. */
	assert_int_equal(arm_on_roles(&cfg, &s, TLS_ROLE_CLIENT, 0, false, 1, &room), ARM_ATTACH);
}

static void test_attach_failure_unarms(void **state)
{
	struct arm_state s = {0};

	(void)state;
	arm_on_tls_file(&cfg, &s, 0, false, 0);
	arm_on_attach_failed(&s);
	assert_false(s.armed);
	/* The next mapping tries again. */
	assert_int_equal(arm_on_tls_file(&cfg, &s, 0, false, 1), ARM_ATTACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_process_armed_at_once),
	    cmocka_unit_test(test_budget_defers_to_first_connection),
	    cmocka_unit_test(test_server_only_shed_after_delay),
	    cmocka_unit_test(test_client_within_delay_is_kept),
	    cmocka_unit_test(test_server_rearmed_on_connect),
	    cmocka_unit_test(test_seccomp_rule),
	    cmocka_unit_test(test_system_wide_mode_arms_nobody),
	    cmocka_unit_test(test_idle_lru),
	    cmocka_unit_test(test_victim_is_least_recently_active),
	    cmocka_unit_test(test_make_idle_forgets_roles),
	    cmocka_unit_test(test_attach_failure_unarms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
