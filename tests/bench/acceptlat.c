/*
 * acceptlat: accept latency of an SMTP server, the time from the end of DATA (the final ".\r\n" handed
 * to the kernel) to the server's reply, over N messages sent on K concurrent connections (one thread
 * each, blocking sockets; connections are kept and reused for the next message, no pipelining).
 *
 *   acceptlat HOST PORT N K SIZE [RCPT]     prints one JSON object: p50, p90, p99, max in ms, msgs/s
 *
 * Every reply but the final 250 is checked; any unexpected reply or I/O error aborts with status 1.
 * Build: cc -O2 -pthread -o acceptlat acceptlat.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	char buf[8192];
	size_t len;
};

static const char *host, *rcpt = "info@example.com";
static int port;
static long total;
static atomic_long next_msg;
static double *lat_ms; /* one per message */
static char *body;
static size_t body_len;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "acceptlat: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static void send_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("send", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Read one whole reply (multi-line ones too); returns its code. */
static int reply(struct conn *c)
{
	for (;;) {
		char *start = c->buf;
		char *eol;
		while ((eol = memmem(start, c->len - (size_t)(start - c->buf), "\r\n", 2)) != NULL) {
			size_t linelen = (size_t)(eol - start);
			int last = linelen < 4 || start[3] != '-';
			int code = atoi(start);
			start = eol + 2;
			if (last) {
				size_t rest = c->len - (size_t)(start - c->buf);
				memmove(c->buf, start, rest);
				c->len = rest;
				return code;
			}
		}
		/* keep the unfinished line */
		size_t keep = c->len - (size_t)(start - c->buf);
		memmove(c->buf, start, keep);
		c->len = keep;
		if (c->len == sizeof(c->buf))
			die("reply too long", NULL);
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("connection closed", r < 0 ? strerror(errno) : NULL);
		c->len += (size_t)r;
	}
}

static void expect(struct conn *c, const char *cmd, int want)
{
	char line[600];
	if (cmd != NULL) {
		int n = snprintf(line, sizeof(line), "%s\r\n", cmd);
		send_all(c, line, (size_t)n);
	}
	int code = reply(c);
	if (code != want) {
		snprintf(line, sizeof(line), "%s: got %d, expected %d", cmd ? cmd : "greeting", code, want);
		die("unexpected reply", line);
	}
}

static void *worker(void *arg)
{
	struct conn c = {0};
	struct sockaddr_in sa = {0};
	char cmd[600];
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect", strerror(errno));
	int one = 1;
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	expect(&c, NULL, 220);
	expect(&c, "EHLO lat.bench", 250);
	for (;;) {
		long i = atomic_fetch_add(&next_msg, 1);
		if (i >= total)
			break;
		expect(&c, "MAIL FROM:<alice@sender.test>", 250);
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", rcpt);
		expect(&c, cmd, 250);
		expect(&c, "DATA", 354);
		send_all(&c, body, body_len);
		double t0 = now_ms();
		send_all(&c, ".\r\n", 3);
		int code = reply(&c);
		lat_ms[i] = now_ms() - t0;
		if (code != 250) {
			snprintf(cmd, sizeof(cmd), "end of data: got %d", code);
			die("unexpected reply", cmd);
		}
	}
	expect(&c, "QUIT", 221);
	close(c.fd);
	(void)arg;
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
	long i = (long)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: acceptlat HOST PORT N K SIZE [RCPT]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	total = atol(argv[3]);
	int k = atoi(argv[4]);
	long size = atol(argv[5]);
	if (argc > 6)
		rcpt = argv[6];
	if (total < 1 || k < 1 || size < 0)
		return 2;
	/* headers, then lines of 76 'x' and CRLF up to size octets of payload */
	body = malloc((size_t)size + 1024);
	int h = sprintf(body, "From: <alice@sender.test>\r\nTo: <%s>\r\nSubject: latency\r\n\r\n", rcpt);
	body_len = (size_t)h;
	for (long n = 0; n < size;) {
		long line = size - n < 78 ? size - n : 78;
		if (line < 2)
			line = 2;
		memset(body + body_len, 'x', (size_t)line - 2);
		memcpy(body + body_len + line - 2, "\r\n", 2);
		body_len += (size_t)line;
		n += line;
	}
	lat_ms = calloc((size_t)total, sizeof(double));
	pthread_t *th = calloc((size_t)k, sizeof(pthread_t));
	double t0 = now_ms();
	for (int i = 0; i < k; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < k; i++)
		pthread_join(th[i], NULL);
	double elapsed = now_ms() - t0;
	double sum = 0;
	for (long i = 0; i < total; i++)
		sum += lat_ms[i];
	qsort(lat_ms, (size_t)total, sizeof(double), cmp);
	printf("{\"n\": %ld, \"k\": %d, \"size\": %ld, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
	       "\"max_ms\": %.3f, \"mean_ms\": %.3f, \"msgs_per_s\": %.1f}\n",
	       total, k, size, pct(lat_ms, total, 0.50), pct(lat_ms, total, 0.90), pct(lat_ms, total, 0.99),
	       lat_ms[total - 1], sum / (double)total, (double)total / (elapsed / 1e3));
	return 0;
}
