/*
 * sync_client: see sync_client.h. The pull (pages of changes or of a snapshot, then one apply), the
 * thread that repeats it, and a small HTTPS GET over a blocking OpenSSL connection: the request is
 * ours, the answer comes from a primary whose certificate verified, and only its status line and
 * Content-Length are read (the body is JSON that SQLite reads).
 */
#include "mxd/ha/sync_client.h"

#include "db/db.h"
#include "db/sync.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/ha/sync_secret.h"
#include "mxd/ha/sync_server.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SNAPSHOT_ATTEMPTS 3
#define WARN_REPEAT       300 /* seconds between two warnings about the same failure */
#define SYNC_HOST_MAX     256

struct sync_client {
	const struct mxd_config *cfg;
	char host[SYNC_HOST_MAX];
	char port[8];
	char server_name[SYNC_HOST_MAX];
	char primary[DB_SYNC_PRIMARY_MAX + 1]; /* "host:port" as configured, for logs and sync_state */
	SSL_CTX *ctx;
	struct sync_secret secret;
	struct db *db;
	/* the failure being reported */
	char last_warned[DB_SYNC_ERROR_MAX + 1];
	int64_t warned_at;
	bool failing;
	/* the thread */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards stopping, active_fd */
	pthread_cond_t wake;
	bool stopping;
	int active_fd; /* the connection of a pull in progress, shut down to interrupt it */
};

static __thread char client_err[1200];

static int fail(const char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(client_err, sizeof(client_err), fmt, ap);
	va_end(ap);
	*error_r = client_err;
	return -1;
}

/* "host:port", "[v6]:port" or "host" (port 8026). */
static int primary_parse(struct sync_client *c, const char *text, const char **error_r)
{
	const char *port = NULL;
	size_t hostlen;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return fail(error_r, "sync_primary '%s': expected host:port or [address]:port", text);
		hostlen = (size_t)(end - text - 1);
		memmove(c->host, text + 1, hostlen < sizeof(c->host) ? hostlen : 0);
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon != NULL && strchr(text, ':') != colon)
			return fail(error_r, "sync_primary '%s': an IPv6 address goes in brackets", text);
		hostlen = colon != NULL ? (size_t)(colon - text) : strlen(text);
		memmove(c->host, text, hostlen < sizeof(c->host) ? hostlen : 0);
		port = colon != NULL ? colon + 1 : NULL;
	}
	if (hostlen == 0 || hostlen >= sizeof(c->host))
		return fail(error_r, "sync_primary '%s': bad host", text);
	c->host[hostlen] = '\0';
	uint64_t n = SYNC_DEFAULT_PORT;
	if (port != NULL && (str_to_u64(port, &n) < 0 || n == 0 || n > 65535))
		return fail(error_r, "sync_primary '%s': bad port", text);
	snprintf(c->port, sizeof(c->port), "%u", (unsigned)n);
	snprintf(c->primary, sizeof(c->primary), "%s", text);
	return 0;
}

static int tls_setup(struct sync_client *c, const char **error_r)
{
	const struct mxd_config *cfg = c->cfg;
	char reason[256];

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL)
		return fail(error_r, "sync: cannot create a TLS context");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	int ok = cfg->sync_tls_CAfile[0] != '\0'
	             ? SSL_CTX_load_verify_locations(c->ctx, cfg->sync_tls_CAfile, NULL)
	             : SSL_CTX_set_default_verify_paths(c->ctx);
	if (ok != 1) {
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		ERR_clear_error();
		return fail(error_r, "sync_tls_CAfile %s: %s", cfg->sync_tls_CAfile, reason);
	}
	return 0;
}

int sync_client_new(const struct mxd_config *cfg, struct sync_client **client_r, const char **error_r)
{
	*client_r = NULL;
	if (strcmp(cfg->role, "secondary") != 0) {
		if (cfg->sync_primary[0] != '\0')
			log_warn("sync", "sync_primary is ignored on the primary (role = primary)");
		return 0;
	}
	if (cfg->sync_primary[0] == '\0') {
		log_warn("sync", "role = secondary without sync_primary: the tables are not replicated");
		return 0;
	}
	struct sync_client *c = xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->active_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	*client_r = c;
	if (primary_parse(c, cfg->sync_primary, error_r) < 0 ||
	    str_copy(c->server_name, sizeof(c->server_name),
	             cfg->sync_tls_server_name[0] != '\0' ? cfg->sync_tls_server_name : c->host) < 0 ||
	    tls_setup(c, error_r) < 0 || sync_secret_load(cfg->sync_secret_file, &c->secret, error_r) < 0) {
		sync_client_free(client_r);
		return -1;
	}
	return 0;
}

