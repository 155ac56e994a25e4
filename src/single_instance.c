// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One daemon per kernel: the claim map, the scan for other claims, and the
 * `health` command (see single_instance.h for the design).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include "log.h"
#include "single_instance.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* "metrist1" as a little-endian 64-bit number. */
#define INSTANCE_MAGIC 0x317473697274656dull

/* The claim map's one value, shared by mmap with every reader. */
struct instance_value {
	uint64_t magic;
	uint32_t pid; /* getpid() in the daemon's own pid namespace */
	uint32_t state;
	uint64_t started_ns; /* CLOCK_MONOTONIC */
	uint64_t beat_ns;    /* the event loop's last round */
	uint64_t rounds;
	char version[40];
};
/* The size is part of the map's shape that the scan matches. */
#define INSTANCE_VALUE_SIZE 80
_Static_assert(sizeof(struct instance_value) == INSTANCE_VALUE_SIZE, "claim value layout");

/* A daemon being stopped is waited for this long before refusing. */
#define STOPPING_WAIT_NS (5ull * 1000000000)
/* A running one is looked at twice this far apart: a SIGTERM sent to it
 * just before we started may not have been handled yet. */
#define CONFIRM_DELAY_MS 200
#define STOPPING_POLL_MS 50

static int claim_fd = -1;
static struct instance_value *volatile claim;
static size_t claim_len;

static size_t page_len(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- pure parts -------------------------------------------------------------- */

/* The value of "key:\t<number>" in fdinfo-like text; false when absent. */
static bool field_u64(const char *text, const char *key, unsigned long long *v)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char *end;

		if (strncmp(p, key, klen) || p[klen] != ':')
			continue;
		errno = 0;
		*v = strtoull(p + klen + 1, &end, 0);
		return !errno && end != p + klen + 1;
	}
	return false;
}

bool instance_fdinfo_is_claim(const char *fdinfo, uint32_t *map_id)
{
	unsigned long long type, key, value, entries, flags, id;

	if (!field_u64(fdinfo, "map_type", &type) || !field_u64(fdinfo, "key_size", &key) ||
	    !field_u64(fdinfo, "value_size", &value) ||
	    !field_u64(fdinfo, "max_entries", &entries) ||
	    !field_u64(fdinfo, "map_flags", &flags) || !field_u64(fdinfo, "map_id", &id))
		return false;
	if (type != BPF_MAP_TYPE_ARRAY || key != sizeof(uint32_t) || value != INSTANCE_VALUE_SIZE ||
	    entries != 1 || flags != BPF_F_MMAPABLE || id == 0 || id > UINT32_MAX)
		return false;
	*map_id = (uint32_t)id;
	return true;
}

pid_t instance_status_nspid(const char *status)
{
	const char *p = strstr(status, "\nNSpid:");
	long last = 0;

	if (!p)
		return 0;
	p += strlen("\nNSpid:");
	for (;;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		last = v;
		p = end;
		if (*p == '\n' || !*p)
			break;
	}
	return last > 0 && last <= INT_MAX ? (pid_t)last : 0;
}

/* The hex id after prefix in path (a container's), cut to 12 characters
 * as the runtimes print it. */
