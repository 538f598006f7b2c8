/*
 * smtp_session_gate: the connection gate of a session (see smtp_session_private.h), postscreen's tests
 * done inside the session: the banner is held back for the pregreet pause (smtpd_greet_pause every
 * time; postscreen_greet_wait for a client without a pass in the anvil) and for the DNSBL answers
 * (postscreen_dnsbl_timeout at most); a client that talks meanwhile gets 554 5.5.0 and is closed. An
 * allowlist score (postscreen_dnsbl_allowlist_threshold) ends the pause at once. A listed client gets
 * its banner, then 550 5.7.1 to every command but QUIT. Also here: unauthorised pipelining and the
 * anvil rate limits on MAIL, RCPT and STARTTLS.
 */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/smtpd/dnsbl.h"
#include "mxd/smtpd/domain_rate.h"
#include "mxd/smtpd/policy.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <string.h>

const char *smtp_gate_reason_name(enum smtp_gate_reason reason)
{
	static const char *const names[SMTP_GATE_REASONS] = {
	    [SMTP_GATE_PREGREET] = "pregreet",
	    [SMTP_GATE_PIPELINING] = "pipelining",
	    [SMTP_GATE_DNSBL] = "dnsbl",
	    [SMTP_GATE_CONNECTION_RATE] = "connection_rate",
	    [SMTP_GATE_MESSAGE_RATE] = "message_rate",
	    [SMTP_GATE_RECIPIENT_RATE] = "recipient_rate",
	    [SMTP_GATE_TLS_RATE] = "tls_rate",
	    [SMTP_GATE_DOMAIN_RATE] = "domain_rate",
	};
	return (unsigned)reason < SMTP_GATE_REASONS ? names[reason] : "other";
}

static unsigned client_prefix(const struct smtp_session *s)
{
	return (unsigned)s->env->cfg->smtpd_client_ipv6_prefix_length;
}

static void gate_arm(struct smtp_session *s, int64_t msec)
{
	struct timeval tv = {.tv_sec = msec / 1000, .tv_usec = (msec % 1000) * 1000};
	evtimer_add(s->greet_ev, &tv);
}

/* The banner may go: score the DNSBL answers in so far, then send it. */
static void gate_open(struct smtp_session *s)
{
	const struct mxd_config *cfg = s->env->cfg;
	event_free(s->greet_ev);
	s->greet_ev = NULL;
	if (s->dnsbl != NULL) {
		const char *site;
		int score = dnsbl_check_score(s->dnsbl, &site);
		if (!dnsbl_check_done(s->dnsbl))
			log_info("smtpd",
			         "DNSBL lookups for [%s] unfinished after %llds: scored on the answers in",
			         s->addr, (long long)cfg->postscreen_dnsbl_timeout);
		if (score != 0)
			log_info("smtpd", "DNSBL rank %d for [%s]", score, s->addr);
		if (score >= cfg->postscreen_dnsbl_threshold && site != NULL) {
			str_copy(s->dnsbl_site, sizeof(s->dnsbl_site), site);
			s->env->stats.gate[SMTP_GATE_DNSBL]++;
		}
		dnsbl_check_free(&s->dnsbl);
	}
	session_send_banner(s);
}

static void gate_timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct smtp_session *s = ctx;
	int64_t now = time_mono_msec();
	if (s->greet_pausing) {
		s->greet_pausing = false;
		if (s->greet_test)
			anvil_greet_pass(s->env->anvil, (struct sockaddr *)&s->sa, client_prefix(s), now,
			                 s->env->cfg->postscreen_greet_ttl * 1000);
	}
	if (s->dnsbl != NULL && !dnsbl_check_done(s->dnsbl) && now < s->gate_deadline) {
		gate_arm(s, s->gate_deadline - now);
		return;
	}
	gate_open(s);
}

