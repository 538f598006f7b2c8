/*
 * client_count: how many of something (connections, SPF checks in flight) each client holds, for the
 * per-client limits. A client is an IPv4 address, or an IPv6 network of smtpd_client_ipv6_prefix_length
 * bits (netaddr_client_key): a host given a /64 must not count as 2^64 clients.
 *
 * OWNS its entries; an entry lives while its count is above zero. client_count_acquire() hands back
 * the entry it counted on, and client_count_release() takes that entry, not the address: the prefix
 * length may change on reload while the count is held. Not thread-safe: one thread (the event loop)
 * per table.
 */
#ifndef MXD_CLIENT_COUNT_H
#define MXD_CLIENT_COUNT_H

#include <stddef.h>
#include <sys/socket.h>

struct client_count_table;
struct client_count;

struct client_count_table *client_count_table_new(void);
void client_count_table_free(struct client_count_table **table);

/* Count one more for client, whose IPv6 addresses count by their first ipv6_prefix bits, unless it
 * holds limit already. 0 with *entry_r to release later, or -1 (at the limit; nothing counted). */
int client_count_acquire(struct client_count_table *table, const struct sockaddr *client,
                         unsigned ipv6_prefix, unsigned limit, struct client_count **entry_r);

/* Count one less on *entry (from client_count_acquire) and clear it; NULL is allowed. */
void client_count_release(struct client_count_table *table, struct client_count **entry);

/* What the client holds now (0 when nothing). */
unsigned client_count_get(struct client_count_table *table, const struct sockaddr *client,
                          unsigned ipv6_prefix);

#endif
