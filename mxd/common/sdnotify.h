/*
 * sdnotify: the service manager's readiness and watchdog protocol (sd_notify(3)) without libsystemd.
 *
 * A notification is one datagram of "KEY=value" lines sent to the AF_UNIX socket named by
 * $NOTIFY_SOCKET: a file system path ("/run/systemd/notify") or, with a leading '@', a name in the
 * abstract namespace. systemd sets it for Type=notify services (mxd.service). When it is unset (a
 * terminal, the tests, another service manager) every function here does nothing and returns 0, so
 * callers never ask whether they run under systemd.
 *
 * The watchdog: WatchdogSec= in the unit sets $WATCHDOG_USEC (and $WATCHDOG_PID); the service must
 * send WATCHDOG=1 more often than that or systemd kills and restarts it. sd_notify_watchdog_start()
 * arms a timer on the daemon's event loop that pings at half the interval, so a loop that stops
 * turning stops the pings.
 *
 * Called from the main thread; nothing here keeps state between calls (the environment is read each
 * time). Returns 0 (sent, or nothing to send to) or -1 with errno set (a malformed $NOTIFY_SOCKET,
 * nobody listening); a failure is worth a warning, never a fatal exit.
 */
#ifndef MXD_SDNOTIFY_H
#define MXD_SDNOTIFY_H

#include <stdint.h>

struct event_base;

/* Send state (one or more "KEY=value" lines separated by '\n') as it is. */
int sd_notify_send(const char *state);

/* "READY=1": start-up is complete (listeners bound, queue open); systemd now reports "active". */
int sd_notify_ready(void);

/* "STATUS=text": one line shown by "systemctl status" (newlines in text become spaces). */
int sd_notify_status(const char *text);

/* "STOPPING=1": a clean shutdown has begun (systemd shows "deactivating" and stops the watchdog). */
int sd_notify_stopping(void);

/* "WATCHDOG=1": one keep-alive ping. */
int sd_notify_watchdog(void);

/* The watchdog interval systemd asks for, in microseconds ($WATCHDOG_USEC when $WATCHDOG_PID is
 * unset or names this process); 0 when no watchdog is wanted. Ping at least twice per interval. */
uint64_t sd_notify_watchdog_interval(void);

/* Send WATCHDOG=1 every half interval from base's loop, from now until base is freed (the timer is an
 * event_base_once() chain, which event_base_free() releases). Without a watchdog: does nothing. */
int sd_notify_watchdog_start(struct event_base *base);

#endif
