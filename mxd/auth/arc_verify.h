/*
 * arc_verify: validating the ARC chain of a message as it arrives, asynchronously: the chain is parsed
 * (arc_chain), the keys of its newest ARC-Message-Signature and of every ARC-Seal are fetched as DNS TXT
 * records through the dns resolver, and the chain is validated when the last key is in.
 *
 * THREADS: the event-loop thread of the dns resolver given. The callback runs from the event loop, never
 * inside arc_verify_start(), exactly once unless arc_verify_cancel() came first. The signatures are
 * checked on a worker thread (auth_worker) when one is given, on a copy of the message; the caller's
 * text is read only inside arc_verify_start(). A key that cannot be had (NXDOMAIN, tempfail, bad record)
 * fails the chain, as RFC 8617 5.2 treats any unverifiable seal.
 */
#ifndef MXD_ARC_VERIFY_H
#define MXD_ARC_VERIFY_H

#include "mxd/auth/arc_chain.h"

#include <stddef.h>

struct auth_worker;
struct dns;
struct event_base;
struct arc_verify;

/* The verdict: cv, the sealing domains of the chain (comma separated, oldest first; "" when none),
 * why it failed (NULL unless cv is FAIL), and terminated when the newest seal already said cv=fail
 * (nobody may seal after it). The strings last until the callback returns. */
struct arc_verdict {
	enum arc_cv cv;
	const char *sealers;
	const char *why;
	bool terminated;
};

typedef void arc_verify_cb(void *ctx, const struct arc_verdict *verdict);

/* Start validating the chain of msg[0..len); worker may be NULL (signatures checked in the loop). Never
 * NULL. */
struct arc_verify *arc_verify_start(struct event_base *base, struct dns *dns, struct auth_worker *worker,
                                    const char *msg, size_t len, arc_verify_cb *cb, void *ctx);

/* Stop: the callback will not run. Sets *v to NULL; NULL allowed. */
void arc_verify_cancel(struct arc_verify **v);

#endif
