// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "log.h"
#include "privilege.h"

#define BIT(cap) (1ull << (cap))
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40 /* Linux 5.9 */
#endif

/* kernel.perf_event_paranoid, or 2 (the upstream default) if unreadable. */
static int perf_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int level = 2;

	if (f) {
		if (fscanf(f, "%d", &level) != 1)
			level = 2;
		fclose(f);
	}
	return level;
}

uint64_t privilege_caps_for(int perf_paranoid_level)
{
	uint64_t caps = BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYS_PTRACE) |
			BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_SYS_RESOURCE) |
			BIT(CAP_CHECKPOINT_RESTORE);

	/*
	 * Debian's and Ubuntu's kernels add levels above 2 (Debian's default
	 * is 3) under which perf_event_open() needs CAP_SYS_ADMIN, CAP_PERFMON
	 * is not enough: the side-band stream of new processes (and, before
	 * 6.6, every uprobe) would be refused and the daemon would stop (seen
	 * on Debian's 5.10, 6.1 and 6.12 in the kernel matrix). There it keeps
	 * CAP_SYS_ADMIN too, and says so.
	 */
	if (perf_paranoid_level > 2)
		caps |= BIT(CAP_SYS_ADMIN);
	return caps;
}

uint64_t privilege_kept_caps(void)
{
	return privilege_caps_for(perf_paranoid());
}

/*
 * Not dumpable: no core file whatever RLIMIT_CORE says (with the default
 * fs.suid_dumpable=0), and /proc/<pid>/mem, environ and ptrace closed to
 * processes without CAP_SYS_PTRACE. RLIMIT_CORE's soft limit 0 as well, for
 * hosts whose fs.suid_dumpable=2 dumps even non-dumpable processes (the
 * hard limit is left: lowering it would stop no one who could raise the
 * soft one, and the unit sets both with LimitCORE=0).
 */
void privilege_no_core_dumps(void)
{
	struct rlimit rl;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_debug("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			log_debug("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
	}
}

/* The highest capability this kernel knows (newer than our headers, maybe). */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

/* Cut the bounding set (needs CAP_SETPCAP, so before capset). Where it
 * cannot be (under systemd, without CAP_SETPCAP) it is the unit's already. */
static int drop_bounding(uint64_t keep)
{
	int last = last_cap(), err = 0;

	for (int cap = 0; cap <= last; cap++) {
		if ((keep & BIT(cap)) || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && !err)
			err = -errno;
	}
	return err;
}

static void log_caps(uint64_t kept, uint64_t wanted)
{
	static const struct {
		int cap;
		const char *name;
	} names[] = {
	    {CAP_BPF, "bpf"},
	    {CAP_PERFMON, "perfmon"},
	    {CAP_SYS_PTRACE, "sys_ptrace"},
	    {CAP_DAC_READ_SEARCH, "dac_read_search"},
	    {CAP_SYS_RESOURCE, "sys_resource"},
	    {CAP_CHECKPOINT_RESTORE, "checkpoint_restore"},
	    {CAP_SYS_ADMIN, "sys_admin (kernel.perf_event_paranoid > 2)"},
	};
	char have[224] = "", lack[224] = "";

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *to = kept & BIT(names[i].cap) ? have : lack;

		if (!(wanted & BIT(names[i].cap)))
			continue;
		snprintf(to + strlen(to), sizeof(have) - strlen(to), "%s%s", *to ? "," : "",
			 names[i].name);
	}
	log_info("capabilities: kept %s%s%s, every other one dropped; no-new-privs set",
		 *have ? have : "none", *lack ? "; not had: " : "", lack);
}

int privilege_drop(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	uint64_t keep = privilege_kept_caps(), permitted;
	int err = drop_bounding(keep);

	if (err)
		log_warn("cannot drop capabilities from the bounding set: %s", strerror(-err));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		log_debug("cannot clear the ambient capabilities: %s", strerror(errno));
	if (syscall(SYS_capget, &hdr, data) < 0) {
		err = -errno;
		log_warn("capget: %s; capabilities not dropped", strerror(-err));
		return err;
	}
	permitted = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & keep;
	for (int i = 0; i < 2; i++) {
		data[i].permitted = data[i].effective = (uint32_t)(permitted >> (32 * i));
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		err = -errno;
		log_warn("capset: %s; capabilities not dropped", strerror(-err));
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err = -errno;
		log_warn("cannot set no-new-privs: %s", strerror(-err));
		return err;
	}
	/* A credential change may reset it (not a shrinking one, but cheap). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	log_caps(permitted, keep);
	return 0;
}
