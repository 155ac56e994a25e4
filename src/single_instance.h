/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One daemon per kernel. Two daemons on one host (the .deb's service and a
 * DaemonSet pod, or `make run` beside the service) would each report every
 * call: the Orchestrator would count everything twice.
 *
 * The claim is a kernel object, not a file: a tiny BPF array map named
 * "metrist_oneinst" whose one value, shared by mmap, holds the daemon's pid,
 * state and the time of its event loop's last round. A lock file does not
 * cross mount namespaces (a container has its own /run); a map held by a
 * descriptor is seen from any container that shares the host's pid
 * namespace (hostPID, which tracing needs anyway) through
 * /proc/<pid>/fdinfo, and the kernel drops it the moment its holder dies,
 * however it dies: a crashed or killed daemon never blocks the next start.
 *
 * Two daemons starting at once both see each other: the one whose map has
 * the lower id (ids are handed out in increasing order) is the first.
 *
 * `health` (the DaemonSet's liveness probe, usable on any host) finds the
 * daemon the same way and reads the heartbeat from the shared value.
 */
#ifndef SINGLE_INSTANCE_H
#define SINGLE_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit status of a daemon refused because another one runs on this host. */
#define SINGLE_INSTANCE_EXIT 3

#define INSTANCE_MAP_NAME "metrist_oneinst"

enum instance_state {
	INSTANCE_STARTING = 1,
	INSTANCE_RUNNING = 2,
	INSTANCE_STOPPING = 3,
};

/* Another daemon, as this process sees it. */
struct instance_info {
	pid_t pid;	 /* in our /proc (the host's, with hostPID) */
	uint32_t map_id; /* of its claim */
	bool confirmed;	 /* its value was read; else only the map's shape matched */
	enum instance_state state;
	uint64_t started_ns, beat_ns, rounds; /* CLOCK_MONOTONIC */
	char how[200]; /* "systemd unit x.service", "podman container 0123abcd..." */
	char exe[256]; /* /proc/<pid>/exe as the kernel names it */
	char version[40];
};

/*
 * Takes the host-wide claim. Returns 0 when this daemon is the only one (or
 * the first), 1 when another one runs (*other says which: the caller refuses
 * with SINGLE_INSTANCE_EXIT), or a negative errno when it cannot tell (no
 * CAP_BPF: the daemon's own bpf() check then says what is missing).
 * A daemon found stopping is waited for, a few seconds at most.
 */
int single_instance_claim(const char *version, struct instance_info *other);

/* The daemon's state and heartbeat, written into the shared value: cheap
 * stores, no system call. single_instance_stopping() is async-signal-safe
 * (called from the SIGTERM handler, so that a successor started right after
 * the signal waits for us instead of refusing). */
void single_instance_running(void);
void single_instance_beat(uint64_t now_ns);
void single_instance_stopping(void);
/* Gives the claim up (at the very end: probes are detached by then). */
void single_instance_release(void);

/* One line naming the other daemon, for the refusal. */
void single_instance_describe(const struct instance_info *other, char *out, size_t size);

/*
 * The `health` command: exit status 0 when a daemon runs on this host and
 * its event loop went round within max_stall_s seconds (or it is still
 * starting, for at most start_grace_s), 1 otherwise; one line on out.
 */
int single_instance_health(FILE *out, double max_stall_s, double start_grace_s);

/* ---- pure parts, unit-tested --------------------------------------------- */

/* Does this /proc/<pid>/fdinfo text describe a claim map's shape (array,
 * key 4 bytes, one value of our size, mmapable)? Sets *map_id. */
bool instance_fdinfo_is_claim(const char *fdinfo, uint32_t *map_id);

/* How a process runs, from its /proc/<pid>/cgroup text and whether its root
 * directory is not the host's: "systemd unit NAME", "podman container ID",
 * "Kubernetes pod container ID", "started by hand (session-3.scope)"... */
void instance_describe_cgroup(const char *cgroup, bool own_root, char *out, size_t size);

/* The pid in its innermost pid namespace, from /proc/<pid>/status text
 * (the last NSpid field), or 0. */
pid_t instance_status_nspid(const char *status);

#endif /* SINGLE_INSTANCE_H */