/* Wait for a non-blocking connect to finish, in slices, so that sync_client_free() need not wait for
 * sync_timeout. 0 or an errno value. */
static int connect_wait(struct sync_client *c, int fd)
{
	int64_t deadline = time_mono_msec() + c->cfg->sync_timeout * 1000;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - time_mono_msec();
		if (left <= 0)
			return ETIMEDOUT;
		int rc = poll(&pfd, 1, left < 200 ? (int)left : 200);
		if (rc < 0 && errno != EINTR)
			return errno;
		if (rc > 0) {
			int err = 0;
			socklen_t len = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				return errno;
			return err;
		}
		pthread_mutex_lock(&c->lock);
		bool stopping = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stopping)
			return ECANCELED;
	}
}

/* Connect to the primary within sync_timeout; the socket gets sync_timeout for reads and writes. */
static int tcp_connect(struct sync_client *c, int *fd_r, const char **error_r)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	struct timeval tv = {.tv_sec = (time_t)c->cfg->sync_timeout};
	int rc = getaddrinfo(c->host, c->port, &hints, &res), err = 0;

	if (rc != 0)
		return fail(error_r, "%s: %s", c->host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		c->active_fd = fd;
		bool stopping = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stopping) {
			err = ECANCELED;
		} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			err = 0;
		} else if (errno != EINPROGRESS) {
			err = errno;
		} else {
			err = connect_wait(c, fd);
		}
		if (err == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			freeaddrinfo(res);
			*fd_r = fd;
			return 0;
		}
		pthread_mutex_lock(&c->lock);
		c->active_fd = -1;
		pthread_mutex_unlock(&c->lock);
		close(fd);
	}
	freeaddrinfo(res);
	return fail(error_r, "connect to %s: %s", c->primary, strerror(err != 0 ? err : ECONNREFUSED));
}

static void tcp_close(struct sync_client *c, int fd)
{
	pthread_mutex_lock(&c->lock);
	c->active_fd = -1;
	pthread_mutex_unlock(&c->lock);
	close(fd);
}

static const char *ssl_reason(SSL *ssl, int rc)
{
	static __thread char buf[300];
	long verify = SSL_get_verify_result(ssl);
	unsigned long e = ERR_get_error();
	if (verify != X509_V_OK)
		snprintf(buf, sizeof(buf), "certificate verification failed: %s",
		         X509_verify_cert_error_string(verify));
	else if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
	else
		snprintf(buf, sizeof(buf), "connection closed");
	ERR_clear_error();
	return buf;
}

static int tls_open(struct sync_client *c, int fd, SSL **ssl_r, const char **error_r)
{
	unsigned char ip[16];
	SSL *ssl = SSL_new(c->ctx);
	if (ssl == NULL)
		return fail(error_r, "TLS with %s: cannot create a session", c->primary);
	SSL_set_fd(ssl, fd);
	bool is_ip =
	    inet_pton(AF_INET, c->server_name, ip) == 1 || inet_pton(AF_INET6, c->server_name, ip) == 1;
	if (is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->server_name);
	} else {
		SSL_set_tlsext_host_name(ssl, c->server_name);
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(ssl, c->server_name);
	}
	ERR_clear_error();
	int rc = SSL_connect(ssl);
	if (rc != 1 || SSL_get_verify_result(ssl) != X509_V_OK) {
		fail(error_r, "TLS with %s (%s): %s", c->primary, c->server_name, ssl_reason(ssl, rc));
		SSL_free(ssl);
		return -1;
	}
	*ssl_r = ssl;
	return 0;
}

/* Grow buf (wiping the old copy: responses may hold passwords) to hold at least need octets. */
static void buf_reserve(char **buf, size_t len, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t ncap = *cap == 0 ? 16384 : *cap;
	while (ncap < need)
		ncap *= 2;
	char *n = xmalloc(ncap);
	if (*buf != NULL) {
		memcpy(n, *buf, len);
		explicit_bzero(*buf, *cap);
		free(*buf);
	}
	*buf = n;
	*cap = ncap;
}

/* The status, the header's length and Content-Length (-1 if none) of a response head, once complete:
 * 1 complete, 0 incomplete, -1 malformed. */
