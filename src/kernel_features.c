// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include "kernel_features.h"

int kernel_features_probe(struct kernel_features *f, const char **missing)
{
	int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);

	*missing = NULL;
	if (r == -EPERM) {
		*missing = "permission to use bpf()";
		return -EPERM;
	}
	f->ringbuf = r > 0;
	f->uprobes = access("/sys/bus/event_source/devices/uprobe/type", R_OK) == 0;
	f->attach_cookie =
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) > 0;
	if (!f->ringbuf)
		*missing = "the BPF ring buffer (Linux 5.8)";
	else if (!f->uprobes)
		*missing = "uprobes (CONFIG_UPROBE_EVENTS, /sys/bus/event_source/devices/uprobe)";
	return *missing ? -ENOTSUP : 0;
}