static bool container_id(const char *path, const char *prefix, char *id, size_t size)
{
	const char *p = strstr(path, prefix);
	size_t n = 0;

	if (!p)
		return false;
	p += strlen(prefix);
	while (n < 64 && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')))
		n++;
	if (n < 12)
		return false;
	snprintf(id, size, "%.12s", p);
	return true;
}

/* The last component of a cgroup path ("" for the root). */
static void last_component(const char *path, size_t len, char *out, size_t size)
{
	const char *slash = memrchr(path, '/', len);
	const char *c = slash ? slash + 1 : path;

	snprintf(out, size, "%.*s", (int)(len - (size_t)(c - path)), c);
}

void instance_describe_cgroup(const char *cgroup, bool own_root, char *out, size_t size)
{
	static const struct {
		const char *prefix, *what;
	} runtimes[] = {
	    {"libpod-", "podman container"},  {"docker-", "docker container"},
	    {"/docker/", "docker container"}, {"cri-containerd-", "container"},
	    {"crio-", "CRI-O container"},
	};
	const char *unified = NULL, *named = NULL;
	size_t unified_len = 0, named_len = 0;
	char id[16], comp[128];
	const char *what = NULL;
	bool kube = strstr(cgroup, "kubepods") != NULL;

	/* Lines are "hierarchy:controllers:path": cgroup v2's "0::/path", or
	 * v1's named systemd hierarchy, say which unit a process is in. */
	for (const char *l = cgroup; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *nl = strchr(l, '\n');
		size_t len;

		if (!c2 || (nl && c2 > nl))
			continue;
		len = (nl ? (size_t)(nl - c2) : strlen(c2)) - 1;
		if (!strncmp(l, "0::", 3)) {
			unified = c2 + 1;
			unified_len = len;
		} else if (!strncmp(c1 + 1, "name=systemd:", 13)) {
			named = c2 + 1;
			named_len = len;
		}
	}
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]) && !what; i++)
		if (container_id(cgroup, runtimes[i].prefix, id, sizeof(id)))
			what = runtimes[i].what;
	if (what) {
		snprintf(out, size, "%s%s %s", kube ? "Kubernetes pod " : "", what, id);
		return;
	}
	if (unified && unified_len > 1)
		last_component(unified, unified_len, comp, sizeof(comp));
	else if (named)
		last_component(named, named_len, comp, sizeof(comp));
	else
		comp[0] = '\0';
	if (kube) {
		/* cgroupfs driver: .../kubepods/<qos>/pod<uid>/<container id> */
		if (container_id(comp, "", id, sizeof(id)))
			snprintf(out, size, "Kubernetes pod container %s", id);
		else
			snprintf(out, size, "Kubernetes pod");
		return;
	}
	if (strlen(comp) > 8 && !strcmp(comp + strlen(comp) - 8, ".service"))
		snprintf(out, size, "systemd unit %s%s", comp,
			 own_root ? " in a container (its own root directory)" : "");
	else if (own_root)
		snprintf(out, size, "in a container or chroot (its own root directory%s%s)",
			 comp[0] ? ", cgroup " : "", comp);
	else if (comp[0])
		snprintf(out, size, "started by hand (%s)", comp);
	else
		snprintf(out, size, "started by hand");
}

/* ---- reading other processes -------------------------------------------------- */

/* Reads a small /proc file whole (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return n < 0 ? -1 : (ssize_t)got;
}

static bool own_root(pid_t pid)
{
	char dir[64];
	struct stat theirs, host;

	snprintf(dir, sizeof(dir), "/proc/%d/root/", pid);
	/* The host's root is pid 1's; where pid 1 cannot be looked at (some
	 * VMs' init), ours. */
	if (stat(dir, &theirs) || (stat("/proc/1/root/", &host) && stat("/", &host)))
		return false;
	return theirs.st_dev != host.st_dev || theirs.st_ino != host.st_ino;
}

static void describe_process(pid_t pid, struct instance_info *info)
{
	char path[64], cgroup[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (read_small(path, cgroup, sizeof(cgroup)) < 0)
		cgroup[0] = '\0';
	instance_describe_cgroup(cgroup, own_root(pid), info->how, sizeof(info->how));
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, info->exe, sizeof(info->exe) - 1);
	info->exe[n > 0 ? n : 0] = '\0';
}

/*
 * Reads the claim value of map descriptor fd of pid (a copy of the
 * descriptor, through pidfd_getfd, mapped read-only). Returns 1 when read
 * and pid owns it, 0 when it is not a claim of an owner (a dup held for a
 * moment by a scan or `health`, someone else's map of the same shape, a
 * descriptor closed meanwhile), -1 when it cannot be read (no permission):
 * the caller then takes the shape as enough.
 */
