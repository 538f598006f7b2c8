/*
 * log: mail.log lines in Postfix's format, so pflogsumm and operators' scripts keep working.
 *
 * Each line is "Mon DD HH:MM:SS host syslog_name/service[pid]: text", written with one write(2) to
 * maillog_file (opened O_APPEND) or to stderr, so lines from several threads never interleave.
 * The service names the part of mxd that speaks: "smtpd" (inbound), "smtp" (outbound), "qmgr", "cleanup",
 * "bounce", "mxctl". Callers never pass secrets (passwords, AUTH data) to these functions.
 * log_open() may be called again (SIGHUP) to reopen after rotation. Thread-safe.
 */
#ifndef MXD_LOG_H
#define MXD_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR, LOG_LEVEL_FATAL };

/* Open path for appending (NULL or "" means stderr); host and syslog_name prefix every line. A symbolic
 * link, or a regular file with another hard link, is refused (it is opened as root).
 * Returns 0, or -1 with *error_r set (the previous destination stays in use). */
int log_open(const char *path, const char *host, const char *syslog_name, const char **error_r);

/* Print debug lines too (default: info and above). */
void log_set_debug(bool on);
bool log_debug_enabled(void);

void log_msg(enum log_level level, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(svc, ...)                                                                                  \
	do {                                                                                                 \
		if (log_debug_enabled())                                                                     \
			log_msg(LOG_LEVEL_DEBUG, svc, __VA_ARGS__);                                          \
	} while (0)
#define log_info(svc, ...)  log_msg(LOG_LEVEL_INFO, svc, __VA_ARGS__)
#define log_warn(svc, ...)  log_msg(LOG_LEVEL_WARNING, svc, __VA_ARGS__)
#define log_error(svc, ...) log_msg(LOG_LEVEL_ERROR, svc, __VA_ARGS__)

/* Log "fatal: ..." and exit(1): for what the program cannot go on from (the service manager restarts us). */
void log_fatal(const char *service, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
