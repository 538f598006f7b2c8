/* smtp_parse: see smtp_parse.h. */
#include "mxd/smtpd/smtp_parse.h"

#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO}, {"EHLO", SMTP_VERB_EHLO},         {"MAIL", SMTP_VERB_MAIL},
    {"RCPT", SMTP_VERB_RCPT}, {"DATA", SMTP_VERB_DATA},         {"BDAT", SMTP_VERB_BDAT},
    {"RSET", SMTP_VERB_RSET}, {"NOOP", SMTP_VERB_NOOP},         {"QUIT", SMTP_VERB_QUIT},
    {"VRFY", SMTP_VERB_VRFY}, {"EXPN", SMTP_VERB_EXPN},         {"HELP", SMTP_VERB_HELP},
    {"AUTH", SMTP_VERB_AUTH}, {"STARTTLS", SMTP_VERB_STARTTLS}, {"ETRN", SMTP_VERB_ETRN},
};

static int fail(struct smtp_parse_error *err, int code, const char *enh, const char *text)
{
	err->code = code;
	err->enh = enh;
	err->text = text;
	return -1;
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF)? */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07u;
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* A dot-string (RFC 5321 4.1.2, with RFC 6531 UTF-8): atoms of atext or UTF-8 joined by single dots. */
static bool dot_string_valid(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' ? s[i + 1] == '.' : !(addr_is_atext(c) || c >= 0x80))
			return false;
	}
	return utf8_valid((const unsigned char *)s, n);
}

/* The inside of an address literal: "1.2.3.4" or "IPv6:..."; general literals (tag:content) are not
 * accepted. */
static bool literal_valid(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[sizeof(struct in6_addr)];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd, struct smtp_parse_error *err)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = "";
	if (len > SMTP_LINE_MAX - 2)
		return fail(err, 500, "5.5.2", "Error: line too long");
	if (len == 0)
		return fail(err, 500, "5.5.2", "Error: bad syntax");
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return fail(err, 500, "5.5.2", "Error: NUL, CR or LF in command line");

	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ') {
		unsigned char c = (unsigned char)line[vlen];
		if (c <= 0x20 || c >= 0x7f)
			return fail(err, 500, "5.5.2", "Error: bad syntax");
		if (vlen < sizeof(cmd->name) - 1)
			cmd->name[vlen] = ascii_upper((char)c);
		vlen++;
	}
	if (vlen == 0)
		return fail(err, 500, "5.5.2", "Error: bad syntax");
	for (size_t i = 0; i < MXD_ARRAY_SIZE(verbs); i++) {
		if (strlen(verbs[i].name) == vlen && strncasecmp(line, verbs[i].name, vlen) == 0) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}

	size_t off = vlen < len ? vlen + 1 : vlen;
	size_t alen = len - off;
	while (alen > 0 && line[off + alen - 1] == ' ')
		alen--;
	/* An argument of spaces only is no argument: point at the terminating NUL. */
	cmd->arg = alen > 0 ? line + off : line + len;
	cmd->arg_len = alen;
	return 0;
}

/* "@dom1,@dom2:" before the mailbox; the route is checked and dropped. */
static int parse_route(const char **pp, const char *enh, struct smtp_parse_error *err)
{
	const char *p = *pp;
	for (;;) {
		char dom[ADDR_DOMAIN_MAX + 1];
		const char *derr;
		if (*p != '@')
			return fail(err, 501, enh, "Bad address syntax: malformed source route");
		const char *s = ++p;
		while (*p != '\0' && *p != ',' && *p != ':' && *p != '>')
			p++;
		size_t n = (size_t)(p - s);
		if (n > ADDR_DOMAIN_MAX)
			return fail(err, 501, enh, "Bad address syntax: domain too long");
		memcpy(dom, s, n);
		dom[n] = '\0';
		if (addr_domain_valid(dom, &derr) < 0)
			return fail(err, 501, enh, "Bad address syntax: bad domain in source route");
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != ':')
			return fail(err, 501, enh, "Bad address syntax: malformed source route");
		*pp = p + 1;
		return 0;
	}
}

static void local_flags(struct smtp_path *path, unsigned char c)
{
	if (c == '%')
		path->flags |= SMTP_PATH_PERCENT_HACK;
	else if (c == '!')
		path->flags |= SMTP_PATH_BANG_PATH;
	else if (c >= 0x80)
		path->flags |= SMTP_PATH_UTF8;
}

/* A quoted local part; *pp is at the opening quote. Stored unquoted when its content would be a plain
 * dot-string anyway, else as sent with its quotes. */
