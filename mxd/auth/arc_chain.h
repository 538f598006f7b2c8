/*
 * arc_chain: the ARC sets a message arrived with (RFC 8617): finding them among its header fields,
 * checking their structure (instances 1..N, one AAR, AMS and AS each, cv= consistent), and validating
 * the chain once the keys are known (the newest ARC-Message-Signature and every ARC-Seal).
 *
 * Pure, any thread; fetching keys is arc_verify's. A chain points into the header_list it was parsed
 * from and owns its tag lists: free with arc_chain_free().
 */
#ifndef MXD_ARC_CHAIN_H
#define MXD_ARC_CHAIN_H

#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_tag.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#define ARC_MAX_INSTANCE 50 /* RFC 8617 4.2.1 */

/* Chain validation status: cv= of the seal we add, and arc= of Authentication-Results. */
enum arc_cv { ARC_CV_NONE, ARC_CV_PASS, ARC_CV_FAIL };

struct arc_set {
	const struct header_field *aar, *ams, *as;
	struct dkim_tag_list ams_tags, as_tags;
};

struct arc_chain {
	enum arc_cv cv;  /* after arc_chain_parse(): NONE (no ARC field), FAIL (broken structure) or PASS
	                    (sound structure, signatures still to check); after arc_chain_validate(): the
	                    verdict */
	bool terminated; /* the newest seal already says cv=fail: nobody seals after it (RFC 8617 5.1.2) */
	const char *why; /* why FAIL (static text), NULL otherwise */
	size_t n;        /* sets, sets[0] is instance 1 */
	struct arc_set sets[ARC_MAX_INSTANCE];
};

/* The ARC sets of m, their structure checked. Always fills *c. */
void arc_chain_parse(const struct header_list *m, struct arc_chain *c);

/* "none", "pass", "fail". */
const char *arc_cv_str(enum arc_cv cv);

/* The key of (domain, selector), or NULL when it could not be had (the set then fails). */
typedef EVP_PKEY *arc_key_fn(void *ctx, const char *domain, const char *selector);

/* Check the signatures of a chain parse left at PASS: the newest AMS and every AS, newest first. Sets
 * c->cv to PASS or FAIL (with c->why). */
void arc_chain_validate(struct arc_chain *c, const struct header_list *m, arc_key_fn *key_of, void *ctx);

/* The d= of every seal of a chain, oldest first, comma separated (allocated; "" for none). */
char *arc_chain_sealers(const struct arc_chain *c);

void arc_chain_free(struct arc_chain *c);

#endif
