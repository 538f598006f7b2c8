/* smtp_client_auth: the client's SMTP AUTH (RFC 4954): the mechanism chosen from what the server offers
 * (CRAM-MD5, PLAIN, LOGIN, in that order), the answers to its challenges, and the outcome; secrets are
 * cleared from memory once written. See smtp_client_private.h. */
#include "mxd/delivery/smtp_client_private.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *b64_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Decode base64 text into out (at least 3/4 of len + 3). -1 when it is not base64. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t *len_r)
{
	if (len % 4 != 0)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	while (len > 0 && in[len - 1] == '=' && n > 0)
		len--, n--; /* EVP_DecodeBlock counts the padding as zero octets */
	*len_r = (size_t)n;
	return 0;
}

/* Send the AUTH data of one step; secret holds len octets, cleared afterwards. */
static void auth_send(struct smtp_client *c, const char *prefix, unsigned char *secret, size_t len)
{
	char *b64 = b64_encode(secret, len);
	char *line = xasprintf("%s%s", prefix, b64);
	client_write_secret(c, line, prefix[0] != '\0' ? "AUTH PLAIN" : "(AUTH data)");
	OPENSSL_cleanse(secret, len);
	OPENSSL_cleanse(b64, strlen(b64));
	OPENSSL_cleanse(line, strlen(line));
	free(b64);
	free(line);
}

static void auth_plain(struct smtp_client *c, const char *prefix)
{
	size_t ulen = strlen(c->auth_user), plen = strlen(c->auth_pass);
	size_t len = ulen + plen + 2;
	unsigned char *buf = xmalloc(len);
	buf[0] = '\0';
	memcpy(buf + 1, c->auth_user, ulen);
	buf[1 + ulen] = '\0';
	memcpy(buf + 2 + ulen, c->auth_pass, plen);
	auth_send(c, prefix, buf, len);
	free(buf);
}

/* RFC 2195: base64("user " + hex(HMAC-MD5(password, challenge))). -1 on a bad challenge. */
static int auth_cram_md5(struct smtp_client *c, const char *challenge)
{
	size_t clen = strlen(challenge), dlen;
	unsigned char *decoded = xmalloc(clen + 4);
	if (b64_decode(challenge, clen, decoded, &dlen) < 0) {
		free(decoded);
		return -1;
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if (HMAC(EVP_md5(), c->auth_pass, (int)strlen(c->auth_pass), decoded, dlen, mac, &maclen) == NULL) {
		free(decoded);
		return -1;
	}
	free(decoded);
	size_t ulen = strlen(c->auth_user);
	size_t len = ulen + 1 + 2 * maclen;
	unsigned char *resp = xmalloc(len + 1);
	memcpy(resp, c->auth_user, ulen);
	resp[ulen] = ' ';
	for (unsigned i = 0; i < maclen; i++)
		snprintf((char *)resp + ulen + 1 + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
	auth_send(c, "", resp, len);
	free(resp);
	return 0;
}

void client_auth_start(struct smtp_client *c)
{
	if (!c->tls && !c->auth_plaintext_ok) {
		client_peer_failed(c, SMTP_CLIENT_FAIL_AUTH, NULL, "4.7.0",
		                   "AUTH refused over a plaintext connection with %s", c->name);
		return;
	}
	if (c->tls && !c->verified) {
		if (!c->auth_unverified_ok) {
			client_peer_failed(
			    c, SMTP_CLIENT_FAIL_AUTH, NULL, "4.7.5",
			    "AUTH refused over unverified TLS with %s (%s): credentials go only "
			    "to a certificate that verifies for the hop's name (smtp_tls_CAfile), "
			    "or to a hop marked --allow-unverified-tls",
			    c->name, c->unverified_why);
			return;
		}
		log_warn("smtp", "%s: sending AUTH credentials over unverified TLS (%s), as the hop allows",
		         c->name, c->unverified_why);
	}
	c->auth_step = 0;
	if (c->ehlo.auth_mechs & SMTP_REPLY_AUTH_CRAM_MD5) {
		c->auth_mech = SMTP_REPLY_AUTH_CRAM_MD5;
		client_write(c, "AUTH CRAM-MD5");
	} else if (c->ehlo.auth_mechs & SMTP_REPLY_AUTH_PLAIN) {
		c->auth_mech = SMTP_REPLY_AUTH_PLAIN;
		auth_plain(c, "AUTH PLAIN ");
	} else if (c->ehlo.auth_mechs & SMTP_REPLY_AUTH_LOGIN) {
		c->auth_mech = SMTP_REPLY_AUTH_LOGIN;
		client_write(c, "AUTH LOGIN");
	} else {
		client_peer_failed(c, SMTP_CLIENT_FAIL_AUTH, NULL, "4.7.0",
		                   (c->ehlo.exts & SMTP_REPLY_EXT_AUTH)
		                       ? "no supported AUTH mechanism offered by host %s"
		                       : "AUTH is required, but was not offered by host %s",
		                   c->name);
		return;
	}
	client_enter_state(c, SMTP_CLIENT_STATE_AUTH);
	client_arm_timer(c, c->command_timeout);
}

/* A 334 challenge: answer it, or cancel with "*" when it is not one this mechanism expects. */
static void auth_continue(struct smtp_client *c)
{
	unsigned step = c->auth_step++;
	if (c->auth_mech == SMTP_REPLY_AUTH_LOGIN && step < 2) {
		const char *s = step == 0 ? c->auth_user : c->auth_pass;
		size_t len = strlen(s);
		unsigned char *buf = xmalloc(len + 1);
		memcpy(buf, s, len);
		auth_send(c, "", buf, len);
		free(buf);
	} else if (c->auth_mech == SMTP_REPLY_AUTH_PLAIN && step == 0 && c->reply.r.text[0] == '\0') {
		auth_plain(c, ""); /* the server wanted the response after an empty challenge */
	} else if (c->auth_mech != SMTP_REPLY_AUTH_CRAM_MD5 || step != 0 ||
	           auth_cram_md5(c, c->reply.r.text) < 0) {
		client_write(c, "*");
		c->auth_step = 100;
	}
	client_arm_timer(c, c->command_timeout);
}

void client_auth_reply(struct smtp_client *c)
{
	int code = c->reply.r.code;
	if (code >= 200 && code < 300) {
		log_debug("smtp", "%s: authenticated as %s", c->name, c->auth_user);
		client_ready(c);
		return;
	}
	if (code == 334 && c->auth_step < 100) {
		auth_continue(c);
		return;
	}
	char reply[SMTP_REPLY_STR_MAX];
	smtp_reply_str(&c->reply, reply, sizeof(reply));
	client_peer_failed(c, SMTP_CLIENT_FAIL_AUTH, &c->reply, NULL,
	                   "SASL authentication failed; server %s said: %s", c->name, reply);
}
