/* dkim_verify: libopendkim with keys handed in, no DNS of its own; see dkim_verify.h. */
#include "mxd/smtpd/dkim_verify.h"

#include "mxd/common/util.h"
#include "mxd/smtpd/msg_header.h"

#include <event2/buffer.h>
#include <opendkim/dkim.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dkim_verify {
	DKIM_LIB *lib;
};

/* What the key lookup reads: the keys of the message being checked. */
struct key_table {
	const struct dkim_verify_key *keys;
	size_t nkeys;
};

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, unsigned char *buf, size_t buflen)
{
	const struct key_table *t = dkim_get_user_context(dkim);
	const char *d = (const char *)dkim_sig_getdomain(sig), *s = (const char *)dkim_sig_getselector(sig);
	if (t == NULL || d == NULL || s == NULL)
		return DKIM_CBSTAT_ERROR;
	char name[DKIM_VERIFY_DOMAIN_MAX * 2 + 16];
	snprintf(name, sizeof(name), "%s._domainkey.%s", s, d);
	for (size_t i = 0; i < t->nkeys; i++) {
		if (strcasecmp(t->keys[i].name, name) != 0)
			continue;
		switch (t->keys[i].status) {
		case DNS_OK:
			if (strlen(t->keys[i].txt) >= buflen)
				return DKIM_CBSTAT_ERROR;
			memcpy(buf, t->keys[i].txt, strlen(t->keys[i].txt) + 1);
			return DKIM_CBSTAT_CONTINUE;
		case DNS_TEMPFAIL:
			return DKIM_CBSTAT_TRYAGAIN;
		default:
			return DKIM_CBSTAT_NOTFOUND;
		}
	}
	return DKIM_CBSTAT_ERROR; /* not prefetched (beyond DKIM_VERIFY_SIGS_MAX): never asked here */
}

/* libopendkim's own resolver must never run: any query it would start fails at once. */
static int no_query(void *srv, int type, unsigned char *query, unsigned char *buf, size_t buflen, void **qh)
{
	return -1; /* DKIM_DNS_ERROR */
}

struct dkim_verify *dkim_verify_new(const char **error_r)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		*error_r = "libopendkim: dkim_init() failed";
		return NULL;
	}
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	(void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
	dkim_set_key_lookup(lib, key_lookup);
	dkim_dns_set_query_start(lib, no_query);
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	v->lib = lib;
	return v;
}

void dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;
	if (v == NULL)
		return;
	dkim_close(v->lib);
	free(v);
	*vp = NULL;
}

/* RFC 8601 2.7.1 result of a signature libopendkim has processed. */
static void sig_outcome(DKIM_SIGINFO *sig, struct dkim_verify_sig *out)
{
	if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) != 0 && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		out->result = "pass";
		out->why = NULL;
		return;
	}
	int err = dkim_sig_geterror(sig);
	switch (err) {
	case DKIM_SIGERROR_OK:
		out->result = "fail";
		out->why = dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH ? "body hash did not verify"
		           : (dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED) == 0
		               ? "not processed"
		               : "signature did not verify";
		if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED) == 0)
			out->result = "neutral";
		return;
	case DKIM_SIGERROR_BADSIG:
		out->result = "fail";
		out->why = "signature did not verify";
		return;
	case DKIM_SIGERROR_KEYFAIL:
		out->result = "temperror";
		out->why = "key lookup failed";
		return;
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
		out->result = "neutral";
		out->why = dkim_sig_geterrorstr(err);
		return;
	default:
		out->result = "permerror";
		out->why = dkim_sig_geterrorstr(err);
		if (out->why == NULL)
			out->why = "invalid signature";
		return;
	}
}

int dkim_verify_message(struct dkim_verify *v, struct evbuffer *msg, size_t offset,
                        const struct dkim_verify_key *keys, size_t nkeys, struct dkim_verify_sig **sigs_r,
                        size_t *nsig_r, const char **error_r)
{
	*sigs_r = NULL;
	*nsig_r = 0;
	DKIM_STAT st;
	DKIM *dkim = dkim_verify(v->lib, (const unsigned char *)"mxd", NULL, &st);
	if (dkim == NULL) {
		*error_r = "libopendkim: dkim_verify() failed";
		return -1;
	}
	struct key_table table = {keys, nkeys};
	dkim_set_user_context(dkim, &table);

	/* the header, field by field, then the body in the buffer's own chunks */
	size_t total = evbuffer_get_length(msg);
	if (offset > total) {
		dkim_free(dkim);
		*error_r = "content offset past the end of the message";
		return -1;
	}
	struct evbuffer_ptr eoh = evbuffer_search(msg, "\r\n\r\n", 4, NULL);
	size_t hdr_end = eoh.pos >= 0 ? (size_t)eoh.pos + 2 : total;
	if (hdr_end < offset)
		hdr_end = offset;
	/* an empty buffer has no contiguous memory to point into: an empty header then */
	const char *base = hdr_end > 0 ? (const char *)evbuffer_pullup(msg, (ssize_t)hdr_end) : "";
	const char *hdr = base + (hdr_end > 0 ? offset : 0);
	size_t hlen = hdr_end - offset, pos = 0;
	struct msg_field f;
	bool ok = true;
	while (ok && msg_header_next(hdr, hlen, &pos, &f) == 1) {
		st = dkim_header(dkim, (unsigned char *)hdr + f.start, f.end - f.start);
		ok = st == DKIM_STAT_OK;
	}
	st = dkim_eoh(dkim);
	if (st == DKIM_STAT_OK && hdr_end + 2 <= total) {
		struct evbuffer_ptr start;
		evbuffer_ptr_set(msg, &start, hdr_end + 2, EVBUFFER_PTR_SET);
		int n = evbuffer_peek(msg, -1, &start, NULL, 0);
		struct evbuffer_iovec *vec = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*vec));
		n = evbuffer_peek(msg, -1, &start, vec, n);
		for (int i = 0; i < n && st == DKIM_STAT_OK; i++)
			st = dkim_body(dkim, vec[i].iov_base, vec[i].iov_len);
		free(vec);
	}
	if (st == DKIM_STAT_OK)
		(void)dkim_eom(dkim, NULL);

	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	if (dkim_getsiglist(dkim, &sigs, &nsigs) == DKIM_STAT_OK && nsigs > 0) {
		size_t n = (size_t)nsigs < DKIM_VERIFY_SIGS_MAX ? (size_t)nsigs : DKIM_VERIFY_SIGS_MAX;
		struct dkim_verify_sig *out = xcalloc(n, sizeof(*out));
		for (size_t i = 0; i < n; i++) {
			const char *d = (const char *)dkim_sig_getdomain(sigs[i]);
			const char *s = (const char *)dkim_sig_getselector(sigs[i]);
			str_copy(out[i].domain, sizeof(out[i].domain), d != NULL ? d : "");
			str_copy(out[i].selector, sizeof(out[i].selector), s != NULL ? s : "");
			for (char *p = out[i].domain; *p != '\0'; p++)
				*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
			/* header.b: the first 8 characters of b= (RFC 6008 2), folding white space left out
			 */
			const char *b = (const char *)dkim_sig_gettagvalue(sigs[i], false, (u_char *)"b");
			size_t bn = 0;
			for (; b != NULL && *b != '\0' && bn < 8; b++)
				if (*b != ' ' && *b != '\t' && *b != '\r' && *b != '\n')
					out[i].b[bn++] = *b;
			out[i].b[bn] = '\0';
			sig_outcome(sigs[i], &out[i]);
		}
		*sigs_r = out;
		*nsig_r = n;
	}
	dkim_free(dkim);
	return 0;
}
