/* smtp_session_cmd: the command table and one handler per SMTP command. See smtp_session.h. */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/smtpd/auth_results.h"
#include "mxd/smtpd/policy.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum cmd_flags {
	CMD_NEEDS_HELO = 1 << 0, /* 503 before HELO/EHLO */
	CMD_NO_ARG = 1 << 1,     /* 501 when an argument is given */
};

struct smtp_cmd_def {
	enum smtp_verb verb;
	unsigned flags;
	void (*run)(struct smtp_session *s, const char *arg);
};

static void cmd_helo(struct smtp_session *s, const char *arg);
static void cmd_ehlo(struct smtp_session *s, const char *arg);
static void cmd_mail(struct smtp_session *s, const char *arg);
static void mail_spf_done(struct spf_result *result, void *ctx);
static void cmd_rcpt(struct smtp_session *s, const char *arg);
static void cmd_data(struct smtp_session *s, const char *arg);
static void cmd_rset(struct smtp_session *s, const char *arg);
static void cmd_noop(struct smtp_session *s, const char *arg);
static void cmd_quit(struct smtp_session *s, const char *arg);
static void cmd_vrfy(struct smtp_session *s, const char *arg);
static void cmd_help(struct smtp_session *s, const char *arg);
static void cmd_starttls(struct smtp_session *s, const char *arg);
static void cmd_not_implemented(struct smtp_session *s, const char *arg);
static void cmd_etrn(struct smtp_session *s, const char *arg);

static const struct smtp_cmd_def commands[] = {
    {SMTP_VERB_HELO, 0, cmd_helo},
    {SMTP_VERB_EHLO, 0, cmd_ehlo},
    {SMTP_VERB_MAIL, CMD_NEEDS_HELO, cmd_mail},
    {SMTP_VERB_RCPT, CMD_NEEDS_HELO, cmd_rcpt},
    {SMTP_VERB_DATA, CMD_NEEDS_HELO | CMD_NO_ARG, cmd_data},
    {SMTP_VERB_RSET, CMD_NO_ARG, cmd_rset},
    {SMTP_VERB_NOOP, 0, cmd_noop},
    {SMTP_VERB_QUIT, 0, cmd_quit},
    {SMTP_VERB_VRFY, 0, cmd_vrfy},
    {SMTP_VERB_EXPN, 0, cmd_vrfy},
    {SMTP_VERB_HELP, 0, cmd_help},
    {SMTP_VERB_STARTTLS, CMD_NO_ARG, cmd_starttls},
    {SMTP_VERB_BDAT, 0, cmd_not_implemented},
    {SMTP_VERB_AUTH, 0, cmd_not_implemented},
    {SMTP_VERB_ETRN, CMD_NEEDS_HELO, cmd_etrn},
};

static const struct smtp_cmd_def *cmd_find(enum smtp_verb verb)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(commands); i++)
		if (commands[i].verb == verb)
			return &commands[i];
	return NULL;
}

void session_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_parse_error err;
	s->count_total++;
	if (smtp_parse_command(line, len, &cmd, &err) < 0) {
		s->counts[SMTP_VERB_UNKNOWN]++;
		session_reply(s, err.code, err.enh, "%s", err.text);
		return;
	}
	s->counts[cmd.verb]++;
	if (session_gate_command(s, cmd.verb, cmd.name))
		return;
	const struct smtp_cmd_def *def = cmd_find(cmd.verb);
	if (def == NULL) {
		log_info("smtpd", "warning: %s[%s]: unknown command: %.40s", s->name, s->addr, cmd.name);
		session_reply(s, 502, "5.5.2", "Error: command not recognized");
		return;
	}
	if ((def->flags & CMD_NEEDS_HELO) && s->state == SMTP_STATE_CONNECTED) {
		session_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if ((def->flags & CMD_NO_ARG) && cmd.arg[0] != '\0') {
		session_reply(s, 501, "5.5.4", "Syntax: %s", cmd.name);
		return;
	}
	s->last_code = 0;
	def->run(s, cmd.arg);
	if (s->last_code > 0 && s->last_code < 400) {
		s->counts_ok[cmd.verb]++;
		s->count_total_ok++;
	}
}

