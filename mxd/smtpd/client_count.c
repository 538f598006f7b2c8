/* client_count: see client_count.h. */
#include "mxd/smtpd/client_count.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

#define CLIENT_BUCKETS 4096

struct client_count {
	char key[NETADDR_STR_MAX];
	unsigned count;
	struct client_count **bucket;
	struct client_count *next;
};

struct client_count_table {
	struct client_count *buckets[CLIENT_BUCKETS];
};

static struct client_count **bucket_of(struct client_count_table *table, const char *key)
{
	unsigned h = 5381;
	for (const char *p = key; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	return &table->buckets[h % CLIENT_BUCKETS];
}

static struct client_count *find(struct client_count_table *table, const char *key)
{
	struct client_count *c = *bucket_of(table, key);
	while (c != NULL && strcmp(c->key, key) != 0)
		c = c->next;
	return c;
}

struct client_count_table *client_count_table_new(void)
{
	return xcalloc(1, sizeof(struct client_count_table));
}

void client_count_table_free(struct client_count_table **tablep)
{
	struct client_count_table *table = *tablep;
	if (table == NULL)
		return;
	for (size_t b = 0; b < CLIENT_BUCKETS; b++) {
		while (table->buckets[b] != NULL) {
			struct client_count *c = table->buckets[b];
			table->buckets[b] = c->next;
			free(c);
		}
	}
	free(table);
	*tablep = NULL;
}

int client_count_acquire(struct client_count_table *table, const struct sockaddr *client,
                         unsigned ipv6_prefix, unsigned limit, struct client_count **entry_r)
{
	char key[NETADDR_STR_MAX];
	netaddr_client_key(client, ipv6_prefix, key, sizeof(key));
	struct client_count *c = find(table, key);
	if (c != NULL && c->count >= limit)
		return -1;
	if (c == NULL) {
		if (limit == 0)
			return -1;
		c = xcalloc(1, sizeof(*c));
		str_copy(c->key, sizeof(c->key), key);
		c->bucket = bucket_of(table, key);
		c->next = *c->bucket;
		*c->bucket = c;
	}
	c->count++;
	*entry_r = c;
	return 0;
}

void client_count_release(struct client_count_table *table, struct client_count **entryp)
{
	struct client_count *c = *entryp;
	if (c == NULL)
		return;
	*entryp = NULL;
	if (--c->count > 0)
		return;
	struct client_count **pp = c->bucket;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c);
}

unsigned client_count_get(struct client_count_table *table, const struct sockaddr *client,
                          unsigned ipv6_prefix)
{
	char key[NETADDR_STR_MAX];
	netaddr_client_key(client, ipv6_prefix, key, sizeof(key));
	struct client_count *c = find(table, key);
	return c != NULL ? c->count : 0;
}
