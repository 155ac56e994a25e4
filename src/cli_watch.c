// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `watch`: a top-like view of the running daemon's summary, refreshed every
 * second: hosts, and under each its templates, with calls, calls/s (from
 * the difference between two snapshots), p50/p99, errors and programs.
 *
 * Plain ANSI escapes and termios, no curses: it runs from the static
 * executable on any terminal that speaks VT100 (over ssh too), 80 columns
 * or more. The terminal is restored on q, Ctrl-C, SIGTERM and SIGHUP. When
 * stdout is not a terminal, one snapshot (taken over a second, for the
 * rates) is printed, untruncated, and the command exits.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "cli.h"
#include "control.h"
#include "control_client.h"

#define REFRESH_MS  1000
#define FILTER_MAX  64
#define LINE_MAX_W  1024
#define HEADER_ROWS 3
/* Numbers first (fixed), then the endpoint (the rest), then programs. */
#define NUMBERS_W  35
#define PROGRAMS_W 12

enum sort_key { SORT_CALLS, SORT_RATE, SORT_P99, SORT_ERRORS, SORT_NAME };

static const char *const sort_names[] = {"calls", "calls/s", "p99", "errors", "name"};

/* A row with its rate, or a host with its rows' totals. */
struct entry {
	const struct call_row *row; /* NULL for a host */
	const char *host;
	uint64_t count, errors;
	double rate;	 /* calls/s; < 0 when not known yet */
	double p50, p99; /* a host's p99 is its rows' highest; p50 < 0: none */
	struct entry *rows;
	size_t nrows;
};

/* The previous snapshot's counts, by a hash of the row's key. */
struct seen {
	uint64_t hash, count;
};

struct view {
	struct call_rows rows;
	struct seen *prev;
	size_t nprev;
	bool have_snapshot, have_prev;
	uint64_t prev_ns, now_ns;
	struct entry *row_entries, *hosts;
	size_t nhosts;
	enum sort_key sort;
	char filter[FILTER_MAX];
	bool editing; /* typing a filter */
	char typed[FILTER_MAX];
	char error[sizeof(((struct control_error *)0)->msg)];
	uint64_t total, total_errors;
	double total_rate;
};

static volatile sig_atomic_t quit_requested, resized;

static void on_quit(int sig)
{
	quit_requested = 1;
}