static int http_head_parse(const char *buf, size_t len, int *status_r, size_t *head_len_r, int64_t *clen_r)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > 16384 ? -1 : 0;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' || !isdigit((unsigned char)buf[9]) ||
	    !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]))
		return -1;
	*status_r = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	*head_len_r = (size_t)(end - buf) + 4;
	*clen_r = -1;
	for (const char *line = memchr(buf, '\n', (size_t)(end - buf)); line != NULL && line < end;
	     line = memchr(line, '\n', (size_t)(end - line))) {
		line++;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *stop;
			long long n = strtoll(line + 15, &stop, 10);
			if (n < 0 || stop == line + 15)
				return -1;
			*clen_r = n;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			return -1; /* our server sends Content-Length */
		}
	}
	return 1;
}

int sync_client_get(struct sync_client *c, const char *target, int *status_r, char **body_r, size_t *len_r,
                    const char **error_r)
{
	char *buf = NULL, *req;
	size_t len = 0, cap = 0, head_len = 0;
	int64_t clen = -1;
	int fd = -1, head = 0, ret = -1;
	SSL *ssl = NULL;

	*body_r = NULL;
	*len_r = 0;
	if (tcp_connect(c, &fd, error_r) < 0)
		return -1;
	if (tls_open(c, fd, &ssl, error_r) < 0) {
		tcp_close(c, fd);
		return -1;
	}
	req = xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUser-Agent: mxd/%s\r\n"
	                "Accept: application/json\r\nConnection: close\r\n\r\n",
	                target, c->server_name, c->secret.text, MXD_VERSION);
	size_t req_len = strlen(req);
	int wrc = SSL_write(ssl, req, (int)req_len);
	explicit_bzero(req, req_len);
	free(req);
	if (wrc <= 0) {
		fail(error_r, "sending to %s: %s", c->primary, ssl_reason(ssl, wrc));
		goto out;
	}
	for (;;) {
		if (head == 1 && clen >= 0 && len >= head_len + (size_t)clen)
			break;
		buf_reserve(&buf, len, &cap, len + 16384 + 1);
		int n = SSL_read(ssl, buf + len, (int)(cap - len - 1));
		if (n <= 0) {
			int e = SSL_get_error(ssl, n);
			if (head == 1 && clen < 0 && e == SSL_ERROR_ZERO_RETURN)
				break; /* no Content-Length: the body ends with the connection */
			fail(error_r, "reading from %s: %s", c->primary,
			     e == SSL_ERROR_ZERO_RETURN ? "connection closed early" : ssl_reason(ssl, n));
			goto out;
		}
		len += (size_t)n;
		if (len > SYNC_RESPONSE_MAX) {
			fail(error_r, "reading from %s: the answer is larger than %d MB", c->primary,
			     SYNC_RESPONSE_MAX >> 20);
			goto out;
		}
		if (head == 0)
			head = http_head_parse(buf, len, status_r, &head_len, &clen);
		if (head < 0) {
			fail(error_r, "reading from %s: not an HTTP answer", c->primary);
			goto out;
		}
	}
	size_t body_len = clen >= 0 ? (size_t)clen : len - head_len;
	char *body = xmalloc(body_len + 1);
	memcpy(body, buf + head_len, body_len);
	body[body_len] = '\0';
	*body_r = body;
	*len_r = body_len;
	ret = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	SSL_free(ssl);
	tcp_close(c, fd);
	return ret;
}

/* The pages of one pull, wiped when freed. */
struct pages {
	char **data;
	size_t *len;
	size_t n, cap;
};

static void pages_add(struct pages *p, char *data, size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 8 : p->cap * 2;
		p->data = xrealloc(p->data, p->cap * sizeof(*p->data));
		p->len = xrealloc(p->len, p->cap * sizeof(*p->len));
	}
	p->data[p->n] = data;
	p->len[p->n++] = len;
}

static void pages_clear(struct pages *p)
{
	for (size_t i = 0; i < p->n; i++)
		db_sync_page_free(&p->data[i], p->len[i]);
	free(p->data);
	free(p->len);
	memset(p, 0, sizeof(*p));
}

