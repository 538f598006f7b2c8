/*
 * reply_class: which temporary replies of a remote server, after the connection is up, mean "you are
 * sending too much or your reputation is too low" (throttling) rather than trouble with one message or
 * recipient: 421/450/451 with an enhanced code 4.7.x, and the well-known texts of the large providers
 * (Gmail's "very low reputation" and 4.7.28 rate limits, Outlook's 4.7.650 "rate limited due to IP
 * reputation", Yahoo's TSS04 "temporarily deferred", ...). One table in reply_class.c, not code per
 * provider: add a row for a new text.
 *
 * The queue manager backs off the destination that answered so (not the whole queue), and for a relay
 * hop counts it against the hop's circuit like a connection failure, so that the route's next priority
 * takes the mail. Pure functions, thread-safe; text may be NULL.
 */
#ifndef MXD_REPLY_CLASS_H
#define MXD_REPLY_CLASS_H

#include <stdbool.h>

/* Is the reply (code, enhanced status "4.7.0" or "" / NULL, text) a throttling or reputation answer?
 * Only temporary (4xx) replies are: a 5xx is a refusal, whatever it says. */
bool reply_class_throttle(int code, const char *enh, const char *text);

#endif
