// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * metrist-orchestrator-ebpf-plugin: reports every outgoing HTTPS call made on
 * this host to a Metrist Orchestrator, by tracing TLS libraries with uprobes.
 *
 * Life cycle: settings -> kernel check -> load BPF -> find and attach TLS
 * libraries -> consume events until SIGTERM/SIGINT -> detach, drain, exit.
 * Data flows one way: ring buffer event -> session (per TLS connection) ->
 * HTTP parser -> completed call -> datagram + log line.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include "attach.h"
#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "discovered.h"
#include "kernel_features.h"
#include "file_analysis.h"
#include "forward.h"
#include "kernel_check.h"
#include "log.h"
#include "options.h"
#include "privilege.h"
#include "proc_watch.h"
#include "report.h"
#include "session.h"
#include "single_instance.h"
#include "targets.h"
#include "uprobe_warm.h"
#include "wire.h"
#include "tls_trace.skel.h"

#ifndef VERSION
#define VERSION "0.0.0"
#endif

/* 256 KiB holds hundreds of request heads; bodies are never copied, and
 * the kernel wakes us at a quarter full: 1.23 M calls from a closed loop at
 * full speed lost none (bench's long run). Its pages count twice in the
 * resident set (libbpf maps the data area twice, so that a record wrapping
 * around reads as one): 512 KiB of the 8 MB budget. */
#define RINGBUF_BYTES (1u << 18)
/* Events are submitted without waking us; we drain on this period, or
 * earlier when a quarter of the ring is filled (the kernel wakes us then).
 * Rounds that find nothing double it, up to POLL_IDLE_MS: an idle daemon
 * wakes 10 times a second, not 100 (~0.6 % of a core here). Latencies are
 * timestamped in the kernel; a call after a quiet spell is only forwarded
 * up to POLL_IDLE_MS later. */
#define POLL_PERIOD_MS	10
#define POLL_IDLE_MS	100
#define HOUSEKEEPING_NS (100ull * 1000000)
/* Threads attaching probes to new processes (per-process mode). */
#define ATTACH_THREADS 4
/* Threads analysing files mapped for the first time. */
#define ANALYSIS_THREADS 2
/* How long a process seen only serving TLS keeps its data probes. */
#define DISARM_DELAY_NS (1000ull * 1000000)
#define SESSION_IDLE_NS (30ull * 1000000000)
#define STATS_PERIOD_NS (60ull * 1000000000)

/* `health [--max-stall SECONDS]`: the liveness probe (single_instance.h). */
#define HEALTH_START_GRACE_S 300.0

static volatile sig_atomic_t stop_requested;

/* When the stop signal came (clock_gettime is async-signal-safe). */
static volatile uint64_t stop_signal_ns;

