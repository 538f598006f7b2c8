/* arc_verify: see arc_verify.h. */
#include "mxd/auth/arc_verify.h"

#include "mxd/auth/auth_worker.h"
#include "mxd/auth/dkim_key.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/dns/dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARC_KEYS_MAX (ARC_MAX_INSTANCE + 1)

struct arc_key {
	struct arc_verify *v;
	char *domain, *selector;
	struct dns_lookup *lookup;
	EVP_PKEY *pkey; /* NULL until found, or when it could not be had */
};

struct arc_verify {
	char *copy; /* the message, when a chain is to be checked */
	struct header_list msg;
	struct arc_chain chain;
	struct arc_key keys[ARC_KEYS_MAX];
	size_t nkey, pending;
	struct event *done_ev; /* the verdict, delivered from the loop */
	struct auth_worker *worker;
	bool in_job;    /* the signatures are being checked on a worker thread */
	bool cancelled; /* ... and the caller no longer wants the verdict */
	char *sealers;
	arc_verify_cb *cb;
	void *ctx;
};

static EVP_PKEY *key_of(void *ctx, const char *domain, const char *selector)
{
	struct arc_verify *v = ctx;
	for (size_t i = 0; i < v->nkey; i++)
		if (strcasecmp(v->keys[i].domain, domain) == 0 && strcmp(v->keys[i].selector, selector) == 0)
			return v->keys[i].pkey;
	return NULL;
}

static void verify_free(struct arc_verify *v)
{
	for (size_t i = 0; i < v->nkey; i++) {
		dns_cancel(&v->keys[i].lookup);
		EVP_PKEY_free(v->keys[i].pkey);
		free(v->keys[i].domain);
		free(v->keys[i].selector);
	}
	arc_chain_free(&v->chain);
	header_list_free(&v->msg);
	free(v->copy);
	free(v->sealers);
	if (v->done_ev != NULL)
		event_free(v->done_ev);
	free(v);
}

/* The signatures, with every key in: on a worker thread (or in the loop without one). */
static void validate_job(void *arg)
{
	struct arc_verify *v = arg;
	arc_chain_validate(&v->chain, &v->msg, key_of, v);
	v->sealers = arc_chain_sealers(&v->chain);
}

static void deliver(void *arg)
{
	struct arc_verify *v = arg;
	v->in_job = false;
	if (!v->cancelled) {
		struct arc_verdict verdict = {v->chain.cv, v->sealers, v->chain.why, v->chain.terminated};
		v->cb(v->ctx, &verdict);
	}
	verify_free(v);
}

static void done_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct arc_verify *v = ctx;
	if (v->worker != NULL && v->chain.cv == ARC_CV_PASS) {
		v->in_job = true;
		auth_worker_submit(v->worker, validate_job, deliver, v);
		return;
	}
	validate_job(v);
	deliver(v);
}

static void key_answered(struct dns_result *result, void *ctx)
{
	struct arc_key *k = ctx;
	struct arc_verify *v = k->v;
	k->lookup = NULL;
	const char *error = dns_status_str(result->status);
	for (size_t i = 0; i < result->ntxt && k->pkey == NULL; i++)
		if (dkim_key_from_record(result->txts[i], &k->pkey, &error) == 0)
			break;
	if (k->pkey == NULL)
		log_info("arc", "key %s._domainkey.%s: %s", k->selector, k->domain, error);
	dns_result_free(&result);
	if (--v->pending == 0)
		event_active(v->done_ev, 0, 0);
}

static void want_key(struct arc_verify *v, const struct dkim_tag_list *tags)
{
	const char *d = dkim_tag_get(tags, "d"), *s = dkim_tag_get(tags, "s");
	for (size_t i = 0; i < v->nkey; i++)
		if (strcasecmp(v->keys[i].domain, d) == 0 && strcmp(v->keys[i].selector, s) == 0)
			return;
	struct arc_key *k = &v->keys[v->nkey++];
	k->v = v;
	k->domain = xstrdup(d);
	k->selector = xstrdup(s);
}

struct arc_verify *arc_verify_start(struct event_base *base, struct dns *dns, struct auth_worker *worker,
                                    const char *msg, size_t len, arc_verify_cb *cb, void *ctx)
{
	struct arc_verify *v = xcalloc(1, sizeof(*v));
	v->cb = cb;
	v->ctx = ctx;
	v->worker = worker;
	v->done_ev = event_new(base, -1, 0, done_cb, v);
	if (v->done_ev == NULL)
		log_fatal("arc", "cannot create an event");
	header_list_parse(msg, len, &v->msg);
	arc_chain_parse(&v->msg, &v->chain);
	if (v->chain.cv == ARC_CV_PASS) { /* a chain to check: on a copy, the caller's text may change */
		arc_chain_free(&v->chain);
		header_list_free(&v->msg);
		v->copy = xmalloc(len + 1);
		memcpy(v->copy, msg, len);
		v->copy[len] = '\0';
		header_list_parse(v->copy, len, &v->msg);
		arc_chain_parse(&v->msg, &v->chain);
	}
	if (v->chain.cv == ARC_CV_PASS) {
		want_key(v, &v->chain.sets[v->chain.n - 1].ams_tags);
		for (size_t k = 0; k < v->chain.n; k++)
			want_key(v, &v->chain.sets[k].as_tags);
	}
	v->pending = v->nkey;
	if (v->nkey == 0) {
		event_active(v->done_ev, 0, 0);
		return v;
	}
	for (size_t i = 0; i < v->nkey; i++) {
		struct arc_key *k = &v->keys[i];
		char *name = xasprintf("%s._domainkey.%s", k->selector, k->domain);
		k->lookup = dns_lookup_txt(dns, name, key_answered, k);
		free(name);
	}
	return v;
}

void arc_verify_cancel(struct arc_verify **vp)
{
	struct arc_verify *v = *vp;
	if (v == NULL)
		return;
	*vp = NULL;
	if (v->in_job) {
		v->cancelled = true; /* freed when the worker is done with it */
		return;
	}
	verify_free(v);
}
