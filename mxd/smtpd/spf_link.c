/* spf_link: see spf_link.h. */
#include "mxd/smtpd/spf_link.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPF_LOG       "spf"
#define POLL_SLICE_MS 100 /* how often a wait looks at the stop flag */

void spf_link_init(struct spf_link *l, const struct spf_link_spawn *spawn, const atomic_bool *stopping)
{
	memset(l, 0, sizeof(*l));
	l->spawn = spawn;
	l->stopping = stopping;
	l->fd = -1;
	l->rbuf = xmalloc(SPF_PROTO_FRAME_MAX);
}

int spf_link_fd(const struct spf_link *l)
{
	return l->fd;
}

static void reap(struct spf_link *l)
{
	for (size_t i = 0; i < SPF_LINK_ZOMBIES_MAX; i++) {
		int status;
		if (l->zombies[i] == 0 || waitpid(l->zombies[i], &status, WNOHANG) == 0)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
			log_warn(SPF_LOG, "SPF helper %d died of signal %d", (int)l->zombies[i],
			         WTERMSIG(status));
		l->zombies[i] = 0; /* reaped, or not ours (ECHILD) */
	}
}

/* Kill the helper there is and put it among the dead to reap. */
static void kill_helper(struct spf_link *l)
{
	if (l->pid > 0) {
		kill(l->pid, SIGKILL);
		size_t i = 0;
		while (i < SPF_LINK_ZOMBIES_MAX && l->zombies[i] != 0)
			i++;
		if (i == SPF_LINK_ZOMBIES_MAX) {
			waitpid(l->zombies[0], NULL, 0); /* killed long ago: no wait to speak of */
			i = 0;
		}
		l->zombies[i] = l->pid;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->pid = 0;
	l->fd = -1;
	l->ready = false;
	l->rlen = 0;
	reap(l);
}

static int start_helper(struct spf_link *l, const char **error_r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = "cannot create a socket pair for the SPF helper";
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* the helper's end on its descriptor 3 (dup2 clears close-on-exec), 0 and 1 on /dev/null, 2
	 * inherited (sanitizer reports), everything else closed */
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int err = posix_spawn(&pid, l->spawn->path, &fa, &attr, l->spawn->argv, l->spawn->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (err != 0) {
		close(sv[0]);
		log_warn(SPF_LOG, "cannot start the SPF helper %s: %s", l->spawn->path, strerror(err));
		*error_r = "cannot start the SPF helper";
		return -1;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		*error_r = "cannot make the SPF helper's socket non-blocking";
		return -1;
	}
	l->pid = pid;
	l->fd = sv[0];
	l->ready = false;
	l->rlen = 0;
	log_debug(SPF_LOG, "SPF helper %d started", (int)pid);
	return 0;
}

int spf_link_open(struct spf_link *l, const char **error_r)
{
	reap(l);
	if (l->fd >= 0) {
		/* between checks the helper has nothing to say: readable means gone (or misbehaving) */
		struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) == 0)
			return 0;
		spf_link_fail(l, "it hung up between checks");
	}
	if (time_mono_msec() < l->retry_at) {
		*error_r = "the SPF helper is restarting";
		return -1;
	}
	if (start_helper(l, error_r) < 0) {
		spf_link_fail(l, NULL);
		return -1;
	}
	return 0;
}

/* Wait until fd has events or deadline (or a stop). 1: ready; 0: out of time. */
static int wait_fd(struct spf_link *l, short events, int64_t deadline)
{
	for (;;) {
		int64_t now = time_mono_msec();
		if (atomic_load(l->stopping) || now >= deadline)
			return 0;
		int64_t slice = deadline - now < POLL_SLICE_MS ? deadline - now : POLL_SLICE_MS;
		struct pollfd pfd = {.fd = l->fd, .events = events};
		int n = poll(&pfd, 1, (int)slice);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return 1; /* let the read or write tell */
	}
}

int spf_link_send(struct spf_link *l, const struct spf_proto_buf *b, int64_t deadline, const char **error_r)
{
	if (l->fd < 0 || b->overflow) {
		*error_r = l->fd < 0 ? "no SPF helper" : "frame too long";
		return -1;
	}
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = send(l->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(l, POLLOUT, deadline) == 0) {
				*error_r = "the SPF helper does not read";
				return -1;
			}
			continue;
		}
		*error_r = "the SPF helper closed its socket";
		return -1;
	}
	return 0;
}

int spf_link_recv(struct spf_link *l, struct spf_proto_helper_msg *msg, int64_t deadline,
                  const char **error_r)
{
	if (l->fd < 0) {
		*error_r = "no SPF helper";
		return -1;
	}
	for (;;) {
		size_t flen;
		int r = spf_proto_frame_len(l->rbuf, l->rlen, &flen);
		if (r < 0) {
			*error_r = "malformed frame header";
			return -1;
		}
		if (r == 0) {
			int p = spf_proto_parse_helper(l->rbuf, flen, msg, error_r);
			memmove(l->rbuf, l->rbuf + flen, l->rlen - flen);
			l->rlen -= flen;
			if (p < 0)
				return -1;
			if (msg->type == SPF_PROTO_READY) {
				if (l->ready || msg->version != SPF_PROTO_VERSION) {
					*error_r =
					    l->ready ? "READY twice" : "READY for another protocol version";
					return -1;
				}
				l->ready = true;
				continue;
			}
			if (!l->ready) {
				*error_r = "a frame before READY";
				return -1;
			}
			return 0;
		}
		ssize_t n = read(l->fd, l->rbuf + l->rlen, SPF_PROTO_FRAME_MAX - l->rlen);
		if (n > 0) {
			l->rlen += (size_t)n;
			continue;
		}
		if (n == 0) {
			*error_r = "the SPF helper closed its socket";
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			*error_r = "reading from the SPF helper failed";
			return -1;
		}
		if (wait_fd(l, POLLIN, deadline) == 0) {
			*error_r =
			    atomic_load(l->stopping) ? "stopping" : "the SPF helper did not answer in time";
			return -1;
		}
	}
}

void spf_link_ok(struct spf_link *l)
{
	l->failures = 0;
}

void spf_link_fail(struct spf_link *l, const char *why)
{
	if (why != NULL && l->pid > 0)
		log_warn(SPF_LOG, "SPF helper %d: %s; killed, to be restarted", (int)l->pid, why);
	kill_helper(l);
	/* the first failure restarts at once, the next ones wait 100 ms, 200 ms, ... 10 s */
	int64_t backoff = 0;
	if (l->failures > 0) {
		backoff = SPF_LINK_BACKOFF_MIN_MSEC;
		for (unsigned i = 1; i < l->failures && backoff < SPF_LINK_BACKOFF_MAX_MSEC; i++)
			backoff *= 2;
		if (backoff > SPF_LINK_BACKOFF_MAX_MSEC)
			backoff = SPF_LINK_BACKOFF_MAX_MSEC;
	}
	l->failures++;
	l->retry_at = time_mono_msec() + backoff;
}

void spf_link_close(struct spf_link *l)
{
	kill_helper(l);
	for (int64_t until = time_mono_msec() + 2000; time_mono_msec() < until;) {
		reap(l);
		bool left = false;
		for (size_t i = 0; i < SPF_LINK_ZOMBIES_MAX; i++)
			left = left || l->zombies[i] != 0;
		if (!left)
			break;
		poll(NULL, 0, 5);
	}
	free(l->rbuf);
	l->rbuf = NULL;
}
