// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One instance per host, the parts without a kernel: which BPF map is a
 * claim (from fdinfo text as the kernel prints it), how another daemon runs
 * (from /proc/<pid>/cgroup text of real hosts and runtimes), and its pid in
 * its own namespace. The claim itself is tested with real daemons
 * (tests/e2e/test_single_instance.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <stdint.h>
#include <cmocka.h>
#include "single_instance.h"

/* fdinfo of a claim map, as kernel 6.18 prints it. */
static const char claim_fdinfo[] = "pos:\t0\n"
				   "flags:\t02000002\n"
				   "mnt_id:\t16\n"
				   "ino:\t2077\n"
				   "map_type:\t2\n"
				   "key_size:\t4\n"
				   "value_size:\t80\n"
				   "max_entries:\t1\n"
				   "map_flags:\t0x400\n"
				   "map_extra:\t0x0\n"
				   "memlock:\t4096\n"
				   "map_id:\t1234\n"
				   "frozen:\t0\n";

static void replace(char *buf, size_t size, const char *from, const char *to)
{
	char *p = strstr(buf, from);
	char rest[1024];

	assert_non_null(p);
	snprintf(rest, sizeof(rest), "%s", p + strlen(from));
	snprintf(p, size - (size_t)(p - buf), "%s%s", to, rest);
}

static void test_fdinfo_claim_shape(void **state)
{
	uint32_t id = 0;

	assert_true(instance_fdinfo_is_claim(claim_fdinfo, &id));
	assert_int_equal(id, 1234);
}

static void test_fdinfo_other_maps(void **state)
{
	static const char *const changes[][2] = {
	    {"map_type:\t2", "map_type:\t1"},		/* a hash */
	    {"key_size:\t4", "key_size:\t8"},		/* another key */
	    {"value_size:\t80", "value_size:\t8"},	/* another value */
	    {"max_entries:\t1\n", "max_entries:\t2\n"}, /* more entries */
	    {"map_flags:\t0x400", "map_flags:\t0x0"},	/* not mmapable */
	    {"map_flags:\t0x400", "map_flags:\t0x480"}, /* other flags too */
	    {"map_id:\t1234", "map_id:\t0"},		/* no id */
	    {"map_id:\t1234\n", ""},			/* kernel without ids */
	    {"map_type:\t2", "map_type:\tx"},		/* garbage */
	};

	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char buf[1024];
		uint32_t id = 0;

		snprintf(buf, sizeof(buf), "%s", claim_fdinfo);
		replace(buf, sizeof(buf), changes[i][0], changes[i][1]);
		assert_false(instance_fdinfo_is_claim(buf, &id));
	}
	assert_false(instance_fdinfo_is_claim("", &(uint32_t){0}));
	/* A bpf-prog's fdinfo. */
	assert_false(instance_fdinfo_is_claim("prog_type:\t7\nprog_jited:\t1\nprog_id:\t9\n",
					      &(uint32_t){0}));
}

static void describe(const char *cgroup, bool own_root, const char *want)
{
	char out[200];

	instance_describe_cgroup(cgroup, own_root, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_describe_systemd_unit(void **state)
{
	describe("0::/system.slice/metrist-orchestrator-ebpf-plugin.service\n", false,
		 "systemd unit metrist-orchestrator-ebpf-plugin.service");
	/* Hybrid hierarchy (this kind of VM): the named systemd line. */
	describe("12:pids:/system.slice/x.service\n"
		 "1:name=systemd:/system.slice/metrist-orchestrator-ebpf-plugin.service\n"
		 "0::/\n",
		 false, "systemd unit metrist-orchestrator-ebpf-plugin.service");
	/* A service inside a booted container (systemd-nspawn). */
	describe("0::/machine.slice/machine-bullseye.scope/payload/system.slice/"
		 "metrist-orchestrator-ebpf-plugin.service\n",
		 true,
		 "systemd unit metrist-orchestrator-ebpf-plugin.service in a container (its own "
		 "root directory)");
}

static void test_describe_containers(void **state)
{
	const char *id = "4f3c2b1a09876543210fedcba9876543210fedcba9876543210fedcba987654";

	char buf[400];

	snprintf(buf, sizeof(buf), "0::/machine.slice/libpod-%s.scope/container\n", id);
	describe(buf, true, "podman container 4f3c2b1a0987");
	snprintf(buf, sizeof(buf), "4:memory:/libpod_parent/libpod-%s\n1:name=systemd:/\n", id);
	describe(buf, true, "podman container 4f3c2b1a0987");
	snprintf(buf, sizeof(buf), "0::/system.slice/docker-%s.scope\n", id);
	describe(buf, true, "docker container 4f3c2b1a0987");
	snprintf(buf, sizeof(buf),
		 "0::/kubepods.slice/kubepods-burstable.slice/"
		 "kubepods-burstable-pod1234.slice/cri-containerd-%s.scope\n",
		 id);
	describe(buf, true, "Kubernetes pod container 4f3c2b1a0987");
	snprintf(buf, sizeof(buf), "0::/kubepods/besteffort/pod0c1d/%s\n", id);
	describe(buf, true, "Kubernetes pod container 4f3c2b1a0987");
	snprintf(buf, sizeof(buf), "0::/kubepods.slice/kubepods-pod1.slice/crio-%s.scope\n", id);
	describe(buf, true, "Kubernetes pod CRI-O container 4f3c2b1a0987");
	/* A root of its own and no runtime known. */
	describe("0::/\n", true, "in a container or chroot (its own root directory)");
}

static void test_describe_by_hand(void **state)
{
	describe("0::/user.slice/user-0.slice/session-3.scope\n", false,
		 "started by hand (session-3.scope)");
	describe("9:name=systemd:/\n0::/\n", false, "started by hand");
	describe("", false, "started by hand");
	/* Junk, as a file read from /proc may be cut short. */
	describe("garbage without colons", false, "started by hand");
}

static void test_nspid(void **state)
{
	assert_int_equal(instance_status_nspid("Name:\tx\nTgid:\t42\nNSpid:\t42\nNSpgid:\t42\n"),
			 42);
	/* In a container's pid namespace: the innermost is the last. */
	assert_int_equal(instance_status_nspid("Name:\tx\nNSpid:\t4242\t7\t1\nNSpgid:\t1\n"), 1);
	assert_int_equal(instance_status_nspid("Name:\tx\nPid:\t5\n"), 0);
	assert_int_equal(instance_status_nspid("Name:\tx\nNSpid:\t\n"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fdinfo_claim_shape),
	    cmocka_unit_test(test_fdinfo_other_maps),
	    cmocka_unit_test(test_describe_systemd_unit),
	    cmocka_unit_test(test_describe_containers),
	    cmocka_unit_test(test_describe_by_hand),
	    cmocka_unit_test(test_nspid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