static int parse_quoted(const char **pp, struct smtp_path *path, const char *enh,
                        struct smtp_parse_error *err)
{
	const unsigned char *s = (const unsigned char *)*pp + 1, *p = s;
	char plain[ADDR_LOCAL_MAX + 1];
	size_t pn = 0;
	while (*p != '"') {
		unsigned char c = *p;
		if (c == '\0')
			return fail(err, 501, enh, "Bad address syntax: unterminated quoted string");
		if (c == '\\') {
			c = p[1];
			if (c < 0x20 || c > 0x7e)
				return fail(err, 501, enh, "Bad address syntax: bad quoted pair");
			p += 2;
		} else {
			if (c < 0x20 || c == 0x7f)
				return fail(err, 501, enh,
				            "Bad address syntax: control character in local part");
			p++;
		}
		if ((size_t)(p - s) > ADDR_LOCAL_MAX)
			return fail(err, 501, enh, "Bad address syntax: local part too long");
		plain[pn++] = (char)c;
		if (c == '@')
			path->flags |= SMTP_PATH_QUOTED_AT;
		local_flags(path, c);
	}
	size_t n = (size_t)(p - s);
	if (pn == 0)
		return fail(err, 501, enh, "Bad address syntax: empty local part");
	if (!utf8_valid((const unsigned char *)plain, pn))
		return fail(err, 501, enh, "Bad address syntax: invalid UTF-8 in local part");
	path->flags |= SMTP_PATH_QUOTED;
	if (dot_string_valid(plain, pn)) {
		memcpy(path->local, plain, pn);
		path->local[pn] = '\0';
	} else {
		path->local[0] = '"';
		memcpy(path->local + 1, s, n);
		path->local[n + 1] = '"';
		path->local[n + 2] = '\0';
	}
	*pp = (const char *)p + 1;
	return 0;
}

static int parse_local(const char **pp, struct smtp_path *path, const char *enh, struct smtp_parse_error *err)
{
	if (**pp == '"')
		return parse_quoted(pp, path, enh, err);
	const char *s = *pp, *p = s;
	for (; *p != '\0' && *p != '@' && *p != '>'; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(addr_is_atext(c) || c == '.' || c >= 0x80))
			return fail(err, 501, enh, "Bad address syntax: invalid character in local part");
		local_flags(path, c);
	}
	size_t n = (size_t)(p - s);
	if (n == 0)
		return fail(err, 501, enh, "Bad address syntax: empty local part");
	if (n > ADDR_LOCAL_MAX)
		return fail(err, 501, enh, "Bad address syntax: local part too long");
	if (!dot_string_valid(s, n))
		return fail(err, 501, enh, "Bad address syntax: malformed local part");
	memcpy(path->local, s, n);
	path->local[n] = '\0';
	*pp = p;
	return 0;
}

/* The domain after '@': a name or an address literal, stored lower-cased. loose_ok: a name whose only
 * fault is a label over 63 octets is flagged SMTP_PATH_MALFORMED_DOMAIN (the reason in path->malformed)
 * instead of refused. */
static int parse_domain(const char **pp, struct smtp_path *path, const char *enh, bool loose_ok,
                        struct smtp_parse_error *err)
{
	const char *s = *pp, *p = s;
	const char *derr;
	if (*p == '[') {
		for (p++; *p != ']'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x21 || c > 0x7e || c == '[' || c == '\\')
				return fail(err, 501, enh, "Bad address syntax: malformed address literal");
		}
		p++;
		if (!literal_valid(s + 1, (size_t)(p - s) - 2))
			return fail(err, 501, enh, "Bad address syntax: invalid address literal");
		path->flags |= SMTP_PATH_ADDRESS_LITERAL;
	} else {
		while (*p != '\0' && *p != '>')
			p++;
	}
	size_t n = (size_t)(p - s);
	if (n > ADDR_DOMAIN_MAX)
		return fail(err, 501, enh, "Bad address syntax: domain too long");
	for (size_t i = 0; i < n; i++)
		path->domain[i] = ascii_lower(s[i]);
	path->domain[n] = '\0';
	if (!(path->flags & SMTP_PATH_ADDRESS_LITERAL)) {
		if (addr_hostname_valid(path->domain, &derr) < 0) {
			const char *lerr;
			if (!loose_ok || addr_hostname_loose_valid(path->domain, &lerr) < 0)
				return fail(err, 501, enh, derr);
			path->flags |= SMTP_PATH_MALFORMED_DOMAIN;
			path->malformed = derr;
		}
		if (strchr(path->domain, '.') == NULL)
			path->flags |= SMTP_PATH_NON_FQDN;
		if (!utf8_valid((const unsigned char *)s, n))
			return fail(err, 501, enh, "Bad address syntax: invalid UTF-8 in domain");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] >= 0x80)
				path->flags |= SMTP_PATH_UTF8;
	}
	*pp = p;
	return 0;
}

