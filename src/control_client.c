// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <jansson.h>
#include "call_json.h"
#include "control.h"
#include "control_client.h"

/* The daemon answers at once; this long means it is stuck. */
#define ANSWER_TIMEOUT_S 15
#define LINE_MAX_BYTES	 (2 * CALL_ROW_JSON_MAX)

static int connect_error(struct control_error *e, const char *path, int err)
{
	if (err == EACCES || err == EPERM) {
		snprintf(e->msg, sizeof(e->msg), "cannot reach the daemon at %s: %s (run as root)",
			 path, strerror(err));
		return CLI_EXIT_DENIED;
	}
	if (err == ENOENT || err == ECONNREFUSED) {
		snprintf(e->msg, sizeof(e->msg),
			 "cannot reach the daemon at %s: %s (is it running? systemctl status "
			 "metrist-orchestrator-ebpf-plugin)",
			 path, strerror(err));
		return CLI_EXIT_NO_DAEMON;
	}
	snprintf(e->msg, sizeof(e->msg), "cannot reach the daemon at %s: %s", path, strerror(err));
	return CLI_EXIT_ERROR;
}

/* {"error":"..."}: the daemon's refusal, told as it is. */
static int daemon_error(struct control_error *e, const char *line, size_t len)
{
	json_t *obj = json_loadb(line, len, 0, NULL);
	const char *why = json_string_value(json_object_get(obj, "error"));
	int ret = CLI_EXIT_ERROR;

	if (!why) {
		json_decref(obj);
		return -1; /* not an error line */
	}
	if (!strncmp(why, "permission denied", 17))
		ret = CLI_EXIT_DENIED;
	snprintf(e->msg, sizeof(e->msg), "the daemon refused: %s", why);
	json_decref(obj);
	return ret;
}

static int open_socket(struct control_error *e, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -connect_error(e, path, ENAMETOOLONG);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -connect_error(e, path, errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -connect_error(e, path, err);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int read_lines(struct control_error *e, const char *path, int fd, control_line_cb line_cb,
		      void *ctx)
{
	static char buf[LINE_MAX_BYTES];
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
		size_t start = 0;
		char *nl;

		if (n < 0) { /* EINTR too: a signal is how `watch` is told to stop */
			snprintf(e->msg, sizeof(e->msg), "reading from the daemon at %s: %s", path,
				 errno == EAGAIN ? "no answer in time" : strerror(errno));
			return CLI_EXIT_ERROR;
		}
		if (n == 0) {
			if (len == 0)
				return CLI_EXIT_OK;
			snprintf(e->msg, sizeof(e->msg), "the daemon's answer was cut short");
			return CLI_EXIT_ERROR;
		}
		len += (size_t)n;
		while ((nl = memchr(buf + start, '\n', len - start))) {
			size_t line_len = (size_t)(nl - (buf + start));
			int ret = -1;

			if (!strncmp(buf + start, "{\"error\":", 9))
				ret = daemon_error(e, buf + start, line_len);
			if (ret < 0)
				ret = line_cb(buf + start, line_len, ctx, e);
			if (ret)
				return ret;
			start += line_len + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == sizeof(buf)) {
			snprintf(e->msg, sizeof(e->msg), "a line from the daemon is too long");
			return CLI_EXIT_ERROR;
		}
	}
}

int control_query(const char *path, const char *request, control_line_cb line_cb, void *ctx,
		  struct control_error *e)
{
	char line[CONTROL_REQUEST_MAX];
	int fd = open_socket(e, path), n, ret;

	if (fd < 0)
		return -fd;
	n = snprintf(line, sizeof(line), "%s\n", request);
	if (n < 0 || (size_t)n >= sizeof(line) || send(fd, line, n, MSG_NOSIGNAL) != n) {
		snprintf(e->msg, sizeof(e->msg), "cannot send the request to the daemon at %s: %s",
			 path, strerror(errno));
		close(fd);
		return CLI_EXIT_ERROR;
	}
	ret = read_lines(e, path, fd, line_cb, ctx);
	close(fd);
	return ret;
}

static int fetch_line(const char *line, size_t len, void *ctx, struct control_error *e)
{
	char reason[256];
	int ret = call_rows_add_json(ctx, line, len, reason, sizeof(reason));

	if (ret == -ENOMEM) {
		snprintf(e->msg, sizeof(e->msg), "out of memory");
		return CLI_EXIT_ERROR;
	}
	if (ret) {
		snprintf(e->msg, sizeof(e->msg), "unexpected line from the daemon (%s): %.*s",
			 reason, (int)(len > 200 ? 200 : len), line);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

int control_fetch_rows(const char *path, struct call_rows *rows, struct control_error *e)
{
	return control_query(path, "calls", fetch_line, rows, e);
}
