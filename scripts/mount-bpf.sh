#!/bin/sh
# Mount what eBPF tracing needs when the machine has not: bpffs and tracefs
# (uprobes are created through tracefs on older kernels and by libbpf's
# legacy path). Needs root; harmless when already mounted.
set -e
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
if ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
		echo "warning: could not mount tracefs on /sys/kernel/tracing" >&2
fi
if [ -d /sys/kernel/debug ] && ! mountpoint -q /sys/kernel/debug; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
fi
