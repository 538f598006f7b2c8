/* sdnotify: see sdnotify.h. */
#include "mxd/common/sdnotify.h"

#include "mxd/common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define STATUS_MAX 512 /* octets of a STATUS= text; longer ones are cut */

/* Fill *sun from $NOTIFY_SOCKET. 0, 1 when it is unset or empty, -1 (EINVAL) when it is malformed. */
static int notify_address(struct sockaddr_un *sun, socklen_t *len_r)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (name == NULL || *name == '\0')
		return 1;
	size_t n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n >= sizeof(sun->sun_path) || (name[0] == '@' && n < 2)) {
		errno = EINVAL;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, name, n);
	if (name[0] == '@')
		sun->sun_path[0] = '\0'; /* abstract namespace: the name is exactly the n octets */
	else
		n++; /* a path includes its NUL */
	*len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

int sd_notify_send(const char *state)
{
	struct sockaddr_un sun;
	socklen_t len;
	int r = notify_address(&sun, &len);
	if (r != 0)
		return r > 0 ? 0 : -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	size_t size = strlen(state);
	ssize_t sent;
	do
		sent = sendto(fd, state, size, MSG_NOSIGNAL, (const struct sockaddr *)&sun, len);
	while (sent < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	errno = saved;
	return sent == (ssize_t)size ? 0 : -1;
}

int sd_notify_ready(void)
{
	return sd_notify_send("READY=1");
}

int sd_notify_status(const char *text)
{
	char msg[sizeof("STATUS=") + STATUS_MAX];
	size_t len = strlen("STATUS=");
	memcpy(msg, "STATUS=", len);
	for (const char *p = text; *p != '\0' && len < sizeof(msg) - 1; p++)
		msg[len++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	msg[len] = '\0';
	return sd_notify_send(msg);
}

int sd_notify_stopping(void)
{
	return sd_notify_send("STOPPING=1");
}

int sd_notify_watchdog(void)
{
	return sd_notify_send("WATCHDOG=1");
}

uint64_t sd_notify_watchdog_interval(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t interval, owner;
	if (usec == NULL || str_to_u64(usec, &interval) < 0 || interval == 0)
		return 0;
	if (pid != NULL && *pid != '\0' && (str_to_u64(pid, &owner) < 0 || owner != (uint64_t)getpid()))
		return 0; /* meant for another process (a parent that exec'd us without clearing it) */
	return interval;
}

static void watchdog_tick(evutil_socket_t fd, short what, void *arg);

static int watchdog_arm(struct event_base *base)
{
	uint64_t half = sd_notify_watchdog_interval() / 2;
	if (half == 0)
		return 0;
	struct timeval tv = {(time_t)(half / 1000000), (suseconds_t)(half % 1000000)};
	return event_base_once(base, -1, EV_TIMEOUT, watchdog_tick, base, &tv);
}

static void watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	/* A failed ping is not worth a log line every few seconds: systemd restarts us if it matters. */
	(void)sd_notify_watchdog();
	(void)watchdog_arm(arg);
}

int sd_notify_watchdog_start(struct event_base *base)
{
	if (sd_notify_watchdog_interval() == 0)
		return 0;
	if (sd_notify_watchdog() < 0)
		return -1;
	return watchdog_arm(base);
}
