/*
 * hostnames: see hostnames.h.
 */
#include "admin/hostnames.h"

#include "mxd/common/config.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTNAMES_HOST_MAX 255

struct hostnames_entry {
	char host[HOSTNAMES_HOST_MAX + 1]; /* lower case; an IPv6 address in brackets */
	unsigned port;                     /* 0: admin_listen's port, or none */
};

struct hostnames {
	struct hostnames_entry *entries;
	size_t n;
	unsigned listen_port;
	bool loopback; /* admin_listen is a loopback address */
};

/* Split "host[:port]" into its lower-cased host and port (0: none). 0, or -1 with *error_r. */
static int hostnames_split(const char *text, char host_r[HOSTNAMES_HOST_MAX + 1], unsigned *port_r,
                           const char **error_r)
{
	const char *end;

	*port_r = 0;
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL) {
			*error_r = "'[' without ']'";
			return -1;
		}
		end++;
	} else {
		end = text + strcspn(text, ":");
		if (*end == ':' && strchr(end + 1, ':') != NULL) {
			*error_r = "an IPv6 address goes in brackets ([::1])";
			return -1;
		}
	}
	size_t len = (size_t)(end - text);
	if (len == 0 || len > HOSTNAMES_HOST_MAX) {
		*error_r = len == 0 ? "no host name" : "host name too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		host_r[i] = (char)tolower((unsigned char)text[i]);
	host_r[len] = '\0';
	if (host_r[0] == '[') {
		char inner[HOSTNAMES_HOST_MAX + 1];
		struct in6_addr a6;
		str_copy(inner, sizeof(inner), host_r + 1);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, &a6) != 1) {
			*error_r = "not an IPv6 address in brackets";
			return -1;
		}
	} else {
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)host_r[i]) && host_r[i] != '-' && host_r[i] != '.' &&
			    host_r[i] != '_') {
				*error_r = "a host name has letters, digits, '-', '.' and '_' only (IPv6 "
				           "goes in brackets)";
				return -1;
			}
	}
	if (*end == '\0')
		return 0;
	unsigned long port = 0;
	const char *p = end + 1;
	if (*end != ':' || *p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) ||
	    (port = strtoul(p, NULL, 10)) == 0 || port > 65535) {
		*error_r = "bad port (after ':', 1 to 65535)";
		return -1;
	}
	*port_r = (unsigned)port;
	return 0;
}

int hostnames_parse(const char *names, const char *listen, struct hostnames **list_r, const char **error_r)
{
	static __thread char err[512];
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *error;
	size_t n;

	*list_r = NULL;
	if (netaddr_parse(listen, 8080, &ss, &sslen, &error) < 0) {
		snprintf(err, sizeof(err), "admin_listen '%s': %s", listen, error);
		*error_r = err;
		return -1;
	}
	struct hostnames *list = xcalloc(1, sizeof(*list));
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		list->listen_port = ntohs(s6->sin6_port);
		list->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		list->listen_port = ntohs(s4->sin_port);
		list->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	char **words = config_list(names, &n);
	list->entries = xcalloc(n > 0 ? n : 1, sizeof(*list->entries));
	for (size_t i = 0; i < n; i++) {
		if (hostnames_split(words[i], list->entries[i].host, &list->entries[i].port, &error) < 0) {
			snprintf(err, sizeof(err), "admin_hostnames: '%s': %s", words[i], error);
			*error_r = err;
			config_list_free(&words);
			hostnames_free(&list);
			return -1;
		}
		list->n++;
	}
	config_list_free(&words);
	*list_r = list;
	return 0;
}

bool hostnames_match(const struct hostnames *list, const char *host)
{
	char name[HOSTNAMES_HOST_MAX + 1];
	unsigned port;
	const char *error;

	if (host == NULL || hostnames_split(host, name, &port, &error) < 0)
		return false;
	bool listen_port = port == 0 || port == list->listen_port;
	if (list->loopback && listen_port && (strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0))
		return true;
	for (size_t i = 0; i < list->n; i++) {
		const struct hostnames_entry *e = &list->entries[i];
		if (strcmp(e->host, name) == 0 && (e->port != 0 ? port == e->port : listen_port))
			return true;
	}
	return false;
}

void hostnames_free(struct hostnames **listp)
{
	struct hostnames *list = *listp;

	if (list == NULL)
		return;
	free(list->entries);
	free(list);
	*listp = NULL;
}
