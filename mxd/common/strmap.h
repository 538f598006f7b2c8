/*
 * strmap: a map from strings to size_t values, keys compared without regard to ASCII case (addresses).
 * Open addressing, grown to stay at most half full, so a lookup or an insert costs O(1) whatever the
 * number of keys: the sets of addresses that alias expansion and a transaction's recipients build use
 * it instead of a linear scan. The map owns copies of its keys. Not thread-safe: one owner.
 */
#ifndef MXD_STRMAP_H
#define MXD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
	char *key; /* NULL: empty */
	size_t value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

/* Zero-initialised is empty: STRMAP_INIT or memset. */
#define STRMAP_INIT                                                                                          \
	{                                                                                                    \
		NULL, 0, 0                                                                                   \
	}

/* True with *value_r (may be NULL) when key is in the map. */
bool strmap_get(const struct strmap *map, const char *key, size_t *value_r);

/* Set key to value, adding a copy of key when it is new. Returns true when the key was new. */
bool strmap_put(struct strmap *map, const char *key, size_t value);

/* Free every key and the slots; the map is empty again. */
void strmap_clear(struct strmap *map);

#endif
