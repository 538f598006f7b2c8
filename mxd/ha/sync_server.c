/*
 * sync_server: see sync_server.h. The HTTP handler, the listening socket made before privileges are
 * dropped (handed to libmicrohttpd with MHD_OPTION_LISTEN_SOCKET), and the log's upkeep.
 */
#include "mxd/ha/sync_server.h"

#include "db/db.h"
#include "db/sync.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/ha/sync_secret.h"
#include "mxd/ha/sync_throttle.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRIM_INTERVAL         3600 /* seconds between two trims of the change log */
#define AUTH_WARN_INTERVAL    60   /* at most one warning about refused clients per minute */
#define SYNC_PEM_MAX          (1024 * 1024)
#define SYNC_CONNECTION_LIMIT 64
#define SYNC_TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct sync_server {
	const struct mxd_config *cfg;
	int fd; /* the listening socket until libmicrohttpd owns it */
	int port;
	bool ipv6;
	char *cert_pem, *key_pem;
	size_t key_len;
	struct sync_secret secret;
	struct MHD_Daemon *daemon;
	/* the daemon's thread only: */
	struct db *db;
	int64_t last_trim;
	int64_t auth_warned;
	unsigned auth_refused;         /* since the last warning */
	struct sync_throttle throttle; /* addresses that presented a wrong secret */
};

static __thread char server_err[1200];

static int fail(const char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(server_err, sizeof(server_err), fmt, ap);
	va_end(ap);
	*error_r = server_err;
	return -1;
}

/* The whole of a PEM file (NUL-terminated). */
static int pem_read(const char *setting, const char *path, char **text_r, size_t *len_r, const char **error_r)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return fail(error_r, "%s %s: %s", setting, path, strerror(errno));
	char *text = xmalloc(SYNC_PEM_MAX + 1);
	size_t n = fread(text, 1, SYNC_PEM_MAX + 1, f);
	bool err = ferror(f) != 0;
	fclose(f);
	if (err || n > SYNC_PEM_MAX) {
		explicit_bzero(text, SYNC_PEM_MAX + 1);
		free(text);
		return fail(error_r, "%s %s: %s", setting, path, err ? "read error" : "larger than 1 MB");
	}
	/* Keep only what was read, wiping the rest of the copy (a key). */
	char *fit = xmalloc(n + 1);
	memcpy(fit, text, n);
	fit[n] = '\0';
	explicit_bzero(text, SYNC_PEM_MAX + 1);
	free(text);
	*text_r = fit;
	*len_r = n;
	return 0;
}

/* Check with OpenSSL that the certificate and the key load and match (clear errors at start rather than
 * GnuTLS's words at the first handshake). */
static int tls_files_check(const struct mxd_config *cfg, const char **error_r)
{
	char reason[256] = "";
	const char *what = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return fail(error_r, "sync_listen: cannot create a TLS context");
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->sync_tls_cert_file) != 1)
		what = "sync_tls_cert_file";
	else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->sync_tls_key_file, SSL_FILETYPE_PEM) != 1)
		what = "sync_tls_key_file";
	else if (SSL_CTX_check_private_key(ctx) != 1)
		what = "sync_tls_key_file (does not match sync_tls_cert_file)";
	if (what != NULL)
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	ERR_clear_error();
	SSL_CTX_free(ctx);
	if (what != NULL)
		return fail(error_r, "%s: %s", what, reason);
	return 0;
}

static int listen_socket(struct sync_server *s, const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	int one = 1;

	if (netaddr_parse(s->cfg->sync_listen, SYNC_DEFAULT_PORT, &ss, &len, &err) < 0)
		return fail(error_r, "sync_listen '%s': %s", s->cfg->sync_listen, err);
	s->ipv6 = ss.ss_family == AF_INET6;
	s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return fail(error_r, "sync_listen %s: socket: %s", s->cfg->sync_listen, strerror(errno));
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->ipv6)
		setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&ss, len) < 0 || listen(s->fd, 64) < 0)
		return fail(error_r, "sync_listen %s: %s", s->cfg->sync_listen, strerror(errno));
	len = sizeof(ss);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

