/* tls: see tls.h. */
#include "mxd/common/tls.h"

#include <openssl/err.h>
#include <stdio.h>

static const char *ssl_error(const char *what, const char *file)
{
	static __thread char buf[512];
	char reason[256];
	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	snprintf(buf, sizeof(buf), "%s %s: %s", what, file, reason);
	ERR_clear_error();
	return buf;
}

int tls_server_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **ctx_r, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = "cannot create TLS context";
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*error_r = ssl_error("smtpd_tls_cert_file", cert_file);
		SSL_CTX_free(ctx);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		*error_r = ssl_error("smtpd_tls_key_file", key_file);
		SSL_CTX_free(ctx);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = ssl_error("smtpd_tls_key_file does not match the certificate in", cert_file);
		SSL_CTX_free(ctx);
		return -1;
	}
	*ctx_r = ctx;
	return 0;
}

void tls_describe(SSL *ssl, char *buf, size_t size)
{
	int alg = 0;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int bits = SSL_CIPHER_get_bits(c, &alg);
	snprintf(buf, size, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl), SSL_CIPHER_get_name(c),
	         bits, alg);
}
