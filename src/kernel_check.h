/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The minimum kernel: 5.8 brought the BPF ring buffer and CAP_BPF/CAP_PERFMON.
 */
#ifndef KERNEL_CHECK_H
#define KERNEL_CHECK_H

#include <stdbool.h>

#define KERNEL_MIN_MAJOR 5
#define KERNEL_MIN_MINOR 8

/* "6.18.44-fc-v595" -> 6, 18. Returns 0 or -EINVAL. */
int kernel_release_parse(const char *release, unsigned *major, unsigned *minor);

bool kernel_release_supported(unsigned major, unsigned minor);

/* The running kernel's version (uname, read once). 0 or -errno/-EINVAL. */
int kernel_running_version(unsigned *major, unsigned *minor);

/* Is the running kernel at least major.minor? False when it cannot tell. */
bool kernel_running_at_least(unsigned major, unsigned minor);

/*
 * From 6.11, x86-64 returns from uretprobes through a new system call
 * (uretprobe, nr 335); seccomp filters that do not know it kill the traced
 * process. 6.14 made seccomp let that call through (backported to some
 * 6.12/6.13 stable releases, which a version number cannot tell). True for
 * kernels in [6.11, 6.14), where a process under a seccomp filter must get
 * no return probes.
 */
bool kernel_release_uretprobe_seccomp_unsafe(unsigned major, unsigned minor);
/* The running kernel is in that range by its version. */
bool kernel_uretprobe_seccomp_range(void);
/* In that range and, asked at run time (a child under a seccomp filter
 * makes the call), seccomp still filters the uretprobe system call there:
 * a fixed stable kernel is not held to the rule. Asked once. */
bool kernel_uretprobe_seccomp_unsafe(void);

#endif /* KERNEL_CHECK_H */