int sync_server_new(const struct mxd_config *cfg, struct sync_server **server_r, const char **error_r)
{
	*server_r = NULL;
	if (strcmp(cfg->role, "primary") != 0) {
		if (cfg->sync_listen[0] != '\0')
			log_warn("sync",
			         "sync_listen is ignored on a secondary: only the primary serves the tables");
		return 0;
	}
	struct sync_server *s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->fd = -1;
	*server_r = s;
	if (cfg->sync_listen[0] == '\0')
		return 0;
	if (cfg->sync_tls_cert_file[0] == '\0' || cfg->sync_tls_key_file[0] == '\0')
		goto fail_tls;
	size_t cert_len;
	if (tls_files_check(cfg, error_r) < 0 ||
	    pem_read("sync_tls_cert_file", cfg->sync_tls_cert_file, &s->cert_pem, &cert_len, error_r) < 0 ||
	    pem_read("sync_tls_key_file", cfg->sync_tls_key_file, &s->key_pem, &s->key_len, error_r) < 0 ||
	    sync_secret_load(cfg->sync_secret_file, &s->secret, error_r) < 0 || listen_socket(s, error_r) < 0)
		goto fail;
	return 0;
fail_tls:
	fail(error_r, "sync_listen needs sync_tls_cert_file and sync_tls_key_file: the feed is served over "
	              "TLS only");
fail:
	sync_server_free(server_r);
	return -1;
}

int sync_server_port(const struct sync_server *s)
{
	return s != NULL ? s->port : 0;
}

static void trim(struct sync_server *s)
{
	const char *error;
	int64_t deleted, now = time_now();
	s->last_trim = now;
	if (db_sync_log_trim(s->db, s->cfg->sync_changelog_lifetime, now, &deleted, &error) < 0)
		log_warn("sync", "trimming the change log: %s", error);
	else if (deleted > 0)
		log_info("sync", "change log: %lld rows older than %llds trimmed", (long long)deleted,
		         (long long)s->cfg->sync_changelog_lifetime);
}

/* A response owned by libmicrohttpd; the body (which may hold passwords) is wiped when it is done. */
struct body {
	size_t len;
	char *data;
};

static void body_free(void *cls)
{
	struct body *b = cls;
	db_sync_page_free(&b->data, b->len);
	free(b);
}

/* Queue status with data (taken: freed, wiped, with the response); Retry-After when retry_after > 0. */
static enum MHD_Result reply_retry(struct MHD_Connection *conn, unsigned status, char *data, size_t len,
                                   const char *content_type, int64_t retry_after)
{
	struct body *b = xcalloc(1, sizeof(*b));
	b->data = data;
	b->len = len;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer_with_free_callback_cls(len, data, body_free, b);
	if (resp == NULL) {
		body_free(b);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mxd sync\"");
	if (retry_after > 0) {
		char retry[24];
		snprintf(retry, sizeof(retry), "%lld", (long long)retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *data, size_t len,
                             const char *content_type)
{
	return reply_retry(conn, status, data, len, content_type, 0);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *data = xasprintf("%s\n", text);
	return reply(conn, status, data, strlen(data), "text/plain; charset=utf-8");
}

static const char *client_str(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL) {
		str_copy(buf, size, "unknown");
		return buf;
	}
	return netaddr_str(ci->client_addr, buf, size);
}

/* Does the request carry the secret? *guessed_r: it carried a Bearer secret, and a wrong one (what the
 * throttle counts: a request without one guesses nothing). */
static bool authorized(struct sync_server *s, struct MHD_Connection *conn, bool *guessed_r)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	*guessed_r = false;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	bool ok = sync_secret_matches(&s->secret, h);
	*guessed_r = !ok;
	return ok;
}

static void auth_refused(struct sync_server *s, struct MHD_Connection *conn)
{
	char addr[NETADDR_STR_MAX];
	int64_t now = time_now();
	s->auth_refused++;
	if (now - s->auth_warned < AUTH_WARN_INTERVAL)
		return;
	log_warn("sync", "refused client %s: no valid sync secret (%u refusals in the last minute)",
	         client_str(conn, addr, sizeof(addr)), s->auth_refused);
	s->auth_warned = now;
	s->auth_refused = 0;
}

/* A non-negative integer argument, or def when absent. -1 when present but not a number. */
static int arg_u64(struct MHD_Connection *conn, const char *name, uint64_t def, uint64_t *value_r)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	*value_r = def;
	if (v == NULL)
		return 0;
	return str_to_u64(v, value_r) < 0 || *value_r > INT64_MAX ? -1 : 0;
}

static enum MHD_Result serve(struct sync_server *s, struct MHD_Connection *conn, const char *url)
{
	char addr[NETADDR_STR_MAX];
	const char *error;
	uint64_t since, limit;
	char *json;
	size_t len;
	int rc;

