/* anvil: see anvil.h. */
#include "mxd/smtpd/anvil.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

#define ANVIL_BUCKETS 4096

struct anvil_entry {
	char key[NETADDR_STR_MAX];
	int64_t window_end[ANVIL_RATES]; /* the window of each rate ends here (0: none open) */
	unsigned count[ANVIL_RATES];
	int64_t greet_until; /* the pregreet pass holds until here (0: none) */
	struct anvil_entry *next;
};

struct anvil {
	struct anvil_entry *buckets[ANVIL_BUCKETS];
	size_t n;
	size_t sweep_at; /* sweep expired entries when n reaches this */
};

static unsigned bucket_index(const char *key)
{
	unsigned h = 5381;
	for (const char *p = key; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	return h % ANVIL_BUCKETS;
}

static bool entry_expired(const struct anvil_entry *e, int64_t now)
{
	if (e->greet_until > now)
		return false;
	for (int r = 0; r < ANVIL_RATES; r++)
		if (e->window_end[r] > now)
			return false;
	return true;
}

static void anvil_sweep(struct anvil *a, int64_t now)
{
	for (size_t b = 0; b < ANVIL_BUCKETS; b++) {
		struct anvil_entry **pp = &a->buckets[b];
		while (*pp != NULL) {
			struct anvil_entry *e = *pp;
			if (entry_expired(e, now)) {
				*pp = e->next;
				free(e);
				a->n--;
			} else {
				pp = &e->next;
			}
		}
	}
	a->sweep_at = a->n * 2 > 1024 ? a->n * 2 : 1024;
}

/* The client's entry; with create, a new one when there is room. NULL otherwise. */
static struct anvil_entry *anvil_entry(struct anvil *a, const struct sockaddr *client, unsigned ipv6_prefix,
                                       int64_t now, bool create)
{
	char key[NETADDR_STR_MAX];
	netaddr_client_key(client, ipv6_prefix, key, sizeof(key));
	unsigned b = bucket_index(key);
	for (struct anvil_entry *e = a->buckets[b]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	if (!create)
		return NULL;
	if (a->n >= a->sweep_at)
		anvil_sweep(a, now);
	if (a->n >= ANVIL_MAX_CLIENTS)
		return NULL;
	struct anvil_entry *e = xcalloc(1, sizeof(*e));
	str_copy(e->key, sizeof(e->key), key);
	b = bucket_index(e->key);
	e->next = a->buckets[b];
	a->buckets[b] = e;
	a->n++;
	return e;
}

struct anvil *anvil_new(void)
{
	struct anvil *a = xcalloc(1, sizeof(*a));
	a->sweep_at = 1024;
	return a;
}

void anvil_free(struct anvil **ap)
{
	struct anvil *a = *ap;
	if (a == NULL)
		return;
	for (size_t b = 0; b < ANVIL_BUCKETS; b++) {
		while (a->buckets[b] != NULL) {
			struct anvil_entry *e = a->buckets[b];
			a->buckets[b] = e->next;
			free(e);
		}
	}
	free(a);
	*ap = NULL;
}

int anvil_count(struct anvil *a, const struct sockaddr *client, unsigned ipv6_prefix, enum anvil_rate rate,
                unsigned limit, int64_t unit_ms, int64_t now)
{
	if (limit == 0)
		return 0;
	struct anvil_entry *e = anvil_entry(a, client, ipv6_prefix, now, true);
	if (e == NULL)
		return 0; /* table full: not limited rather than refused */
	if (e->window_end[rate] <= now) {
		e->window_end[rate] = now + (unit_ms > 0 ? unit_ms : 1);
		e->count[rate] = 0;
	}
	if (e->count[rate] < UINT32_MAX)
		e->count[rate]++;
	return e->count[rate] > limit ? -1 : 0;
}

bool anvil_greet_passed(struct anvil *a, const struct sockaddr *client, unsigned ipv6_prefix, int64_t now)
{
	struct anvil_entry *e = anvil_entry(a, client, ipv6_prefix, now, false);
	return e != NULL && e->greet_until > now;
}

void anvil_greet_pass(struct anvil *a, const struct sockaddr *client, unsigned ipv6_prefix, int64_t now,
                      int64_t ttl_ms)
{
	struct anvil_entry *e = anvil_entry(a, client, ipv6_prefix, now, true);
	if (e != NULL)
		e->greet_until = now + ttl_ms;
}

size_t anvil_size(const struct anvil *a)
{
	return a->n;
}
