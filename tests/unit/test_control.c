// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The control socket, server and client: real Unix sockets in a temporary
 * directory, the server served by hand (as the event loop does), clients in
 * child processes or as raw sockets that misbehave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "control.h"
#include "control_client.h"

#define MS 1000000ull

struct fixture {
	char dir[64], path[96];
	struct call_summary *summary;
	struct control *control;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fill(struct call_summary *s, int rows)
{
	char path[64];

	for (int i = 0; i < rows; i++) {
		struct call_seen c = {"GET",  "api.example.com",
				      path,   200,
				      3 * MS, 42,
				      "curl", 1764662400ull * 1000000000ull};

		snprintf(path, sizeof(path), "/r/%c%c%c/padding-to-make-rows-longer", 'a' + i % 26,
			 'a' + i / 26 % 26, 'a' + i / 676 % 26);
		call_summary_add(s, &c);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_control.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	chmod(f->dir, 0700);
	snprintf(f->path, sizeof(f->path), "%s/run/control.sock", f->dir);
	f->summary = call_summary_new(CALL_SUMMARY_ROWS_MAX, CALL_SUMMARY_HOSTS_MAX);
	assert_int_equal(control_open(f->path, f->summary, geteuid(), &f->control), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char sub[160];

	control_close(f->control);
	call_summary_free(f->summary);
	snprintf(sub, sizeof(sub), "%s/run", f->dir);
	rmdir(sub);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Serve until the child exits; its exit status. */
static int serve_until_exit(struct fixture *f, pid_t child)
{
	int status;

	for (;;) {
		control_serve(f->control, now_ns());
		if (waitpid(child, &status, WNOHANG) == child)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
		usleep(1000);
	}
}

/* A child fetching every row; exits 0 when it got `want`, 50 when not. */
static pid_t fetch_in_child(const char *path, size_t want)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct call_rows rows = {0};
		struct control_error e = {0};
		int ret = control_fetch_rows(path, &rows, &e);

		if (ret) {
			fprintf(stderr, "child: %s\n", e.msg);
			_exit(ret);
		}
		_exit(rows.n == want ? 0 : 50);
	}
	return pid;
}

static void test_rows_served(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char dir[160];

	fill(f->summary, 1000);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* 1000 rows: ~300 KB, many times a buffer's worth. */
	assert_int_equal(serve_until_exit(f, fetch_in_child(f->path, 1000)), 0);
	assert_false(control_busy(f->control));
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
}

/* Clients that never read, and one that never asks: the server never waits
 * for them, its memory stays bounded, and the deadline closes them. */
static void test_stuck_clients_cost_nothing(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_CLIENTS_MAX + 1];
	uint64_t worst = 0, t0;
	char buf[256];

	fill(f->summary, 1000);
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		int small = 4096;

		fds[i] = raw_connect(f->path);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		if (i) /* the first never even sends its request */
			assert_int_equal(write(fds[i], "calls\n", 6), 6);
	}
	for (int round = 0; round < 50; round++) {
		t0 = now_ns();
		control_serve(f->control, t0);
		if (now_ns() - t0 > worst)
			worst = now_ns() - t0;
	}
	print_message("slowest serve with %d stuck clients: %llu us\n", CONTROL_CLIENTS_MAX,
		      (unsigned long long)worst / 1000);
	assert_true(worst < 50 * MS);
	assert_true(control_busy(f->control));
	/* One more is refused at once, with a reason. */
	fds[CONTROL_CLIENTS_MAX] = raw_connect(f->path);
	control_serve(f->control, now_ns());
	read_all(fds[CONTROL_CLIENTS_MAX], buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"error\":\"busy"));
	/* Past their deadline they are all closed. */
	control_serve(f->control, now_ns() + CONTROL_DEADLINE_NS + 1);
	assert_false(control_busy(f->control));
	for (int i = 0; i <= CONTROL_CLIENTS_MAX; i++)
		close(fds[i]);
}

/* However fast a client reads, a round of the loop writes it one buffer of
 * rows at most: the loop's time per round stays bounded. */
static void test_one_buffer_per_round(void **state)
{
	struct fixture *f = *state;
	int fd, queued, rounds = 0;
	size_t got = 0;
	char buf[CONTROL_BUFFER_BYTES];
	ssize_t n;

	fill(f->summary, 1000);
	fd = raw_connect(f->path);
	assert_int_equal(write(fd, "calls\n", 6), 6);
	for (;;) {
		control_serve(f->control, now_ns());
		rounds++;
		assert_int_equal(ioctl(fd, FIONREAD, &queued), 0);
		assert_true(queued <= CONTROL_BUFFER_BYTES);
		if (!control_busy(f->control))
			break;
		while (queued > 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
			got += (size_t)n;
			queued -= (int)n;
		}
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	print_message("%zu bytes in %d rounds\n", got, rounds);
	assert_true(got > 10 * CONTROL_BUFFER_BYTES);
	assert_true(rounds > 10);
	close(fd);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	char buf[256], big[200];
	int fd;

	fd = raw_connect(f->path);
	assert_int_equal(write(fd, "rm -rf /\n", 9), 9);
	for (int i = 0; i < 20; i++)
		control_serve(f->control, now_ns());
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "{\"error\":\"unknown request\"}\n");
	close(fd);

	/* A request longer than any is dropped without an answer. */
	fd = raw_connect(f->path);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(fd, big, sizeof(big)), sizeof(big));
	for (int i = 0; i < 20; i++)
		control_serve(f->control, now_ns());
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "");
	close(fd);
	assert_false(control_busy(f->control));
}