static int read_claim(pid_t pid, int fd, struct instance_info *info)
{
	struct instance_value v;
	char path[64], status[4096];
	int pfd, mfd;
	void *p;
	pid_t nspid;

	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return errno == ESRCH ? 0 : -1;
	mfd = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	close(pfd);
	if (mfd < 0)
		return errno == EBADF || errno == ESRCH ? 0 : -1;
	p = mmap(NULL, page_len(), PROT_READ, MAP_SHARED, mfd, 0);
	close(mfd);
	if (p == MAP_FAILED)
		return 0; /* an array of that shape that is not mmapable is not ours */
	memcpy(&v, p, sizeof(v));
	munmap(p, page_len());
	if (v.magic != INSTANCE_MAGIC)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_small(path, status, sizeof(status)) < 0)
		return 0;
	nspid = instance_status_nspid(status);
	if (nspid && (uint32_t)nspid != v.pid)
		return 0;
	info->state = (enum instance_state)v.state;
	info->started_ns = v.started_ns;
	info->beat_ns = v.beat_ns;
	info->rounds = v.rounds;
	snprintf(info->version, sizeof(info->version), "%.*s", (int)sizeof(v.version) - 1,
		 v.version);
	return 1;
}

struct scan {
	uint32_t own_id; /* our claim (and dups of it): skipped */
	pid_t self;
	bool found;
	struct instance_info first; /* the claim with the lowest map id */
};

static void scan_pid(struct scan *s, pid_t pid)
{
	static const char bpf_map[] = "anon_inode:bpf-map";
	char path[300], target[sizeof(bpf_map) + 1], fdinfo[1024];
	struct dirent *de;
	DIR *dir;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return; /* gone, a kernel thread, or not ours to read */
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir))) {
		struct instance_info info = {.pid = pid};
		ssize_t n = readlinkat(dfd, de->d_name, target, sizeof(target));
		int r;

		if (n != (ssize_t)strlen(bpf_map) || memcmp(target, bpf_map, (size_t)n))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, de->d_name);
		if (read_small(path, fdinfo, sizeof(fdinfo)) < 0 ||
		    !instance_fdinfo_is_claim(fdinfo, &info.map_id) || info.map_id == s->own_id ||
		    (s->found && info.map_id >= s->first.map_id))
			continue;
		r = read_claim(pid, atoi(de->d_name), &info);
		if (r == 0)
			continue;
		info.confirmed = r > 0;
		describe_process(pid, &info);
		s->first = info;
		s->found = true;
	}
	closedir(dir);
}

static void scan_all(struct scan *s)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == s->self)
			continue;
		scan_pid(s, (pid_t)pid);
	}
	closedir(dir);
}

/* ---- the claim ---------------------------------------------------------------- */

int single_instance_claim(const char *version, struct instance_info *other)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct bpf_map_info mi = {0};
	uint32_t len = sizeof(mi);
	uint64_t deadline;
	bool looked_twice = false;
	struct instance_value *v;
	int fd, err;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, INSTANCE_MAP_NAME, sizeof(uint32_t),
			    INSTANCE_VALUE_SIZE, 1, &opts);
	if (fd < 0)
		return fd;
	claim_len = page_len();
	v = mmap(NULL, claim_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (v == MAP_FAILED || bpf_obj_get_info_by_fd(fd, &mi, &len)) {
		err = -errno;
		if (v != MAP_FAILED)
			munmap(v, claim_len);
		close(fd);
		return err;
	}
	v->pid = (uint32_t)getpid();
	v->state = INSTANCE_STARTING;
	v->started_ns = monotonic_ns();
	snprintf(v->version, sizeof(v->version), "%s", version);
	/* Last: a reader takes the value for ours only with the magic set. */
	__atomic_store_n(&v->magic, INSTANCE_MAGIC, __ATOMIC_RELEASE);
	claim_fd = fd;
	claim = v;

	deadline = monotonic_ns() + STOPPING_WAIT_NS;
	for (;;) {
		struct scan s = {.own_id = mi.id, .self = getpid()};

		scan_all(&s);
		/* Alone, or the first: a later one refuses itself. */
		if (!s.found || s.first.map_id > mi.id)
			return 0;
		if (s.first.confirmed && s.first.state == INSTANCE_STOPPING &&
		    monotonic_ns() < deadline) {
			log_debug("pid %d, another instance, is stopping: waiting for it",
				  s.first.pid);
			sleep_ms(STOPPING_POLL_MS);
			continue;
		}
		if (!looked_twice) {
			looked_twice = true;
			sleep_ms(CONFIRM_DELAY_MS);
			continue;
		}
		*other = s.first;
		single_instance_release();
		return 1;
	}
}

