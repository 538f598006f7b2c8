/*
 * peer_check: which addresses the queue manager refuses to connect to when it found them through DNS
 * (MX hosts and their A/AAAA records; explicit "[host]:port" relays and primary_hosts are never checked).
 *
 * OURS (a mail loop, as Postfix's "mail for x loops back to myself"): an address and port mxd listens on
 * (smtpd_listen); for a wildcard listener (0.0.0.0, ::) every address of the host's interfaces
 * (getifaddrs(), as Postfix's inet_interfaces = all) at that port. Other 127/8 addresses are not ours
 * unless listened on. The port counts: mxd connects to MX hosts on smtp_tcp_port, and a peer on another
 * port than our listener is another server (the test suite's sinks share 127.0.0.1 with mxd). The
 * unspecified address (0.0.0.0, ::) connects to the host itself: it is checked as loopback. An
 * IPv4-mapped IPv6 address is checked as its IPv4 address.
 *
 * PRIVATE (refused unless smtp_allow_private_destinations = yes, against SSRF into internal networks):
 * RFC 1918 (10/8, 172.16/12, 192.168/16), unique-local fc00::/7, link-local (169.254/16, fe80::/10),
 * and "this network" 0/8 and ::. Loopback (127/8, ::1) is not private here: it is refused only when it
 * is ours (the tests deliver to sinks on loopback found through their DNS).
 *
 * THREADS: a peer_check belongs to the queue manager's thread. peer_check_new() reads the interfaces
 * when a listener is a wildcard, and peer_check_is_self() reads them again once they are older than
 * a minute. Owned by its creator (peer_check_free).
 */
#ifndef MXD_PEER_CHECK_H
#define MXD_PEER_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct peer_check;

/* From the smtpd_listen entries ("addr:port", "[v6]:port", "addr": port 25). 0, or -1 with *error_r
 * (a bad entry; the listener refuses it at startup as well). */
int peer_check_new(char *const *listen, size_t nlisten, struct peer_check **pc_r, const char **error_r);
void peer_check_free(struct peer_check **pc);

/* Is sa at port one of ours: mxd's own listener? */
bool peer_check_is_self(struct peer_check *pc, const struct sockaddr *sa, uint16_t port);

/* Is sa private, link-local or "this network" (see above)? Loopback and public addresses are not. */
bool peer_check_is_private(const struct sockaddr *sa);

#endif
