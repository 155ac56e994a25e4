// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/capability.h>
#include "privilege.h"

#define BIT(cap) (1ull << (cap))

/* The unit's six, whatever the level. */
static void test_unit_caps_always(void **state)
{
	uint64_t six = BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYS_PTRACE) |
		       BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_SYS_RESOURCE) | BIT(40);

	for (int level = -1; level <= 4; level++)
		assert_true((privilege_caps_for(level) & six) == six);
}

/* Upstream levels (<= 2): CAP_PERFMON opens perf events; no CAP_SYS_ADMIN. */
static void test_upstream_levels_no_sys_admin(void **state)
{
	for (int level = -1; level <= 2; level++)
		assert_false(privilege_caps_for(level) & BIT(CAP_SYS_ADMIN));
}

/* Debian's 3, Ubuntu's 4: only CAP_SYS_ADMIN opens perf events (the side
 * band stream, the pre-6.6 uprobes): it is kept. */
static void test_distribution_levels_keep_sys_admin(void **state)
{
	assert_true(privilege_caps_for(3) & BIT(CAP_SYS_ADMIN));
	assert_true(privilege_caps_for(4) & BIT(CAP_SYS_ADMIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unit_caps_always),
	    cmocka_unit_test(test_upstream_levels_no_sys_admin),
	    cmocka_unit_test(test_distribution_levels_keep_sys_admin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
