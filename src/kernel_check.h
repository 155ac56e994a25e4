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

/* Is the running kernel at least major.minor? False when it cannot tell. */
bool kernel_running_at_least(unsigned major, unsigned minor);

#endif /* KERNEL_CHECK_H */