static void reset_transaction(struct smtp_session *s)
{
	session_txn_free(s);
	if (s->state != SMTP_STATE_CONNECTED)
		session_enter_state(s, SMTP_STATE_READY);
}

static bool greet(struct smtp_session *s, const char *arg, const char *verb)
{
	size_t arg_len = strlen(arg);
	while (arg_len > 0 && arg[arg_len - 1] == ' ')
		arg_len--;
	struct smtp_parse_error err;
	if (arg[0] == '\0') {
		session_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return false;
	}
	/* Postfix's smtpd_helo_restrictions, of which mxd knows two: reject_invalid_helo_hostname (the
	 * default) and permit, which takes any text (the command line holds no control characters), for
	 * SPF's HELO identity as sent (RFC 7208 2.3). */
	if (smtp_parse_helo(arg, &err) < 0 && strcmp(s->env->cfg->smtpd_helo_restrictions, "permit") != 0) {
		session_reply(s, err.code, err.enh, "%s", err.text);
		return false;
	}
	if (arg_len >= sizeof(s->helo))
		arg_len = sizeof(s->helo) - 1;
	memcpy(s->helo, arg, arg_len);
	s->helo[arg_len] = '\0';
	session_txn_free(s);
	session_enter_state(s, SMTP_STATE_READY);
	return true;
}

static void cmd_helo(struct smtp_session *s, const char *arg)
{
	if (!greet(s, arg, "HELO"))
		return;
	s->esmtp = false;
	session_reply(s, 250, NULL, "%s", s->env->cfg->myhostname);
}

static void cmd_ehlo(struct smtp_session *s, const char *arg)
{
	if (!greet(s, arg, "EHLO"))
		return;
	s->esmtp = true;
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n",
	                 s->env->cfg->myhostname, (long long)s->env->cfg->message_size_limit);
	if (s->env->tls_ctx != NULL && !s->tls)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "250-STARTTLS\r\n");
	if (s->env->on_etrn != NULL)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "250-ETRN\r\n");
	snprintf(buf + n, sizeof(buf) - (size_t)n,
	         "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
	session_write(s, buf);
	s->last_code = 250;
}

