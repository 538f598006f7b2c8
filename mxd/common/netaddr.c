/* netaddr: see netaddr.h. */
#include "mxd/common/netaddr.h"

#include "mxd/common/config.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cidr {
	int family;
	unsigned char addr[16];
	int prefix;
};

struct cidr_list {
	size_t n;
	struct cidr *items;
};

static int cidr_parse_one(const char *text, struct cidr *c)
{
	char buf[128];
	if (str_copy(buf, sizeof(buf), text) < 0)
		return -1;
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash != NULL) {
		uint64_t p;
		*slash = '\0';
		if (str_to_u64(slash + 1, &p) < 0 || p > 128)
			return -1;
		prefix = (int)p;
	}
	char *host = buf;
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		host++;
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		c->prefix = prefix < 0 ? 32 : prefix;
		return c->prefix <= 32 ? 0 : -1;
	}
	if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		c->prefix = prefix < 0 ? 128 : prefix;
		return 0;
	}
	return -1;
}

int cidr_list_parse(const char *text, struct cidr_list **list_r, const char **error_r)
{
	static __thread char err[256];
	size_t n;
	char **items = config_list(text, &n);
	struct cidr_list *list = xcalloc(1, sizeof(*list));
	list->items = xcalloc(n, sizeof(struct cidr));
	for (size_t i = 0; i < n; i++) {
		if (cidr_parse_one(items[i], &list->items[i]) < 0) {
			snprintf(err, sizeof(err), "bad network '%s': expected an address or address/prefix",
			         items[i]);
			*error_r = err;
			config_list_free(&items);
			cidr_list_free(&list);
			return -1;
		}
	}
	list->n = n;
	config_list_free(&items);
	*list_r = list;
	return 0;
}

void cidr_list_free(struct cidr_list **listp)
{
	if (*listp == NULL)
		return;
	free((*listp)->items);
	free(*listp);
	*listp = NULL;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rem = bits % 8;
	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rem));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			memcpy(addr, &a6->s6_addr[12], 4);
		} else {
			family = AF_INET6;
			memcpy(addr, a6, 16);
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < list->n; i++)
		if (list->items[i].family == family &&
		    prefix_match(addr, list->items[i].addr, list->items[i].prefix))
			return true;
	return false;
}

const char *netaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *src = NULL;
	int family = sa->sa_family;
	if (family == AF_INET) {
		src = &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			src = &a6->s6_addr[12];
		} else {
			src = a6;
		}
	}
	if (src == NULL || inet_ntop(family, src, buf, (socklen_t)size) == NULL)
		str_copy(buf, size, "unknown");
	return buf;
}

const char *netaddr_client_key(const struct sockaddr *sa, unsigned ipv6_prefix, char *buf, size_t size)
{
	netaddr_str(sa, buf, size);
	if (sa->sa_family != AF_INET6)
		return buf;
	struct in6_addr net = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&net))
		return buf;
	if (ipv6_prefix < 1 || ipv6_prefix > 128)
		ipv6_prefix = 128;
	for (unsigned bit = ipv6_prefix; bit < 128; bit++)
		net.s6_addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &net, text, sizeof(text));
	snprintf(buf, size, "%s/%u", text, ipv6_prefix);
	return buf;
}

int netaddr_parse(const char *text, int default_port, struct sockaddr_storage *ss_r, socklen_t *len_r,
                  const char **error_r)
{
	char host[128];
	const char *port_text = NULL;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || (size_t)(end - text - 1) >= sizeof(host)) {
			*error_r = "unterminated '[' in address";
			return -1;
		}
		memcpy(host, text + 1, (size_t)(end - text - 1));
		host[end - text - 1] = '\0';
		if (end[1] == ':')
			port_text = end + 2;
		else if (end[1] != '\0') {
			*error_r = "junk after ']' in address";
			return -1;
		}
	} else {
		const char *colon = strrchr(text, ':');
		if (colon != NULL && strchr(text, ':') == colon) {
			if ((size_t)(colon - text) >= sizeof(host)) {
				*error_r = "address too long";
				return -1;
			}
			memcpy(host, text, (size_t)(colon - text));
			host[colon - text] = '\0';
			port_text = colon + 1;
		} else if (str_copy(host, sizeof(host), text) < 0) {
			*error_r = "address too long";
			return -1;
		}
	}
	uint64_t port = (uint64_t)default_port;
	if (port_text != NULL && (str_to_u64(port_text, &port) < 0 || port == 0 || port > 65535)) {
		*error_r = "bad port: expected 1-65535";
		return -1;
	}
	memset(ss_r, 0, sizeof(*ss_r));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss_r;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss_r;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*s6);
		return 0;
	}
	*error_r = "not a numeric IPv4 or IPv6 address";
	return -1;
}
