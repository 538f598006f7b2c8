/* milter: see milter.h. */
#include "mxd/smtpd/milter.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The steps of one milter's conversation, in order. */
enum milter_step {
	STEP_CONNECTING,
	STEP_OPTNEG,
	STEP_CONNECT,
	STEP_HELO,
	STEP_MAIL,
	STEP_RCPT,
	STEP_DATA,
	STEP_HEADER,
	STEP_EOH,
	STEP_BODY,
	STEP_EOB,
};

static const char *const step_names[] = {"connect",    "SMFIC_OPTNEG", "SMFIC_CONNECT", "SMFIC_HELO",
                                         "SMFIC_MAIL", "SMFIC_RCPT",   "SMFIC_DATA",    "SMFIC_HEADER",
                                         "SMFIC_EOH",  "SMFIC_BODY",   "SMFIC_BODYEOB"};

struct milter_run {
	struct event_base *base;
	struct milter_settings settings; /* a copy: a reload may replace the server's meanwhile */
	const struct milter_settings *set;
	struct milter_message *msg;
	bool lenient;
	milter_done_cb *cb;
	void *ctx;
	size_t idx; /* the milter talked to */
	struct bufferevent *bev;
	struct event *timer;
	enum milter_step step;      /* the next step to send */
	enum milter_step answering; /* the step whose reply is awaited */
	bool waiting, started;
	size_t sub; /* the next recipient, header, or body offset */
	uint32_t actions, protocol;
	bool body_replaced;
	struct milter_result result;
};

static __thread char spec_err[300];

static int spec_parse(const char *s, struct milter_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	if (str_copy(spec->name, sizeof(spec->name), s) < 0) {
		snprintf(spec_err, sizeof(spec_err), "smtpd_milters: '%.60s...': too long", s);
		return -1;
	}
	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		const char *path = strchr(s, ':') + 1;
		struct sockaddr_un *sun = (struct sockaddr_un *)&spec->sa;
		if (path[0] != '/' || strlen(path) >= sizeof(sun->sun_path)) {
			snprintf(spec_err, sizeof(spec_err),
			         "smtpd_milters: '%.200s': expected unix:/absolute/path (shorter than %zu)",
			         s, sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, path);
		spec->salen = sizeof(*sun);
		return 0;
	}
	if (strncmp(s, "inet:", 5) == 0) {
		char host[128];
		const char *h = s + 5, *port_s;
		if (h[0] == '[') {
			const char *end = strchr(h, ']');
			if (end == NULL || end[1] != ':' || (size_t)(end - h - 1) >= sizeof(host))
				goto bad;
			memcpy(host, h + 1, (size_t)(end - h - 1));
			host[end - h - 1] = '\0';
			port_s = end + 2;
		} else {
			const char *colon = strrchr(h, ':');
			if (colon == NULL || (size_t)(colon - h) >= sizeof(host))
				goto bad;
			memcpy(host, h, (size_t)(colon - h));
			host[colon - h] = '\0';
			port_s = colon + 1;
		}
		uint64_t port;
		if (str_to_u64(port_s, &port) < 0 || port == 0 || port > 65535)
			goto bad;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		struct sockaddr_in *sin = (struct sockaddr_in *)&spec->sa;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&spec->sa;
		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			spec->salen = sizeof(*sin);
			return 0;
		}
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			spec->salen = sizeof(*sin6);
			return 0;
		}
	}
bad:
	snprintf(
	    spec_err, sizeof(spec_err),
	    "smtpd_milters: '%.200s': expected inet:ADDRESS:PORT (a numeric address, [IPv6] or localhost) "
	    "or unix:/path",
	    s);
	return -1;
}

int milter_specs_parse(const char *list, struct milter_spec **specs_r, size_t *n_r, const char **error_r)
{
	size_t n;
	char **items = config_list(list, &n);
	struct milter_spec *specs = n > 0 ? xcalloc(n, sizeof(*specs)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (spec_parse(items[i], &specs[i]) < 0) {
			free(specs);
			config_list_free(&items);
			*error_r = spec_err;
			return -1;
		}
	}
	config_list_free(&items);
	*specs_r = specs;
	*n_r = n;
	return 0;
}

