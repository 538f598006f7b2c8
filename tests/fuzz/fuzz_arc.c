/*
 * Fuzz target for mxd/auth: what strangers send that mxd parses for DKIM and ARC. The input is a message
 * (its ARC sets, DKIM-Signature fields and body) and, once, a key record:
 *   - header_list_parse: fields must lie inside the input, in order, and each contain its colon;
 *   - arc_chain_parse and arc_chain_validate (with a fixed key for every d=/s=): a chain reported PASS
 *     must hold n complete sets with instance-ordered fields; validation of forged input must not pass
 *     (the fixed key signed nothing here, unless the input is a real seal by it: impossible to forge);
 *   - dkim_tag_parse on each field's value: names and values printable, no ';' in a value;
 *   - dkim_canon_header/body both ways: relaxed output has no blank runs, no blank before CRLF, CRLF
 *     line ends only; simple body output ends in CRLF;
 *   - dkim_key_from_record on the input as text.
 */
#include "mxd/auth/arc_chain.h"
#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_key.h"
#include "mxd/auth/dkim_tag.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fixed_key;

static EVP_PKEY *key_of(void *ctx, const char *domain, const char *selector)
{
	(void)ctx;
	(void)domain;
	(void)selector;
	return fixed_key;
}

static void check_relaxed(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ' && i + 1 < len &&
		    (s[i + 1] == ' ' || (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n')))
			abort();
		if (s[i] == '\t')
			abort();
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fixed_key == NULL)
		fixed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	const char *msg = (const char *)data;
	struct header_list m;
	header_list_parse(msg, size, &m);
	const char *prev = msg;
	for (size_t i = 0; i < m.n; i++) {
		const struct header_field *f = &m.fields[i];
		if (f->text < prev || f->text + f->len > msg + size || memchr(f->text, ':', f->len) == NULL ||
		    f->name_len >= f->len)
			abort();
		prev = f->text + f->len;
		size_t vl, cl;
		const char *v = header_field_value(f, &vl);
		struct dkim_tag_list tags;
		const char *error;
		if (dkim_tag_parse(v, vl, &tags, &error) == 0) {
			for (size_t k = 0; k < tags.n; k++) {
				if (strchr(tags.values[k], ';') != NULL || tags.names[k][0] == '\0')
					abort();
			}
			dkim_tag_free(&tags);
		}
		char *c = dkim_canon_header(f->text, f->len, true, &cl);
		if (cl < 3 || c[cl - 2] != '\r' || c[cl - 1] != '\n')
			abort();
		free(c);
		c = dkim_canon_header(f->text, f->len, false, &cl);
		free(c);
	}
	if (m.body < msg || m.body + m.body_len != msg + size)
		abort();
	size_t bl;
	char *b = dkim_canon_body(m.body, m.body_len, true, &bl);
	check_relaxed(b, bl);
	if (bl > 0 && (bl < 2 || b[bl - 2] != '\r' || b[bl - 1] != '\n'))
		abort();
	free(b);
	b = dkim_canon_body(m.body, m.body_len, false, &bl);
	if (bl < 2 || b[bl - 2] != '\r' || b[bl - 1] != '\n')
		abort();
	free(b);

	struct arc_chain c;
	arc_chain_parse(&m, &c);
	if (c.cv == ARC_CV_PASS) {
		if (c.n == 0 || c.n > ARC_MAX_INSTANCE)
			abort();
		for (size_t k = 0; k < c.n; k++)
			if (c.sets[k].aar == NULL || c.sets[k].ams == NULL || c.sets[k].as == NULL)
				abort();
		arc_chain_validate(&c, &m, key_of, NULL);
		if (c.cv == ARC_CV_PASS)
			abort(); /* nothing here was signed by the fixed key */
	}
	char *sealers = arc_chain_sealers(&c);
	free(sealers);
	arc_chain_free(&c);
	header_list_free(&m);

	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	EVP_PKEY *pub = NULL;
	const char *error;
	if (dkim_key_from_record(text, &pub, &error) == 0)
		EVP_PKEY_free(pub);
	free(text);
	return 0;
}
