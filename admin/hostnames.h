/*
 * hostnames: the names mxadmin answers to (setting admin_hostnames), checked against the Host header of
 * every request. Against DNS rebinding: a page of another site whose name its owner then points at
 * 127.0.0.1 reaches mxadmin from the admin's own browser, same-origin as far as the browser knows, but
 * with that name in Host.
 *
 * An entry is "name", "address" or "[v6address]", with ":port" or without: without a port it matches
 * a Host with admin_listen's port or with none (a reverse proxy on port 80 or 443); with one, that
 * port only. Names compare without regard to case. When admin_listen is a loopback address,
 * 127.0.0.1 and [::1] are accepted too (IP literals cannot be rebound).
 *
 * Parsed once in mxadmin's main thread before the server starts; read-only afterwards. The list is the
 * caller's: free it with hostnames_free().
 */
#ifndef MXD_ADMIN_HOSTNAMES_H
#define MXD_ADMIN_HOSTNAMES_H

#include <stdbool.h>

struct hostnames;

/* Parse names (the value of admin_hostnames: entries separated by commas or white space) for a server
 * listening on listen (admin_listen). 0, or -1 with *error_r naming the bad entry. */
int hostnames_parse(const char *names, const char *listen, struct hostnames **list_r, const char **error_r);

/* May a request with this Host header (NULL: none) be served? */
bool hostnames_match(const struct hostnames *list, const char *host);

void hostnames_free(struct hostnames **list);

#endif
