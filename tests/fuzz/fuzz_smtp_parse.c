/*
 * Fuzz target for mxd/smtpd/smtp_parse: the input is one command line (CRLF stripped, as the session hands
 * it over). It goes through smtp_parse_command and, by verb, on to smtp_parse_path and the parameter
 * parsers or smtp_parse_helo; the raw input is also given to each argument parser directly. Besides
 * what the sanitizers catch, it aborts when a result breaks the contract: an unterminated field, an
 * address with a control character or an unquoted character atext does not allow, a reply text that could
 * inject a line.
 */
#include "mxd/smtpd/smtp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static void check_error(const struct smtp_parse_error *err)
{
	if (err->code < 500 || err->code > 599 || err->enh == NULL || err->text == NULL)
		abort();
	if (strpbrk(err->text, "\r\n") != NULL || strpbrk(err->enh, "\r\n ") != NULL)
		abort();
}

static void check_path(const struct smtp_path *p, const char *keyword)
{
	check_terminated(p->local, sizeof(p->local));
	check_terminated(p->domain, sizeof(p->domain));
	check_terminated(p->address, sizeof(p->address));
	if (p->null_path) {
		if (strcmp(keyword, "FROM:") != 0 || p->address[0] != '\0' || p->flags != 0)
			abort();
		return;
	}
	if (strlen(p->local) > ADDR_LOCAL_MAX + 2 || strlen(p->domain) > ADDR_DOMAIN_MAX ||
	    strlen(p->address) > ADDR_MAX)
		abort();
	for (const unsigned char *c = (const unsigned char *)p->address; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			abort();
	if (p->domain[0] == '\0' && strcmp(p->address, "postmaster") != 0)
		abort();
	if (p->local[0] != '"' && strpbrk(p->local, " <>();\"\\") != NULL)
		abort();
	if (strpbrk(p->domain, " |&$`{}<>();\"\\@") != NULL)
		abort();
}

static void parse_path(const char *arg, const char *keyword)
{
	struct smtp_path path;
	struct smtp_parse_error err;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	const char *params = NULL;
	if (smtp_parse_path(arg, keyword, &path, &params, &err) < 0) {
		check_error(&err);
		return;
	}
	check_path(&path, keyword);
	if (params == NULL || params < arg || params > arg + strlen(arg) || params[0] == ' ')
		abort();
	for (int utf8 = 0; utf8 < 2; utf8++) {
		if (smtp_parse_mail_params(params, utf8, &mp, &err) < 0) {
			check_error(&err);
		} else {
			check_terminated(mp.envid, sizeof(mp.envid));
			check_terminated(mp.auth, sizeof(mp.auth));
			if (mp.smtputf8 && !utf8)
				abort();
		}
	}
	if (smtp_parse_rcpt_params(params, &rp, &err) < 0) {
		check_error(&err);
	} else {
		check_terminated(rp.orcpt, sizeof(rp.orcpt));
		if ((rp.notify & 1u) && rp.notify != 1u)
			abort();
	}
}

static void parse_helo(const char *arg)
{
	struct smtp_parse_error err;
	if (smtp_parse_helo(arg, &err) < 0)
		check_error(&err);
	else if (strpbrk(arg, "\r\n\t;|&$`<>") != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct smtp_command cmd;
	struct smtp_parse_error err;
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';

	if (smtp_parse_command(line, size, &cmd, &err) < 0) {
		check_error(&err);
	} else {
		if (cmd.arg < line || cmd.arg > line + size || cmd.arg_len > strlen(cmd.arg))
			abort();
		check_terminated(cmd.name, sizeof(cmd.name));
		if (cmd.verb == SMTP_VERB_MAIL)
			parse_path(cmd.arg, "FROM:");
		else if (cmd.verb == SMTP_VERB_RCPT)
			parse_path(cmd.arg, "TO:");
		else if (cmd.verb == SMTP_VERB_HELO || cmd.verb == SMTP_VERB_EHLO)
			parse_helo(cmd.arg);
	}

	/* The raw input (up to a NUL) straight into the argument parsers. */
	parse_path(line, "FROM:");
	parse_path(line, "TO:");
	parse_helo(line);
	free(line);
	return 0;
}
