// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <sys/utsname.h>
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

bool kernel_uretprobe_seccomp_unsafe(void)
{
	unsigned major, minor;

	return !kernel_running_version(&major, &minor) &&
	       kernel_release_uretprobe_seccomp_unsafe(major, minor);
}
