/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the daemon gives up: core dumps (its memory holds other processes'
 * plaintext: request heads with their tokens and cookies), and every
 * capability but the six the systemd unit grants, for good.
 */
#ifndef PRIVILEGE_H
#define PRIVILEGE_H

#include <stdint.h>

/*
 * The capabilities the daemon keeps, and why (the unit's
 * CapabilityBoundingSet/AmbientCapabilities are the same six):
 * - CAP_BPF, CAP_PERFMON: load the BPF programs, attach probes to processes
 *   started later (uprobe_multi links, or uprobe perf events before 6.6),
 *   read the perf side-band stream on every CPU;
 * - CAP_SYS_PTRACE: read /proc/<pid>/maps of every user's processes and
 *   open files through /proc/<pid>/root (containers);
 * - CAP_DAC_READ_SEARCH: read a library whatever its permissions;
 * - CAP_SYS_RESOURCE: RLIMIT_MEMLOCK, on kernels that still charge BPF
 *   maps to it;
 * - CAP_CHECKPOINT_RESTORE (Linux 5.9; CAP_SYS_ADMIN before): open a
 *   mapping through /proc/<pid>/map_files, the only way to a library
 *   deleted or replaced since it was mapped (every running process after a
 *   libssl upgrade).
 * Not kept: CAP_SYS_NICE (the priority is raised before the drop),
 * CAP_DAC_OVERRIDE (nothing is written), CAP_SYS_ADMIN, CAP_SETPCAP and
 * the rest.
 */
uint64_t privilege_kept_caps(void);

/* The capabilities kept at a given kernel.perf_event_paranoid level. */
uint64_t privilege_caps_for(int perf_paranoid_level);

/*
 * No core dump and no ptrace by anyone without CAP_SYS_PTRACE:
 * PR_SET_DUMPABLE 0 and RLIMIT_CORE's soft limit 0. Called first thing in
 * main; it cannot fail in a way worth stopping for (logged at debug level).
 */
void privilege_no_core_dumps(void);

/*
 * Keep only privilege_kept_caps() (of those the process has): the bounding
 * set, permitted and effective sets are cut to them, the inheritable and
 * ambient sets cleared, and no-new-privs set, so no exec can regain any.
 * Per thread in Linux: call it before any thread is started (they inherit
 * it). Run by systemd, the sets are already these: nothing changes but
 * no-new-privs. Returns 0, or a negative errno (logged).
 */
int privilege_drop(void);

#endif /* PRIVILEGE_H */