static void test_live_socket_not_stolen(void **state)
{
	struct fixture *f = *state;
	struct control *second = NULL;
	int fd;

	assert_int_equal(control_open(f->path, f->summary, geteuid(), &second), -EADDRINUSE);
	/* The first still answers. */
	fill(f->summary, 3);
	assert_int_equal(serve_until_exit(f, fetch_in_child(f->path, 3)), 0);

	/* A socket nobody answers on (its daemon killed) is taken over. */
	control_close(f->control);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	close(fd);
	assert_int_equal(control_open(f->path, f->summary, geteuid(), &f->control), 0);

	/* Something that is not a socket is left alone. */
	control_close(f->control);
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(control_open(f->path, f->summary, geteuid(), &second), -EEXIST);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(control_open(f->path, f->summary, geteuid(), &f->control), 0);
}

/* Strings come from traced processes: fetched, they are exactly what the
 * daemon saw (suggest-config's patterns must match them); none reaches a
 * terminal with a control byte in it (call_rows_printable replaces them). */
static void test_rows_made_printable(void **state)
{
	struct fixture *f = *state;
	struct call_seen c = {"GET", "h\x1b[2J",    "/x/\x1b]0;pwned\x07",	  200, MS,
			      1,     "ev\x1b[1mil", 1764662400ull * 1000000000ull};
	pid_t pid;

	call_summary_add(f->summary, &c);
	pid = fork();
	if (pid == 0) {
		struct call_rows rows = {0};
		struct control_error e = {0};
		const struct call_row *r;

		if (control_fetch_rows(f->path, &rows, &e) || rows.n != 1)
			_exit(1);
		r = &rows.v[0];
		if (strcmp(r->host, c.host) || strcmp(r->template, c.path) ||
		    strcmp(r->programs[0].comm, c.comm))
			_exit(2);
		call_rows_printable(&rows);
		_exit(strcmp(r->host, "h?[2J") || strcmp(r->template, "/x/?]0;pwned?") ||
			      strcmp(r->programs[0].comm, "ev?[1mil")
			  ? 3
			  : 0);
	}
	assert_int_equal(serve_until_exit(f, pid), 0);
}

static void test_client_errors(void **state)
{
	struct fixture *f = *state;
	struct control_error e = {0};
	struct call_rows rows = {0};
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/none/control.sock", f->dir);
	assert_int_equal(control_fetch_rows(missing, &rows, &e), CLI_EXIT_NO_DAEMON);
	assert_non_null(strstr(e.msg, "cannot reach the daemon at"));
	assert_non_null(strstr(e.msg, missing));
	/* A daemon stopped: its socket gone. */
	control_close(f->control);
	assert_int_equal(control_fetch_rows(f->path, &rows, &e), CLI_EXIT_NO_DAEMON);
	assert_int_equal(control_open(f->path, f->summary, geteuid(), &f->control), 0);
	call_rows_free(&rows);
}

/*
 * Another user: the directory (0700) stops it with "Permission denied (run
 * as root)"; opened up, the daemon itself refuses it (SO_PEERCRED).
 */
static void test_other_user_refused(void **state)
{
	struct fixture *f = *state;
	char dir[160];
	int pass;

	if (geteuid() != 0) {
		print_message("not root: the other-user case is not run\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	for (pass = 0; pass < 2; pass++) {
		pid_t pid;

		if (pass == 1) { /* the file permissions opened up by mistake */
			chmod(f->dir, 0755);
			chmod(dir, 0755);
			chmod(f->path, 0666);
		}
		pid = fork();
		if (pid == 0) {
			struct control_error e = {0};
			struct call_rows rows = {0};
			int ret;

			if (setgid(65534) || setuid(65534))
				_exit(99);
			ret = control_fetch_rows(f->path, &rows, &e);
			fprintf(stderr, "child (uid 65534): %s\n", e.msg);
			if (pass == 0 && !strstr(e.msg, "Permission denied (run as root)"))
				_exit(98);
			if (pass == 1 && !strstr(e.msg, "refused: permission denied"))
				_exit(97);
			_exit(ret);
		}
		assert_int_equal(serve_until_exit(f, pid), CLI_EXIT_DENIED);
	}
	chmod(dir, 0700);
	chmod(f->dir, 0700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rows_served, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stuck_clients_cost_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_buffer_per_round, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_socket_not_stolen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rows_made_printable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_user_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
