/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the running kernel offers, probed at start rather than guessed from
 * its version (distribution kernels backport and leave out features): the
 * daemon either runs or refuses with one line naming the missing feature
 * and the kernel.
 */
#ifndef KERNEL_FEATURES_H
#define KERNEL_FEATURES_H

#include <stdbool.h>

struct kernel_features {
	bool ringbuf;	    /* BPF_MAP_TYPE_RINGBUF (5.8): required */
	bool uprobes;	    /* the uprobe perf PMU (CONFIG_UPROBE_EVENTS): required */
	bool attach_cookie; /* bpf_get_attach_cookie() (5.15) */
};

/*
 * Probe them. Returns 0 when the required ones are there; else -ENOTSUP with
 * *missing naming the first one missing (-EPERM: not allowed to ask).
 */
int kernel_features_probe(struct kernel_features *f, const char **missing);

#endif /* KERNEL_FEATURES_H */
