/*
 * sync_throttle: how long an address that presented a wrong sync secret waits before it may try again.
 * An address (IPv6: its /64, netaddr_client_key) may fail SYNC_THROTTLE_FREE times; after that each
 * failure doubles its wait, from 1 s up to SYNC_THROTTLE_MAX_WAIT, and while it waits its requests are
 * refused (429) without the secret being looked at. A success forgets the address. At most
 * SYNC_THROTTLE_SLOTS addresses are tracked; a new one takes the slot used longest ago. Pure (the
 * caller passes the time); one thread (the sync server's).
 */
#ifndef MXD_SYNC_THROTTLE_H
#define MXD_SYNC_THROTTLE_H

#include "mxd/common/netaddr.h"

#include <stdint.h>

#define SYNC_THROTTLE_FREE     3
#define SYNC_THROTTLE_MAX_WAIT 300
#define SYNC_THROTTLE_SLOTS    256

struct sync_throttle_slot {
	char key[NETADDR_STR_MAX]; /* "" when free */
	unsigned failures;
	int64_t until; /* refused before this time */
	int64_t last;  /* last failure */
};

struct sync_throttle {
	struct sync_throttle_slot slots[SYNC_THROTTLE_SLOTS];
};

/* Seconds key still has to wait at now (0: it may try). */
int64_t sync_throttle_wait(const struct sync_throttle *t, const char *key, int64_t now);

/* key failed at now. */
void sync_throttle_failed(struct sync_throttle *t, const char *key, int64_t now);

/* key succeeded: forget it. */
void sync_throttle_passed(struct sync_throttle *t, const char *key);

#endif
