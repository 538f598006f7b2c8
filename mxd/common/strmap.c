/* strmap: see strmap.h. */
#include "mxd/common/strmap.h"

#include "mxd/common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static uint64_t strmap_hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a over the lower-cased octets */
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		unsigned char c = *p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p;
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

/* The slot holding key, or the empty slot where it would go. cap is a power of two, never full. */
static struct strmap_slot *strmap_find(const struct strmap *map, const char *key)
{
	size_t mask = map->cap - 1;
	for (size_t i = strmap_hash(key) & mask;; i = (i + 1) & mask) {
		struct strmap_slot *slot = &map->slots[i];
		if (slot->key == NULL || strcasecmp(slot->key, key) == 0)
			return slot;
	}
}

static void strmap_grow(struct strmap *map)
{
	struct strmap old = *map;
	map->cap = old.cap != 0 ? old.cap * 2 : 16;
	map->slots = xcalloc(map->cap, sizeof(*map->slots));
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key != NULL)
			*strmap_find(map, old.slots[i].key) = old.slots[i];
	free(old.slots);
}

bool strmap_get(const struct strmap *map, const char *key, size_t *value_r)
{
	if (map->cap == 0)
		return false;
	const struct strmap_slot *slot = strmap_find(map, key);
	if (slot->key == NULL)
		return false;
	if (value_r != NULL)
		*value_r = slot->value;
	return true;
}

bool strmap_put(struct strmap *map, const char *key, size_t value)
{
	if ((map->n + 1) * 2 > map->cap)
		strmap_grow(map);
	struct strmap_slot *slot = strmap_find(map, key);
	bool added = slot->key == NULL;
	if (added) {
		slot->key = xstrdup(key);
		map->n++;
	}
	slot->value = value;
	return added;
}

void strmap_clear(struct strmap *map)
{
	for (size_t i = 0; i < map->cap; i++)
		free(map->slots[i].key);
	free(map->slots);
	memset(map, 0, sizeof(*map));
}
