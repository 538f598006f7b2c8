/* domain_rate: see domain_rate.h. */
#include "mxd/smtpd/domain_rate.h"

#include "mxd/common/strmap.h"
#include "mxd/common/util.h"

#include <stdlib.h>

struct domain_rate_entry {
	int64_t window_end;
	unsigned count;
};

struct domain_rate {
	struct strmap index; /* domain -> entries[] */
	struct domain_rate_entry *entries;
	size_t n, cap;
};

struct domain_rate *domain_rate_new(void)
{
	return xcalloc(1, sizeof(struct domain_rate));
}

void domain_rate_free(struct domain_rate **ratep)
{
	struct domain_rate *r = *ratep;
	if (r == NULL)
		return;
	strmap_clear(&r->index);
	free(r->entries);
	free(r);
	*ratep = NULL;
}

unsigned domain_rate_get(const struct domain_rate *r, const char *domain, int64_t now)
{
	size_t i;
	if (!strmap_get(&r->index, domain, &i) || r->entries[i].window_end <= now)
		return 0;
	return r->entries[i].count;
}

void domain_rate_add(struct domain_rate *r, const char *domain, int64_t now)
{
	size_t i;
	if (!strmap_get(&r->index, domain, &i)) {
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 16;
			r->entries = xrealloc(r->entries, r->cap * sizeof(*r->entries));
		}
		i = r->n++;
		r->entries[i].window_end = 0;
		r->entries[i].count = 0;
		strmap_put(&r->index, domain, i);
	}
	struct domain_rate_entry *e = &r->entries[i];
	if (e->window_end <= now) {
		e->window_end = now + DOMAIN_RATE_WINDOW_MS;
		e->count = 0;
	}
	e->count++;
}