static void on_signal(int sig)
{
	struct timespec ts;

	if (!stop_signal_ns && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		stop_signal_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	stop_requested = 1;
	/* A successor started right after this signal waits for us. */
	single_instance_stopping();
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && !log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* A process that exited before its probes were attached: counted and
	 * logged by the daemon at debug level, not a warning. */
	if (level == LIBBPF_WARN && strstr(line, "No such process"))
		level = LIBBPF_DEBUG;
	if (level == LIBBPF_DEBUG && !log_enabled(LOG_DEBUG))
		return 0;
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

static void on_call(const struct traced_call *tc, void *ctx)
{
	struct daemon *d = ctx;
	const struct proto_call *h = tc->call;
	uint64_t latency = h->end_ns > h->start_ns ? h->end_ns - h->start_ns : 0;
	struct wire_call call;
	/* comm (at most 15 bytes) is the traced process's to choose. */
	char buf[WIRE_DATAGRAM_MAX + 1], comm[4 * 15 + 1];
	uint64_t suppressed;
	int n;

	/* With --system-wide-probes excluded processes are still probed. */
	for (size_t i = 0; i < d->opt.nexclude_comm; i++) {
		if (!strncmp(tc->comm, d->opt.exclude_comm[i], 16))
			return;
	}
	log_field(comm, sizeof(comm), tc->comm);
	if (wire_call_make(&call, h->method, h->host, h->target, h->target_truncated, latency) ||
	    (n = wire_encode(&call, buf, sizeof(buf))) < 0) {
		d->malformed++;
		if (log_ratelimit_ok(&d->malformed_log, monotonic_ns(), &suppressed))
			log_warn("malformed call not forwarded: pid=%u comm=%s status=%d "
				 "(%llu malformed in all)",
				 tc->pid, comm, h->status, (unsigned long long)d->malformed);
		return;
	}
	d->calls++;
	forwarder_send(d->forwarder, buf, n);
	discovered_call(d->discovered, &call, h->status, latency, tc->pid, comm, h->end_ns);
	/*
	 * A line per call would cost ~1 us each and flood the journal at
	 * thousands of calls a second: the first few show that tracing works,
	 * then the periodic stats line counts them (--log-calls: every call).
	 */
	if (d->opt.log_calls || d->calls <= CALLS_LOGGED_AT_START) {
		log_info("call %s %s %s %.3fms status=%d pid=%u comm=%s", call.method, call.host,
			 call.path, call.ms, h->status, tc->pid, comm);
		if (!d->opt.log_calls && d->calls == CALLS_LOGGED_AT_START)
			log_info("the first %d calls are logged; the stats line counts the others "
				 "(--log-calls logs each, --verbose too at debug level)",
				 CALLS_LOGGED_AT_START);
	} else {
		log_debug("call %s %s %s %.3fms status=%d pid=%u comm=%s", call.method, call.host,
			  call.path, call.ms, h->status, tc->pid, comm);
	}
}

static void note_connected(uint32_t pid, void *ctx)
{
	struct daemon *d = ctx;

	targets_note_connected(d->targets, (pid_t)pid, monotonic_ns());
}

static void on_set_skip(const struct tls_conn_key *key, const struct tls_conn_skip *skip, void *ctx)
{
	struct daemon *d = ctx;

	/* Best effort: if it fails the kernel just keeps copying bodies. */
	bpf_map_update_elem(d->skip_fd, key, skip, BPF_ANY);
}

/* The session table gave up a connection to make room: so does the kernel,
 * unless the SSL* already belongs to a newer connection. */
static void on_forget(const struct tls_conn_key *key, uint64_t conn_id, void *ctx)
{
	struct daemon *d = ctx;
	struct tls_conn_state st;

	if (bpf_map_lookup_elem(d->conns_fd, key, &st) || st.conn_id != conn_id)
		return;
	bpf_map_delete_elem(d->conns_fd, key);
	bpf_map_delete_elem(d->skip_fd, key);
}

/* Ring buffer records come from our own BPF program, but check their
 * lengths anyway: a parser must never trust a length it did not make. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct daemon *d = ctx;
	const struct tls_event *ev = data;

	/* Framed HTTP/2 records count data_skip in real bytes, which data may
	 * hold too (tls_trace.h). */
	bool framed = ev->flags & TLS_EVF_H2_FRAMED;

	if (size < sizeof(*ev) || ev->data_len > size - sizeof(*ev) ||
	    ev->data_len > TLS_DATA_MAX ||
	    (framed ? ev->data_skip > ev->len || ev->data_len > ev->len
		    : (uint64_t)ev->data_skip + ev->data_len > ev->len)) {
		d->bad_records++;
		return 0;
	}
	if (ev->kind == TLS_EV_ROLE) {
		targets_on_role(d->targets, ev->tgid, ev->len);
		return 0;
	}
	session_handle_event(d->sessions, ev);
	return 0;
}

static int check_kernel(void)
{
	struct utsname u;
	unsigned major, minor;

	if (uname(&u) < 0 || kernel_running_version(&major, &minor)) {
		log_error("cannot tell the running kernel's version; Linux %d.%d or later is "
			  "required",
			  KERNEL_MIN_MAJOR, KERNEL_MIN_MINOR);
		return -EINVAL;
	}
	if (!kernel_release_supported(major, minor)) {
		log_error("kernel %s is too old: Linux %d.%d or later is required (BPF ring "
			  "buffer); nothing was loaded",
			  u.release, KERNEL_MIN_MAJOR, KERNEL_MIN_MINOR);
		return -ENOTSUP;
	}
	log_info("kernel %s %s", u.release, u.machine);
	return 0;
}

/* Features probed, not guessed from the version: say what is missing. */
static int check_features(void)
{
	struct kernel_features f;
	const char *missing;
	struct utsname u;
	int err = kernel_features_probe(&f, &missing);

	uname(&u);
	if (err == -EPERM) {
		log_error("cannot use bpf(): root or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, "
			  "CAP_DAC_READ_SEARCH needed; nothing was loaded");
		return err;
	}
	if (err) {
		log_error("kernel %s lacks %s, which tracing needs; nothing was loaded", u.release,
			  missing);
		return err;
	}
	log_info("kernel features: BPF ring buffer, uprobes, attach cookies %s",
		 f.attach_cookie ? "yes" : "no (per-function programs)");
	return 0;
}

static int load_bpf(struct daemon *d)
{
	int err;

	d->skel = tls_trace__open();
	if (!d->skel)
		return -errno;
	d->skel->rodata->wakeup_bytes = RINGBUF_BYTES / 4;
	log_info("attaching with %s", attach_mode_name(attach_prepare(d->skel, false)));
	bpf_map__set_max_entries(d->skel->maps.events, RINGBUF_BYTES);
	err = tls_trace__load(d->skel);
	if (err) {
		log_error("cannot load the BPF programs: %s (root or CAP_BPF, CAP_PERFMON, "
			  "CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH needed)",
			  strerror(-err));
		return err;
	}
	d->skip_fd = bpf_map__fd(d->skel->maps.conn_skip);
	d->conns_fd = bpf_map__fd(d->skel->maps.conns);
	d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.events), on_record, d, NULL);
	if (!d->rb)
		return -errno;
	return 0;
}