static const char *run_name(const struct milter_run *r)
{
	return r->set->specs[r->idx].name;
}

static void run_close(struct milter_run *r)
{
	if (r->bev != NULL && r->step != STEP_CONNECTING &&
	    evbuffer_get_length(bufferevent_get_output(r->bev)) == 0) {
		/* a goodbye, so the milter sees the end as normal (not waited for, not retried) */
		static const uint8_t quit[5] = {0, 0, 0, 1, MILTER_CMD_QUIT};
		evutil_socket_t fd = bufferevent_getfd(r->bev);
		if (fd >= 0 && send(fd, quit, sizeof(quit), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("smtpd", "milter %s: quit: %s", run_name(r), strerror(errno));
	}
	if (r->bev != NULL) {
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	r->waiting = false;
	evtimer_del(r->timer);
}

static void run_finish(struct milter_run *r)
{
	run_close(r);
	event_free(r->timer);
	r->cb(r->ctx, &r->result);
	free(r->settings.specs);
	free(r);
}

static void run_begin(struct milter_run *r);

/* This milter is done with the message: say goodbye and go on to the next one. */
static void run_next(struct milter_run *r)
{
	run_close(r);
	r->idx++;
	run_begin(r);
}

static void run_verdict(struct milter_run *r, enum milter_verdict v, int code, const char *enh,
                        const char *text)
{
	r->result.verdict = v;
	r->result.code = code;
	str_copy(r->result.enh, sizeof(r->result.enh), enh);
	str_copy(r->result.text, sizeof(r->result.text), text);
	str_copy(r->result.milter, sizeof(r->result.milter), run_name(r));
	run_finish(r);
}

/* The milter failed: milter_default_action, or on to the next one. */
static void run_fail(struct milter_run *r, const char *fmt, const char *detail)
{
	char why[300];
	snprintf(why, sizeof(why), fmt, detail);
	log_warn("smtpd", "milter %s: %s%s", run_name(r), why,
	         r->lenient ? " (our own network: the milter is skipped)" : "");
	if (r->lenient || r->set->default_action == MILTER_DEFAULT_ACCEPT) {
		run_next(r);
		return;
	}
	if (r->set->default_action == MILTER_DEFAULT_QUARANTINE) {
		r->result.failed = true;
		snprintf(r->result.quarantine, sizeof(r->result.quarantine), "milter failed: %s", why);
		str_copy(r->result.milter, sizeof(r->result.milter), run_name(r));
		run_next(r); /* the next milters still judge it */
		return;
	}
	r->result.failed = true;
	if (r->set->default_action == MILTER_DEFAULT_REJECT)
		run_verdict(r, MILTER_VERDICT_REJECT, 550, "5.7.1", "Command rejected");
	else
		run_verdict(r, MILTER_VERDICT_TEMPFAIL, 451, "4.7.1",
		            "Service unavailable - try again later");
}

static void run_arm(struct milter_run *r, int64_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	evtimer_add(r->timer, &tv);
}

static void put_macros(struct evbuffer *out, char stage, const char *const *kv, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(kv[i]) + 1;
	char *data = xmalloc(len), *p = data;
	*p++ = stage;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(kv[i]) + 1;
		memcpy(p, kv[i], l);
		p += l;
	}
	milter_proto_put(out, MILTER_CMD_MACRO, data, len);
	free(data);
}

static void put_connect(struct milter_run *r, struct evbuffer *out)
{
	const struct milter_message *m = r->msg;
	char port[8];
	snprintf(port, sizeof(port), "%u", m->client_port);
	const char *macros[] = {"j",
	                        m->myhostname,
	                        "{daemon_name}",
	                        "mxd",
	                        "v",
	                        "mxd",
	                        "{client_addr}",
	                        m->client_addr,
	                        "{client_name}",
	                        m->client_name,
	                        "{client_port}",
	                        port};
	put_macros(out, MILTER_CMD_CONNECT, macros, MXD_ARRAY_SIZE(macros));
	struct evbuffer *data = xevbuffer_new();
	evbuffer_add(data, m->client_name, strlen(m->client_name) + 1);
	char family = m->client_family == AF_INET ? '4' : m->client_family == AF_INET6 ? '6' : 'U';
	evbuffer_add(data, &family, 1);
	if (family != 'U') {
		uint16_t p = htons((uint16_t)m->client_port);
		evbuffer_add(data, &p, 2);
		evbuffer_add(data, m->client_addr, strlen(m->client_addr) + 1);
	}
	size_t len = evbuffer_get_length(data);
	milter_proto_put(out, MILTER_CMD_CONNECT, evbuffer_pullup(data, -1), len);
	evbuffer_free(data);
}

/* Send the next step (or several that want no reply) and wait for a reply, or go to the next milter
 * when nothing is left. */
static void run_proceed(struct milter_run *r)
{
	struct evbuffer *out = bufferevent_get_output(r->bev);
	struct milter_message *m = r->msg;
	bool leadspc = (r->protocol & MILTER_P_HDR_LEADSPC) != 0;
	for (;;) {
		enum milter_step step = r->step;
		bool sent = false, reply = false;
		switch (step) {
		case STEP_CONNECT:
			if (!(r->protocol & MILTER_P_NOCONNECT)) {
				put_connect(r, out);
				sent = true, reply = !(r->protocol & MILTER_P_NR_CONN);
			}
			r->step = STEP_HELO;
			break;
		case STEP_HELO:
			if (!(r->protocol & MILTER_P_NOHELO) && m->helo[0] != '\0') {
				const char *s[] = {m->helo};
				milter_proto_put_strings(out, MILTER_CMD_HELO, s, 1);
				sent = true, reply = !(r->protocol & MILTER_P_NR_HELO);
			}
			r->step = STEP_MAIL;
			break;
		case STEP_MAIL:
			if (!(r->protocol & MILTER_P_NOMAIL)) {
				char *addr = xasprintf("<%s>", m->sender);
				const char *macros[] = {"i",
				                        m->queue_id,
				                        "{mail_addr}",
				                        m->sender,
				                        "{auth_type}",
				                        "",
				                        "{auth_authen}",
				                        "",
				                        "{auth_author}",
				                        ""};
				put_macros(out, MILTER_CMD_MAIL, macros, MXD_ARRAY_SIZE(macros));
				const char *s[] = {addr};
				milter_proto_put_strings(out, MILTER_CMD_MAIL, s, 1);
				free(addr);
				sent = true, reply = !(r->protocol & MILTER_P_NR_MAIL);
			}
			r->step = STEP_RCPT;
			r->sub = 0;
			break;
		case STEP_RCPT:
			if (r->protocol & MILTER_P_NORCPT || r->sub >= m->nrcpt) {
				r->step = STEP_DATA;
				break;
			}
			{
				const char *rcpt = m->rcpts[r->sub++];
				char *addr = xasprintf("<%s>", rcpt);
				const char *macros[] = {"{rcpt_addr}", rcpt};
				put_macros(out, MILTER_CMD_RCPT, macros, MXD_ARRAY_SIZE(macros));
				const char *s[] = {addr};
				milter_proto_put_strings(out, MILTER_CMD_RCPT, s, 1);
				free(addr);
				sent = true, reply = !(r->protocol & MILTER_P_NR_RCPT);
			}
			break;
		case STEP_DATA:
			if (!(r->protocol & MILTER_P_NODATA)) {
				const char *macros[] = {"i", m->queue_id};
				put_macros(out, MILTER_CMD_DATA, macros, MXD_ARRAY_SIZE(macros));
				milter_proto_put(out, MILTER_CMD_DATA, NULL, 0);
				sent = true, reply = !(r->protocol & MILTER_P_NR_DATA);
			}
			r->step = STEP_HEADER;
			r->sub = 0;
			break;
		case STEP_HEADER:
			if (r->protocol & MILTER_P_NOHDRS || r->sub >= m->nheader) {
				r->step = STEP_EOH;
				break;
			}
			{
				const struct milter_header *h = &m->headers[r->sub++];
				char *v = milter_message_header_value(h, leadspc);
				const char *s[] = {h->name, v};
				milter_proto_put_strings(out, MILTER_CMD_HEADER, s, 2);
				free(v);
				sent = true, reply = !(r->protocol & MILTER_P_NR_HDR);
			}
			break;
		case STEP_EOH:
			if (!(r->protocol & MILTER_P_NOEOH)) {
				milter_proto_put(out, MILTER_CMD_EOH, NULL, 0);
				sent = true, reply = !(r->protocol & MILTER_P_NR_EOH);
			}
			r->step = STEP_BODY;
			r->sub = 0;
			break;
		case STEP_BODY: {
			size_t off;
			struct evbuffer *body = (struct evbuffer *)milter_message_body(m, &off);
			size_t len = evbuffer_get_length(body);
			if (r->protocol & MILTER_P_NOBODY || off + r->sub >= len) {
				r->step = STEP_EOB;
				break;
			}
			static char chunk[MILTER_PROTO_CHUNK_MAX];
			struct evbuffer_ptr ptr;
			evbuffer_ptr_set(body, &ptr, off + r->sub, EVBUFFER_PTR_SET);
			ev_ssize_t n = evbuffer_copyout_from(body, &ptr, chunk, sizeof(chunk));
			if (n <= 0) {
				r->step = STEP_EOB;
				break;
			}
			r->sub += (size_t)n;
			milter_proto_put(out, MILTER_CMD_BODY, chunk, (size_t)n);
			sent = true, reply = !(r->protocol & MILTER_P_NR_BODY);
			break;
		}
		case STEP_EOB: {
			const char *macros[] = {"i", m->queue_id};
			put_macros(out, MILTER_CMD_BODYEOB, macros, MXD_ARRAY_SIZE(macros));
			milter_proto_put(out, MILTER_CMD_BODYEOB, NULL, 0);
			sent = true, reply = true;
			r->body_replaced = false;
			break;
		}
		default:
			abort();
		}
		(void)sent;
		if (reply) {
			r->answering = step;
			r->waiting = true;
			run_arm(r, step >= STEP_HEADER ? r->set->content_ms : r->set->command_ms);
			return;
		}
	}
}

static bool allowed(struct milter_run *r, uint32_t action)
{
	return r->answering == STEP_EOB && (r->actions & action) != 0;
}

/* One reply. Returns false when the run moved on (next milter, or finished: r may be gone). */
static bool run_reply(struct milter_run *r, const struct milter_reply *rep)
{
	struct milter_message *m = r->msg;
	bool leadspc = (r->protocol & MILTER_P_HDR_LEADSPC) != 0;
	char code_s[8];
	if (!r->waiting) {
		run_fail(r, "unexpected packet '%s' while no reply was due", (char[]){(char)rep->type, 0});
		return false;
	}
	if (rep->type == MILTER_REPLY_OPTNEG) {
		if (r->answering != STEP_OPTNEG) {
			run_fail(r, "option negotiation after %s", step_names[r->answering]);
			return false;
		}
		if (rep->version < 2) {
			run_fail(r, "protocol version %s is too old", rep->version == 1 ? "1" : "0");
			return false;
		}
		r->actions = rep->actions & MILTER_ACT_ALL;
		r->protocol = rep->protocol & MILTER_P_ALL;
		r->waiting = false;
		r->step = STEP_CONNECT;
		run_proceed(r);
		return true;
	}
	if (r->answering == STEP_OPTNEG) {
		run_fail(r, "%s instead of option negotiation", "another reply");
		return false;
	}
	switch (rep->type) {
	case MILTER_REPLY_CONTINUE:
		r->waiting = false;
		if (r->answering == STEP_EOB) {
			run_next(r);
			return false;
		}
		run_proceed(r);
		return true;
	case MILTER_REPLY_ACCEPT:
		run_next(r);
		return false;
	case MILTER_REPLY_PROGRESS:
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_SKIP:
		if (r->answering != STEP_BODY) {
			run_fail(r, "skip after %s", step_names[r->answering]);
			return false;
		}
		r->waiting = false;
		r->step = STEP_EOB;
		run_proceed(r);
		return true;
	case MILTER_REPLY_REJECT:
		run_verdict(r, MILTER_VERDICT_REJECT, 550, "5.7.1", "Command rejected");
		return false;
	case MILTER_REPLY_TEMPFAIL:
		run_verdict(r, MILTER_VERDICT_TEMPFAIL, 451, "4.7.1",
		            "Service unavailable - try again later");
		return false;
	case MILTER_REPLY_REPLYCODE:
		snprintf(code_s, sizeof(code_s), "%d.7.1", rep->code / 100);
		run_verdict(r, rep->code >= 500 ? MILTER_VERDICT_REJECT : MILTER_VERDICT_TEMPFAIL, rep->code,
		            rep->enh[0] != '\0' ? rep->enh : code_s,
		            rep->text[0] != '\0' ? rep->text : "Command rejected");
		return false;
	case MILTER_REPLY_DISCARD:
		run_verdict(r, MILTER_VERDICT_DISCARD, 250, "2.0.0", "discarded");
		return false;
	case MILTER_REPLY_SHUTDOWN:
	case MILTER_REPLY_CONN_FAIL:
		run_fail(r, "%s", rep->type == MILTER_REPLY_SHUTDOWN ? "shut down" : "connection failure");
		return false;
	case MILTER_REPLY_ADDHEADER:
	case MILTER_REPLY_INSHEADER:
		if (!allowed(r, MILTER_ACT_ADDHDRS))
			break;
		if (rep->type == MILTER_REPLY_ADDHEADER)
			milter_message_add_header(m, rep->hname, rep->hvalue, leadspc);
		else
			milter_message_insert_header(m, rep->hindex, rep->hname, rep->hvalue, leadspc);
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_CHGHEADER:
		if (!allowed(r, MILTER_ACT_CHGHDRS))
			break;
		milter_message_change_header(m, rep->hindex, rep->hname, rep->hvalue, leadspc);
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_ADDRCPT:
	case MILTER_REPLY_ADDRCPT_PAR:
		if (!allowed(r,
		             rep->type == MILTER_REPLY_ADDRCPT ? MILTER_ACT_ADDRCPT : MILTER_ACT_ADDRCPT_PAR))
			break;
		if (rep->addr[0] == '\0') {
			run_fail(r, "%s", "adds an empty recipient");
			return false;
		}
		milter_message_add_rcpt(m, rep->addr);
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_DELRCPT:
		if (!allowed(r, MILTER_ACT_DELRCPT))
			break;
		if (milter_message_del_rcpt(m, rep->addr) < 0)
			log_info("smtpd", "%s: milter %s: cannot delete recipient <%s>: no such recipient",
			         m->queue_id, run_name(r), rep->addr);
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_CHGFROM:
		if (!allowed(r, MILTER_ACT_CHGFROM))
			break;
		milter_message_set_sender(m, rep->addr);
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_REPLBODY:
		if (!allowed(r, MILTER_ACT_CHGBODY))
			break;
		milter_message_replace_body(m, rep->body, rep->body_len, !r->body_replaced);
		r->body_replaced = true;
		run_arm(r, r->set->content_ms);
		return true;
	case MILTER_REPLY_QUARANTINE:
		if (!allowed(r, MILTER_ACT_QUARANTINE))
			break;
		str_copy(r->result.quarantine, sizeof(r->result.quarantine), rep->text);
		str_copy(r->result.milter, sizeof(r->result.milter), run_name(r));
		run_arm(r, r->set->content_ms);
		return true;
	default:
		break;
	}
	char what[80];
	snprintf(what, sizeof(what), "'%c' after %s", (char)rep->type, step_names[r->answering]);
	run_fail(r, "unexpected or unnegotiated reply %s", what);
	return false;
}

static void run_read_cb(struct bufferevent *bev, void *ctx)
{
	struct milter_run *r = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (avail < 4)
			return;
		uint8_t hdr[4];
		evbuffer_copyout(in, hdr, 4);
		uint32_t want =
		    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		size_t need = want <= MILTER_PROTO_PACKET_MAX ? 4 + (size_t)want : 4;
		const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)(avail < need ? avail : need));
		uint8_t cmd;
		const uint8_t *data;
		size_t data_len, packet_len;
		const char *error = NULL;
		int rc = milter_proto_frame(buf, avail < need ? avail : need, &cmd, &data, &data_len,
		                            &packet_len, &error);
		if (rc == 1)
			return;
		struct milter_reply rep;
		if (rc < 0 || milter_proto_parse(cmd, data, data_len, &rep, &error) < 0) {
			run_fail(r, "malformed reply: %s", error);
			return;
		}
		bool more = run_reply(r, &rep); /* rep points into in: drained only after */
		if (!more)
			return; /* bev is gone */
		evbuffer_drain(in, packet_len);
	}
}

