// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "kernel_check.h"

static int parse_number(const char **p, unsigned *out)
{
	unsigned long v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v > 100000)
			return -EINVAL;
		s++;
	}
	*out = (unsigned)v;
	*p = s;
	return 0;
}

int kernel_release_parse(const char *release, unsigned *major, unsigned *minor)
{
	const char *p = release;

	if (!p || parse_number(&p, major) || *p++ != '.' || parse_number(&p, minor))
		return -EINVAL;
	return 0;
}

bool kernel_release_supported(unsigned major, unsigned minor)
{
	return major > KERNEL_MIN_MAJOR || (major == KERNEL_MIN_MAJOR && minor >= KERNEL_MIN_MINOR);
}

/* x86-64's uretprobe system call (Linux 6.11+). */
#define URETPROBE_SYSCALL_NR 335

int kernel_running_version(unsigned *major, unsigned *minor)
{
	static unsigned maj, min;
	static int err = 1; /* 1: not read yet */
	struct utsname u;

	if (err == 1)
		err = uname(&u) < 0 ? -errno : kernel_release_parse(u.release, &maj, &min);
	*major = maj;
	*minor = min;
	return err;
}

bool kernel_running_at_least(unsigned want_major, unsigned want_minor)
{
	unsigned major, minor;

	if (kernel_running_version(&major, &minor))
		return false;
	return major > want_major || (major == want_major && minor >= want_minor);
}

bool kernel_release_uretprobe_seccomp_unsafe(unsigned major, unsigned minor)
{
	return major == 6 && minor >= 11 && minor < 14;
}

/*
 * Ask the kernel instead of trusting its version (the fix was backported to
 * stable 6.12/6.13, e.g. Debian's 6.12.117): a child installs a seccomp
 * filter that kills on the uretprobe system call and makes that call
 * itself. Where seccomp lets it through (fixed), the kernel answers a call
 * that did not come from a uretprobe trampoline with SIGILL; where seccomp
 * filters it, the child dies of SIGSYS. Returns 1 unsafe, 0 safe, -1 when
 * the probe itself failed.
 */
static int probe_uretprobe_seccomp(void)
{
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, URETPROBE_SYSCALL_NR, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(2);
		syscall(URETPROBE_SYSCALL_NR);
		_exit(0); /* let through and returned (no uretprobe syscall?): safe */
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return WTERMSIG(status) == SIGSYS ? 1 : 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

bool kernel_uretprobe_seccomp_unsafe(void)
{
	static int verdict = -2; /* not asked yet */
	unsigned major, minor;

	if (verdict == -2) {
		verdict = 0;
		if (!kernel_running_version(&major, &minor) &&
		    kernel_release_uretprobe_seccomp_unsafe(major, minor))
			verdict = probe_uretprobe_seccomp() != 0; /* unknown: assume unsafe */
	}
	return verdict;
}

bool kernel_uretprobe_seccomp_range(void)
{
	unsigned major, minor;

	return !kernel_running_version(&major, &minor) &&
	       kernel_release_uretprobe_seccomp_unsafe(major, minor);
}