static void cmd_mail(struct smtp_session *s, const char *arg)
{
	struct smtp_path path;
	struct smtp_mail_params params;
	struct smtp_parse_error err;
	const char *rest;

	if (s->txn != NULL) {
		session_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (session_gate_rate(s, ANVIL_MESSAGE))
		return;
	if (smtp_parse_path(arg, "FROM:", &path, &rest, &err) < 0 ||
	    smtp_parse_mail_params(rest, s->esmtp, &params, &err) < 0) {
		session_reply(s, err.code, err.enh, "%s", err.text);
		return;
	}
	if (!s->esmtp && rest[0] != '\0') {
		session_reply(s, 555, "5.5.4", "Error: MAIL parameters need EHLO");
		return;
	}
	if (params.ret != 0 || params.envid[0] != '\0') {
		session_reply(s, 555, "5.5.4", "Error: DSN parameters are not supported");
		return;
	}
	if (params.has_size && params.size > (uint64_t)s->env->cfg->message_size_limit) {
		session_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if ((path.flags & SMTP_PATH_UTF8) && !params.smtputf8) {
		session_reply(s, 553, "5.6.7", "Error: SMTPUTF8 is required for this address");
		return;
	}
	/* a label over 63 octets: RFC 5321's grammar takes it, the DNS cannot, SPF says "none" (RFC 7208
	 * 4.3); strict_sender_domain_syntax = no takes it, as Postfix does */
	if ((path.flags & SMTP_PATH_MALFORMED_DOMAIN) && s->env->cfg->strict_sender_domain_syntax) {
		session_reply(s, 501, "5.1.7", "Bad address syntax: %s", path.malformed);
		return;
	}
	/* "root@host" from a host without a dot in its name (swaks, cron): our own networks and peers
	 * may, as Postfix checks reject_non_fqdn_sender after permit_mynetworks. */
	if ((path.flags & SMTP_PATH_NON_FQDN) && !s->trusted) {
		session_reply(s, 501, "5.1.7",
		              "<%s>: Sender address rejected: domain '%s' needs at least two labels",
		              path.address, path.domain);
		return;
	}
	struct smtp_txn *t = xcalloc(1, sizeof(*t));
	t->sender = xstrdup(path.address);
	t->params = params;
	s->txn = t;
	t->spf_check = policy_check_sender(s->env->policy, (struct sockaddr *)&s->sa, s->trusted, s->helo,
	                                   t->sender, mail_spf_done, s);
	if (t->spf_check != NULL) {
		/* the reply waits for the verdict, and nothing more is read meanwhile */
		session_enter_state(s, SMTP_STATE_SPF);
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	session_enter_state(s, SMTP_STATE_MAIL);
	session_reply(s, 250, "2.1.0", "Ok");
}

void session_log_reject(struct smtp_session *s, const char *stage, const struct policy_reply *r,
                        const char *to)
{
	log_info("smtpd", "%s: reject: %s from %s[%s]: %d %s %s; from=<%s> to=<%s> proto=%s helo=<%s>",
	         s->txn != NULL && s->txn->id[0] != '\0' ? s->txn->id : "NOQUEUE", stage, s->name, s->addr,
	         r->code, r->enh, r->text, s->txn != NULL ? s->txn->sender : "", to, session_proto(s),
	         s->helo);
}

void session_log_reject_text(struct smtp_session *s, const char *stage, int code, const char *enh,
                             const char *text)
{
	struct policy_reply r = {.code = code, .enh = enh};
	str_copy(r.text, sizeof(r.text), text);
	session_log_reject(s, stage, &r, s->txn != NULL && s->txn->nrcpt > 0 ? s->txn->rcpts[0] : "");
}

/* The SPF verdict on MAIL FROM: the reply that waited for it, then reading resumes. */
static void mail_spf_done(struct spf_result *result, void *ctx)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	struct policy_reply reply;
	t->spf_check = NULL;
	t->spf = result;
	log_info("smtpd", "spf=%s identity=%s client=%s[%s] from=<%s> helo=<%s>%s%s",
	         spf_status_str(result->status), result->helo_identity ? "helo" : "mailfrom", s->name,
	         s->addr, t->sender, s->helo, result->problem != NULL ? " problem=" : "",
	         result->problem != NULL ? result->problem : "");
	if (s->state != SMTP_STATE_SPF)
		return; /* closing meanwhile (shutdown, error limit): no reply is due */
	if (policy_check_sender_result(s->env->policy, result, &reply) < 0) {
		smtp_stats_reject(&s->env->stats, reply.enh);
		session_log_reject(s, "MAIL", &reply, "");
		session_reply(s, reply.code, reply.enh, "%s", reply.text);
		session_txn_free(s);
		session_enter_state(s, SMTP_STATE_READY);
	} else {
		s->counts_ok[SMTP_VERB_MAIL]++;
		s->count_total_ok++;
		session_enter_state(s, SMTP_STATE_MAIL);
		session_reply(s, 250, "2.1.0", "Ok");
	}
	if (s->state != SMTP_STATE_CLOSING)
		session_resume(s);
}

void session_spf_expired(struct smtp_session *s)
{
	struct spf_result *result =
	    spf_check_expire(&s->txn->spf_check, "the SPF check did not end within smtpd_timeout");
	mail_spf_done(result, s);
}

/* How many of exp's finals the transaction does not hold yet. */
static size_t txn_new_finals(const struct smtp_txn *t, const struct expansion *exp)
{
	size_t n = 0;
	for (size_t i = 0; i < exp->n; i++)
		n += !strmap_get(&t->final_set, exp->finals[i].address, NULL);
	return n;
}

void session_txn_add_finals(struct smtp_txn *t, const char *orig, const struct expansion *exp)
{
	for (size_t i = 0; i < exp->n; i++) {
		const struct expand_final *f = &exp->finals[i];
		if (!strmap_put(&t->final_set, f->address, t->nfinal))
			continue;
		if (t->nfinal == t->final_cap) {
			t->final_cap = t->final_cap ? t->final_cap * 2 : 4;
			t->finals = xrealloc(t->finals, t->final_cap * sizeof(char *));
			t->final_orig = xrealloc(t->final_orig, t->final_cap * sizeof(char *));
			t->final_state = xrealloc(t->final_state, t->final_cap * sizeof(int));
			t->final_dsn = xrealloc(t->final_dsn, t->final_cap * sizeof(char *));
			t->final_reason = xrealloc(t->final_reason, t->final_cap * sizeof(char *));
		}
		size_t k = t->nfinal++;
		t->finals[k] = xstrdup(f->address);
		t->final_orig[k] = xstrdup(orig);
		t->final_state[k] = f->status == EXPAND_OK ? QUEUE_RCPT_PENDING : QUEUE_RCPT_BOUNCED;
		t->final_dsn[k] = f->status == EXPAND_LOOP      ? "5.4.6"
		                  : f->status == EXPAND_UNKNOWN ? "5.1.1"
		                                                : NULL;
		t->final_reason[k] = f->status == EXPAND_LOOP ? "mail forwarding loop: alias chain comes back"
		                     : f->status == EXPAND_UNKNOWN ? "User unknown in virtual alias table"
		                                                   : NULL;
	}
}

static void cmd_rcpt(struct smtp_session *s, const char *arg)
{
	struct smtp_path path;
	struct smtp_rcpt_params params;
	struct smtp_parse_error err;
	struct policy_reply reply;
	const char *rest;

	if (s->txn == NULL) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	struct smtp_txn *t = s->txn;
	if (session_gate_rate(s, ANVIL_RECIPIENT))
		return;
	if (smtp_parse_path(arg, "TO:", &path, &rest, &err) < 0 ||
	    smtp_parse_rcpt_params(rest, &params, &err) < 0) {
		session_reply(s, err.code, err.enh, "%s", err.text);
		return;
	}
	if (params.notify != 0 || params.orcpt[0] != '\0') {
		session_reply(s, 555, "5.5.4", "Error: DSN parameters are not supported");
		return;
	}
	if ((path.flags & SMTP_PATH_UTF8) && !t->params.smtputf8) {
		session_reply(s, 553, "5.6.7", "Error: SMTPUTF8 is required for this address");
		return;
	}
	if (path.flags & SMTP_PATH_NON_FQDN) {
		session_reply(s, 501, "5.1.3",
		              "<%s>: Recipient address rejected: domain '%s' needs at least two labels",
		              path.address, path.domain);
		return;
	}
	if (t->rcpt_accepted >= (size_t)s->env->cfg->smtpd_recipient_limit) {
		session_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	struct expansion exp;
	if (policy_check_rcpt(s->env->policy, &path, t->sender, s->trusted, &reply, &exp) < 0) {
		s->env->stats.rejected_rcpt++;
		smtp_stats_reject(&s->env->stats, reply.enh);
		session_log_reject(s, "RCPT", &reply, path.address);
		session_reply(s, reply.code, reply.enh, "%s", reply.text);
		return;
	}
	bool duplicate = strmap_get(&t->rcpt_set, path.address, NULL);
	if (!duplicate && session_gate_domain_full(s, path.domain)) {
		expansion_clear(&exp);
		return;
	}
	if (!duplicate && t->nfinal + txn_new_finals(t, &exp) > SMTP_TXN_FINALS_MAX) {
		expansion_clear(&exp);
		session_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (t->id[0] == '\0') {
		queue_store_new_id(t->id);
		log_info("smtpd", "%s: client=%s[%s]", t->id, s->name, s->addr);
	}
	t->rcpt_accepted++; /* duplicates count against the limit too, as in Postfix */
	if (!duplicate) {
		strmap_put(&t->rcpt_set, path.address, t->nrcpt);
		if (t->nrcpt == t->rcpt_cap) {
			t->rcpt_cap = t->rcpt_cap ? t->rcpt_cap * 2 : 4;
			t->rcpts = xrealloc(t->rcpts, t->rcpt_cap * sizeof(char *));
		}
		t->rcpts[t->nrcpt++] = xstrdup(path.address);
		session_txn_add_finals(t, path.address, &exp);
	}
	expansion_clear(&exp);
	session_enter_state(s, SMTP_STATE_RCPT);
	session_reply(s, 250, "2.1.5", "Ok");
}

/* The HELO name for the Received: header: as sent when it is a name or an address literal; under
 * smtpd_helo_restrictions = permit, any other octet than those of names, literals and atext becomes
 * '?', so that the text cannot close the header's comment or look like another clause. */
static void received_helo(const char *helo, char *out, size_t size)
{
	size_t i = 0;
	for (; helo[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)helo[i];
		out[i] = (addr_is_atext(c) || c == '.' || c == '[' || c == ']' || c == ':' || c >= 0x80)
		             ? (char)c
		             : '?';
	}
	out[i] = '\0';
}

/* The Received: header that opens the stored message (RFC 5321 4.4). Every value in it was checked
 * for syntax (addresses) or made safe (HELO), so nothing the client sent can start a new header line. */
static void add_received(struct smtp_session *s, struct evbuffer *body)
{
	char helo[sizeof(s->helo)];
	received_helo(s->helo, helo, sizeof(helo));
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	evbuffer_add_printf(body, "Received: from %s (%s [%s])\r\n", helo, s->name, s->addr);
	if (s->tls)
		evbuffer_add_printf(body, "\t(using %s)\r\n", s->tls_info);
	evbuffer_add_printf(body, "\tby %s (mxd) with %s id %s", s->env->cfg->myhostname, session_proto(s),
	                    s->txn->id);
	if (s->txn->nrcpt == 1)
		evbuffer_add_printf(body, "\r\n\tfor <%s>", s->txn->rcpts[0]);
	evbuffer_add_printf(body, "; %s\r\n", date);
}

/* The SPF verdict for the hops after us (RFC 7208 9.1), above our Received: header as RFC 7208 asks.
 * spf.h quotes or replaces whatever in it came from the client or the DNS. Authentication-Results
 * goes on top at the end of DATA (smtp_session_auth.c), with the DKIM, DMARC and ARC results. */
static void add_spf_headers(struct smtp_session *s, struct evbuffer *body)
{
	if (s->txn->spf == NULL)
		return;
	char *h = spf_header_received_spf(s->txn->spf, s->env->cfg->myhostname);
	evbuffer_add(body, h, strlen(h));
	free(h);
}

static void cmd_data(struct smtp_session *s, const char *arg)
{
	if (s->txn == NULL) {
		session_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return;
	}
	if (s->txn->nrcpt == 0) {
		session_reply(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	/* A client must wait for 354 before sending content (RFC 2920 3.1): anything already here was
	 * sent blindly and could be read as commands. */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		log_info("smtpd", "improper command pipelining after DATA from %s[%s]", s->name, s->addr);
		session_reply(s, 554, "5.5.0", "Error: improper pipelining: data sent before 354");
		session_close_after_reply(s);
		return;
	}
	struct smtp_txn *t = s->txn;
	t->spool = data_spool_new(s->env->cfg->queue_directory);
	struct evbuffer *trace = data_spool_input(t->spool);
	add_spf_headers(s, trace);
	add_received(s, trace);
	t->content_offset = evbuffer_get_length(trace);
	smtp_data_init(&t->data, (uint64_t)s->env->cfg->message_size_limit);
	session_enter_state(s, SMTP_STATE_DATA);
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void data_committed(void *ctx, int result, const char *id, enum queue_error code, const char *error)
{
	struct smtp_session *s = ctx;
	if (s->bev == NULL) {
		/* the client left before the reply; the message stays queued if it was stored */
		if (result == 0)
			log_info("smtpd", "%s: stored, but the client left before the reply", id);
		smtp_session_commit_done(s);
		return;
	}
	if (result == 0) {
		log_info("smtpd", "%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", id, s->txn->sender,
		         (size_t)s->txn->data.size, s->txn->nrcpt);
		s->env->stats.messages_accepted++;
		s->env->stats.bytes_accepted += s->txn->data.size;
		session_gate_count_domains(s);
		session_reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		if (s->env->on_queued != NULL)
			s->env->on_queued(s->env->queued_ctx, id);
	} else {
		log_warn("smtpd", "%s: queue file write error: %s", id, error);
		if (code == QUEUE_ERROR_STORAGE_FULL)
			session_reply(s, 452, "4.3.1", "Error: insufficient system storage");
		else
			session_reply(s, 451, "4.3.0", "Error: queue file write error");
	}
	session_txn_free(s);
	session_enter_state(s, SMTP_STATE_READY);
	smtp_session_commit_done(s);
}

static bool data_refused(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct policy_reply r = {0};
	switch (t->data.error) {
	case SMTP_DATA_OK:
		break;
	case SMTP_DATA_TOO_BIG:
		r.code = 552, r.enh = "5.3.4";
		str_copy(r.text, sizeof(r.text), "Error: message file too big");
		break;
	case SMTP_DATA_BARE_NEWLINE:
		r.code = 550, r.enh = "5.5.2";
		str_copy(r.text, sizeof(r.text), "Error: bare <CR> or <LF> received");
		break;
	case SMTP_DATA_NUL:
		r.code = 550, r.enh = "5.6.0";
		str_copy(r.text, sizeof(r.text), "Error: message contains NUL octets");
		break;
	}
	if (r.code == 0 && t->data.received_count >= (unsigned)s->env->cfg->hopcount_limit) {
		r.code = 554, r.enh = "5.4.6";
		snprintf(r.text, sizeof(r.text), "Error: too many hops (%u Received: headers), mail loop?",
		         t->data.received_count);
	}
	if (r.code == 0)
		return false;
	s->env->stats.rejected_data++;
	smtp_stats_reject(&s->env->stats, r.enh);
	session_log_reject(s, "END-OF-MESSAGE", &r, t->nrcpt > 0 ? t->rcpts[0] : "");
	session_reply(s, r.code, r.enh, "%s", r.text);
	reset_transaction(s);
	return true;
}

/* Hand the finished message to the queue; its commit callback replies. */
void session_data_submit(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct queue_new_msg msg = {0};
	str_copy(msg.id, sizeof(msg.id), t->id);
	msg.sender = t->sender;
	msg.rcpts = (const char *const *)t->finals;
	msg.orig_rcpts = (const char *const *)t->final_orig;
	msg.rcpt_states = t->final_state;
	msg.rcpt_dsn = t->final_dsn;
	msg.rcpt_reasons = t->final_reason;
	msg.nrcpt = t->nfinal;
	msg.client_name = s->name;
	msg.client_addr = s->addr;
	msg.helo = s->helo;
	msg.proto = session_proto(s);
	msg.arrival = time_now();
	msg.smtputf8 = t->params.smtputf8;
	msg.received_note = t->auth_note;
	msg.held = t->hold_reason != NULL;
	msg.hold_reason = t->hold_reason;
	msg.body = data_view_take_buffer(&t->view); /* the store owns it now */
	t->body = NULL;
	queue_store_submit(s->env->queue, &msg, data_committed, s);
}

/* The content could not be spooled (the queue directory's disk is full, or failed): 452 4.3.1 or
 * 451 4.3.0, as for a queue file that cannot be written; the session goes on. */
static bool data_spool_failed(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (data_spool_finish(t->spool, &t->view) == 0) {
		data_spool_free(&t->spool);
		t->body = data_view_buffer(t->view);
		return false;
	}
	int e = data_spool_error(t->spool);
	bool full = e == ENOSPC || e == EDQUOT;
	log_warn("smtpd", "%s: queue file write error: message spool: %s", t->id, strerror(e));
	s->env->stats.rejected_data++;
	const char *enh = full ? "4.3.1" : "4.3.0";
	const char *text = full ? "Error: insufficient system storage" : "Error: queue file write error";
	smtp_stats_reject(&s->env->stats, enh);
	session_log_reject_text(s, "END-OF-MESSAGE", full ? 452 : 451, enh, text);
	session_reply(s, full ? 452 : 451, enh, "%s", text);
	reset_transaction(s);
	return true;
}

void session_data_done(struct smtp_session *s)
{
	if (data_refused(s) || data_spool_failed(s))
		return;
	struct smtp_txn *t = s->txn;
	char msgid[256];
	smtp_data_message_id(t->body, msgid, sizeof(msgid));
	if (msgid[0] != '\0')
		log_info("cleanup", "%s: message-id=%s", t->id, msgid);
	if (s->env->milters.n > 0) {
		session_milter_start(s); /* then session_data_store() */
		return;
	}
	session_data_store(s, NULL);
}

void session_data_store(struct smtp_session *s, const char *hold_reason)
{
	if (hold_reason != NULL)
		s->txn->hold_reason = xstrdup(hold_reason);
	session_auth_start(s); /* then session_data_submit() */
}

static void cmd_rset(struct smtp_session *s, const char *arg)
{
	reset_transaction(s);
	session_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct smtp_session *s, const char *arg)
{
	session_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_quit(struct smtp_session *s, const char *arg)
{
	session_reply(s, 221, "2.0.0", "Bye");
	session_close_after_reply(s);
}

static void cmd_vrfy(struct smtp_session *s, const char *arg)
{
	session_reply(s, 502, "5.5.1", "Error: command disabled");
}

static void cmd_help(struct smtp_session *s, const char *arg)
{
	session_reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT STARTTLS");
}

static void cmd_starttls(struct smtp_session *s, const char *arg)
{
	if (s->env->tls_ctx == NULL) {
		session_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (s->tls) {
		session_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT) {
		session_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	if (session_gate_rate(s, ANVIL_TLS))
		return;
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	session_start_tls(s);
}

/* ETRN (RFC 1985) from our own networks and peers: deliver the deferred mail now. */
static void cmd_etrn(struct smtp_session *s, const char *arg)
{
	if (s->env->on_etrn == NULL) {
		session_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (arg[0] == '\0') {
		session_reply(s, 501, "5.5.4", "Syntax: ETRN domain");
		return;
	}
	if (s->txn != NULL) {
		session_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	if (!s->trusted) {
		session_reply(s, 554, "5.7.1", "<%.255s>: ETRN is not allowed from this client", arg);
		return;
	}
	log_info("smtpd", "%s[%s]: ETRN %.255s", s->name, s->addr, arg);
	s->env->on_etrn(s->env->queued_ctx);
	session_reply(s, 250, "2.0.0", "Queuing started");
}

static void cmd_not_implemented(struct smtp_session *s, const char *arg)
{
	session_reply(s, 502, "5.5.1", "Error: command not implemented");
}
