/* spf_helper: see spf_helper.h. Single-threaded, blocking I/O on the socket: mxd keeps the clock. */
#include "mxd/smtpd/spf_helper.h"

#include "mxd/smtpd/spf.h"
#include "mxd/smtpd/spf_grammar.h"
#include "mxd/smtpd/spf_proto.h"
#include "mxd/smtpd/spf_sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_record.h>

#define DNS_LABEL_MAX 63
/* Our explanation when the domain gives none (the SPF macro language: %_ is a space). */
#define DEFAULT_EXPLANATION "%{o}%_does%_not%_designate%_%{c}%_as%_permitted%_sender"

static unsigned char rbuf[SPF_PROTO_FRAME_MAX];
static struct spf_proto_buf wbuf;
static struct spf_proto_answer answer;

/* Something is wrong with the link to mxd (or mxd is gone): nothing to do but leave. */
__attribute__((noreturn)) static void helper_exit(const char *why)
{
	if (why != NULL) {
		char line[200];
		int n = snprintf(line, sizeof(line), "mxd spf helper: %s\n", why);
		if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
			_exit(1);
	}
	_exit(why != NULL ? 1 : 0); /* no atexit handlers: the sandbox would not let them run */
}

static void read_full(unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = read(SPF_HELPER_FD, p, len);
		if (n == 0)
			helper_exit(NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			helper_exit("read failed");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* The next frame from mxd into rbuf; its length. */
static size_t read_frame(void)
{
	read_full(rbuf, SPF_PROTO_HEADER);
	size_t payload = (size_t)rbuf[2] << 8 | rbuf[3];
	if (rbuf[1] != 0 || payload > SPF_PROTO_PAYLOAD_MAX)
		helper_exit("malformed frame header");
	read_full(rbuf + SPF_PROTO_HEADER, payload);
	return SPF_PROTO_HEADER + payload;
}

static void send_frame(void)
{
	spf_proto_end(&wbuf);
	if (wbuf.overflow)
		helper_exit("frame too long");
	const unsigned char *p = wbuf.data;
	size_t len = wbuf.len;
	while (len > 0) {
		ssize_t n = write(SPF_HELPER_FD, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			helper_exit(NULL);
		p += n;
		len -= (size_t)n;
	}
}

/* --- the DNS layer libspf2 calls: each lookup is a QUERY to mxd ---------------------------------- */

/* The uncompressed wire-format name data[0..len) as text without the final dot into out. 0, or -1 when
 * malformed, the root, or holding a control character or a dot inside a label. */
static int wire_name(const unsigned char *data, size_t len, char *out, size_t size)
{
	size_t pos = 0, o = 0;
	for (;;) {
		if (pos >= len)
			return -1;
		size_t label = data[pos++];
		if (label == 0)
			break;
		if (label > DNS_LABEL_MAX || pos + label > len)
			return -1;
		if (o != 0)
			out[o++] = '.';
		for (size_t i = 0; i < label; i++) {
			unsigned char c = data[pos++];
			if (c < 0x20 || c == 0x7f || c == '.' || o + 2 >= size)
				return -1;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* One answer record in libspf2's form: the next slot of rr, or nothing when it does not parse. */
static void rr_add(SPF_dns_rr_t *rr, int type, const unsigned char *data, size_t len)
{
	char text[SPF_PROTO_NAME_MAX + 2];
	int i = rr->num_rr;
	switch (type) {
	case ns_t_a:
		if (len != sizeof(struct in_addr) || SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
			return;
		memcpy(&rr->rr[i]->a, data, len);
		break;
	case ns_t_aaaa:
		if (len != sizeof(struct in6_addr) || SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
			return;
		memcpy(&rr->rr[i]->aaaa, data, len);
		break;
	case ns_t_mx:
	case ns_t_ptr: {
		size_t skip = type == ns_t_mx ? 2 : 0; /* MX: the preference comes first */
		if (len <= skip || wire_name(data + skip, len - skip, text, sizeof(text)) < 0 ||
		    SPF_dns_rr_buf_realloc(rr, i, strlen(text) + 1) != SPF_E_SUCCESS)
			return;
		strcpy(type == ns_t_mx ? rr->rr[i]->mx : rr->rr[i]->ptr, text);
		break;
	}
	default:
		return;
	}
	rr->num_rr++;
}

static SPF_dns_rr_t *rr_new(SPF_dns_server_t *layer, const char *name, ns_type type, SPF_dns_stat_t herrno)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(layer, name, type, 0, herrno);
	if (rr == NULL)
		abort(); /* out of memory, as xmalloc */
	return rr;
}

/* The character-strings of one TXT record joined (RFC 7208 3.3), newly allocated; its length in *len_r. */
static char *txt_join(const unsigned char *data, size_t len, size_t *len_r)
{
	char *joined = malloc(len + 1);
	if (joined == NULL)
		abort(); /* as xmalloc */
	size_t pos = 0, o = 0;
	while (pos < len) {
		size_t n = data[pos++];
		if (n > len - pos)
			n = len - pos;
		memcpy(joined + o, data + pos, n);
		o += n;
		pos += n;
	}
	joined[o] = '\0';
	*len_r = o;
	return joined;
}

/* One TXT record text[0..len) into the next slot of rr. libspf2 (1.2.10) reads a literal space in an
 * explanation (exp=) as a broken '%' escape: a TXT record that is not an SPF record goes with its spaces
 * written as the macro "%_", which means the same (RFC 7208 7.1). */
static void rr_add_txt(SPF_dns_rr_t *rr, const char *text, size_t len, bool spf_record)
{
	int i = rr->num_rr;
	size_t spaces = 0;
	for (size_t k = 0; !spf_record && k < len; k++)
		spaces += text[k] == ' ';
	if (SPF_dns_rr_buf_realloc(rr, i, len + spaces + 1) != SPF_E_SUCCESS)
		return;
	char *out = rr->rr[i]->txt;
	for (size_t k = 0, w = 0; k <= len; k++) {
		if (!spf_record && text[k] == ' ') {
			out[w++] = '%';
			out[w++] = '_';
		} else {
			out[w++] = text[k];
		}
	}
	rr->num_rr++;
}

/* --- RFC 7208's processing limits (4.6.4), kept per check -------------------------------------------
 * At most 10 terms that query DNS (include, a, mx, ptr, exists, redirect: each TXT lookup after the
 * check's first whose answer holds an SPF record, each A/AAAA lookup that is not for a name an MX or PTR
 * answer gave, each MX lookup, the first PTR lookup), at most 2 lookups that find nothing (NXDOMAIN or no
 * data; TXT lookups aside), at most 10 names in an MX answer (more: permerror), the first 10 PTR names in DNS
 * order of their names (more are dropped; sorted, so that the verdict never depends on the order answers come
 * in). Past a limit the check is a permerror, and nothing more is asked. */
#define TERMS_MAX 10
#define VOIDS_MAX 2

typedef char name_buf[SPF_PROTO_NAME_MAX + 2];

static struct {
	int family; /* the client's */
	unsigned terms, voids, txt_lookups;
	bool ptr_asked;
	bool follow_ptr;                      /* follow came from a PTR answer */
	const char *permerror;                /* set: the verdict is permerror */
	name_buf follow[SPF_PROTO_NAMES_MAX]; /* names the last MX or PTR answer gave */
	size_t nfollow;
	char problem[SPF_PROTO_TEXT_MAX + 1];
} budget;

static name_buf names[SPF_PROTO_RR_MAX];

static void budget_reset(int family)
{
	memset(&budget, 0, sizeof(budget));
	budget.family = family;
}

static void budget_fail(const char *why)
{
	if (budget.permerror == NULL)
		budget.permerror = why;
}

static bool budget_term(void)
{
	if (++budget.terms > TERMS_MAX)
		budget_fail("more than 10 DNS-querying terms (RFC 7208 4.6.4)");
	return budget.permerror == NULL;
}

static void budget_void(void)
{
	if (++budget.voids > VOIDS_MAX)
		budget_fail("more than 2 void lookups (RFC 7208 4.6.4)");
}

static bool name_in(const name_buf *list, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncasecmp(list[i], name, len) == 0)
			return true;
	return false;
}

/* Ask mxd for (name[0..len), type): the outcome, with the records in answer. */
static enum spf_proto_outcome ask(const char *name, size_t len, ns_type type)
{
	spf_proto_begin(&wbuf, SPF_PROTO_QUERY);
	spf_proto_put_u16(&wbuf, (unsigned)type);
	spf_proto_put_u8(&wbuf, (unsigned)len);
	spf_proto_put_bytes(&wbuf, name, len);
	send_frame();
	size_t flen = read_frame();
	const char *error;
	if (spf_proto_parse_answer(rbuf, flen, &answer, &error) < 0)
		helper_exit(error);
	return answer.outcome;
}

static SPF_dns_stat_t herrno_of(enum spf_proto_outcome outcome)
{
	return outcome == SPF_PROTO_DNS_NXDOMAIN ? HOST_NOT_FOUND : TRY_AGAIN;
}

static int name_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const name_buf *)a, *(const name_buf *)b);
}

/* The names of an MX or PTR answer into names[]: their count. */
static size_t answer_names(ns_type type)
{
	size_t n = 0, skip = type == ns_t_mx ? 2 : 0; /* MX: the preference comes first */
	for (size_t i = 0; i < answer.count; i++)
		if (answer.rdlen[i] > skip && wire_name(answer.rdata[i] + skip, answer.rdlen[i] - skip,
		                                        names[n], sizeof(names[n])) == 0)
			n++;
	return n;
}

/* An MX or PTR lookup: its names (within the limits), which the A/AAAA lookups that follow may use. */
static int names_ask(const char *name, size_t len, ns_type type, size_t *n_r)
{
	enum spf_proto_outcome outcome = ask(name, len, type);
	budget.nfollow = 0;
	*n_r = 0;
	if (outcome != SPF_PROTO_DNS_OK) {
		if (outcome == SPF_PROTO_DNS_NXDOMAIN)
			budget_void();
		return outcome == SPF_PROTO_DNS_NXDOMAIN ? HOST_NOT_FOUND : TRY_AGAIN;
	}
	size_t n = answer_names(type);
	if (n == 0) {
		budget_void();
		return NO_DATA;
	}
	if (type == ns_t_mx && n > SPF_PROTO_NAMES_MAX) {
		budget_fail("more than 10 MX names (RFC 7208 4.6.4)");
		return HOST_NOT_FOUND;
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	if (n > SPF_PROTO_NAMES_MAX)
		n = SPF_PROTO_NAMES_MAX; /* PTR: the rest are ignored (RFC 7208 4.6.4) */
	for (size_t i = 0; i < n; i++)
		memcpy(budget.follow[i], names[i], sizeof(names[i]));
	budget.nfollow = n;
	budget.follow_ptr = type == ns_t_ptr;
	*n_r = n;
	return NETDB_SUCCESS;
}

/* An A or AAAA lookup; the records into rr when not NULL. NETDB_SUCCESS, or what was not found. */
static int addr_ask(SPF_dns_rr_t *rr, const char *name, size_t len, ns_type type)
{
	enum spf_proto_outcome outcome = ask(name, len, type);
	if (outcome != SPF_PROTO_DNS_OK) {
		if (outcome == SPF_PROTO_DNS_NXDOMAIN)
			budget_void();
		return herrno_of(outcome);
	}
	size_t want = type == ns_t_a ? sizeof(struct in_addr) : sizeof(struct in6_addr), found = 0;
	for (size_t i = 0; i < answer.count; i++) {
		if (answer.rdlen[i] != want)
			continue;
		found++;
		if (rr != NULL)
			rr_add(rr, type, answer.rdata[i], answer.rdlen[i]);
	}
	if (found == 0) {
		budget_void();
		return NO_DATA;
	}
	return NETDB_SUCCESS;
}

/* exists:<target><suffix> (spf_grammar.h): "a" or "mx" with a CIDR length of 0. Any address of the
 * client's family for the target (its MX hosts) is a match: one A record 127.0.0.1 for libspf2. */
static SPF_dns_rr_t *cidr0_lookup(SPF_dns_server_t *layer, const char *qname, const char *name, size_t len,
                                  bool mx)
{
	ns_type atype = budget.family == AF_INET6 ? ns_t_aaaa : ns_t_a;
	int herrno = HOST_NOT_FOUND;
	if (!budget_term())
		return rr_new(layer, qname, ns_t_a, HOST_NOT_FOUND);
	if (!mx) {
		herrno = addr_ask(NULL, name, len, atype);
	} else {
		size_t n;
		herrno = names_ask(name, len, ns_t_mx, &n);
		if (herrno == NETDB_SUCCESS) {
			herrno = HOST_NOT_FOUND;
			for (size_t i = 0; i < n && budget.permerror == NULL; i++) {
				int h = addr_ask(NULL, budget.follow[i], strlen(budget.follow[i]), atype);
				if (h == NETDB_SUCCESS || h == TRY_AGAIN) {
					herrno = h;
					break;
				}
			}
		}
	}
	if (budget.permerror != NULL || herrno != NETDB_SUCCESS)
		return rr_new(layer, qname, ns_t_a, herrno == TRY_AGAIN ? TRY_AGAIN : HOST_NOT_FOUND);
	SPF_dns_rr_t *rr = rr_new(layer, qname, ns_t_a, NETDB_SUCCESS);
	static const unsigned char loopback[4] = {127, 0, 0, 1};
	rr_add(rr, ns_t_a, loopback, sizeof(loopback));
	return rr;
}

/* Is name[0..len) one of spf_grammar's exists targets? Its kind (1 a, 2 mx), the target's length. */
static int cidr0_kind(const char *name, size_t len, size_t *target_len_r)
{
	static const struct {
		const char *suffix;
		int family, kind;
	} kinds[] = {
	    {SPF_GRAMMAR_SUFFIX_A4, AF_INET, 1},
	    {SPF_GRAMMAR_SUFFIX_A6, AF_INET6, 1},
	    {SPF_GRAMMAR_SUFFIX_MX4, AF_INET, 2},
	    {SPF_GRAMMAR_SUFFIX_MX6, AF_INET6, 2},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t sl = strlen(kinds[i].suffix);
		if (kinds[i].family == budget.family && len > sl &&
		    strncasecmp(name + len - sl, kinds[i].suffix, sl) == 0) {
			*target_len_r = len - sl;
			return kinds[i].kind;
		}
	}
	return 0;
}

/* A TXT lookup: SPF records are checked against RFC 7208's grammar and rewritten (spf_grammar.h); one
 * that breaks it makes the check a permerror (and reaches libspf2 as "v=spf1"). */
static SPF_dns_rr_t *txt_lookup(SPF_dns_server_t *layer, const char *name, size_t len)
{
	bool first = budget.txt_lookups++ == 0;
	enum spf_proto_outcome outcome = ask(name, len, ns_t_txt);
	if (outcome != SPF_PROTO_DNS_OK)
		return rr_new(layer, name, ns_t_txt, herrno_of(outcome));
	size_t records = 0;
	for (size_t i = 0; i < answer.count; i++) {
		size_t tl;
		char *text = txt_join(answer.rdata[i], answer.rdlen[i], &tl);
		records += spf_grammar_is_record(text, tl);
		free(text);
	}
	/* an include or a redirect; an explanation (exp=) holds no SPF record, and an include or redirect
	 * target without one is an error of its own (RFC 7208 5.2, 6.1) */
	if (!first && records > 0 && !budget_term())
		return rr_new(layer, name, ns_t_txt, HOST_NOT_FOUND);
	SPF_dns_rr_t *rr = rr_new(layer, name, ns_t_txt, NETDB_SUCCESS);
	for (size_t i = 0; i < answer.count; i++) {
		size_t tl;
		char *text = txt_join(answer.rdata[i], answer.rdlen[i], &tl);
		if (records != 1 || !spf_grammar_is_record(text, tl)) {
			/* several SPF records are libspf2's permerror already */
			rr_add_txt(rr, text, tl, spf_grammar_is_record(text, tl));
			free(text);
			continue;
		}
		size_t size = SPF_GRAMMAR_OUT_SIZE(tl);
		char *out = malloc(size);
		if (out == NULL)
			abort();
		const char *error;
		if (spf_grammar_rewrite(text, tl, budget.family, out, size, &error) < 0) {
			snprintf(budget.problem, sizeof(budget.problem), "SPF record of %.*s: %s", (int)len,
			         name, error);
			budget_fail(budget.problem);
			strcpy(out, "v=spf1");
		}
		rr_add_txt(rr, out, strlen(out), true);
		free(out);
		free(text);
	}
	if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
	return rr;
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *layer, const char *name, ns_type type, int should_cache)
{
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
	case ns_t_mx:
	case ns_t_txt:
	case ns_t_ptr:
		break;
	default:
		/* the SPF RR type (99) is obsolete (RFC 7208 3.1): answer "no such data" without asking */
		return rr_new(layer, name, type, NO_DATA);
	}
	size_t len = strlen(name), target_len;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (budget.permerror != NULL || !spf_proto_name_ok(name, len))
		return rr_new(layer, name, type, HOST_NOT_FOUND); /* past a limit, or no name: not asked */
	if (type == ns_t_txt)
		return txt_lookup(layer, name, len);
	if (type == ns_t_a) {
		int kind = cidr0_kind(name, len, &target_len);
		if (kind != 0)
			return cidr0_lookup(layer, name, name, target_len, kind == 2);
	}
	bool follow =
	    (type == ns_t_a || type == ns_t_aaaa) && name_in(budget.follow, budget.nfollow, name, len);
	bool term = type == ns_t_mx || (type == ns_t_ptr && !budget.ptr_asked) ||
	            ((type == ns_t_a || type == ns_t_aaaa) && !follow);
	if (type == ns_t_ptr)
		budget.ptr_asked = true;
	if (term && !budget_term())
		return rr_new(layer, name, type, HOST_NOT_FOUND);
	SPF_dns_rr_t *rr;
	if (type == ns_t_mx || type == ns_t_ptr) {
		size_t n;
		int herrno = names_ask(name, len, type, &n);
		rr = rr_new(layer, name, type, (SPF_dns_stat_t)herrno);
		for (size_t i = 0; i < n; i++) {
			if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, strlen(budget.follow[i]) + 1) !=
			    SPF_E_SUCCESS)
				break;
			strcpy(type == ns_t_mx ? rr->rr[rr->num_rr]->mx : rr->rr[rr->num_rr]->ptr,
			       budget.follow[i]);
			rr->num_rr++;
		}
		return rr;
	}
	rr = rr_new(layer, name, type, NETDB_SUCCESS);
	int herrno = addr_ask(rr, name, len, type);
	/* a name a PTR answer gave whose address lookup fails is skipped (RFC 7208 5.5), not a temperror */
	if (herrno == TRY_AGAIN && follow && budget.follow_ptr)
		herrno = HOST_NOT_FOUND;
	rr->herrno = (SPF_dns_stat_t)herrno;
	return rr;
}

/* --- one check ---------------------------------------------------------------------------------- */

/* The first error libspf2 recorded, else its text for err. */
static const char *response_problem(SPF_response_t *resp, SPF_errcode_t err)
{
	for (int i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *e = SPF_response_message(resp, i);
		if (e->is_error && e->message != NULL)
			return e->message;
	}
	return SPF_strerror(err);
}

/* The verdict when libspf2 found no record to evaluate (RFC 7208 4.5): none, unless the lookup failed
 * (temperror) or the record is there but broken (permerror: several records, a syntax error). */
static enum spf_status no_record_status(SPF_response_t *resp, SPF_errcode_t err)
{
	if (resp->result == SPF_RESULT_PERMERROR)
		return SPF_STATUS_PERMERROR;
	if (err == SPF_E_DNS_ERROR)
		return SPF_STATUS_TEMPERROR;
	for (int i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *e = SPF_response_message(resp, i);
		if (e->is_error && e->code != SPF_E_NOT_SPF && e->code != SPF_E_DNS_ERROR)
			return SPF_STATUS_PERMERROR; /* the record did not compile */
	}
	return SPF_STATUS_NONE;
}

static enum spf_status status_of(SPF_result_t result)
{
	switch (result) {
	case SPF_RESULT_PASS:
		return SPF_STATUS_PASS;
	case SPF_RESULT_FAIL:
		return SPF_STATUS_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_STATUS_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return SPF_STATUS_NEUTRAL;
	case SPF_RESULT_NONE:
		return SPF_STATUS_NONE;
	case SPF_RESULT_TEMPERROR:
		return SPF_STATUS_TEMPERROR;
	default:
		return SPF_STATUS_PERMERROR;
	}
}

static void check_run(SPF_server_t *server, const struct spf_proto_check *c)
{
	static char sender[SPF_PROTO_IDENT_MAX + 16];
	bool helo_identity = c->sender[0] == '\0';
	if (helo_identity)
		snprintf(sender, sizeof(sender), "postmaster@%s", c->helo);
	else
		snprintf(sender, sizeof(sender), "%s", c->sender);

	SPF_request_t *req = SPF_request_new(server);
	if (c->family == AF_INET) {
		struct in_addr a;
		memcpy(&a, c->addr, sizeof(a));
		SPF_request_set_ipv4(req, a);
	} else {
		struct in6_addr a;
		memcpy(&a, c->addr, sizeof(a));
		SPF_request_set_ipv6(req, a);
	}
	if (c->helo[0] != '\0')
		SPF_request_set_helo_dom(req, c->helo);
	SPF_request_set_env_from(req, sender);
	/* What SPF_request_query_mailfrom() does, without its free pass for loopback clients. */
	req->use_helo = helo_identity;
	req->cur_dom = req->env_from_dp;
	budget_reset(c->family);
	SPF_response_t *resp = SPF_response_new(req);
	SPF_record_t *record = NULL;
	enum spf_status status;
	SPF_errcode_t err = SPF_server_get_record(server, req, resp, &record);
	if (err == SPF_E_SUCCESS && record != NULL) {
		resp->spf_record_exp = record;
		err = SPF_record_interpret(record, req, resp, 0);
		resp->spf_record_exp = NULL;
		SPF_record_free(record);
		status = status_of(resp->result);
	} else {
		if (record != NULL)
			SPF_record_free(record);
		status = no_record_status(resp, err);
	}
	if (budget.permerror != NULL)
		status = SPF_STATUS_PERMERROR; /* a limit or the grammar, whatever libspf2 made of the rest */
	const char *explanation = "", *problem = "";
	if (status == SPF_STATUS_FAIL && resp->explanation != NULL)
		explanation = resp->explanation;
	if (status == SPF_STATUS_TEMPERROR || status == SPF_STATUS_PERMERROR)
		problem = budget.permerror != NULL
		              ? budget.permerror
		              : response_problem(resp, err != SPF_E_SUCCESS ? err : resp->err);
	spf_proto_begin(&wbuf, SPF_PROTO_RESULT);
	spf_proto_put_u8(&wbuf, (unsigned)status);
	spf_proto_put_str16(&wbuf, explanation, SPF_PROTO_TEXT_MAX);
	spf_proto_put_str16(&wbuf, problem != NULL ? problem : "", SPF_PROTO_TEXT_MAX);
	SPF_response_free(resp);
	SPF_request_free(req);
	send_frame();
}

static void log_nothing(const char *file, int line, const char *msg)
{
}

__attribute__((noreturn)) static void log_error(const char *file, int line, const char *msg)
{
	helper_exit(msg != NULL ? msg : "libspf2 error"); /* libspf2 would abort() */
}

static void helper_main(const char *receiver, const char *user)
{
	SPF_error_handler = log_error;
	SPF_warning_handler = log_nothing;
	SPF_info_handler = log_nothing;
	SPF_debug_handler = log_nothing;
	/* ours, never freed: the process ends with it */
	SPF_dns_server_t *layer = calloc(1, sizeof(*layer));
	if (layer == NULL)
		abort();
	layer->lookup = layer_lookup;
	layer->name = "mxd";
	SPF_server_t *server = SPF_server_new_dns(layer, 0);
	if (server == NULL)
		helper_exit("libspf2 cannot create a server");
	SPF_response_t *resp = NULL;
	SPF_server_set_rec_dom(server, receiver);
	SPF_server_set_sanitize(server, 1);
	SPF_errcode_t err = SPF_server_set_explanation(server, DEFAULT_EXPLANATION, &resp);
	if (resp != NULL)
		SPF_response_free(resp);
	if (err != SPF_E_SUCCESS)
		helper_exit("libspf2 refuses the default explanation");

	const char *error;
	if (spf_sandbox_enter(user, &error) < 0)
		helper_exit(error);
	spf_proto_begin(&wbuf, SPF_PROTO_READY);
	spf_proto_put_u32(&wbuf, SPF_PROTO_VERSION);
	send_frame();
	static struct spf_proto_check check;
	for (;;) {
		size_t len = read_frame();
		if (spf_proto_parse_check(rbuf, len, &check, &error) < 0)
			helper_exit(error);
		check_run(server, &check);
	}
}

void spf_helper_dispatch(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], SPF_HELPER_ARG) != 0)
		return;
	if (argc != 4)
		helper_exit("usage: " SPF_HELPER_ARG " RECEIVER USER");
	helper_main(argv[2], argv[3]);
	helper_exit(NULL);
}