int smtp_parse_path(const char *arg, const char *keyword, struct smtp_path *path, const char **params_r,
                    struct smtp_parse_error *err)
{
	bool rcpt = strcasecmp(keyword, "TO:") == 0;
	const char *enh = rcpt ? "5.1.3" : "5.1.7";
	const char *usage = rcpt ? "Syntax: RCPT TO:<address>" : "Syntax: MAIL FROM:<address>";
	memset(path, 0, sizeof(*path));
	*params_r = "";
	if (!str_has_prefix_ci(arg, keyword))
		return fail(err, 501, "5.5.4", usage);
	const char *p = arg + strlen(keyword);
	if (*p == ' ')
		p++; /* "MAIL FROM: <a@b>": not RFC 5321, but common */
	if (*p != '<')
		return fail(err, 501, "5.5.4", usage);
	const char *start = p++;

	if (*p == '>') {
		if (rcpt)
			return fail(err, 501, enh, "Bad address syntax: null recipient");
		path->null_path = true;
		p++;
	} else if (*p == '\0') {
		return fail(err, 501, "5.5.4", usage);
	} else {
		if (*p == '@') {
			if (parse_route(&p, enh, err) < 0)
				return -1;
			path->flags |= SMTP_PATH_SOURCE_ROUTE;
		}
		if (parse_local(&p, path, enh, err) < 0)
			return -1;
		if (*p == '>' && rcpt && path->flags == 0 && strcasecmp(path->local, "postmaster") == 0) {
			strcpy(path->address,
			       "postmaster"); /* RFC 5321 4.5.1: "<Postmaster>" with no domain */
		} else if (*p == '@') {
			p++;
			if (parse_domain(&p, path, enh, !rcpt, err) < 0)
				return -1;
		} else if (*p == '\0') {
			return fail(err, 501, "5.5.4", usage);
		} else {
			return fail(err, 501, enh, "Bad address syntax: no domain");
		}
		if (*p != '>')
			return fail(err, 501, *p == '\0' ? "5.5.4" : enh,
			            *p == '\0' ? usage : "Bad address syntax: junk after domain");
		p++;
		if ((size_t)(p - start) > ADDR_PATH_MAX)
			return fail(err, 501, enh, "Bad address syntax: path too long");
		if (path->address[0] == '\0') {
			size_t ll = strlen(path->local), dl = strlen(path->domain);
			/* Fits: the path, quotes and route included, was at most 256 octets with its <>. */
			if (ll + 1 + dl >= sizeof(path->address))
				return fail(err, 501, enh, "Bad address syntax: path too long");
			memcpy(path->address, path->local, ll);
			path->address[ll] = '@';
			memcpy(path->address + ll + 1, path->domain, dl + 1);
		}
	}
	if (*p != '\0' && *p != ' ')
		return fail(err, 501, "5.5.4", usage);
	while (*p == ' ')
		p++;
	*params_r = p;
	return 0;
}

/* One "KEY[=VALUE]" word of MAIL or RCPT parameters. */
struct param {
	const char *key, *value;
	size_t key_len, value_len; /* value NULL when there was no '=' */
};

/* Take the next word from *pp into *prm. 1 when one was taken, 0 at the end, -1 with *err. */
static int param_next(const char **pp, struct param *prm, struct smtp_parse_error *err)
{
	const char *p = *pp;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	memset(prm, 0, sizeof(*prm));
	prm->key = p;
	if (!is_alnum((unsigned char)*p))
		return fail(err, 555, "5.5.4", "Error: bad parameter syntax");
	while (is_alnum((unsigned char)*p) || *p == '-')
		p++;
	prm->key_len = (size_t)(p - prm->key);
	if (*p == '=') {
		prm->value = ++p;
		for (; *p != '\0' && *p != ' '; p++) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x21 || c > 0x7e || c == '=')
				return fail(err, 555, "5.5.4", "Error: bad parameter value");
		}
		prm->value_len = (size_t)(p - prm->value);
		if (prm->value_len == 0)
			return fail(err, 555, "5.5.4", "Error: empty parameter value");
	}
	if (*p != '\0' && *p != ' ')
		return fail(err, 555, "5.5.4", "Error: bad parameter syntax");
	*pp = p;
	return 1;
}