static void gate_dnsbl_cb(void *ctx)
{
	struct smtp_session *s = ctx;
	const struct mxd_config *cfg = s->env->cfg;
	const char *site;
	int score = dnsbl_check_score(s->dnsbl, &site);
	if (cfg->postscreen_dnsbl_allowlist_threshold < 0 &&
	    score <= cfg->postscreen_dnsbl_allowlist_threshold) {
		/* allowlisted: no need to wait out the pause (postscreen counts the tests as passed) */
		log_info("smtpd", "PASS NEW [%s]: DNSBL rank %d at or below %lld", s->addr, score,
		         (long long)cfg->postscreen_dnsbl_allowlist_threshold);
		s->greet_pausing = false;
		gate_open(s);
		return;
	}
	if (!s->greet_pausing) {
		evtimer_del(s->greet_ev);
		gate_open(s);
	}
}

int session_gate_start(struct smtp_session *s)
{
	const struct mxd_config *cfg = s->env->cfg;
	if (s->trusted)
		return 0;
	int64_t now = time_mono_msec(), pause_ms = 0;
	if (cfg->smtpd_greet_pause > 0) {
		pause_ms = cfg->smtpd_greet_pause * 1000;
	} else if (cfg->postscreen_greet_wait > 0 &&
	           !anvil_greet_passed(s->env->anvil, (struct sockaddr *)&s->sa, client_prefix(s), now)) {
		pause_ms = cfg->postscreen_greet_wait * 1000;
		s->greet_test = true;
	}
	struct dnsbl_sites *sites = policy_dnsbl_sites(s->env->policy);
	if (dnsbl_sites_count(sites) > 0 && s->env->dnsbl_dns != NULL)
		s->dnsbl =
		    dnsbl_check_start(s->env->dnsbl_dns, sites, (struct sockaddr *)&s->sa, gate_dnsbl_cb, s);
	if (pause_ms == 0 && s->dnsbl == NULL)
		return 0;
	s->greet_pausing = pause_ms > 0;
	s->gate_deadline = now + cfg->postscreen_dnsbl_timeout * 1000;
	s->greet_ev = evtimer_new(s->env->base, gate_timer_cb, s);
	gate_arm(s, pause_ms > 0 ? pause_ms : s->gate_deadline - now);
	return 1;
}

void session_gate_pregreet(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char first[64];
	size_t n = evbuffer_copyout(in, first, sizeof(first) - 1);
	first[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)first[i] < 0x20 || (unsigned char)first[i] > 0x7e)
			first[i] = '.';
	session_gate_free(s);
	log_info("smtpd", "PREGREET %zu from %s[%s]: talking before the greeting: %s",
	         evbuffer_get_length(in), s->name, s->addr, first);
	evbuffer_drain(in, evbuffer_get_length(in));
	s->env->stats.gate[SMTP_GATE_PREGREET]++;
	smtp_stats_reject(&s->env->stats, "5.5.0");
	session_reply(s, 554, "5.5.0", "%s Error: talking before the greeting", s->env->cfg->myhostname);
	session_close_after_reply(s);
}

/* Commands after which a client must wait for our reply (RFC 2920 3.1); DATA and STARTTLS have
 * guards of their own (content before the 354, plaintext after STARTTLS). */
static bool must_wait_after(enum smtp_verb verb)
{
	return verb == SMTP_VERB_HELO || verb == SMTP_VERB_EHLO || verb == SMTP_VERB_NOOP ||
	       verb == SMTP_VERB_VRFY || verb == SMTP_VERB_EXPN;
}

bool session_gate_command(struct smtp_session *s, enum smtp_verb verb, const char *name)
{
	if (s->trusted)
		return false;
	if (s->dnsbl_site[0] != '\0' && verb != SMTP_VERB_QUIT) {
		log_info(
		    "smtpd",
		    "NOQUEUE: reject: %s from %s[%s]: 550 5.7.1 Service unavailable; client [%s] blocked "
		    "using %s; proto=%s helo=<%s>",
		    name, s->name, s->addr, s->addr, s->dnsbl_site, session_proto(s), s->helo);
		smtp_stats_reject(&s->env->stats, "5.7.1");
		session_reply(s, 550, "5.7.1", "Service unavailable; client [%s] blocked using %s", s->addr,
		              s->dnsbl_site);
		return true;
	}
	if (!s->env->cfg->smtpd_reject_unauth_pipelining || verb == SMTP_VERB_QUIT ||
	    verb == SMTP_VERB_DATA || verb == SMTP_VERB_STARTTLS)
		return false;
	size_t pending = evbuffer_get_length(bufferevent_get_input(s->bev));
	/* a client greeted with HELO was not offered PIPELINING; before any greeting the error limit deals
	 * with streams of garbage */
	bool helo_client = !s->esmtp && s->helo[0] != '\0';
	if (pending == 0 || !(must_wait_after(verb) || helo_client))
		return false;
	log_info("smtpd", "improper command pipelining after %s from %s[%s]: %zu octets sent ahead", name,
	         s->name, s->addr, pending);
	s->env->stats.gate[SMTP_GATE_PIPELINING]++;
	smtp_stats_reject(&s->env->stats, "5.5.0");
	session_reply(s, 554, "5.5.0", "Error: improper use of SMTP command pipelining");
	session_close_after_reply(s);
	return true;
}

