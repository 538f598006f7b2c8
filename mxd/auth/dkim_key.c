/* dkim_key: see dkim_key.h. */
#include "mxd/auth/dkim_key.h"

#include "mxd/auth/dkim_tag.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *dkim_key_path(const char *directory, const char *domain, const char *selector)
{
	return xasprintf("%s/%s/%s.pem", directory, domain, selector);
}

static bool key_usable(const EVP_PKEY *key, const char **error_r)
{
	int id = EVP_PKEY_get_base_id(key);
	if (id == EVP_PKEY_ED25519)
		return true;
	if (id != EVP_PKEY_RSA) {
		*error_r = "not an RSA or Ed25519 key";
		return false;
	}
	if (EVP_PKEY_get_bits(key) < 1024) {
		*error_r = "RSA key shorter than 1024 bits";
		return false;
	}
	return true;
}

int dkim_key_load(const char *path, EVP_PKEY **key_r, const char **error_r)
{
	static __thread char why[300];
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
		*error_r = why;
		return -1;
	}
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	const char *e = "not a PEM private key";
	if (key == NULL || !key_usable(key, &e)) {
		EVP_PKEY_free(key);
		snprintf(why, sizeof(why), "%s: %s", path, e);
		*error_r = why;
		return -1;
	}
	*key_r = key;
	return 0;
}

const char *dkim_key_algorithm(const EVP_PKEY *key)
{
	return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";
}

int dkim_key_from_record(const char *record, EVP_PKEY **key_r, const char **error_r)
{
	struct dkim_tag_list tags;
	if (dkim_tag_parse(record, strlen(record), &tags, error_r) < 0)
		return -1;
	const char *v = dkim_tag_get(&tags, "v"), *k = dkim_tag_get(&tags, "k"),
	           *p = dkim_tag_get(&tags, "p");
	int ret = -1;
	if (v != NULL && strcmp(v, "DKIM1") != 0) {
		*error_r = "key record: v= is not DKIM1";
	} else if (p == NULL) {
		*error_r = "key record: no p=";
	} else if (p[0] == '\0') {
		*error_r = "key record: key revoked (empty p=)";
	} else if (k != NULL && strcmp(k, "rsa") != 0 && strcmp(k, "ed25519") != 0) {
		*error_r = "key record: unknown k=";
	} else {
		size_t len;
		unsigned char *der = dkim_base64_decode(p, &len);
		EVP_PKEY *key = NULL;
		if (der != NULL && k != NULL && strcmp(k, "ed25519") == 0) {
			if (len == 32)
				key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, len);
		} else if (der != NULL) {
			const unsigned char *q = der;
			key = d2i_PUBKEY(NULL, &q, (long)len);
			if (key == NULL) { /* some publish a bare RSAPublicKey */
				q = der;
				key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
			}
		}
		free(der);
		*error_r = "key record: p= is not a public key";
		if (key != NULL && key_usable(key, error_r)) {
			*key_r = key;
			ret = 0;
		} else {
			EVP_PKEY_free(key);
		}
	}
	dkim_tag_free(&tags);
	return ret;
}

/* What is signed: the data itself for RSA (hashed by the signature), its SHA-256 for Ed25519. */
static const unsigned char *signed_input(const EVP_PKEY *key, const void *data, size_t *len,
                                         unsigned char digest[SHA256_DIGEST_LENGTH], const EVP_MD **md_r)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		SHA256(data, *len, digest);
		*len = SHA256_DIGEST_LENGTH;
		*md_r = NULL;
		return digest;
	}
	*md_r = EVP_sha256();
	return data;
}

int dkim_key_sign(EVP_PKEY *key, const void *data, size_t len, char **b64_r, const char **error_r)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const EVP_MD *md;
	const unsigned char *in = signed_input(key, data, &len, digest, &md);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = (size_t)EVP_PKEY_get_size(key);
	unsigned char *sig = xmalloc(siglen);
	int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, in, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		free(sig);
		*error_r = "signing failed";
		return -1;
	}
	*b64_r = dkim_base64_encode(sig, siglen);
	free(sig);
	return 0;
}

int dkim_key_verify(EVP_PKEY *key, const char *algorithm, const void *data, size_t len, const char *b64,
                    const char **error_r)
{
	if (strcmp(algorithm, dkim_key_algorithm(key)) != 0) {
		*error_r = "algorithm does not match the key";
		return -1;
	}
	size_t siglen;
	unsigned char *sig = dkim_base64_decode(b64, &siglen);
	if (sig == NULL) {
		*error_r = "b= is not base64";
		return -1;
	}
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const EVP_MD *md;
	const unsigned char *in = signed_input(key, data, &len, digest, &md);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
	         EVP_DigestVerify(ctx, sig, siglen, in, len) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	if (!ok) {
		*error_r = "signature does not verify";
		return -1;
	}
	return 0;
}

char *dkim_base64_encode(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

unsigned char *dkim_base64_decode(const char *b64, size_t *len_r)
{
	char *s = dkim_tag_strip(b64);
	size_t n = strlen(s);
	if (n % 4 != 0 || n > (1u << 20)) {
		free(s);
		return NULL;
	}
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(s);
		free(out);
		return NULL;
	}
	size_t len = (size_t)r;
	for (size_t i = n; i > 0 && s[i - 1] == '=' && len > 0; i--)
		len--; /* EVP_DecodeBlock counts the padding as zero octets */
	free(s);
	*len_r = len;
	return out;
}
