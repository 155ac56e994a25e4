// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "call_json.h"
#include "control.h"
#include "log.h"

enum client_state {
	CLIENT_FREE,
	CLIENT_READING, /* the request line */
	CLIENT_WRITING, /* rows from the cursor on, through buf */
	CLIENT_CLOSING, /* buf holds the last bytes */
};

struct client {
	enum client_state state;
	int fd;
	uint64_t deadline_ns;
	char request[CONTROL_REQUEST_MAX];
	size_t request_len;
	unsigned cursor; /* the next row of the summary */
	char *buf;	 /* CONTROL_BUFFER_BYTES, while writing */
	size_t len, off;
	uint32_t events; /* what epoll watches for it */
};

struct control {
	int listen_fd, epfd;
	const struct call_summary *summary;
	uid_t allowed_uid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* the socket file we made, removed at exit only if still ours */
	ino_t ino;
	struct client clients[CONTROL_CLIENTS_MAX];
	unsigned nclients;
};

/* The directory must be ours and closed to others, or be made so. */
static int prepare_dir(const char *path)
{
	char copy[sizeof(((struct control *)0)->path)];
	const char *dir;
	struct stat st;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST || lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return -EPERM;
	return 0;
}

/*
 * Someone else's live socket is left alone; a stale one (its daemon died
 * without removing it) is removed; anything else is refused.
 */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS)
		return -EADDRINUSE;
	if (rc != -ECONNREFUSED)
		return rc;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int control_open(const char *path, const struct call_summary *summary, uid_t allowed_uid,
		 struct control **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN};
	struct control *c;
	struct stat st;
	mode_t old_mask;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	err = prepare_dir(path);
	if (!err)
		err = clear_stale(path);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->summary = summary;
	c->allowed_uid = allowed_uid;
	c->epfd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		goto fail;
	/* Made 0600 from the start, not after a chmod. */
	old_mask = umask(0177);
	err = bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (err < 0 || chmod(path, 0600) < 0 || lstat(path, &st) < 0)
		goto fail;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.u32 = CONTROL_CLIENTS_MAX; /* the listening socket */
	if (listen(c->listen_fd, CONTROL_CLIENTS_MAX) < 0 || c->epfd < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->listen_fd, &ev) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	err = -errno;
	control_close(c);
	return err;
}

int control_fd(const struct control *c)
{
	return c->epfd;
}

bool control_busy(const struct control *c)
{
	return c->nclients > 0;
}

static void client_drop(struct control *c, struct client *cl)
{
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl->buf);
	memset(cl, 0, sizeof(*cl));
	c->nclients--;
}

/* Ask epoll for what the client waits for: its request, or room to write. */
static void client_want(struct control *c, struct client *cl, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(cl - c->clients)};

	if (cl->events != events && epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
		cl->events = events;
}

/* One short line to a peer we will not serve; best effort, never waits. */
static void refuse(int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "{\"error\":\"%s\"}\n", why);

	if (send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control socket: cannot tell a client it is refused: %s",
			  strerror(errno));
	close(fd);
}

static void accept_clients(struct control *c, uint64_t now_ns)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl = NULL;

		if (fd < 0)
			return; /* EAGAIN, or a client gone before we took it */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != 0 && cred.uid != c->allowed_uid)) {
			refuse(fd, "permission denied: only root may ask the daemon");
			continue;
		}
		for (unsigned i = 0; i < CONTROL_CLIENTS_MAX && !cl; i++)
			if (c->clients[i].state == CLIENT_FREE)
				cl = &c->clients[i];
		if (!cl) {
			refuse(fd, "busy: too many clients, try again");
			continue;
		}
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.u32 = (uint32_t)(cl - c->clients)};

		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		*cl = (struct client){.state = CLIENT_READING,
				      .fd = fd,
				      .deadline_ns = now_ns + CONTROL_DEADLINE_NS,
				      .events = EPOLLIN};
		c->nclients++;
	}
}