bool session_gate_rate(struct smtp_session *s, enum anvil_rate rate)
{
	const struct mxd_config *cfg = s->env->cfg;
	int64_t limit = rate == ANVIL_MESSAGE     ? cfg->smtpd_client_message_rate_limit
	                : rate == ANVIL_RECIPIENT ? cfg->smtpd_client_recipient_rate_limit
	                                          : cfg->smtpd_client_new_tls_session_rate_limit;
	if (s->trusted || limit == 0 ||
	    anvil_count(s->env->anvil, (struct sockaddr *)&s->sa, client_prefix(s), rate, (unsigned)limit,
	                cfg->anvil_rate_time_unit * 1000, time_mono_msec()) == 0)
		return false;
	const char *what = rate == ANVIL_MESSAGE     ? "message"
	                   : rate == ANVIL_RECIPIENT ? "recipient"
	                                             : "new TLS session";
	log_warn("smtpd", "%s rate limit exceeded from %s[%s] (limit %lld per %llds)", what, s->name, s->addr,
	         (long long)limit, (long long)cfg->anvil_rate_time_unit);
	if (rate == ANVIL_MESSAGE) {
		s->env->stats.gate[SMTP_GATE_MESSAGE_RATE]++;
		smtp_stats_reject(&s->env->stats, "4.7.1");
		session_reply(s, 450, "4.7.1", "Error: too much mail from %s", s->addr);
	} else if (rate == ANVIL_RECIPIENT) {
		s->env->stats.gate[SMTP_GATE_RECIPIENT_RATE]++;
		smtp_stats_reject(&s->env->stats, "4.7.1");
		session_reply(s, 450, "4.7.1", "Error: too many recipients from %s", s->addr);
	} else {
		s->env->stats.gate[SMTP_GATE_TLS_RATE]++;
		smtp_stats_reject(&s->env->stats, "4.7.0");
		session_reply(s, 454, "4.7.0", "Error: too many new TLS sessions from %s", s->addr);
	}
	return true;
}

bool session_gate_domain_full(struct smtp_session *s, const char *domain)
{
	if (s->trusted)
		return false;
	uint32_t limit = policy_domain_hourly_limit(s->env->policy, domain);
	if (limit == 0 || domain_rate_get(s->env->domains, domain, time_mono_msec()) < limit)
		return false;
	log_warn("smtpd", "hourly message limit (%u) of %s reached: RCPT from %s[%s] deferred", limit, domain,
	         s->name, s->addr);
	s->env->stats.gate[SMTP_GATE_DOMAIN_RATE]++;
	smtp_stats_reject(&s->env->stats, "4.7.1");
	session_reply(s, 450, "4.7.1", "Error: too much mail for %s this hour; try again later", domain);
	return true;
}

void session_gate_count_domains(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct strmap seen = STRMAP_INIT;
	int64_t now = time_mono_msec();
	if (s->trusted)
		return;
	for (size_t i = 0; i < t->nrcpt; i++) {
		const char *at = strrchr(t->rcpts[i], '@');
		if (at != NULL && strmap_put(&seen, at + 1, 0))
			domain_rate_add(s->env->domains, at + 1, now);
	}
	strmap_clear(&seen);
}

void session_gate_free(struct smtp_session *s)
{
	if (s->greet_ev != NULL) {
		event_free(s->greet_ev);
		s->greet_ev = NULL;
	}
	dnsbl_check_free(&s->dnsbl);
}