static bool span_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Check xtext (RFC 3461 4: printable ASCII but '+' and '=', "+XX" for others) and its decoding: each
 * decoded octet within [lo, 0x7e]. Writes the decoded text to out (out_size > 0) unless out is NULL.
 * 0 or -1. */
static int xtext_decode(const char *s, size_t n, unsigned char lo, char *out, size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			const char *h, *l;
			if (n - i < 3 || s[i + 1] == '\0' || s[i + 2] == '\0' ||
			    (h = strchr(hex, ascii_upper(s[i + 1]))) == NULL ||
			    (l = strchr(hex, ascii_upper(s[i + 2]))) == NULL)
				return -1;
			c = (unsigned char)((h - hex) * 16 + (l - hex));
			i += 2;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			return -1;
		}
		if (c < lo || c > 0x7e)
			return -1;
		if (out != NULL) {
			if (o + 1 >= out_size)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (out != NULL)
		out[o] = '\0';
	return 0;
}

enum {
	MAIL_P_SIZE = 1 << 0,
	MAIL_P_BODY = 1 << 1,
	MAIL_P_SMTPUTF8 = 1 << 2,
	MAIL_P_RET = 1 << 3,
	MAIL_P_ENVID = 1 << 4,
	MAIL_P_AUTH = 1 << 5,
	RCPT_P_NOTIFY = 1 << 0,
	RCPT_P_ORCPT = 1 << 1,
};

static int mail_param(const struct param *prm, bool smtputf8_ok, struct smtp_mail_params *out,
                      struct smtp_parse_error *err)
{
	const char *v = prm->value;
	size_t vn = prm->value_len;
	if (span_is(prm->key, prm->key_len, "SIZE")) {
		uint64_t size = 0;
		if (v == NULL || vn > 20)
			return fail(err, 555, "5.5.4", "Error: bad SIZE value");
		for (size_t i = 0; i < vn; i++) {
			if (v[i] < '0' || v[i] > '9')
				return fail(err, 555, "5.5.4", "Error: bad SIZE value");
			unsigned d = (unsigned)(v[i] - '0');
			if (size > (UINT64_MAX - d) / 10)
				return fail(err, 555, "5.5.4", "Error: SIZE value out of range");
			size = size * 10 + d;
		}
		out->has_size = true;
		out->size = size;
		return MAIL_P_SIZE;
	}
	if (span_is(prm->key, prm->key_len, "BODY")) {
		if (v != NULL && span_is(v, vn, "8BITMIME"))
			out->body_8bitmime = true;
		else if (v == NULL || !span_is(v, vn, "7BIT"))
			return fail(err, 555, "5.5.4", "Error: bad BODY value");
		return MAIL_P_BODY;
	}
	if (span_is(prm->key, prm->key_len, "SMTPUTF8")) {
		if (!smtputf8_ok)
			return fail(err, 555, "5.5.4", "Error: SMTPUTF8 not supported");
		if (v != NULL)
			return fail(err, 555, "5.5.4", "Error: SMTPUTF8 takes no value");
		out->smtputf8 = true;
		return MAIL_P_SMTPUTF8;
	}
	if (span_is(prm->key, prm->key_len, "RET")) {
		if (v != NULL && span_is(v, vn, "FULL"))
			out->ret = 1;
		else if (v != NULL && span_is(v, vn, "HDRS"))
			out->ret = 2;
		else
			return fail(err, 555, "5.5.4", "Error: bad RET value");
		return MAIL_P_RET;
	}
	if (span_is(prm->key, prm->key_len, "ENVID")) {
		if (v == NULL || vn >= sizeof(out->envid) || xtext_decode(v, vn, 0x20, NULL, 0) < 0)
			return fail(err, 555, "5.5.4", "Error: bad ENVID value");
		memcpy(out->envid, v, vn);
		out->envid[vn] = '\0';
		return MAIL_P_ENVID;
	}
	if (span_is(prm->key, prm->key_len, "AUTH")) {
		if (v == NULL || xtext_decode(v, vn, 0x20, out->auth, sizeof(out->auth)) < 0)
			return fail(err, 555, "5.5.4", "Error: bad AUTH value");
		out->has_auth = true;
		return MAIL_P_AUTH;
	}
	return fail(err, 555, "5.5.4", "Error: unsupported parameter");
}

