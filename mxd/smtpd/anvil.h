/*
 * anvil: what the receiving side remembers about each client between its connections (Postfix's anvil
 * and postscreen's cache, in one table): how many connections, messages, recipients and new TLS
 * sessions it started in the current window of anvil_rate_time_unit, for the smtpd_client_*_rate_limit
 * settings, and until when it counts as having passed the pregreet test (postscreen_greet_ttl).
 *
 * A client is an IPv4 address or an IPv6 network of smtpd_client_ipv6_prefix_length bits
 * (netaddr_client_key), as for the per-client connection cap. Each rate has a fixed window that starts
 * with the first event counted in it (as Postfix's anvil). Memory is bounded: entries whose windows and
 * pass have all expired are swept as the table grows, and past ANVIL_MAX_CLIENTS new clients are not
 * remembered (their rates are not limited, they get the pregreet pause again).
 *
 * OWNS its entries. Times are milliseconds of one monotonic clock (time_mono_msec()), given by the
 * caller so tests can drive it. Not thread-safe: the event-loop thread only.
 */
#ifndef MXD_ANVIL_H
#define MXD_ANVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ANVIL_MAX_CLIENTS 200000

enum anvil_rate {
	ANVIL_CONNECTION, /* smtpd_client_connection_rate_limit */
	ANVIL_MESSAGE,    /* smtpd_client_message_rate_limit (MAIL FROM commands) */
	ANVIL_RECIPIENT,  /* smtpd_client_recipient_rate_limit (RCPT TO commands) */
	ANVIL_TLS,        /* smtpd_client_new_tls_session_rate_limit (STARTTLS commands) */
	ANVIL_RATES
};

struct anvil;

struct anvil *anvil_new(void);
void anvil_free(struct anvil **anvil);

/* Count one more of rate for client at now, in a window of unit_ms. 0 when the count (this one
 * included) stays within limit, -1 when it goes over (the event is counted all the same, as Postfix
 * does: a client that keeps trying stays over). limit 0 means no limit: 0, and nothing is stored. */
int anvil_count(struct anvil *anvil, const struct sockaddr *client, unsigned ipv6_prefix,
                enum anvil_rate rate, unsigned limit, int64_t unit_ms, int64_t now);

/* Has client passed the pregreet test, with the pass still valid at now? */
bool anvil_greet_passed(struct anvil *anvil, const struct sockaddr *client, unsigned ipv6_prefix,
                        int64_t now);

/* Client waited for the banner without talking: remember the pass until now + ttl_ms. */
void anvil_greet_pass(struct anvil *anvil, const struct sockaddr *client, unsigned ipv6_prefix, int64_t now,
                      int64_t ttl_ms);

/* Clients remembered now (for tests). */
size_t anvil_size(const struct anvil *anvil);

#endif