static void on_winch(int sig)
{
	resized = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t row_hash(const struct call_row *r)
{
	const char *parts[] = {r->method, r->host, r->template};
	uint64_t h = 14695981039346656037ull;

	for (int i = 0; i < 3; i++) {
		for (const char *s = parts[i]; *s; s++)
			h = (h ^ (uint8_t)*s) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return h;
}

static int seen_order(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* calls/s of a row since the previous snapshot (new rows: all their calls). */
static double row_rate(const struct view *v, const struct call_row *r)
{
	struct seen key = {.hash = row_hash(r)}, *found;
	double secs = (double)(v->now_ns - v->prev_ns) / 1e9;
	uint64_t before = 0;

	if (!v->have_prev || secs <= 0)
		return -1;
	found = bsearch(&key, v->prev, v->nprev, sizeof(*v->prev), seen_order);
	if (found)
		before = found->count;
	return r->count > before ? (double)(r->count - before) / secs : 0;
}

/* Keep this snapshot's counts for the next one's rates. */
static int remember(struct view *v)
{
	struct seen *prev = realloc(v->prev, (v->rows.n + 1) * sizeof(*prev));

	if (!prev)
		return -1;
	v->prev = prev;
	for (size_t i = 0; i < v->rows.n; i++)
		prev[i] = (struct seen){row_hash(&v->rows.v[i]), v->rows.v[i].count};
	v->nprev = v->rows.n;
	qsort(prev, v->nprev, sizeof(*prev), seen_order);
	v->prev_ns = v->now_ns;
	v->have_prev = true;
	return 0;
}

/* A new snapshot; the one it replaces gives the rates. On an error the
 * old one stays on screen, with the error above it. */
static int fetch(struct view *v)
{
	struct control_error e = {0};
	struct call_rows fresh = {0};
	int ret = control_fetch_rows(CONTROL_SOCKET, &fresh, &e);

	if (ret != CLI_EXIT_OK) {
		snprintf(v->error, sizeof(v->error), "%s", e.msg);
		call_rows_free(&fresh);
		return ret;
	}
	call_rows_printable(&fresh);
	if (v->have_snapshot)
		remember(v);
	call_rows_free(&v->rows);
	v->rows = fresh;
	v->now_ns = now_ns();
	v->have_snapshot = true;
	v->error[0] = '\0';
	return ret;
}

/* ---- grouping and sorting ----------------------------------------------------- */

static enum sort_key current_sort;

static int entry_order(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	double dx = 0, dy = 0;

	switch (current_sort) {
	case SORT_CALLS:
		dx = (double)x->count, dy = (double)y->count;
		break;
	case SORT_RATE:
		dx = x->rate, dy = y->rate;
		break;
	case SORT_P99:
		dx = x->p99, dy = y->p99;
		break;
	case SORT_ERRORS:
		dx = (double)x->errors, dy = (double)y->errors;
		break;
	case SORT_NAME:
		break;
	}
	if (dx != dy)
		return dx < dy ? 1 : -1;
	if (x->row && y->row) {
		int c = strcmp(x->row->template, y->row->template);

		return c ? c : strcmp(x->row->method, y->row->method);
	}
	return strcmp(x->host, y->host);
}

static int host_group_order(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->host, y->host);
}

static void build(struct view *v)
{
	size_t n = 0;

	free(v->row_entries);
	free(v->hosts);
	v->row_entries = calloc(v->rows.n + 1, sizeof(*v->row_entries));
	v->hosts = calloc(v->rows.n + 1, sizeof(*v->hosts));
	v->nhosts = 0;
	v->total = v->total_errors = 0;
	v->total_rate = v->have_prev ? 0 : -1;
	if (!v->row_entries || !v->hosts)
		return;
	for (size_t i = 0; i < v->rows.n; i++) {
		const struct call_row *r = &v->rows.v[i];
		struct entry *e = &v->row_entries[n];

		v->total += r->count;
		v->total_errors += r->errors;
		*e = (struct entry){.row = r,
				    .host = r->host,
				    .count = r->count,
				    .errors = r->errors,
				    .rate = row_rate(v, r),
				    .p50 = r->p50_ms,
				    .p99 = r->p99_ms};
		if (e->rate > 0 && v->total_rate >= 0)
			v->total_rate += e->rate;
		if (!v->filter[0] || strcasestr(r->host, v->filter))
			n++;
	}
	current_sort = v->sort;
	qsort(v->row_entries, n, sizeof(*v->row_entries), host_group_order);
	for (size_t i = 0; i < n;) {
		struct entry *h = &v->hosts[v->nhosts++];
		size_t j = i;

		*h = (struct entry){.host = v->row_entries[i].host,
				    .rows = &v->row_entries[i],
				    .p50 = -1,
				    .rate = v->have_prev ? 0 : -1};
		for (; j < n && !strcmp(v->row_entries[j].host, h->host); j++) {
			const struct entry *e = &v->row_entries[j];

			h->count += e->count;
			h->errors += e->errors;
			if (e->rate > 0 && h->rate >= 0)
				h->rate += e->rate;
			if (e->p99 > h->p99)
				h->p99 = e->p99;
		}
		h->nrows = j - i;
		qsort(h->rows, h->nrows, sizeof(*h->rows), entry_order);
		i = j;
	}
	qsort(v->hosts, v->nhosts, sizeof(*v->hosts), entry_order);
}

/* ---- drawing ------------------------------------------------------------------ */

static void fmt_count(char *out, size_t size, uint64_t n)
{
	if (n < 10000000)
		snprintf(out, size, "%llu", (unsigned long long)n);
	else
		snprintf(out, size, "%.1fM", (double)n / 1e6);
}

static void fmt_rate(char *out, size_t size, double r)
{
	if (r < 0)
		snprintf(out, size, "-");
	else if (r < 100)
		snprintf(out, size, "%.1f", r);
	else if (r < 100000)
		snprintf(out, size, "%.0f", r);
	else
		snprintf(out, size, "%.0fk", r / 1000);
}

static void fmt_ms(char *out, size_t size, double ms)
{
	if (ms < 0)
		snprintf(out, size, "-");
	else if (ms < 10)
		snprintf(out, size, "%.2f", ms);
	else if (ms < 1000)
		snprintf(out, size, "%.1f", ms);
	else if (ms < 100000)
		snprintf(out, size, "%.0f", ms);
	else
		snprintf(out, size, "%.0fs", ms / 1000);
}

/* s cut to width columns, its middle replaced by ".." (the end of a path
 * tells endpoints apart as much as its start). */
static void fit(char *out, size_t size, const char *s, int width)
{
	int len = (int)strlen(s), head;

	if (width <= 0 || size < 4) {
		out[0] = '\0';
		return;
	}
	if (len <= width || width < 8) {
		snprintf(out, size, "%.*s", width, s);
		return;
	}
	head = (width - 2) * 2 / 5;
	snprintf(out, size, "%.*s..%s", head, s, s + len - (width - 2 - head));
}

static void host_programs(const struct entry *h, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < h->nrows; i++) {
		const struct call_row *r = h->rows[i].row;

		for (unsigned p = 0; p < r->nprograms; p++) {
			const char *comm = r->programs[p].comm;
			size_t len = strnlen(comm, sizeof(r->programs[p].comm));
			const char *at = strstr(out, comm);

			/* Already listed (a whole name between commas)? */
			if (at && (at == out || at[-1] == ',') && (at[len] == ',' || !at[len]))
				continue;
			if (n + len + 2 >= size)
				return;
			n += (size_t)snprintf(out + n, size - n, "%s%.*s", n ? "," : "", (int)len,
					      comm);
		}
	}
}

struct screen {
	FILE *out;
	bool tty;
	int width, height, lines;
};

static void put_line(struct screen *sc, const char *style, const char *text)
{
	if (sc->tty && sc->lines >= sc->height)
		return;
	if (sc->tty)
		fprintf(sc->out, "%s%.*s\033[0m\033[K\n", style, sc->width, text);
	else
		fprintf(sc->out, "%s\n", text);
	sc->lines++;
}

static void put_entry(struct screen *sc, const struct entry *e)
{
	char calls[16], rate[16], p50[16], p99[16], what[LINE_MAX_W], progs[LINE_MAX_W];
	char endpoint[LINE_MAX_W], line[3 * LINE_MAX_W];
	int pw = sc->width >= 80 ? PROGRAMS_W : 0;
	int ew = sc->width - NUMBERS_W - (pw ? pw + 1 : 0);

	fmt_count(calls, sizeof(calls), e->count);
	fmt_rate(rate, sizeof(rate), e->rate);
	fmt_ms(p50, sizeof(p50), e->row ? e->p50 : -1);
	fmt_ms(p99, sizeof(p99), e->p99);
	if (e->row) {
		snprintf(what, sizeof(what), "  %s %s", e->row->method, e->row->template);
		cli_programs(e->row, false, progs, sizeof(progs));
	} else {
		snprintf(what, sizeof(what), "%s", e->host);
		host_programs(e, progs, sizeof(progs));
	}
	if (!sc->tty) { /* nothing cut */
		snprintf(line, sizeof(line), "%7s %6s %6s %6s %5llu %s  %s", calls, rate, p50, p99,
			 (unsigned long long)e->errors, what, progs);
		put_line(sc, "", line);
		return;
	}
	fit(endpoint, sizeof(endpoint), what, ew);
	snprintf(line, sizeof(line), "%7s %6s %6s %6s %5llu %-*s %.*s", calls, rate, p50, p99,
		 (unsigned long long)e->errors, ew, endpoint, pw, progs);
	put_line(sc, e->row ? "" : "\033[1m", line);
}

static void draw(struct view *v, struct screen *sc)
{
	char line[LINE_MAX_W], when[16], rate[16];
	time_t t = time(NULL);
	struct tm tm;
	size_t total_lines = 0, shown = 0;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_rate(rate, sizeof(rate), v->total_rate);
	if (sc->tty)
		fputs("\033[H", sc->out);
	sc->lines = 0;
	/* The numbers first: a narrow terminal cuts the name, not them. */
	snprintf(
	    line, sizeof(line),
	    "%s  %llu calls  %s/s  %llu errors  %zu hosts  metrist-orchestrator-ebpf-plugin watch",
	    when, (unsigned long long)v->total, rate, (unsigned long long)v->total_errors,
	    v->nhosts);
	put_line(sc, "", line);
	if (v->error[0])
		snprintf(line, sizeof(line), "! %s", v->error);
	else if (v->editing)
		snprintf(line, sizeof(line), "filter hosts: %s_   (Enter: apply, Esc: cancel)",
			 v->typed);
	else if (sc->tty)
		snprintf(line, sizeof(line), "sort: %s (c r p e n)  filter: %s (/)  q: quit",
			 sort_names[v->sort], v->filter[0] ? v->filter : "none");
	else
		snprintf(line, sizeof(line), "sort: %s  filter: %s", sort_names[v->sort],
			 v->filter[0] ? v->filter : "none");
	put_line(sc, v->error[0] ? "\033[1m" : "", line);
	snprintf(line, sizeof(line), "%7s %6s %6s %6s %5s %s", "CALLS", "/S", "P50ms", "P99ms",
		 "ERR", "HOST / METHOD TEMPLATE");
	put_line(sc, "\033[7m", line);
	for (size_t h = 0; h < v->nhosts; h++)
		total_lines += 1 + v->hosts[h].nrows;
	for (size_t h = 0; h < v->nhosts; h++) {
		for (size_t i = 0; i <= v->hosts[h].nrows; i++) {
			/* Keep the last line for "N more" when they do not all fit. */
			if (sc->tty && shown + 1 < total_lines && sc->lines + 1 >= sc->height)
				goto more;
			put_entry(sc, i ? &v->hosts[h].rows[i - 1] : &v->hosts[h]);
			shown++;
		}
	}
	if (!v->nhosts)
		put_line(sc, "",
			 v->filter[0] ? "(no host matches the filter)"
				      : "(no calls seen since the daemon started)");
	goto end;
more:
	snprintf(line, sizeof(line), "... %zu more lines (filter hosts with /)",
		 total_lines - shown);
	put_line(sc, "", line);
end:
	if (sc->tty)
		fputs("\033[J", sc->out);
	fflush(sc->out);
}

/* ---- terminal and keys ------------------------------------------------------- */

static struct termios saved_termios;
static bool termios_saved;

static void term_enter(void)
{
	struct termios raw;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
		termios_saved = true;
		raw = saved_termios;
		/* Keys one by one, not echoed; ISIG kept: Ctrl-C is SIGINT. */
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	/* The alternate screen (what was on the terminal comes back), no cursor. */
	fputs("\033[?1049h\033[?25l\033[H\033[J", stdout);
	fflush(stdout);
}

static void term_leave(void)
{
	fputs("\033[0m\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void term_size(struct screen *sc)
{
	struct winsize ws;

	sc->width = 80;
	sc->height = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		sc->width = ws.ws_col < LINE_MAX_W - 1 ? ws.ws_col : LINE_MAX_W - 1;
		sc->height = ws.ws_row;
	}
	/* The bottom line stays empty: a newline there would scroll the screen. */
	if (sc->height > HEADER_ROWS + 2)
		sc->height--;
	if (sc->width < NUMBERS_W + 10)
		sc->width = NUMBERS_W + 10;
}

/* Returns true when the view changed (redraw). */
static bool on_keys(struct view *v, const char *keys, size_t n)
{
	bool changed = false;

	for (size_t i = 0; i < n; i++) {
		char k = keys[i];

		if (v->editing) {
			size_t len = strlen(v->typed);

			if (k == '\r' || k == '\n') {
				snprintf(v->filter, sizeof(v->filter), "%s", v->typed);
				v->editing = false;
			} else if (k == 0x1b) {
				v->editing = false;
				break; /* and the rest of an escape sequence */
			} else if ((k == 0x7f || k == 0x08) && len) {
				v->typed[len - 1] = '\0';
			} else if (k == 0x15) {
				v->typed[0] = '\0';
			} else if (k >= 0x20 && k < 0x7f && len + 1 < sizeof(v->typed)) {
				v->typed[len] = k;
				v->typed[len + 1] = '\0';
			}
			changed = true;
			continue;
		}
		switch (k) {
		case 'q':
		case 'Q':
		case 0x03:
			quit_requested = 1;
			return false;
		case 'c':
			v->sort = SORT_CALLS;
			break;
		case 'r':
			v->sort = SORT_RATE;
			break;
		case 'p':
			v->sort = SORT_P99;
			break;
		case 'e':
			v->sort = SORT_ERRORS;
			break;
		case 'n':
			v->sort = SORT_NAME;
			break;
		case '/':
			v->editing = true;
			snprintf(v->typed, sizeof(v->typed), "%s", v->filter);
			break;
		case 0x1b:
			return changed; /* an escape sequence (arrows...): ignored */
		default:
			continue;
		}
		changed = true;
	}
	return changed;
}

static void install_signals(void)
{
	struct sigaction quit = {.sa_handler = on_quit},
			 winch = {.sa_handler = on_winch, .sa_flags = SA_RESTART};

	/*
	 * Quitting: no SA_RESTART, so that a fetch in progress returns and the
	 * loop sees the flag. A resize restarts a fetch (poll wakes anyway:
	 * it is never restarted).
	 */
	sigaction(SIGINT, &quit, NULL);
	sigaction(SIGTERM, &quit, NULL);
	sigaction(SIGHUP, &quit, NULL);
	sigaction(SIGWINCH, &winch, NULL);
}

static int live(struct view *v)
{
	static char outbuf[1 << 16];
	struct screen sc = {.out = stdout, .tty = true};
	bool keys = isatty(STDIN_FILENO);
	uint64_t next = now_ns() + REFRESH_MS * 1000000ull;

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	install_signals();
	term_enter();
	term_size(&sc);
	build(v);
	draw(v, &sc);
	while (!quit_requested) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		uint64_t now = now_ns();
		int timeout = now >= next ? 0 : (int)((next - now) / 1000000) + 1;
		bool redraw = false;

		if (poll(&pfd, keys ? 1 : 0, timeout) > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
			char buf[64];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n > 0)
				redraw = on_keys(v, buf, (size_t)n);
			else if (n == 0)
				keys = false; /* stdin closed: no more keys, go on */
			if (redraw)
				build(v);
		}
		if (quit_requested)
			break;
		if (now_ns() >= next) {
			fetch(v);
			build(v);
			next = now_ns() + REFRESH_MS * 1000000ull;
			redraw = true;
		}
		if (resized) {
			resized = 0;
			term_size(&sc);
			redraw = true;
		}
		if (redraw)
			draw(v, &sc);
	}
	term_leave();
	return CLI_EXIT_OK;
}