int smtp_parse_mail_params(const char *params, bool smtputf8_ok, struct smtp_mail_params *out,
                           struct smtp_parse_error *err)
{
	struct param prm;
	unsigned seen = 0;
	int r;
	memset(out, 0, sizeof(*out));
	while ((r = param_next(&params, &prm, err)) > 0) {
		int bit = mail_param(&prm, smtputf8_ok, out, err);
		if (bit < 0)
			return -1;
		if (seen & (unsigned)bit)
			return fail(err, 555, "5.5.4", "Error: duplicate parameter");
		seen |= (unsigned)bit;
	}
	return r;
}

/* NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 4.1). */
static int notify_parse(const char *v, size_t vn, unsigned *notify_r)
{
	static const char *const names[] = {"NEVER", "SUCCESS", "FAILURE", "DELAY"};
	unsigned bits = 0;
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < vn && v[j] != ',')
			j++;
		unsigned bit = 0;
		for (size_t k = 0; k < MXD_ARRAY_SIZE(names); k++)
			if (span_is(v + i, j - i, names[k]))
				bit = 1u << k;
		if (bit == 0)
			return -1;
		bits |= bit;
		if (j == vn)
			break;
		i = j + 1;
	}
	if ((bits & 1u) && bits != 1u)
		return -1;
	*notify_r = bits;
	return 0;
}

static int rcpt_param(const struct param *prm, struct smtp_rcpt_params *out, struct smtp_parse_error *err)
{
	const char *v = prm->value;
	size_t vn = prm->value_len;
	if (span_is(prm->key, prm->key_len, "NOTIFY")) {
		if (v == NULL || notify_parse(v, vn, &out->notify) < 0)
			return fail(err, 555, "5.5.4", "Error: bad NOTIFY value");
		return RCPT_P_NOTIFY;
	}
	if (span_is(prm->key, prm->key_len, "ORCPT")) {
		/* addr-type ";" xtext; kept as sent for the DSN and the next hop */
		size_t t = 0;
		while (v != NULL && t < vn && (is_alnum((unsigned char)v[t]) || v[t] == '-'))
			t++;
		if (v == NULL || t == 0 || t == vn || v[t] != ';' || t + 1 == vn ||
		    vn >= sizeof(out->orcpt) || xtext_decode(v + t + 1, vn - t - 1, 0x20, NULL, 0) < 0)
			return fail(err, 555, "5.5.4", "Error: bad ORCPT value");
		memcpy(out->orcpt, v, vn);
		out->orcpt[vn] = '\0';
		return RCPT_P_ORCPT;
	}
	return fail(err, 555, "5.5.4", "Error: unsupported parameter");
}

int smtp_parse_rcpt_params(const char *params, struct smtp_rcpt_params *out, struct smtp_parse_error *err)
{
	struct param prm;
	unsigned seen = 0;
	int r;
	memset(out, 0, sizeof(*out));
	while ((r = param_next(&params, &prm, err)) > 0) {
		int bit = rcpt_param(&prm, out, err);
		if (bit < 0)
			return -1;
		if (seen & (unsigned)bit)
			return fail(err, 555, "5.5.4", "Error: duplicate parameter");
		seen |= (unsigned)bit;
	}
	return r;
}

int smtp_parse_helo(const char *arg, struct smtp_parse_error *err)
{
	size_t n = strlen(arg);
	while (n > 0 && arg[n - 1] == ' ')
		n--;
	if (n == 0)
		return fail(err, 501, "5.5.4", "Syntax: EHLO hostname");
	if (arg[0] == '[') {
		if (n < 3 || arg[n - 1] != ']' || memchr(arg + 1, ']', n - 2) != NULL ||
		    !literal_valid(arg + 1, n - 2))
			return fail(err, 501, "5.5.4", "Error: invalid address literal in HELO/EHLO");
		return 0;
	}
	if (arg[n - 1] == '.')
		n--; /* a fully qualified name may end in the root's dot */
	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return fail(err, 501, "5.5.4", "Error: invalid hostname in HELO/EHLO");
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c == '.') {
			if (label == 0)
				return fail(err, 501, "5.5.4", "Error: invalid hostname in HELO/EHLO");
			label = 0;
			continue;
		}
		/* LDH, plus '_' that Windows hosts put in their names, plus UTF-8 */
		if (!(is_alnum(c) || c == '-' || c == '_' || c >= 0x80) || ++label > 63)
			return fail(err, 501, "5.5.4", "Error: invalid hostname in HELO/EHLO");
	}
	if (label == 0 || !utf8_valid((const unsigned char *)arg, n))
		return fail(err, 501, "5.5.4", "Error: invalid hostname in HELO/EHLO");
	return 0;
}