/* A row's line into the client's buffer; 1 (stop) when it does not fit. */
static int put_row(const struct call_row *row, void *ctx)
{
	struct client *cl = ctx;
	int n = call_row_json(cl->buf + cl->len, CONTROL_BUFFER_BYTES - cl->len, row);

	if (n < 0)
		return cl->len ? 1 : 0; /* an empty buffer skips a row that never fits */
	cl->len += n;
	return 0;
}

/*
 * Send what the buffer holds, refilling it once per call at most: a round
 * of the event loop spends ~0.2 ms per client (16 KB of rows), however
 * fast the client reads; the rest goes in the next rounds (EPOLLOUT).
 */
static void client_write(struct control *c, struct client *cl)
{
	bool refilled = false;

	for (;;) {
		if (cl->off == cl->len) {
			if (cl->state == CLIENT_CLOSING) {
				client_drop(c, cl);
				return;
			}
			if (refilled) {
				client_want(c, cl, EPOLLOUT);
				return;
			}
			refilled = true;
			cl->off = cl->len = 0;
			if (call_summary_walk(c->summary, &cl->cursor, put_row, cl))
				cl->state = CLIENT_CLOSING;
			continue;
		}
		ssize_t n = send(cl->fd, cl->buf + cl->off, cl->len - cl->off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			client_want(c, cl, EPOLLOUT);
			return;
		}
		if (n <= 0) {
			client_drop(c, cl);
			return;
		}
		cl->off += (size_t)n;
	}
}

static void client_answer(struct control *c, struct client *cl)
{
	static const char unknown[] = "{\"error\":\"unknown request\"}\n";

	cl->buf = malloc(CONTROL_BUFFER_BYTES);
	if (!cl->buf) {
		client_drop(c, cl);
		return;
	}
	if (!strcmp(cl->request, "calls")) {
		cl->state = CLIENT_WRITING;
	} else {
		memcpy(cl->buf, unknown, sizeof(unknown) - 1);
		cl->len = sizeof(unknown) - 1;
		cl->state = CLIENT_CLOSING;
	}
	client_write(c, cl);
}

static void client_read(struct control *c, struct client *cl)
{
	ssize_t n =
	    recv(cl->fd, cl->request + cl->request_len, sizeof(cl->request) - cl->request_len, 0);
	char *nl;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_drop(c, cl); /* gone, or an error */
		return;
	}
	cl->request_len += (size_t)n;
	nl = memchr(cl->request, '\n', cl->request_len);
	if (!nl) {
		if (cl->request_len == sizeof(cl->request))
			client_drop(c, cl); /* no request is this long */
		return;
	}
	*nl = '\0';
	client_answer(c, cl);
}

void control_serve(struct control *c, uint64_t now_ns)
{
	struct epoll_event evs[CONTROL_CLIENTS_MAX + 1];
	int n = epoll_wait(c->epfd, evs, CONTROL_CLIENTS_MAX + 1, 0);

	for (int i = 0; i < n; i++) {
		uint32_t slot = evs[i].data.u32;
		struct client *cl;

		if (slot == CONTROL_CLIENTS_MAX) {
			accept_clients(c, now_ns);
			continue;
		}
		cl = &c->clients[slot];
		if (cl->state == CLIENT_READING)
			client_read(c, cl);
		else if (cl->state != CLIENT_FREE)
			client_write(c, cl);
	}
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX && c->nclients; i++)
		if (c->clients[i].state != CLIENT_FREE && now_ns >= c->clients[i].deadline_ns)
			client_drop(c, &c->clients[i]);
}

void control_close(struct control *c)
{
	struct stat st;

	if (!c)
		return;
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (c->clients[i].state != CLIENT_FREE)
			client_drop(c, &c->clients[i]);
	if (c->ino && lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->epfd >= 0)
		close(c->epfd);
	free(c);
}
