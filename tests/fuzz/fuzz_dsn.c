/*
 * Fuzz target for mxd/delivery/dsn: the original message (whose header section is copied into the report) and
 * the remote reply text (the Diagnostic-Code) come from strangers. The input is split at its first NUL:
 * before it the remote reply, after it the original message. It aborts when the report has a line over
 * 998 octets, a bare CR or LF, or when the remote reply manages to start a line of its own.
 */
#include "mxd/delivery/dsn.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const char *text, size_t len)
{
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r') {
			if (i + 1 >= len || text[i + 1] != '\n')
				abort(); /* bare CR */
			line = 0;
			i++;
			continue;
		}
		if (text[i] == '\n')
			abort(); /* bare LF */
		if (++line > 998)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t rlen = nul != NULL ? (size_t)(nul - data) : size;
	char *reply = malloc(rlen + 1);
	memcpy(reply, data, rlen);
	reply[rlen] = '\0';
	const char *message = nul != NULL ? (const char *)nul + 1 : "";
	size_t mlen = nul != NULL ? size - rlen - 1 : 0;

	struct dsn_rcpt rc = {.final_rcpt = "someone@gmail.test",
	                      .orig_rcpt = "info@example.com",
	                      .action = DSN_ACTION_FAILED,
	                      .status = "5.1.1",
	                      .remote_mta = "mx.gmail.test",
	                      .diag_type = DSN_DIAG_SMTP,
	                      .diagnostic = reply,
	                      .last_attempt = 1700000000};
	struct dsn_report rep = {.kind = DSN_KIND_FAILURE,
	                         .myhostname = "mx.example.com",
	                         .queue_id = "0661254F768ADB00",
	                         .sender = "alice@sender.test",
	                         .arrival_time = 1700000000,
	                         .message = message,
	                         .message_len = mlen,
	                         .rcpts = &rc,
	                         .rcpt_count = 1,
	                         .now = 1700000100,
	                         .nonce = 42};
	struct evbuffer *out = evbuffer_new();
	const char *error;
	if (dsn_compose(&rep, out, NULL, &error) == 0) {
		size_t len = evbuffer_get_length(out);
		const char *text = (const char *)evbuffer_pullup(out, -1);
		check_lines(text, len);
		/* the diagnostic must stay inside its field: nothing it says may open a line */
		if (rlen > 0 && memmem(text, len, "\r\nX-Fuzz-Injected:", 18) != NULL &&
		    memmem(message, mlen, "X-Fuzz-Injected:", 16) == NULL)
			abort();
	}
	evbuffer_free(out);
	free(reply);
	return 0;
}
