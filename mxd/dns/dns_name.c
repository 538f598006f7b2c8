/* dns_name: DNS names as the resolver takes and returns them: normalized (lower case, no trailing dot),
 * checked for what a host or mail domain can hold, and decoded from an MX answer's wire format; see
 * dns_private.h. */
#include "mxd/dns/dns_private.h"

#include "mxd/common/util.h"

#include <ctype.h>
#include <string.h>

static bool name_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* Lower-case copy of name without one trailing dot. */
char *dns_name_normalize(const char *name)
{
	char *copy = xstrdup(name);
	size_t len = strlen(copy);
	if (len > 0 && copy[len - 1] == '.')
		copy[len - 1] = '\0';
	return str_lower(copy);
}

/* Can name (normalized) exist in the DNS as a host or mail domain? 0 or -1 with *error_r. */
int dns_name_check(const char *name, const char **error_r)
{
	size_t len = strlen(name);
	if (len == 0) {
		*error_r = "empty name";
		return -1;
	}
	if (len > DNS_NAME_MAX) {
		*error_r = "name longer than 253 octets";
		return -1;
	}
	size_t label = 0;
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0) {
				*error_r = "empty label";
				return -1;
			}
			if (label > DNS_LABEL_MAX) {
				*error_r = "label longer than 63 octets";
				return -1;
			}
			if (*p == '\0')
				return 0;
			label = 0;
		} else if (!name_char((unsigned char)*p)) {
			*error_r = "character not allowed in a DNS name";
			return -1;
		} else {
			label++;
		}
	}
}

/* The uncompressed wire-format name data[0..len) as lower-case text without the final dot into out
 * ("" for the root). 0, or -1 when malformed or holding bytes a host name cannot have. */
int dns_name_from_wire(const unsigned char *data, size_t len, char *out, size_t out_size)
{
	size_t pos = 0, o = 0;
	for (;;) {
		if (pos >= len)
			return -1;
		size_t label = data[pos++];
		if (label == 0)
			break;
		if (label > DNS_LABEL_MAX || pos + label > len)
			return -1;
		if (o != 0) {
			if (o + 1 >= out_size)
				return -1;
			out[o++] = '.';
		}
		for (size_t i = 0; i < label; i++) {
			unsigned char c = data[pos++];
			if (!name_char(c) || o + 1 >= out_size)
				return -1;
			out[o++] = (char)tolower(c);
		}
	}
	if (pos != len)
		return -1;
	out[o] = '\0';
	return 0;
}
