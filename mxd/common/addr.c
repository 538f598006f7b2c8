/* addr: see addr.h. */
#include "mxd/common/addr.h"

#include "mxd/common/util.h"

#include <string.h>

bool addr_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* The syntax check of all three; the number of labels into *labels_r. loose: labels over 63 octets pass
 * (RFC 5321's grammar allows them; no DNS query can carry them). */
static int domain_check(const char *domain, bool loose, size_t *labels_r, const char **error_r)
{
	size_t len = strlen(domain), labels = 0;
	if (len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	if (len > ADDR_DOMAIN_MAX) {
		*error_r = "domain longer than 255 octets";
		return -1;
	}
	const char *p = domain;
	while (*p != '\0') {
		size_t n = 0;
		const char *start = p;
		for (; *p != '\0' && *p != '.'; p++, n++) {
			unsigned char c = (unsigned char)*p;
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			          (c >= '0' && c <= '9') || c == '-' || c >= 0x80;
			if (!ok) {
				*error_r =
				    "domain contains a character other than letters, digits, '-' and '.'";
				return -1;
			}
		}
		if (n == 0) {
			*error_r = "domain has an empty label";
			return -1;
		}
		if (n > 63 && !loose) {
			*error_r = "domain label longer than 63 octets";
			return -1;
		}
		if (start[0] == '-' || start[n - 1] == '-') {
			*error_r = "domain label starts or ends with '-'";
			return -1;
		}
		labels++;
		if (*p == '.') {
			p++;
			if (*p == '\0') {
				*error_r = "domain ends with '.'";
				return -1;
			}
		}
	}
	*labels_r = labels;
	return 0;
}

int addr_domain_valid(const char *domain, const char **error_r)
{
	size_t labels;
	if (domain_check(domain, false, &labels, error_r) < 0)
		return -1;
	if (labels < 2) {
		*error_r = "domain needs at least two labels (example.com)";
		return -1;
	}
	return 0;
}

int addr_hostname_valid(const char *domain, const char **error_r)
{
	size_t labels;
	return domain_check(domain, false, &labels, error_r);
}

int addr_hostname_loose_valid(const char *domain, const char **error_r)
{
	size_t labels;
	return domain_check(domain, true, &labels, error_r);
}

int addr_local_valid(const char *local, const char **error_r)
{
	size_t len = strlen(local);
	if (len == 0) {
		*error_r = "empty local part";
		return -1;
	}
	if (len > ADDR_LOCAL_MAX) {
		*error_r = "local part longer than 64 octets";
		return -1;
	}
	if (local[0] == '.' || local[len - 1] == '.' || strstr(local, "..") != NULL) {
		*error_r = "local part has a leading, trailing or double '.'";
		return -1;
	}
	for (const char *p = local; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c != '.' && c < 0x80 && !addr_is_atext(c)) {
			*error_r = "local part contains a character that needs quoting";
			return -1;
		}
	}
	return 0;
}

int addr_normalize(const char *address, char *out, size_t out_size, const char **error_r)
{
	char local[ADDR_MAX + 1];
	const char *at = strrchr(address, '@');
	if (at == NULL) {
		*error_r = "address has no '@domain'";
		return -1;
	}
	if (strlen(address) > ADDR_MAX) {
		*error_r = "address longer than 254 octets";
		return -1;
	}
	size_t ll = (size_t)(at - address);
	memcpy(local, address, ll);
	local[ll] = '\0';
	if (addr_local_valid(local, error_r) < 0 || addr_domain_valid(at + 1, error_r) < 0)
		return -1;
	if (str_copy(out, out_size, address) < 0) {
		*error_r = "address too long";
		return -1;
	}
	str_lower(out);
	return 0;
}

const char *addr_domain(const char *address)
{
	const char *at = strrchr(address, '@');
	return at != NULL ? at + 1 : NULL;
}