void single_instance_running(void)
{
	if (claim)
		__atomic_store_n(&claim->state, INSTANCE_RUNNING, __ATOMIC_RELAXED);
}

void single_instance_beat(uint64_t now_ns)
{
	struct instance_value *v = claim;

	if (!v)
		return;
	__atomic_store_n(&v->beat_ns, now_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&v->rounds, v->rounds + 1, __ATOMIC_RELAXED);
}

void single_instance_stopping(void)
{
	struct instance_value *v = claim;

	if (v)
		__atomic_store_n(&v->state, INSTANCE_STOPPING, __ATOMIC_RELAXED);
}

void single_instance_release(void)
{
	struct instance_value *v = claim;

	if (!v)
		return;
	claim = NULL;
	munmap(v, claim_len);
	close(claim_fd);
	claim_fd = -1;
}

static const char *state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_STARTING:
		return "starting";
	case INSTANCE_RUNNING:
		return "running";
	case INSTANCE_STOPPING:
		return "stopping";
	}
	return "unknown state";
}

void single_instance_describe(const struct instance_info *o, char *out, size_t size)
{
	char up[128] = "";

	if (o->confirmed && o->started_ns) {
		uint64_t now = monotonic_ns();
		uint64_t s = now > o->started_ns ? (now - o->started_ns) / 1000000000 : 0;

		snprintf(up, sizeof(up), ", %s, up %llus, version %s", state_name(o->state),
			 (unsigned long long)s, o->version[0] ? o->version : "?");
	}
	snprintf(out, size,
		 "another metrist-orchestrator-ebpf-plugin already runs on this host: pid %d, "
		 "%s (%s%s); two would report every call twice: not starting (exit status %d)",
		 o->pid, o->how, o->exe[0] ? o->exe : "executable unknown", up,
		 SINGLE_INSTANCE_EXIT);
}

/* ---- health --------------------------------------------------------------------- */

int single_instance_health(FILE *out, double max_stall_s, double start_grace_s)
{
	struct scan s = {.self = getpid()};
	double age, stall;
	uint64_t now;

	scan_all(&s);
	if (!s.found) {
		fprintf(out,
			"unhealthy: no metrist-orchestrator-ebpf-plugin runs on this host (no "
			"process holds its claim; run as root, in the host's pid namespace)\n");
		return 1;
	}
	if (!s.first.confirmed) {
		fprintf(out,
			"unhealthy: pid %d (%s) holds the claim but its state cannot be read "
			"(CAP_SYS_PTRACE needed)\n",
			s.first.pid, s.first.how);
		return 1;
	}
	now = monotonic_ns();
	age = now > s.first.started_ns ? (double)(now - s.first.started_ns) / 1e9 : 0;
	stall =
	    s.first.beat_ns && now > s.first.beat_ns ? (double)(now - s.first.beat_ns) / 1e9 : 0;
	switch (s.first.state) {
	case INSTANCE_STARTING:
		if (age > start_grace_s) {
			fprintf(out, "unhealthy: pid %d (%s) still starting after %.0f s\n",
				s.first.pid, s.first.how, age);
			return 1;
		}
		fprintf(out, "healthy: pid %d (%s) starting for %.1f s\n", s.first.pid, s.first.how,
			age);
		return 0;
	case INSTANCE_RUNNING:
		if (!s.first.beat_ns || stall > max_stall_s) {
			fprintf(out,
				"unhealthy: pid %d (%s): its event loop last went round %.1f s ago "
				"(limit %.0f s)\n",
				s.first.pid, s.first.how, stall, max_stall_s);
			return 1;
		}
		fprintf(out,
			"healthy: pid %d (%s), version %s, up %.0f s, event loop went round %.2f s "
			"ago (%llu rounds)\n",
			s.first.pid, s.first.how, s.first.version, age, stall,
			(unsigned long long)s.first.rounds);
		return 0;
	default:
		fprintf(out, "unhealthy: pid %d (%s) is %s\n", s.first.pid, s.first.how,
			state_name(s.first.state));
		return 1;
	}
}
