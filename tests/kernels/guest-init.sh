#!/bin/bash
# PID 1 of a kernel-matrix guest (tests/kernels/run.sh boots it under qemu):
# the cached root's /metrist-init mounted proc, sys, /dev and this payload
# disk (/payload) and exec'd us. We set up what the daemon and the test need,
# run tests/kernels/guest.py, and power off. Everything the host reads comes
# over the serial console (console=ttyS0), as METRIST-* lines.
set -eu

# PID 1 must never just exit (kernel panic, and the host would only see a
# timeout): whatever happens, say so and power off.
poweroff_now() {
	echo "METRIST-GUEST-DONE rc=${1:-?}"
	echo o >/proc/sysrq-trigger
	sleep 60
}
trap 'poweroff_now $?' EXIT

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
echo "METRIST-GUEST-START kernel=$(uname -r)"

mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t devpts devpts /dev/pts
# The daemon pins nothing, but the e2e suite's hosts have bpffs; tracefs and
# debugfs let the test read uprobe_events after the daemon is gone.
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
ip link set lo up
hostname kernel-matrix
# debootstrap writes no /etc/hosts: curl must resolve localhost (the root
# disk is a snapshot, so this write is gone at power-off).
printf '127.0.0.1 localhost\n::1 localhost\n127.0.1.1 kernel-matrix\n' >/etc/hosts

# The run's settings (daemon arguments, quick mode) come from the host in
# /payload/env: KEY=VALUE lines, no kernel command-line quoting to get wrong.
set -a
# shellcheck source=/dev/null
. /payload/env
set +a

if [ "${KT_PROBE_ONLY:-0}" = 1 ]; then
	# Accelerator probe (run.sh): booting this far is all it asks.
	exit 0
fi
python3 /payload/guest.py
