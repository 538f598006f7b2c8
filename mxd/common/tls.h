/*
 * tls: OpenSSL contexts. The server context offers STARTTLS with the configured certificate and key,
 * TLS 1.2 or newer only. Contexts are created at start (and on reload) in the main thread and shared
 * read-only by sessions; the SSL objects made from them belong to one session each.
 */
#ifndef MXD_TLS_H
#define MXD_TLS_H

#include <openssl/ssl.h>

/* A server context from PEM files. 0, or -1 with *error_r (names the file and OpenSSL's reason). */
int tls_server_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **ctx_r, const char **error_r);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for Received headers and logs. */
void tls_describe(SSL *ssl, char *buf, size_t size);

#endif
