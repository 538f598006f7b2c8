/*
 * test_sync_server: the change feed over loopback TLS, the primary's server (mxd/ha/sync_server.c) and a
 * secondary's client (mxd/ha/sync_client.c) in one process. A test CA and a certificate for
 * "primary.test" are made with the openssl command at test time; the client connects to 127.0.0.1 and
 * verifies the name primary.test.
 *
 * Covers: a pull with the right secret replicates the tables (relay passwords included) and then
 * follows a change; a wrong secret gets 401, fails the pull and is recorded in last_error; requests
 * without a secret, with a tampered one, with a bad parameter, another method or path are refused by
 * status (401 first, before anything else is looked at); plaintext HTTP gets no answer; a certificate
 * that does not name the expected host fails verification before anything is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/alias.h"
#include "db/db.h"
#include "db/domain.h"
#include "db/route.h"
#include "db/sync.h"
#include "mxd/common/config.h"
#include "mxd/ha/sync_client.h"
#include "mxd/ha/sync_server.h"
#include "mxd/ha/sync_throttle.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
	char dir[64];
	char path[256];
	int port;
	struct mxd_config *pcfg;
	struct sync_server *server;
	struct db *p;
};

static const char *in_dir(struct fixture *f, const char *name)
{
	static char buf[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->dir, name);
	return buf[i];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

static int free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	close(fd);
	return ntohs(sin.sin_port);
}

static void set(struct mxd_config *cfg, const char *name, const char *value)
{
	const char *err;
	if (config_set(cfg, name, value, &err) < 0)
		fail_msg("%s = %s: %s", name, value, err);
}

static int make_ca(struct fixture *f)
{
	char cmd[2048];
	snprintf(
	    cmd, sizeof(cmd),
	    "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2"
	    " -subj '/CN=mxd test CA' >/dev/null 2>&1"
	    " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
	    " -subj '/CN=primary.test' >/dev/null 2>&1"
	    " && printf 'subjectAltName=DNS:primary.test\\n' > ext.cnf"
	    " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt"
	    " -days 2 -extfile ext.cnf >/dev/null 2>&1",
	    f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err;
	char port[32];

	str_copy(f->dir, sizeof(f->dir), "/tmp/test_sync_server.XXXXXX");
	if (mkdtemp(f->dir) == NULL || make_ca(f) < 0)
		return -1;
	write_file(in_dir(f, "secret"), SECRET "\n", 0600);
	write_file(in_dir(f, "wrong.secret"),
	           "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n", 0600);
	struct db *r;
	if (db_open(in_dir(f, "primary.db"), DB_OPEN_CREATE, &f->p, &err) < 0 ||
	    db_open(in_dir(f, "replica.db"), DB_OPEN_CREATE, &r, &err) < 0)
		return -1;
	db_close(&r); /* created (mxctl init); clients open their own */
	const char *dests[] = {"a@gmail.test"};
	struct db_route_hop_spec hop = {.match = "example.com",
	                                .nexthop = "[relay.test]:587",
	                                .auth_user = "alice",
	                                .auth_password = "relay-pw-1"};
	if (db_domain_add(f->p, "example.com", NULL, 0, &err) < 0 ||
	    db_alias_add(f->p, "info@example.com", dests, 1, 0, &err) < 0 ||
	    db_route_add_hop(f->p, &hop, NULL, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->port = free_port();
	snprintf(port, sizeof(port), "127.0.0.1:%d", f->port);
	f->pcfg = config_new();
	set(f->pcfg, "role", "primary");
	set(f->pcfg, "database", in_dir(f, "primary.db"));
	set(f->pcfg, "sync_listen", port);
	set(f->pcfg, "sync_tls_cert_file", in_dir(f, "server.crt"));
	set(f->pcfg, "sync_tls_key_file", in_dir(f, "server.key"));
	set(f->pcfg, "sync_secret_file", in_dir(f, "secret"));
	if (sync_server_new(f->pcfg, &f->server, &err) < 0 || sync_server_start(f->server, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	assert_int_equal(sync_server_port(f->server), f->port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	sync_server_free(&f->server);
	config_free(&f->pcfg);
	db_close(&f->p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* A secondary's configuration against the fixture's primary. */
static struct mxd_config *client_cfg(struct fixture *f, const char *secret_file, const char *server_name)
{
	struct mxd_config *cfg = config_new();
	char primary[32];
	snprintf(primary, sizeof(primary), "127.0.0.1:%d", f->port);
	set(cfg, "role", "secondary");
	set(cfg, "database", in_dir(f, "replica.db"));
	set(cfg, "sync_primary", primary);
	set(cfg, "sync_tls_CAfile", in_dir(f, "ca.crt"));
	set(cfg, "sync_tls_server_name", server_name);
	set(cfg, "sync_secret_file", in_dir(f, secret_file));
	set(cfg, "sync_timeout", "5s");
	return cfg;
}

static void test_pull(void **state)
{
	struct fixture *f = *state;
	struct mxd_config *cfg = client_cfg(f, "secret", "primary.test");
	struct sync_client *c;
	struct db *r;
	const char *err;

	assert_int_equal(sync_client_new(cfg, &c, &err), 0);
	assert_non_null(c);
	assert_int_equal(sync_client_open(c, &err), 0);
	if (sync_client_pull(c, &err) < 0)
		fail_msg("pull: %s", err);
	assert_int_equal(db_open(in_dir(f, "replica.db"), DB_OPEN_READONLY, &r, &err), 0);
	assert_int_equal(unit_query_int(r, "SELECT count(*) FROM aliases WHERE address = 'info@example.com'"),
	                 1);
	assert_int_equal(
	    unit_query_int(r, "SELECT count(*) FROM route_hops WHERE auth_password = 'relay-pw-1'"), 1);
	/* The replica's file is not readable by others: it holds relay passwords. */
	struct stat st;
	assert_int_equal(stat(in_dir(f, "replica.db"), &st), 0);
	assert_int_equal(st.st_mode & 0007, 0);

	/* A change on the primary arrives with the next pull. */
	assert_int_equal(db_alias_del(f->p, "info@example.com", &err), 0);
	assert_int_equal(sync_client_pull(c, &err), 0);
	assert_int_equal(unit_query_int(r, "SELECT count(*) FROM aliases"), 0);
	struct db_sync_state s;
	assert_int_equal(db_sync_state_get(r, &s, &err), 0);
	assert_true(s.replica);
	assert_int_equal(s.last_seq, unit_query_int(f->p, "SELECT max(seq) FROM changelog"));
	assert_string_equal(s.last_error, "");
	db_close(&r);
	sync_client_free(&c);
	config_free(&cfg);
}

static void test_wrong_secret(void **state)
{
	struct fixture *f = *state;
	struct mxd_config *cfg = client_cfg(f, "wrong.secret", "primary.test");
	struct sync_client *c;
	struct db *r;
	const char *err;
	char *body;
	size_t len;
	int status;

	assert_int_equal(sync_client_new(cfg, &c, &err), 0);
	assert_int_equal(sync_client_open(c, &err), 0);
	assert_int_equal(sync_client_get(c, "/sync/v1/changes?since=0", &status, &body, &len, &err), 0);
	assert_int_equal(status, 401);
	assert_null(strstr(body, "example.com"));
	db_sync_page_free(&body, len);
	assert_int_equal(sync_client_pull(c, &err), -1);
	assert_non_null(strstr(err, "401"));
	assert_null(strstr(err, "fedcba9876543210"));
	assert_int_equal(db_open(in_dir(f, "replica.db"), DB_OPEN_READONLY, &r, &err), 0);
	struct db_sync_state s;
	assert_int_equal(db_sync_state_get(r, &s, &err), 0);
	assert_non_null(strstr(s.last_error, "refused our sync secret"));
	assert_int_equal(s.last_sync, 0);
	assert_int_equal(unit_query_int(r, "SELECT count(*) FROM domains"), 0);
	db_close(&r);
	sync_client_free(&c);
	config_free(&cfg);
}

static void test_wrong_name(void **state)
{
	struct fixture *f = *state;
	struct mxd_config *cfg = client_cfg(f, "secret", "other.test");
	struct sync_client *c;
	const char *err;

	assert_int_equal(sync_client_new(cfg, &c, &err), 0);
	assert_int_equal(sync_client_open(c, &err), 0);
	assert_int_equal(sync_client_pull(c, &err), -1);
	assert_non_null(strstr(err, "certificate verification failed"));
	assert_non_null(strstr(err, "hostname mismatch"));
	sync_client_free(&c);
	config_free(&cfg);
}

/* Send request as is over TLS (no verification: this is the attacker's side) and return the answer. */
static char *raw_request(struct fixture *f, const char *request, bool tls)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)f->port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	char *out = xcalloc(1, 65536);
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!tls) {
		assert_true(write(fd, request, strlen(request)) > 0);
		ssize_t n;
		while (len < 65535 && (n = read(fd, out + len, 65535 - len)) > 0)
			len += (size_t)n;
		close(fd);
		return out;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	assert_true(SSL_write(ssl, request, (int)strlen(request)) > 0);
	int n;
	while (len < 65535 && (n = SSL_read(ssl, out + len, (int)(65535 - len))) > 0)
		len += (size_t)n;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return out;
}

static void test_refused_requests(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *request;
		const char *status;
	} cases[] = {
	    {"GET /sync/v1/changes?since=0 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n", "HTTP/1.1 401"},
	    {"GET /sync/v1/changes?since=0 HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "x\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 401"},
	    {"GET /sync/v1/changes?since=0 HTTP/1.1\r\nHost: p\r\nAuthorization: Basic " SECRET "\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 401"},
	    {"GET /nothing HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n", "HTTP/1.1 401"},
	    {"POST /sync/v1/changes HTTP/1.1\r\nHost: p\r\nContent-Length: 100000000\r\n\r\nxxxx",
	     "HTTP/1.1 401"},
	    {"GET /sync/v1/changes?since=abc HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 400"},
	    {"GET /sync/v1/snapshot?tbl=admins HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 400"},
	    {"GET /sync/v1/other HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 404"},
	    {"POST /sync/v1/changes HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "\r\n"
	     "Content-Length: 0\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 405"},
	    {"GET /sync/v1/changes?since=0&limit=1 HTTP/1.1\r\nHost: p\r\nAuthorization: bearer " SECRET
	     "\r\n"
	     "Connection: close\r\n\r\n",
	     "HTTP/1.1 200"},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(cases); i++) {
		char *answer = raw_request(f, cases[i].request, true);
		if (strncmp(answer, cases[i].status, strlen(cases[i].status)) != 0)
			fail_msg("case %zu: expected %s, got %.60s", i, cases[i].status, answer);
		if (strcmp(cases[i].status, "HTTP/1.1 200") != 0)
			assert_null(strstr(answer, "example.com"));
		free(answer);
	}
	/* Plaintext HTTP to the TLS port: no HTTP answer, no data. */
	char *answer = raw_request(
	    f, "GET /sync/v1/changes HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET "\r\n\r\n", false);
	assert_null(strstr(answer, "HTTP/1.1 200"));
	assert_null(strstr(answer, "example.com"));
	free(answer);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct mxd_config *cfg = config_new();
	struct sync_server *s;
	struct sync_client *c;
	const char *err;

	/* The feed is TLS only. */
	set(cfg, "sync_listen", "127.0.0.1:1");
	assert_int_equal(sync_server_new(cfg, &s, &err), -1);
	assert_non_null(strstr(err, "sync_tls_cert_file"));
	/* A secret others may read is refused; so is one of fewer than 32 random bytes: 64 hex digits or
	 * 44 characters of any other kind. */
	write_file(in_dir(f, "open.secret"), SECRET "\n", 0644);
	write_file(in_dir(f, "short.secret"), "abc\n", 0600);
	write_file(in_dir(f, "hex63.secret"),
	           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 0600);
	write_file(in_dir(f, "b64-43.secret"), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJC\n", 0600);
	write_file(in_dir(f, "b64-44.secret"), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n", 0600);
	config_free(&cfg);
	cfg = client_cfg(f, "open.secret", "primary.test");
	assert_int_equal(sync_client_new(cfg, &c, &err), -1);
	assert_non_null(strstr(err, "other users"));
	config_free(&cfg);
	static const struct {
		const char *file;
		int ret;
	} lengths[] = {
	    {"short.secret", -1}, {"hex63.secret", -1}, {"b64-43.secret", -1}, {"b64-44.secret", 0}};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(lengths); i++) {
		cfg = client_cfg(f, lengths[i].file, "primary.test");
		c = NULL;
		assert_int_equal(sync_client_new(cfg, &c, &err), lengths[i].ret);
		if (lengths[i].ret < 0)
			assert_non_null(strstr(err, "shorter than 32 random bytes"));
		sync_client_free(&c);
		config_free(&cfg);
	}
	/* A secondary without sync_primary does not replicate; a primary has no client. */
	cfg = config_new();
	set(cfg, "role", "secondary");
	assert_int_equal(sync_client_new(cfg, &c, &err), 0);
	assert_null(c);
	assert_int_equal(sync_server_new(cfg, &s, &err), 0);
	assert_null(s);
	config_free(&cfg);
}

/* Return just after the wall clock starts a new second. */
static void wait_second_start(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t start = ts.tv_sec;
	do {
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
	} while (ts.tv_sec == start);
	struct timespec margin = {0, 20000000}; /* time() may follow the clock by a tick */
	nanosleep(&margin, NULL);
}

/* An address that presents wrong secrets waits (429, Retry-After) after SYNC_THROTTLE_FREE of them,
 * even with the right one; requests without a secret are not counted. */
static void test_wrong_secrets_back_off(void **state)
{
	struct fixture *f = *state;
	const char *wrong =
	    "GET /sync/v1/changes?since=0 HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET
	    "-no\r\nConnection: close\r\n\r\n";
	const char *none = "GET /sync/v1/changes?since=0 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n";
	const char *right =
	    "GET /sync/v1/changes?since=0&limit=1 HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer " SECRET
	    "\r\nConnection: close\r\n\r\n";
	for (int i = 0; i < 5; i++) {
		char *answer = raw_request(f, none, true);
		assert_non_null(strstr(answer, "HTTP/1.1 401"));
		free(answer);
	}
	for (int i = 0; i <= SYNC_THROTTLE_FREE; i++) {
		/* the first wait is 1 s on a clock of whole seconds: the failure that starts it and the
		 * request it refuses must fall in the same second, so the last failure opens a second */
		if (i == SYNC_THROTTLE_FREE)
			wait_second_start();
		char *answer = raw_request(f, wrong, true);
		assert_non_null(strstr(answer, "HTTP/1.1 401"));
		free(answer);
	}
	char *answer = raw_request(f, right, true);
	assert_non_null(strstr(answer, "HTTP/1.1 429"));
	assert_non_null(strstr(answer, "Retry-After: 1"));
	free(answer);
	sleep(2);
	answer = raw_request(f, right, true);
	assert_non_null(strstr(answer, "HTTP/1.1 200"));
	free(answer);
}

/* One address holds at most SYNC_PER_ADDRESS_LIMIT connections: the next is closed at once. */
static void test_connections_per_address(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)f->port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fds[SYNC_PER_ADDRESS_LIMIT + 1];
	for (int i = 0; i <= SYNC_PER_ADDRESS_LIMIT; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
		usleep(100 * 1000); /* accepted in order */
	}
	struct timeval tv = {.tv_sec = 5};
	char buf[16];
	setsockopt(fds[SYNC_PER_ADDRESS_LIMIT], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = read(fds[SYNC_PER_ADDRESS_LIMIT], buf, sizeof(buf));
	assert_true(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)); /* closed, not waiting */
	tv.tv_sec = 0;
	tv.tv_usec = 300 * 1000;
	setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(read(fds[0], buf, sizeof(buf)), -1); /* the first ones are kept, waiting */
	for (int i = 0; i <= SYNC_PER_ADDRESS_LIMIT; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secrets_back_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connections_per_address, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
