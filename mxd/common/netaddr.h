/*
 * netaddr: network addresses as mxd configures and logs them. Parses "addr:port" listen lists and
 * CIDR lists (mynetworks, admin_allow: "127.0.0.0/8, [::1]/128, 192.0.2.1"), matches a client address
 * against a CIDR list (IPv4-mapped IPv6 clients match IPv4 entries), and formats an address for logs.
 * Pure data, no I/O; a cidr_list is owned by its creator (cidr_list_free).
 */
#ifndef MXD_NETADDR_H
#define MXD_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETADDR_STR_MAX 64 /* enough for an IPv6 address text */

struct cidr_list;

/* Parse a comma/space separated list of networks. 0 or -1 with *error_r naming the bad entry. */
int cidr_list_parse(const char *text, struct cidr_list **list_r, const char **error_r);
void cidr_list_free(struct cidr_list **list);
bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa);

/* The numeric address of sa (no port) into buf; "unknown" when not IPv4/IPv6. Returns buf. */
const char *netaddr_str(const struct sockaddr *sa, char *buf, size_t size);

/* The key under which per-client limits count sa, into buf (NETADDR_STR_MAX): an IPv4 address (or an
 * IPv4-mapped IPv6 one) as text, an IPv6 address as its network of ipv6_prefix bits (1-128), "2001:db8::/64",
 * since one host may hold a whole /64. Returns buf. */
const char *netaddr_client_key(const struct sockaddr *sa, unsigned ipv6_prefix, char *buf, size_t size);

/* Parse "host:port", "[v6]:port" or "host" (then default_port) into a sockaddr. 0 or -1 with *error_r. */
int netaddr_parse(const char *text, int default_port, struct sockaddr_storage *ss_r, socklen_t *len_r,
                  const char **error_r);

#endif
