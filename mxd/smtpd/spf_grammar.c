/* spf_grammar: see spf_grammar.h. The ABNF is RFC 7208 section 12; comments name its rules. */
#include "mxd/smtpd/spf_grammar.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define VERSION     "v=spf1"
#define VERSION_LEN 6

struct out {
	char *p;
	size_t len, size;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || o->len + n + 1 > o->size) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The macro-expand at s[i] ('%'): its length, or 0 with *error_r. c, r and t only when exp_letters. */
static size_t macro_len(const char *s, size_t n, size_t i, bool exp_letters, const char **error_r)
{
	if (i + 1 >= n) {
		*error_r = "'%' at the end of a macro string";
		return 0;
	}
	char c = s[i + 1];
	if (c == '%' || c == '_' || c == '-')
		return 2;
	if (c != '{') {
		*error_r = "'%' not followed by '{', '%', '_' or '-'";
		return 0;
	}
	size_t j = i + 2;
	char letter = j < n ? lower(s[j]) : '\0';
	if (letter == '\0' || strchr("slodiphvcrt", letter) == NULL) {
		*error_r = "unknown macro letter";
		return 0;
	}
	if (!exp_letters && strchr("crt", letter) != NULL) {
		*error_r = "macro letter c, r or t outside an explanation";
		return 0;
	}
	j++;
	size_t digits = 0;
	unsigned value = 0;
	while (j < n && is_digit(s[j])) {
		if (value < 1000)
			value = value * 10 + (unsigned)(s[j] - '0');
		digits++;
		j++;
	}
	if (digits > 0 && value == 0) {
		*error_r = "macro transformer of 0 parts";
		return 0;
	}
	if (j < n && lower(s[j]) == 'r')
		j++;
	while (j < n && s[j] != '\0' && strchr(".-+,/_=", s[j]) != NULL)
		j++;
	if (j >= n || s[j] != '}') {
		*error_r = "malformed macro";
		return 0;
	}
	return j + 1 - i;
}

/* macro-string: 0, or -1 with *error_r; *macro_end_r is where the last macro ends (0: none), and
 * *ends_in_macro_r whether one ends the string. */
static int macro_string(const char *s, size_t n, bool exp_letters, size_t *macro_end_r, bool *ends_in_macro_r,
                        const char **error_r)
{
	size_t i = 0, macro_end = 0;
	bool ends = false;
	while (i < n) {
		if (s[i] == '%') {
			size_t m = macro_len(s, n, i, exp_letters, error_r);
			if (m == 0)
				return -1;
			i += m;
			macro_end = i;
			ends = i == n;
		} else {
			i++; /* the record was checked for visible ASCII already */
		}
	}
	*macro_end_r = macro_end;
	*ends_in_macro_r = ends;
	return 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, dash = false;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (is_alpha(s[i]))
			alpha = true;
		else if (s[i] == '-')
			dash = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return dash ? is_alnum(s[0]) && is_alnum(s[n - 1]) : alpha;
}

/* domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static int domain_spec(const char *s, size_t n, const char **error_r)
{
	size_t macro_end;
	bool ends_in_macro;
	if (n == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (macro_string(s, n, false, &macro_end, &ends_in_macro, error_r) < 0)
		return -1;
	if (ends_in_macro)
		return 0;
	size_t end = s[n - 1] == '.' ? n - 1 : n, k = end;
	while (k > macro_end && s[k - 1] != '.')
		k--;
	if (k <= macro_end || s[k - 1] != '.' || !toplabel_ok(s + k, end - k)) {
		*error_r = "domain-spec does not end in a valid top label";
		return -1;
	}
	return 0;
}

/* ip4-cidr-length / ip6-cidr-length digits: the value, or -1 (leading zero, too long, over max). */
static int cidr_value(const char *s, size_t n, int max)
{
	int v = 0;
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* ip4-network = qnum "." qnum "." qnum "." qnum */
static bool ip4_ok(const char *s, size_t n)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;
		while (i < n && is_digit(s[i]) && i - start < 4)
			v = v * 10 + (unsigned)(s[i++] - '0');
		size_t len = i - start;
		if (len == 0 || len > 3 || (len > 1 && s[start] == '0') || v > 255)
			return false;
		if (part < 3) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

static bool ip6_ok(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* ip4 / ip6: rest is what follows the name (":network[/len]"). */
static int ip_mechanism(struct out *o, const char *q, size_t qn, bool v6, const char *rest, size_t rn,
                        const char **error_r)
{
	if (rn < 2 || rest[0] != ':') {
		*error_r = v6 ? "ip6 without a network" : "ip4 without a network";
		return -1;
	}
	const char *net = rest + 1;
	size_t nn = 0;
	while (1 + nn < rn && net[nn] != '/')
		nn++;
	if (v6 ? !ip6_ok(net, nn) : !ip4_ok(net, nn)) {
		*error_r = v6 ? "malformed ip6 network" : "malformed ip4 network";
		return -1;
	}
	int cidr = -2;
	if (1 + nn < rn) {
		cidr = cidr_value(net + nn + 1, rn - 1 - nn - 1, v6 ? 128 : 32);
		if (cidr < 0) {
			*error_r = v6 ? "bad ip6 CIDR length" : "bad ip4 CIDR length";
			return -1;
		}
	}
	put(o, " ", 1);
	put(o, q, qn);
	if (cidr == 0) { /* libspf2 refuses /0: the two halves of the address space */
		put_str(o, v6 ? "ip6:::/1 " : "ip4:0.0.0.0/1 ");
		put(o, q, qn);
		put_str(o, v6 ? "ip6:8000::/1" : "ip4:128.0.0.0/1");
	} else {
		put_str(o, v6 ? "ip6:" : "ip4:");
		put(o, rest + 1, rn - 1);
	}
	return 0;
}

/* a / mx: rest is what follows the name ([":" domain-spec] [dual-cidr-length]). */
static int host_mechanism(struct out *o, const char *q, size_t qn, bool mx, const char *rest, size_t rn,
                          int family, const char **error_r)
{
	int c4 = -1, c6 = -1;
	size_t end = rn, d = rn;
	while (d > 0 && is_digit(rest[d - 1]))
		d--;
	if (d < end && d >= 2 && rest[d - 1] == '/' && rest[d - 2] == '/') {
		if ((c6 = cidr_value(rest + d, end - d, 128)) < 0) {
			*error_r = "bad ip6 CIDR length";
			return -1;
		}
		end = d - 2;
		d = end;
		while (d > 0 && is_digit(rest[d - 1]))
			d--;
	}
	if (d < end && d >= 1 && rest[d - 1] == '/') {
		if ((c4 = cidr_value(rest + d, end - d, 32)) < 0) {
			*error_r = "bad ip4 CIDR length";
			return -1;
		}
		end = d - 1;
	}
	const char *spec = NULL;
	size_t sn = 0;
	if (end > 0) {
		if (rest[0] != ':') {
			*error_r = "unexpected text after a mechanism";
			return -1;
		}
		spec = rest + 1;
		sn = end - 1;
		if (domain_spec(spec, sn, error_r) < 0)
			return -1;
	}
	int cidr = family == AF_INET6 ? c6 : c4;
	put(o, " ", 1);
	put(o, q, qn);
	if (cidr == 0) { /* libspf2 refuses /0: our DNS layer answers "any address of this family?" */
		put_str(o, "exists:");
		if (spec != NULL)
			put(o, spec, sn > 0 && spec[sn - 1] == '.' ? sn - 1 : sn);
		else
			put_str(o, "%{d}");
		if (family == AF_INET6)
			put_str(o, mx ? SPF_GRAMMAR_SUFFIX_MX6 : SPF_GRAMMAR_SUFFIX_A6);
		else
			put_str(o, mx ? SPF_GRAMMAR_SUFFIX_MX4 : SPF_GRAMMAR_SUFFIX_A4);
		return 0;
	}
	put_str(o, mx ? "mx" : "a");
	if (spec != NULL) {
		put(o, ":", 1);
		put(o, spec, sn);
	}
	char len[8];
	if (cidr > 0) {
		int k = 0;
		if (family == AF_INET6)
			len[k++] = '/';
		len[k++] = '/';
		if (cidr >= 100)
			len[k++] = (char)('0' + cidr / 100);
		if (cidr >= 10)
			len[k++] = (char)('0' + cidr / 10 % 10);
		len[k++] = (char)('0' + cidr % 10);
		put(o, len, (size_t)k);
	}
	return 0;
}

/* directive = [ qualifier ] mechanism */
static int directive(struct out *o, const char *t, size_t n, int family, bool *has_all, const char **error_r)
{
	size_t qn = n > 0 && strchr("+-?~", t[0]) != NULL && t[0] != '\0' ? 1 : 0;
	size_t k = qn;
	while (k < n && is_alnum(t[k]))
		k++;
	const char *name = t + qn, *rest = t + k;
	size_t nn = k - qn, rn = n - k;
#define IS(word) (nn == sizeof(word) - 1 && strncasecmp(name, word, nn) == 0)
	if (IS("all")) {
		if (rn != 0) {
			*error_r = "text after \"all\"";
			return -1;
		}
		*has_all = true;
		put(o, " ", 1);
		put(o, t, qn);
		put_str(o, "all");
		return 0;
	}
	if (IS("ip4") || IS("ip6"))
		return ip_mechanism(o, t, qn, IS("ip6"), rest, rn, error_r);
	if (IS("a") || IS("mx"))
		return host_mechanism(o, t, qn, IS("mx"), rest, rn, family, error_r);
	if (IS("include") || IS("exists") || IS("ptr")) {
		bool optional = IS("ptr");
		const char *word = IS("ptr") ? "ptr" : IS("include") ? "include" : "exists";
		if (rn == 0 && !optional) {
			*error_r = "include or exists without a domain-spec";
			return -1;
		}
		if (rn > 0 && (rest[0] != ':' || domain_spec(rest + 1, rn - 1, error_r) < 0)) {
			if (rest[0] != ':')
				*error_r = "unexpected text after a mechanism";
			return -1;
		}
		put(o, " ", 1);
		put(o, t, qn);
		put_str(o, word);
		put(o, rest, rn);
		return 0;
	}
#undef IS
	*error_r = "unknown mechanism";
	return -1;
}

bool spf_grammar_is_record(const char *text, size_t len)
{
	return len >= VERSION_LEN && strncasecmp(text, VERSION, VERSION_LEN) == 0 &&
	       (len == VERSION_LEN || text[VERSION_LEN] == ' ');
}

int spf_grammar_rewrite(const char *text, size_t len, int family, char *out, size_t out_size,
                        const char **error_r)
{
	struct out o = {out, 0, out_size, false};
	const char *redirect = NULL;
	size_t redirect_len = 0;
	bool has_all = false, has_exp = false;
	if (out_size < SPF_GRAMMAR_OUT_SIZE(len)) {
		*error_r = "record too long";
		return -1;
	}
	if (!spf_grammar_is_record(text, len)) {
		*error_r = "not an SPF record";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c != ' ' && (c < 0x21 || c > 0x7e)) {
			*error_r = "control character or non-ASCII octet in the record";
			return -1;
		}
	}
	put_str(&o, VERSION);
	size_t i = VERSION_LEN;
	while (i < len) {
		while (i < len && text[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && text[i] != ' ')
			i++;
		const char *t = text + start;
		size_t n = i - start, k = 0;
		/* modifier = name "=" ...; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
		if (is_alpha(t[0])) {
			k = 1;
			while (k < n && (is_alnum(t[k]) || t[k] == '-' || t[k] == '_' || t[k] == '.'))
				k++;
		}
		if (k > 0 && k < n && t[k] == '=') {
			const char *v = t + k + 1;
			size_t vn = n - k - 1;
			if (k == 8 && strncasecmp(t, "redirect", 8) == 0) {
				if (redirect != NULL) {
					*error_r = "more than one redirect modifier";
					return -1;
				}
				if (domain_spec(v, vn, error_r) < 0)
					return -1;
				redirect = v;
				redirect_len = vn;
			} else if (k == 3 && strncasecmp(t, "exp", 3) == 0) {
				if (has_exp) {
					*error_r = "more than one exp modifier";
					return -1;
				}
				if (domain_spec(v, vn, error_r) < 0)
					return -1;
				has_exp = true;
				put_str(&o, " exp=");
				put(&o, v, vn);
			} else {
				size_t macro_end;
				bool ends_in_macro;
				if (macro_string(v, vn, true, &macro_end, &ends_in_macro, error_r) < 0)
					return -1; /* unknown modifiers are dropped, but must be well-formed
					            */
			}
			continue;
		}
		if (directive(&o, t, n, family, &has_all, error_r) < 0)
			return -1;
	}
	if (redirect != NULL && !has_all) {
		put_str(&o, " redirect=");
		put(&o, redirect, redirect_len);
	}
	if (o.overflow) {
		*error_r = "record too long";
		return -1;
	}
	return 0;
}