/*
 * Exited TLS processes: their connections are over even if they never
 * closed them (node's process.exit()), which ends a response read until
 * the connection closes. Done after the ring buffer was read: the exit
 * record comes on another channel, maybe before the process's last bytes.
 */
static void close_exited(struct daemon *d)
{
	for (unsigned i = 0; i < d->nexited; i++)
		session_close_pid(d->sessions, (uint32_t)d->exited[i]);
	d->nexited = 0;
}

static void on_mapped(const struct proc_mapping *m, void *ctx)
{
	targets_on_mapping(((struct daemon *)ctx)->targets, m);
}

static void on_forked(pid_t parent, pid_t child, void *ctx)
{
	targets_on_fork(((struct daemon *)ctx)->targets, parent, child);
}

static void on_execed(pid_t pid, uint64_t ts_ns, void *ctx)
{
	targets_on_exec(((struct daemon *)ctx)->targets, pid, ts_ns);
}

static void on_exited(pid_t pid, void *ctx)
{
	struct daemon *d = ctx;

	if (!targets_on_exit(d->targets, pid))
		return; /* mapped no TLS file: no connection to end */
	if (d->nexited == EXITED_MAX) {
		ring_buffer__consume(d->rb); /* their last bytes first */
		close_exited(d);
	}
	d->exited[d->nexited++] = pid;
}

/*
 * Every process mapping a TLS library gets probes: watch new mappings first,
 * then walk the processes already running, so none falls in between.
 */
