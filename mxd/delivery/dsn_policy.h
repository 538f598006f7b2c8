/*
 * dsn_policy: which failed or delayed messages get no notification, against backscatter. mxd says 250
 * before it forwards, so a bounce goes to an envelope sender that nobody verified. No notification is
 * sent when, in the stored message's header section:
 *   - our SPF verdict was "fail": the first Received-SPF field, when it comes before the first Received
 *     field (mxd writes Authentication-Results and Received-SPF above its own Received:, and a sender's
 *     own fields sit below it);
 *   - Auto-Submitted is anything but "no" (RFC 3834 5.2);
 *   - Precedence is bulk, list or junk;
 *   - the message is list mail: List-Id (RFC 2919) or List-Unsubscribe (RFC 2369).
 * The null sender and MAILER-DAEMON are dsn_should_send()'s (dsn.h). A notification that is sent holds
 * the original header section only, never the body (dsn.h).
 *
 * A pure function: no I/O, no state, thread-safe. Only the header section is read (up to the first
 * empty line or a line that is not a header field), within len octets; no NUL is needed.
 */
#ifndef MXD_DSN_POLICY_H
#define MXD_DSN_POLICY_H

#include <stddef.h>

#define DSN_POLICY_REASON_MAX 64 /* a reason's size, with its NUL */

/* Why no notification may go to the sender of message (len octets, header section and body): a short
 * reason for the log ("SPF fail", "Auto-Submitted: auto-replied", "Precedence: bulk", "List-Id",
 * "List-Unsubscribe"; header values lowercased, anything but printable ASCII as '?', capped), written
 * into buf (size at least DSN_POLICY_REASON_MAX) or static; NULL when it may be sent. */
const char *dsn_policy_suppress(const char *message, size_t len, char *buf, size_t size);

#endif
