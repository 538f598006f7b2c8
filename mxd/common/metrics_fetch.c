/* metrics_fetch: see metrics_fetch.h. */
#include "mxd/common/metrics_fetch.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define METRICS_FETCH_MAX_BODY (1024 * 1024)
#define METRICS_DEFAULT_PORT   9125

char *metrics_fetch(const char *listen, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	if (netaddr_parse(listen, METRICS_DEFAULT_PORT, &ss, &len, &error) < 0)
		return NULL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || fd_write_all(fd, req, sizeof(req) - 1) < 0) {
		close(fd);
		return NULL;
	}
	size_t cap = 65536, used = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t n;
	while ((n = read(fd, buf + used, cap - used)) > 0) {
		used += (size_t)n;
		if (used == cap) {
			if (cap >= METRICS_FETCH_MAX_BODY)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	close(fd);
	buf[used] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") == NULL || body == NULL) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

double metrics_sample(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, prefix, pl) == 0 && line[pl] == ' ')
			return atof(line + pl + 1);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

size_t metrics_labelled(const char *text, const char *name, struct metrics_labelled *out, size_t max)
{
	size_t nl = strlen(name), n = 0;
	for (const char *line = text; line != NULL && *line != '\0' && n < max;) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		const char *close = memchr(line, '}', len);
		if (strncmp(line, name, nl) == 0 && line[nl] == '{' && close != NULL && close[1] == ' ') {
			size_t ll = (size_t)(close + 1 - (line + nl));
			snprintf(out[n].labels, sizeof(out[n].labels), "%.*s", (int)ll, line + nl);
			out[n].value = atof(close + 2);
			n++;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return n;
}