static int start_discovery(struct daemon *d)
{
	struct proc_watch_ops ops = {
	    .mapped = on_mapped,
	    .forked = on_forked,
	    .execed = on_execed,
	    .exited = on_exited,
	    .ctx = d,
	};
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ring_buffer__epoll_fd(d->rb)};
	struct targets_stats st;
	int err;

	if (kernel_uretprobe_seccomp_unsafe()) {
		/* Return probes go through a system call a seccomp filter may
		 * reject: probe per process and skip filtered processes. */
		log_warn("kernel 6.11-6.13: uretprobes use a system call that seccomp filters may "
			 "reject; processes under a seccomp filter are not traced%s",
			 d->opt.per_process ? "" : " (probing per process, not system-wide)");
		d->opt.per_process = true;
	} else {
		log_info("return probes: uretprobes (%s)",
			 kernel_uretprobe_seccomp_range()
			     ? "seccomp lets their system call through on this kernel (the fix "
			       "is backported: probed)"
			 : kernel_running_at_least(6, 14)
			     ? "seccomp lets their system call through on this kernel"
			     : "this kernel returns from them without a system call");
		if (!attach_has_uprobe_multi() && d->opt.per_process && !d->opt.probe_mode_forced) {
			/*
			 * Before 6.6 a per-process probe is a perf event: opening one
			 * waits out an RCU grace period (the warmer needs uprobe_multi)
			 * and closing one holds the lock opening takes for two more, so
			 * a server's disarm delays the next client's attach by 0.2-1 s
			 * (measured on 5.10 and 6.1): one-shot clients would be missed.
			 */
			log_info(
			    "no uprobe_multi links on this kernel (before 6.6): data probes are "
			    "attached system-wide, where per-process attaches could not keep up "
			    "with one-shot clients (--per-process-probes to insist)");
			d->opt.per_process = false;
		}
	}
	log_info("data probes: %s", d->opt.per_process ? "per process, removed from TLS servers"
						       : "system-wide, servers included");
	struct targets_config tcfg = {
	    .per_process = d->opt.per_process,
	    .disarm_delay_ns = DISARM_DELAY_NS,
	    .max_armed = d->opt.max_armed,
	    .proc_root = "/proc",
	    .ldcache = "/etc/ld.so.cache",
	    .exclude_comm = (const char *const *)d->opt.exclude_comm,
	    .nexclude_comm = d->opt.nexclude_comm,
	};
	d->targets = targets_new(d->skel, &tcfg);
	if (!d->targets)
		return -ENOMEM;
	d->watch = proc_watch_new(&ops);
	if (!d->watch) {
		err = errno;
		log_error("cannot open the perf side-band stream that reports new processes and "
			  "mappings (perf_event_open): %s%s%s; without it nothing started later "
			  "would be traced: stopping",
			  strerror(err), *proc_watch_error_hint(err) ? ": " : "",
			  proc_watch_error_hint(err));
		return -err;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0 ||
	    proc_watch_add_to_epoll(d->watch, d->epfd) < 0)
		return -errno;
	if (analysis_start(ANALYSIS_THREADS) == 0) {
		struct epoll_event aev = {.events = EPOLLIN, .data.fd = analysis_eventfd()};

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, aev.data.fd, &aev) < 0)
			return -errno;
	}
	if (d->opt.per_process && attach_jobs_start(d->skel, ATTACH_THREADS) == 0) {
		struct epoll_event jev = {.events = EPOLLIN, .data.fd = attach_jobs_eventfd()};

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, jev.data.fd, &jev) < 0)
			return -errno;
	}
	/* Kept warm after process starts (targets.c), not for good: on an
	 * idle host that cost 2-5 % of a core (daemon and kernel threads,
	 * bench/arming.py) and kept it warm only part of the time
	 * (uprobe_warm.c). */
	err = uprobe_warm_start(d->skel);
	if (err)
		log_info("uprobe registrations not kept fast: %s", strerror(-err));
	targets_pin_ldcache(d->targets);
	targets_scan_proc(d->targets);
	proc_watch_drain(d->watch);
	st = targets_stats(d->targets);
	if (st.files_tls == 0)
		log_warn("no process maps an OpenSSL library yet; waiting for one");
	log_info("at start: %llu TLS files probed, %llu processes with their own probes",
		 (unsigned long long)st.files_probed, (unsigned long long)st.procs_armed);
	return 0;
}