static void usage(const char *prog, FILE *out)
{
	fprintf(out,
		"Usage: %s watch\n"
		"\n"
		"A live view of what the running daemon discovered, refreshed every second:\n"
		"hosts by calls, and under each its path templates, with calls, calls/s,\n"
		"p50/p99 latency (ms), errors and programs. Keys: c calls, r calls/s, p p99,\n"
		"e errors, n name (sort); / filter hosts (Enter applies, empty clears); q quit.\n"
		"When stdout is not a terminal, prints one snapshot (taken over a second)\n"
		"and exits. Read from %s (root only); exit status as for `calls`.\n",
		prog, CONTROL_SOCKET);
}

int cli_watch(const char *prog, int argc, char **argv)
{
	struct view v = {.sort = SORT_CALLS};
	int ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(prog, stdout);
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "%s watch: unknown argument '%s'\n", prog, argv[i]);
		usage(prog, stderr);
		return CLI_EXIT_USAGE;
	}
	/* The daemon must answer once before the screen is taken. */
	ret = fetch(&v);
	if (ret != CLI_EXIT_OK) {
		fprintf(stderr, "%s: %s\n", prog, v.error);
		goto out;
	}
	if (isatty(STDOUT_FILENO)) {
		ret = live(&v);
	} else {
		struct screen sc = {.out = stdout, .tty = false, .width = LINE_MAX_W - 1};

		usleep(REFRESH_MS * 1000);
		ret = fetch(&v);
		if (ret != CLI_EXIT_OK) {
			fprintf(stderr, "%s: %s\n", prog, v.error);
			goto out;
		}
		build(&v);
		draw(&v, &sc);
		if (ferror(stdout))
			ret = CLI_EXIT_ERROR;
	}
out:
	call_rows_free(&v.rows);
	free(v.prev);
	free(v.row_entries);
	free(v.hosts);
	return ret;
}