	if (arg_u64(conn, "limit", 1000, &limit) < 0 || limit == 0)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, "limit: expected a positive integer");
	if (limit > DB_SYNC_PAGE_LIMIT)
		limit = DB_SYNC_PAGE_LIMIT;
	if (strcmp(url, "/sync/v1/changes") == 0) {
		if (arg_u64(conn, "since", 0, &since) < 0)
			return reply_text(conn, MHD_HTTP_BAD_REQUEST, "since: expected a sequence number");
		const char *log_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "log");
		rc =
		    db_sync_feed_changes(s->db, (int64_t)since, log_id, (unsigned)limit, &json, &len, &error);
	} else if (strcmp(url, "/sync/v1/snapshot") == 0) {
		const char *tbl = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tbl");
		const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
		rc = db_sync_feed_snapshot(s->db, tbl, after, (unsigned)limit, &json, &len, &error);
	} else {
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found");
	}
	if (rc < 0 && !db_error_is_busy(s->db))
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, error);
	if (rc < 0) {
		log_warn("sync", "serving %s: %s", url, error);
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the tables cannot be read now");
	}
	log_debug("sync", "%s: %s (%zu bytes)", client_str(conn, addr, sizeof(addr)), url, len);
	return reply(conn, MHD_HTTP_OK, json, len, "application/json");
}

/* The key under which the client's failed attempts count (sync_throttle.h). */
static const char *client_key(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL) {
		str_copy(buf, size, "unknown");
		return buf;
	}
	return netaddr_client_key(ci->client_addr, 64, buf, size);
}

/* 429 with Retry-After: the address failed too often and waits. */
static enum MHD_Result reply_throttled(struct MHD_Connection *conn, int64_t wait)
{
	char *data =
	    xasprintf("too many wrong secrets from this address: retry in %lld s\n", (long long)wait);
	return reply_retry(conn, MHD_HTTP_TOO_MANY_REQUESTS, data, strlen(data), "text/plain; charset=utf-8",
	                   wait);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	struct sync_server *s = cls;
	char key[NETADDR_STR_MAX];
	int64_t now = time_now();

	/* Everything is decided at the first call, before any request body is read: a client without the
	 * secret gets its 401 and the connection closes, whatever it meant to send. An address that failed
	 * too often waits (429) before its secret is even looked at. */
	client_key(conn, key, sizeof(key));
	int64_t wait = sync_throttle_wait(&s->throttle, key, now);
	if (wait > 0)
		return reply_throttled(conn, wait);
	bool guessed;
	if (!authorized(s, conn, &guessed)) {
		if (guessed)
			sync_throttle_failed(&s->throttle, key, now);
		auth_refused(s, conn);
		return reply_text(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized");
	}
	sync_throttle_passed(&s->throttle, key);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (time_now() - s->last_trim >= TRIM_INTERVAL)
		trim(s);
	return serve(s, conn, url);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\r\n")] = '\0';
	/* Mostly clients that failed a TLS handshake (a plaintext probe, a secondary that does not trust
	 * our certificate): worth a line, not a warning. A failure to start is reported by the caller. */
	log_info("sync", "feed: %s", msg);
}

int sync_server_start(struct sync_server *s, const char **error_r)
{
	const char *error;
	bool released;

	if (s == NULL)
		return 0;
	if (db_open(s->cfg->database, DB_OPEN_READWRITE, &s->db, &error) < 0)
		return fail(error_r, "sync: %s", error);
	if (db_sync_replica_release(s->db, &released, &error) < 0)
		return fail(error_r, "sync: %s", error);
	if (released)
		log_warn("sync",
		         "this database was a replica: it is the primary's now (role = primary), with a "
		         "new change log; secondaries will take a snapshot");
	trim(s);
	if (s->fd < 0) {
		db_close(&s->db); /* no feed: the next start trims again */
		return 0;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG;
	if (s->ipv6)
		flags |= MHD_USE_IPv6;
	/* The logger comes first, so that libmicrohttpd's words about the other options go to it too. */
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd, MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem,
	    MHD_OPTION_HTTPS_MEM_KEY, s->key_pem, MHD_OPTION_HTTPS_PRIORITIES, SYNC_TLS_PRIORITIES,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)SYNC_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)SYNC_PER_ADDRESS_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (s->daemon == NULL)
		return fail(error_r, "sync_listen %s: cannot start the feed's HTTPS server",
		            s->cfg->sync_listen);
	s->fd = -1; /* libmicrohttpd's now */
	log_info("sync", "serving the tables' change feed on %s (TLS)", s->cfg->sync_listen);
	return 0;
}

void sync_server_free(struct sync_server **sp)
{
	struct sync_server *s = *sp;
	if (s == NULL)
		return;
	if (s->daemon != NULL)
		MHD_stop_daemon(s->daemon);
	if (s->fd >= 0)
		close(s->fd);
	db_close(&s->db);
	free(s->cert_pem);
	if (s->key_pem != NULL) {
		explicit_bzero(s->key_pem, s->key_len);
		free(s->key_pem);
	}
	sync_secret_wipe(&s->secret);
	free(s);
	*sp = NULL;
}