/* Thousands of traced processes take a few descriptors each. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void run_loop(struct daemon *d)
{
	uint64_t next_housekeeping = 0, next_stats = monotonic_ns() + STATS_PERIOD_NS;
	uint64_t next_expiry = 0;
	int poll_ms = POLL_PERIOD_MS;

	while (!stop_requested) {
		struct epoll_event evs[16];
		int n = epoll_wait(d->epfd, evs, 16, poll_ms);
		uint64_t now;
		int records;

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			discovered_event(d->discovered, evs[i].data.fd, monotonic_ns());
		/* New mappings first: a new process's first call is near. */
		proc_watch_drain(d->watch);
		targets_collect_analyses(d->targets);
		targets_collect_attaches(d->targets);
		if (targets_need_rescan(d->targets)) {
			log_warn("a file's analysis had too many processes waiting: rescanning "
				 "/proc");
			targets_scan_proc(d->targets);
		}
		if (proc_watch_lost(d->watch) != d->watch_lost_seen) {
			/* The kernel dropped records (we fell behind): what they
			 * said is in /proc, so walk it again. */
			d->watch_lost_seen = proc_watch_lost(d->watch);
			log_warn("process watch lost records (%llu in all): rescanning /proc",
				 (unsigned long long)d->watch_lost_seen);
			targets_scan_proc(d->targets);
		}
		/* Records submitted without a wake-up are only seen here. */
		records = ring_buffer__consume(d->rb);
		if (n > 0 || records > 0)
			poll_ms = POLL_PERIOD_MS;
		else if (poll_ms < POLL_IDLE_MS)
			poll_ms = poll_ms * 2 < POLL_IDLE_MS ? poll_ms * 2 : POLL_IDLE_MS;
		close_exited(d);
		/* The round's datagrams in one sendmmsg, its lines in one write. */
		forwarder_flush(d->forwarder);
		log_flush();
		if (!discovered_flush(d->discovered))
			stop_requested = 1;
		now = monotonic_ns();
		single_instance_beat(now); /* what `health` checks */
		if (now >= next_housekeeping) {
			targets_tick(d->targets, now);
			discovered_tick(d->discovered, now);
			next_housekeeping = now + HOUSEKEEPING_NS;
		}
		if (now >= next_expiry) {
			session_expire(d->sessions, now, SESSION_IDLE_NS, NULL);
			session_for_each_pid(d->sessions, note_connected, d);
			next_expiry = now + 1000000000ull;
		}
		if (now >= next_stats) {
			daemon_log_stats(d, "periodic");
			next_stats = now + STATS_PERIOD_NS;
		}
	}
}

static void cleanup(struct daemon *d)
{
	uprobe_warm_stop();
	targets_free(d->targets);
	proc_watch_free(d->watch);
	if (d->epfd >= 0)
		close(d->epfd);
	ring_buffer__free(d->rb);
	session_table_free(d->sessions);
	forwarder_free(d->forwarder);
	tls_trace__destroy(d->skel);
	discovered_free(d->discovered);
}

static int health_command(int argc, char **argv)
{
	double max_stall = HEALTH_MAX_STALL_S;

	if (argc == 3 && !strcmp(argv[1], "--max-stall")) {
		char *end;

		max_stall = strtod(argv[2], &end);
		if (*end || end == argv[2] || !(max_stall > 0)) {
			fprintf(stderr, "%s: --max-stall wants a number of seconds, not '%s'\n",
				PROG_NAME, argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "Usage: %s health [--max-stall SECONDS]\n", PROG_NAME);
		return 2;
	}
	return single_instance_health(stdout, max_stall, HEALTH_START_GRACE_S);
}

/*
 * One daemon per host: refuses, naming the other one, when it runs. The
 * claim is the first bpf() call: where it is not permitted, say what is
 * needed (a container runtime's default seccomp profile refuses bpf() to
 * anyone without CAP_SYS_ADMIN). Returns 0 or the exit status.
 */
static int claim_host(void)
{
	struct instance_info other;
	char line[768];
	int r = single_instance_claim(VERSION, &other);

	if (r == -EPERM) {
		log_error("cannot use bpf(): root or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, "
			  "CAP_DAC_READ_SEARCH needed, and no seccomp filter refusing bpf() (in a "
			  "container: seccomp unconfined); nothing was loaded");
		return 1;
	}
	if (r < 0) {
		log_debug("cannot claim this host (%s): not checking for another instance",
			  strerror(-r));
		return 0;
	}
	if (r == 0)
		return 0;
	single_instance_describe(&other, line, sizeof(line));
	log_error("%s", line);
	return SINGLE_INSTANCE_EXIT;
}

/*
 * A new process is armed in a race with its first TLS write (a few ms, ~12
 * ms after exec for curl): on busy CPUs a daemon at the default priority
 * can wait tens of ms to run (CI saw 77 ms under an exec storm and missed a
 * call). Nice -10 keeps the threads' wake-up latency short; the work done
 * is the same. Started by hand (make run, the tarball) at the default
 * priority, it takes the priority the systemd unit gives it; threads
 * started later inherit it. A priority the caller chose is kept. It needs
 * CAP_SYS_NICE, which privilege_drop takes away: without it (the systemd
 * unit sets Nice= itself) nothing changes.
 */
#define DAEMON_NICE (-10)

static void take_priority(void)
{
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) != 0 || errno)
		return;
	if (setpriority(PRIO_PROCESS, 0, DAEMON_NICE) < 0)
		log_debug("cannot raise the priority to nice %d: %s", DAEMON_NICE, strerror(errno));
}

