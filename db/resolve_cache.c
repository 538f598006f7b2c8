/* resolve_cache: see resolve_cache.h. */
#include "db/resolve_cache.h"

#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

struct resolve_cache_entry {
	char *key; /* address, '\n', delimiter */
	struct db_resolution res;
};

struct resolve_cache {
	struct resolve_cache_entry **slots;
	size_t used;
	int64_t data_version, changes;
};

struct resolve_cache *resolve_cache_new(void)
{
	struct resolve_cache *c = xcalloc(1, sizeof(*c));
	c->slots = xcalloc(RESOLVE_CACHE_SLOTS, sizeof(*c->slots));
	c->data_version = c->changes = -1;
	return c;
}

static char **destinations_copy(char *const *d, size_t n)
{
	if (d == NULL)
		return NULL;
	char **copy = xcalloc(n + 1, sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(d[i]);
	return copy;
}

static void entry_free(struct resolve_cache_entry *e)
{
	if (e == NULL)
		return;
	free(e->key);
	db_resolution_clear(&e->res);
	free(e);
}

static void cache_clear(struct resolve_cache *c)
{
	for (size_t i = 0; i < RESOLVE_CACHE_SLOTS && c->used > 0; i++)
		if (c->slots[i] != NULL) {
			entry_free(c->slots[i]);
			c->slots[i] = NULL;
			c->used--;
		}
}

void resolve_cache_free(struct resolve_cache **cp)
{
	struct resolve_cache *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	cache_clear(c);
	free(c->slots);
	free(c);
}

void resolve_cache_validate(struct resolve_cache *c, int64_t data_version, int64_t changes)
{
	if (data_version == c->data_version && changes == c->changes)
		return;
	cache_clear(c);
	c->data_version = data_version;
	c->changes = changes;
}

/* The slot of the key (FNV-1a of address, '\n', delimiter). */
static size_t cache_slot(const char *address, const char *delimiter)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)address; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ '\n') * 16777619u;
	for (const unsigned char *p = (const unsigned char *)delimiter; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h % RESOLVE_CACHE_SLOTS;
}

static bool key_equal(const char *key, const char *address, const char *delimiter)
{
	size_t alen = strlen(address);
	return strncmp(key, address, alen) == 0 && key[alen] == '\n' &&
	       strcmp(key + alen + 1, delimiter) == 0;
}

bool resolve_cache_get(struct resolve_cache *c, const char *address, const char *delimiter,
                       struct db_resolution *res_r)
{
	const struct resolve_cache_entry *e = c->slots[cache_slot(address, delimiter)];
	if (e == NULL || !key_equal(e->key, address, delimiter))
		return false;
	*res_r = e->res;
	res_r->destinations = destinations_copy(e->res.destinations, e->res.ndestinations);
	return true;
}

void resolve_cache_put(struct resolve_cache *c, const char *address, const char *delimiter,
                       const struct db_resolution *res)
{
	size_t slot = cache_slot(address, delimiter);
	struct resolve_cache_entry *e = xcalloc(1, sizeof(*e));
	e->key = xasprintf("%s\n%s", address, delimiter);
	e->res = *res;
	e->res.destinations = destinations_copy(res->destinations, res->ndestinations);
	if (c->slots[slot] != NULL)
		entry_free(c->slots[slot]);
	else
		c->used++;
	c->slots[slot] = e;
}
