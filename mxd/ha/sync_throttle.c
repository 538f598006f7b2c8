/* sync_throttle: see sync_throttle.h. */
#include "mxd/ha/sync_throttle.h"

#include "mxd/common/util.h"

#include <string.h>

static struct sync_throttle_slot *throttle_find(const struct sync_throttle *t, const char *key)
{
	for (size_t i = 0; i < SYNC_THROTTLE_SLOTS; i++)
		if (t->slots[i].key[0] != '\0' && strcmp(t->slots[i].key, key) == 0)
			return (struct sync_throttle_slot *)&t->slots[i];
	return NULL;
}

int64_t sync_throttle_wait(const struct sync_throttle *t, const char *key, int64_t now)
{
	const struct sync_throttle_slot *slot = throttle_find(t, key);
	return slot != NULL && slot->until > now ? slot->until - now : 0;
}

void sync_throttle_failed(struct sync_throttle *t, const char *key, int64_t now)
{
	struct sync_throttle_slot *slot = throttle_find(t, key);
	if (slot == NULL) {
		slot = &t->slots[0];
		for (size_t i = 1; i < SYNC_THROTTLE_SLOTS && slot->key[0] != '\0'; i++)
			if (t->slots[i].key[0] == '\0' || t->slots[i].last < slot->last)
				slot = &t->slots[i];
		memset(slot, 0, sizeof(*slot));
		str_copy(slot->key, sizeof(slot->key), key);
	}
	slot->failures++;
	slot->last = now;
	if (slot->failures > SYNC_THROTTLE_FREE) {
		unsigned shift = slot->failures - SYNC_THROTTLE_FREE - 1;
		int64_t wait = shift >= 9 ? SYNC_THROTTLE_MAX_WAIT : (int64_t)1 << shift;
		slot->until = now + (wait < SYNC_THROTTLE_MAX_WAIT ? wait : SYNC_THROTTLE_MAX_WAIT);
	}
}

void sync_throttle_passed(struct sync_throttle *t, const char *key)
{
	struct sync_throttle_slot *slot = throttle_find(t, key);
	if (slot != NULL)
		memset(slot, 0, sizeof(*slot));
}
