/* log: see log.h. */
#include "mxd/common/log.h"

#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static char log_host[256] = "localhost";
static char log_name[64] = "mxd";
static bool log_debug_on;

int log_open(const char *path, const char *host, const char *syslog_name, const char **error_r)
{
	static __thread char err[512];
	int fd = STDERR_FILENO;
	if (path != NULL && *path != '\0') {
		/* opened as root, maybe in a directory another user can write: no symbolic link (nor a
		 * hard link to someone else's file) is followed */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
		if (fd < 0) {
			if (errno == ELOOP)
				snprintf(err, sizeof(err),
				         "open maillog_file %s: refused: it is a symbolic link", path);
			else
				snprintf(err, sizeof(err), "open maillog_file %s: %s", path, strerror(errno));
			*error_r = err;
			return -1;
		}
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
			snprintf(err, sizeof(err), "open maillog_file %s: refused: it has another hard link",
			         path);
			*error_r = err;
			close(fd);
			return -1;
		}
	}
	pthread_mutex_lock(&log_lock);
	int old = log_fd;
	log_fd = fd;
	if (host != NULL && *host != '\0')
		str_copy(log_host, sizeof(log_host), host);
	if (syslog_name != NULL && *syslog_name != '\0')
		str_copy(log_name, sizeof(log_name), syslog_name);
	pthread_mutex_unlock(&log_lock);
	if (old != STDERR_FILENO && old != fd)
		close(old);
	return 0;
}

void log_set_debug(bool on)
{
	log_debug_on = on;
}

bool log_debug_enabled(void)
{
	return log_debug_on;
}

static const char *level_prefix(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG:
		return "debug: ";
	case LOG_LEVEL_WARNING:
		return "warning: ";
	case LOG_LEVEL_ERROR:
		return "error: ";
	case LOG_LEVEL_FATAL:
		return "fatal: ";
	case LOG_LEVEL_INFO:
		break;
	}
	return "";
}

/* Replace control characters so that text from the network cannot forge log lines. */
static void sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The pid, asked once per process (glibc's getpid() is a system call); a forked child asks again. */
static pid_t log_pid;
static pthread_once_t log_pid_once = PTHREAD_ONCE_INIT;

static void log_pid_forget(void)
{
	log_pid = 0;
}

static void log_pid_watch_forks(void)
{
	pthread_atfork(NULL, NULL, log_pid_forget);
}

static pid_t log_getpid(void)
{
	pthread_once(&log_pid_once, log_pid_watch_forks);
	if (log_pid == 0)
		log_pid = getpid();
	return log_pid;
}

/* The time stamp of now, formatted once per second and thread: "Mon DD HH:MM:SS". */
static const char *log_stamp(void)
{
	static _Thread_local time_t stamp_sec = -1;
	static _Thread_local char stamp[32];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != stamp_sec) {
		struct tm tm;
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		stamp_sec = ts.tv_sec;
	}
	return stamp;
}

static void log_vmsg(enum log_level level, const char *service, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	char text[LOG_LINE_MAX - 512];

	if (level == LOG_LEVEL_DEBUG && !log_debug_on)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	sanitize(text);
	const char *stamp = log_stamp();
	long pid = (long)log_getpid();
	pthread_mutex_lock(&log_lock);
	int n = snprintf(line, sizeof(line) - 1, "%s %s %s/%s[%ld]: %s%s", stamp, log_host, log_name, service,
	                 pid, level_prefix(level), text);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)fd_write_all(log_fd, line, (size_t)n);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *service, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, service, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *service, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_FATAL, service, fmt, ap);
	va_end(ap);
	if (log_fd != STDERR_FILENO) {
		va_start(ap, fmt);
		fprintf(stderr, "mxd: fatal: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	exit(1);
}