int main(int argc, char **argv)
{
	struct daemon d = {.skip_fd = -1,
			   .epfd = -1,
			   .opt.per_process = true,
			   .opt.max_armed = MAX_ARMED_DEFAULT,
			   .malformed_log = {.interval_ns = 10ull * 1000000000}};
	struct session_ops ops = {
	    .call = on_call, .set_skip = on_set_skip, .forget = on_forget, .ctx = &d};
	const char *value = getenv(ENDPOINT_ENV);
	char endpoint_text[300];
	int ret, err;
	struct exit_times exit_times = {0};

	privilege_no_core_dumps(); /* before any other process's bytes are read */
	/* Client commands: they read a running daemon and start nothing. */
	if (argc > 1 && !strcmp(argv[1], "suggest-config"))
		return cli_suggest_config(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "calls"))
		return cli_calls(PROG_NAME, argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "watch"))
		return cli_watch(PROG_NAME, argc - 2, argv + 2);
	ret = options_parse(argc, argv, &d.opt);
	if (ret == OPTIONS_HEALTH)
		return health_command(argc - 1, argv + 1);
	if (ret >= 0)
		return ret;
	if (endpoint_parse(value, &d.endpoint)) {
		log_error("invalid %s=\"%s\": expected <host>:<port> with an IPv4 address, "
			  "[IPv6] address or DNS name and a port from 1 to 65535",
			  ENDPOINT_ENV, value);
		return 2;
	}
	if (check_kernel())
		return 1;
	ret = claim_host();
	if (ret)
		return ret;
	endpoint_format(&d.endpoint, endpoint_text, sizeof(endpoint_text));
	log_info("%s %s starting; Orchestrator endpoint %s", PROG_NAME, VERSION, endpoint_text);

	/* Worker threads allocate little and rarely: one malloc arena for all
	 * (glibc gives each thread its own, up to 8 per core, ~130 KB each). */
	mallopt(M_ARENA_MAX, 1);
	take_priority(); /* needs CAP_SYS_NICE, dropped next */
	/* Before any thread starts: capabilities are per thread. */
	privilege_drop();
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	libbpf_set_print(libbpf_log);

	ret = 1;
	d.forwarder = forwarder_new(&d.endpoint);
	if (!d.forwarder) {
		log_error("cannot open a UDP socket to %s: %s", endpoint_text, strerror(errno));
		goto cleanup;
	}
	d.sessions = session_table_new(SESSION_MAX, &ops);
	d.discovered = discovered_new(d.opt.json_out);
	if (!d.sessions || !d.discovered)
		goto cleanup;
	err = check_features();
	if (!err)
		err = load_bpf(&d);
	if (err)
		goto cleanup;
	raise_fd_limit();
	err = start_discovery(&d);
	if (err)
		goto cleanup;
	discovered_start(d.discovered, d.epfd);
	log_info("ready: watching processes for TLS libraries");
	single_instance_running();

	run_loop(&d);

	/* Forward what is complete now (closing links waits for the kernel's
	 * grace periods, longer under load), detach so nothing new arrives,
	 * then forward what completed meanwhile. */
	exit_times.signal = stop_signal_ns;
	exit_times.loop_left = monotonic_ns();
	ring_buffer__consume(d.rb);
	close_exited(&d);
	forwarder_flush(d.forwarder);
	uprobe_warm_stop();
	exit_times.detach = monotonic_ns();
	targets_detach_all(d.targets);
	exit_times.detached = monotonic_ns();
	ring_buffer__consume(d.rb);
	close_exited(&d);
	forwarder_flush(d.forwarder);
	discovered_flush(d.discovered);
	daemon_log_stats(&d, "exit");
	log_flush();
	ret = 0;
cleanup:
	cleanup(&d);
	single_instance_release();
	/* SIGTERM must end it within a second (issue 15): where it goes. */
	if (exit_times.loop_left)
		daemon_log_exit_times(&exit_times, monotonic_ns());
	log_flush();
	return ret;
}