static void run_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct milter_run *r = ctx;
	if (what & BEV_EVENT_CONNECTED) {
		r->step = STEP_OPTNEG;
		milter_proto_put_optneg(bufferevent_get_output(bev), r->set->version, MILTER_ACT_ALL,
		                        MILTER_P_ALL);
		r->answering = STEP_OPTNEG;
		r->waiting = true;
		run_arm(r, r->set->command_ms);
		return;
	}
	int err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_EOF)
		run_fail(r, "connection closed %s",
		         r->step == STEP_CONNECTING ? "while connecting" : "by the milter");
	else
		run_fail(r, "%s",
		         r->step == STEP_CONNECTING && err == 0 ? "cannot connect"
		                                                : evutil_socket_error_to_string(err));
}

static void run_timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct milter_run *r = ctx;
	if (!r->started) {
		r->started = true;
		run_begin(r);
		return;
	}
	run_fail(r, "timeout waiting for the reply to %s",
	         step_names[r->step == STEP_CONNECTING ? STEP_CONNECTING : r->answering]);
}

static void run_begin(struct milter_run *r)
{
	if (r->idx >= r->set->n) {
		r->result.verdict = MILTER_VERDICT_ACCEPT;
		run_finish(r);
		return;
	}
	const struct milter_spec *spec = &r->set->specs[r->idx];
	r->step = STEP_CONNECTING;
	r->answering = STEP_CONNECTING;
	r->actions = r->protocol = 0;
	r->body_replaced = false;
	r->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL) {
		run_fail(r, "%s", "cannot make a socket");
		return;
	}
	bufferevent_setcb(r->bev, run_read_cb, NULL, run_event_cb, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	run_arm(r, r->set->connect_ms);
	if (bufferevent_socket_connect(r->bev, (const struct sockaddr *)&spec->sa, (int)spec->salen) < 0)
		run_fail(r, "cannot connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

struct milter_run *milter_run_start(struct event_base *base, const struct milter_settings *settings,
                                    struct milter_message *msg, bool lenient, milter_done_cb *cb, void *ctx)
{
	struct milter_run *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->settings = *settings;
	r->settings.specs = xmalloc(settings->n * sizeof(*settings->specs) + 1);
	memcpy(r->settings.specs, settings->specs, settings->n * sizeof(*settings->specs));
	r->set = &r->settings;
	r->msg = msg;
	r->lenient = lenient;
	r->cb = cb;
	r->ctx = ctx;
	r->timer = evtimer_new(base, run_timer_cb, r);
	struct timeval zero = {0, 0};
	evtimer_add(r->timer, &zero); /* never from inside this call */
	return r;
}

void milter_run_cancel(struct milter_run **rp)
{
	struct milter_run *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	if (r->bev != NULL) {
		bufferevent_free(r->bev); /* no goodbye: the milter sees an abort */
		r->bev = NULL;
	}
	event_free(r->timer);
	free(r->settings.specs);
	free(r);
}
