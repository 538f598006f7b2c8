/* spf_helper: see spf_helper.h. Single-threaded, blocking I/O on the socket: mxd keeps the clock. */
#include "mxd/smtpd/spf_helper.h"

#include "mxd/smtpd/spf.h"
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
 * malformed, the root, or holding octets names cannot have. */
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
			if (c <= 0x20 || c > 0x7e || c == '\\' || o + 2 >= size)
				return -1;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* Could name[0..len) be looked up: printable ASCII without space or '\' (unbound's escape), labels of
 * 1-63 octets, 253 octets in all? (mxd kills a helper that asks for anything else.) */
static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SPF_PROTO_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (c <= 0x20 || c > 0x7e || c == '\\' || ++label > DNS_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
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
	case ns_t_txt: {
		/* the character-strings of one record, joined (RFC 7208 3.3) */
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
		/* libspf2 (1.2.10) reads a literal space in an explanation (exp=) as a broken '%' escape:
		 * hand it every TXT record that is not an SPF record with its spaces written as the macro
		 * "%_", which means the same (RFC 7208 7.1). SPF records go through unchanged. */
		bool spf_record = o >= 6 && strncasecmp(joined, "v=spf1", 6) == 0 &&
		                  (joined[6] == ' ' || joined[6] == '\0');
		size_t spaces = 0;
		for (size_t k = 0; !spf_record && k < o; k++)
			spaces += joined[k] == ' ';
		if (SPF_dns_rr_buf_realloc(rr, i, o + spaces + 1) != SPF_E_SUCCESS) {
			free(joined);
			return;
		}
		char *out = rr->rr[i]->txt;
		for (size_t k = 0, w = 0; k <= o; k++) {
			if (!spf_record && joined[k] == ' ') {
				out[w++] = '%';
				out[w++] = '_';
			} else {
				out[w++] = joined[k];
			}
		}
		free(joined);
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
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (!name_ok(name, len))
		return rr_new(layer, name, type, HOST_NOT_FOUND); /* what no name can be: not asked */
	spf_proto_begin(&wbuf, SPF_PROTO_QUERY);
	spf_proto_put_u16(&wbuf, (unsigned)type);
	spf_proto_put_u8(&wbuf, (unsigned)len);
	spf_proto_put_bytes(&wbuf, name, len);
	send_frame();
	size_t flen = read_frame();
	const char *error;
	if (spf_proto_parse_answer(rbuf, flen, &answer, &error) < 0)
		helper_exit(error);
	switch (answer.outcome) {
	case SPF_PROTO_DNS_NXDOMAIN:
		return rr_new(layer, name, type, HOST_NOT_FOUND);
	case SPF_PROTO_DNS_TRYAGAIN:
		return rr_new(layer, name, type, TRY_AGAIN);
	default:
		break;
	}
	SPF_dns_rr_t *rr = rr_new(layer, name, type, NETDB_SUCCESS);
	for (size_t i = 0; i < answer.count; i++)
		rr_add(rr, type, answer.rdata[i], answer.rdlen[i]);
	if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
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
	const char *explanation = "", *problem = "";
	if (status == SPF_STATUS_FAIL && resp->explanation != NULL)
		explanation = resp->explanation;
	if (status == SPF_STATUS_TEMPERROR || status == SPF_STATUS_PERMERROR)
		problem = response_problem(resp, err != SPF_E_SUCCESS ? err : resp->err);
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
