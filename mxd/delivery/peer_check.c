/* peer_check: see peer_check.h. */
#include "mxd/delivery/peer_check.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define IFADDRS_TTL_MSEC 60000 /* how long the interface addresses read are trusted */

/* An address in comparable form: IPv4 in 4 octets, IPv6 in 16; IPv4-mapped IPv6 as IPv4. */
struct paddr {
	int family;
	unsigned char a[16];
};

struct listen_entry {
	struct paddr addr;
	uint16_t port;
	bool wildcard;
};

struct peer_check {
	struct listen_entry *listen;
	size_t nlisten;
	bool any_wildcard;
	struct paddr *ifaddrs; /* the host's interface addresses, for wildcard listeners */
	size_t nifaddrs;
	int64_t ifaddrs_read_msec; /* 0: never read */
};

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* sa into *p; -1 when it is neither IPv4 nor IPv6. */
static int paddr_from(const struct sockaddr *sa, struct paddr *p)
{
	memset(p, 0, sizeof(*p));
	if (sa->sa_family == AF_INET) {
		p->family = AF_INET;
		memcpy(p->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	const unsigned char *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (memcmp(a6, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		p->family = AF_INET;
		memcpy(p->a, a6 + 12, 4);
	} else {
		p->family = AF_INET6;
		memcpy(p->a, a6, 16);
	}
	return 0;
}

static bool paddr_is_unspecified(const struct paddr *p)
{
	static const unsigned char zero[16];
	return memcmp(p->a, zero, p->family == AF_INET ? 4 : 16) == 0;
}

static bool paddr_equal(const struct paddr *x, const struct paddr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

static void read_ifaddrs(struct peer_check *pc)
{
	struct ifaddrs *list;
	free(pc->ifaddrs);
	pc->ifaddrs = NULL;
	pc->nifaddrs = 0;
	pc->ifaddrs_read_msec = time_mono_msec();
	if (getifaddrs(&list) < 0)
		return; /* then only the listeners' own addresses count */
	size_t n = 0;
	for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
		n++;
	pc->ifaddrs = xcalloc(n + 1, sizeof(*pc->ifaddrs));
	for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && paddr_from(i->ifa_addr, &pc->ifaddrs[pc->nifaddrs]) == 0)
			pc->nifaddrs++;
	freeifaddrs(list);
}

int peer_check_new(char *const *listen, size_t nlisten, struct peer_check **pc_r, const char **error_r)
{
	struct peer_check *pc = xcalloc(1, sizeof(*pc));
	pc->listen = xcalloc(nlisten + 1, sizeof(*pc->listen));
	for (size_t i = 0; i < nlisten; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		struct listen_entry *e = &pc->listen[pc->nlisten];
		if (netaddr_parse(listen[i], 25, &ss, &len, error_r) < 0 ||
		    paddr_from((struct sockaddr *)&ss, &e->addr) < 0) {
			peer_check_free(&pc);
			return -1;
		}
		e->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
		                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
		e->wildcard = paddr_is_unspecified(&e->addr);
		pc->any_wildcard |= e->wildcard;
		pc->nlisten++;
	}
	if (pc->any_wildcard)
		read_ifaddrs(pc);
	*pc_r = pc;
	return 0;
}

void peer_check_free(struct peer_check **pc)
{
	if (*pc == NULL)
		return;
	free((*pc)->listen);
	free((*pc)->ifaddrs);
	free(*pc);
	*pc = NULL;
}

bool peer_check_is_self(struct peer_check *pc, const struct sockaddr *sa, uint16_t port)
{
	struct paddr p;
	if (paddr_from(sa, &p) < 0)
		return false;
	if (paddr_is_unspecified(&p)) { /* connecting to it reaches this host: loopback */
		if (p.family == AF_INET)
			p.a[0] = 127, p.a[3] = 1;
		else
			p.a[15] = 1;
	}
	if (pc->any_wildcard && time_mono_msec() - pc->ifaddrs_read_msec >= IFADDRS_TTL_MSEC)
		read_ifaddrs(pc);
	for (size_t i = 0; i < pc->nlisten; i++) {
		const struct listen_entry *e = &pc->listen[i];
		if (e->port != port)
			continue;
		if (!e->wildcard) {
			if (paddr_equal(&e->addr, &p))
				return true;
			continue;
		}
		/* 0.0.0.0 takes IPv4 only; :: takes IPv6 and (unless bound v6-only) IPv4 as well */
		if (e->addr.family == AF_INET && p.family != AF_INET)
			continue;
		for (size_t k = 0; k < pc->nifaddrs; k++)
			if (paddr_equal(&pc->ifaddrs[k], &p))
				return true;
	}
	return false;
}

bool peer_check_is_private(const struct sockaddr *sa)
{
	struct paddr p;
	if (paddr_from(sa, &p) < 0)
		return false;
	const unsigned char *a = p.a;
	if (p.family == AF_INET)
		return a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 169 && a[1] == 254) || a[0] == 0;
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || paddr_is_unspecified(&p);
}