/* Percent-encode s for a query string. */
static void url_encode(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s != '\0' && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* GET target and parse the page it returns. The body joins pages (on success). */
static int fetch_page(struct sync_client *c, const char *target, struct pages *pages,
                      struct db_sync_page *page, const char **error_r)
{
	char *body, snippet[200];
	size_t len;
	int status;
	const char *error;

	if (sync_client_get(c, target, &status, &body, &len, error_r) < 0)
		return -1;
	if (status != 200) {
		size_t i = 0;
		for (; i < sizeof(snippet) - 1 && i < len && body[i] != '\n'; i++)
			snippet[i] = (unsigned char)body[i] < 0x20 || body[i] == 0x7f ? '?' : body[i];
		snippet[i] = '\0';
		db_sync_page_free(&body, len);
		if (status == 401)
			return fail(error_r,
			            "%s refused our sync secret (401): sync_secret_file must hold the same "
			            "secret on both hosts",
			            c->primary);
		return fail(error_r, "%s answered %d: %s", c->primary, status, snippet);
	}
	if (db_sync_page_parse(c->db, body, page, &error) < 0) {
		db_sync_page_free(&body, len);
		return fail(error_r, "%s sent a bad page: %s", c->primary, error);
	}
	pages_add(pages, body, len);
	return 0;
}

/* The changes after last_seq. *reset_r: the primary wants us to take a snapshot instead. */
static int pull_changes(struct sync_client *c, const struct db_sync_state *st, struct pages *pages,
                        struct db_sync_batch *batch, int64_t *last_seq_r, int64_t *last_at_r, bool *reset_r,
                        const char **error_r)
{
	static __thread char log_id[DB_SYNC_LOG_ID_MAX + 1];
	char target[400], log_enc[3 * DB_SYNC_LOG_ID_MAX + 1];
	int64_t since = st->last_seq;

	*reset_r = false;
	url_encode(st->primary_log_id, log_enc, sizeof(log_enc));
	for (int i = 0; i < SYNC_PULL_PAGES; i++) {
		struct db_sync_page page;
		snprintf(target, sizeof(target), "/sync/v1/changes?since=%lld&log=%s&limit=%d",
		         (long long)since, log_enc, SYNC_PAGE_REQUEST);
		if (fetch_page(c, target, pages, &page, error_r) < 0)
			return -1;
		bool more = page.more;
		if (page.reset || (i > 0 && strcmp(page.log_id, log_id) != 0)) {
			db_sync_page_clear(&page);
			*reset_r = true;
			return 0;
		}
		str_copy(log_id, sizeof(log_id), page.log_id);
		batch->primary_seq = page.seq;
		if (page.nchanges > 0) {
			since = page.last_seq;
			*last_at_r = page.last_at;
		}
		db_sync_page_clear(&page);
		if (!more)
			break;
	}
	batch->log_id = log_id;
	*last_seq_r = since;
	return 0;
}

/* A whole snapshot, every page read at one seq. */
static int pull_snapshot(struct sync_client *c, struct pages *pages, struct db_sync_batch *batch,
                         const char **error_r)
{
	static __thread char log_id[DB_SYNC_LOG_ID_MAX + 1];
	char target[1200], tbl[32], after[3 * 256 + 1];

	for (int attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
		bool consistent = true, more = true;
		int64_t seq = -1;
		tbl[0] = after[0] = '\0';
		pages_clear(pages);
		while (more && consistent) {
			struct db_sync_page page;
			snprintf(target, sizeof(target), "/sync/v1/snapshot?limit=%d%s%s%s%s",
			         SYNC_PAGE_REQUEST, tbl[0] != '\0' ? "&tbl=" : "", tbl,
			         after[0] != '\0' ? "&after=" : "", after);
			if (fetch_page(c, target, pages, &page, error_r) < 0)
				return -1;
			if (!page.reset) {
				db_sync_page_clear(&page);
				return fail(error_r, "%s sent a snapshot page without 'reset'", c->primary);
			}
			if (seq < 0) {
				seq = page.seq;
				str_copy(log_id, sizeof(log_id), page.log_id);
			}
			consistent = page.seq == seq && strcmp(page.log_id, log_id) == 0;
			more = page.more;
			str_copy(tbl, sizeof(tbl), page.next_tbl);
			if (page.next_after != NULL)
				url_encode(page.next_after, after, sizeof(after));
			else
				after[0] = '\0';
			db_sync_page_clear(&page);
			if (more && tbl[0] == '\0')
				return fail(error_r, "%s sent a snapshot page without 'next'", c->primary);
		}
		if (consistent) {
			batch->snapshot = true;
			batch->log_id = log_id;
			batch->primary_seq = seq;
			return 0;
		}
	}
	return fail(error_r, "the tables on %s kept changing while a snapshot was read; trying again later",
	            c->primary);
}

/* Warn about a failure when it is new, or again after WARN_REPEAT seconds. */
static void report_failure(struct sync_client *c, const char *error)
{
	int64_t now = time_now();
	const char *err;
	if (!c->failing || strcmp(c->last_warned, error) != 0 || now - c->warned_at >= WARN_REPEAT) {
		log_warn("sync", "pull from %s failed: %s (the replica stays as it is)", c->primary, error);
		str_copy(c->last_warned, sizeof(c->last_warned), error);
		c->warned_at = now;
	}
	c->failing = true;
	if (db_sync_set_error(c->db, error, &err) < 0)
		log_warn("sync", "recording the failure: %s", err);
}

int sync_client_pull(struct sync_client *c, const char **error_r)
{
	struct db_sync_state st;
	struct db_sync_batch batch = {0};
	struct pages pages = {0};
	int64_t last_at = 0, last_seq = 0, applied;
	bool reset;
	const char *error;

	if (db_sync_state_get(c->db, &st, &error) < 0) {
		fail(error_r, "reading sync_state: %s", error);
		goto failed;
	}
	if (pull_changes(c, &st, &pages, &batch, &last_seq, &last_at, &reset, error_r) < 0)
		goto failed;
	if (reset && pull_snapshot(c, &pages, &batch, error_r) < 0)
		goto failed;
	batch.pages = (const char *const *)pages.data;
	batch.npages = pages.n;
	batch.now = time_now();
	if (db_sync_apply(c->db, &batch, &applied, &error) < 0) {
		fail(error_r, "applying the changes from %s: %s", c->primary, error);
		goto failed;
	}
	pages_clear(&pages);
	if (c->failing)
		log_info("sync", "pulls from %s work again", c->primary);
	c->failing = false;
	if (batch.snapshot) {
		log_info("sync", "replica at seq %lld (lag 0s): snapshot of %lld rows from %s",
		         (long long)batch.primary_seq, (long long)applied, c->primary);
	} else if (applied > 0) {
		int64_t lag = batch.now - last_at;
		log_info("sync", "replica at seq %lld (lag %llds): %lld changes", (long long)last_seq,
		         (long long)(lag > 0 ? lag : 0), (long long)applied);
	}
	return 0;
failed:
	pages_clear(&pages);
	report_failure(c, *error_r);
	return -1;
}

int sync_client_open(struct sync_client *c, const char **error_r)
{
	const char *error;
	if (c == NULL || c->db != NULL)
		return 0;
	if (db_open(c->cfg->database, DB_OPEN_READWRITE, &c->db, &error) < 0)
		return fail(error_r, "sync: %s", error);
	if (db_sync_replica_init(c->db, c->primary, &error) < 0)
		return fail(error_r, "sync: %s", error);
	return 0;
}

static void *client_thread(void *arg)
{
	struct sync_client *c = arg;
	const char *error;

	for (;;) {
		int64_t started = time_mono_msec();
		sync_client_pull(c, &error);
		int64_t due = started + c->cfg->sync_interval * 1000;
		struct timespec ts;
		pthread_mutex_lock(&c->lock);
		while (!c->stopping) {
			int64_t wait = due - time_mono_msec();
			if (wait <= 0)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->wake, &c->lock, &ts);
		}
		bool stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
	}
	return NULL;
}

int sync_client_start(struct sync_client *c, const char **error_r)
{
	pthread_condattr_t attr;
	if (c == NULL)
		return 0;
	if (sync_client_open(c, error_r) < 0)
		return -1;
	/* The wait runs on the monotonic clock: a step of the wall clock neither stalls nor hurries pulls. */
	pthread_cond_destroy(&c->wake);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
	int rc = pthread_create(&c->thread, NULL, client_thread, c);
	if (rc != 0)
		return fail(error_r, "sync: cannot start the client thread: %s", strerror(rc));
	c->running = true;
	log_info("sync", "replicating the tables from %s every %llds (TLS, verifying %s)", c->primary,
	         (long long)c->cfg->sync_interval, c->server_name);
	return 0;
}

void sync_client_free(struct sync_client **cp)
{
	struct sync_client *c = *cp;
	if (c == NULL)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		if (c->active_fd >= 0)
			shutdown(c->active_fd, SHUT_RDWR); /* ends a blocking connect, read or write */
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	db_close(&c->db);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	sync_secret_wipe(&c->secret);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}
