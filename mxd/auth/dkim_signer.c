/* dkim_signer: see dkim_signer.h. */
#include "mxd/auth/dkim_signer.h"

#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_key.h"
#include "mxd/auth/dkim_sig.h"
#include "mxd/common/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dkim_signer {
	EVP_PKEY *key;
	char *domain, *selector, *name;
};

/* The fields a notification carries, From once more than present (no From can be added unnoticed). */
static const char *const signed_headers[] = {
    "from",       "from",           "to",           "subject",      "date",
    "message-id", "auto-submitted", "mime-version", "content-type", NULL};

/* The selector to use under dir: "mxd" when mxd.pem is there, else the first "*.pem" by name (allocated),
 * or NULL. */
static char *pick_selector(const char *dir)
{
	char *path = xasprintf("%s/mxd.pem", dir);
	bool have = access(path, F_OK) == 0;
	free(path);
	if (have)
		return xstrdup("mxd");
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	char *best = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n <= 4 || e->d_name[0] == '.' || strcmp(e->d_name + n - 4, ".pem") != 0)
			continue;
		if (best == NULL || strncmp(e->d_name, best, n - 4) < 0) {
			free(best);
			best = xstrndup(e->d_name, n - 4);
		}
	}
	closedir(d);
	return best;
}

int dkim_signer_open(const char *key_directory, const char *domain, struct dkim_signer **signer_r,
                     const char **error_r)
{
	char *dom = xstrdup(domain);
	for (char *p = dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (dom[0] == '\0' || strchr(dom, '/') != NULL || dom[0] == '.') {
		free(dom);
		return 0;
	}
	char *dir = xasprintf("%s/%s", key_directory, dom);
	char *selector = pick_selector(dir);
	free(dir);
	if (selector == NULL) {
		free(dom);
		return 0;
	}
	char *path = dkim_key_path(key_directory, dom, selector);
	EVP_PKEY *key;
	int r = dkim_key_load(path, &key, error_r);
	free(path);
	if (r < 0) {
		free(dom);
		free(selector);
		return -1;
	}
	struct dkim_signer *s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->domain = dom;
	s->selector = selector;
	s->name = xasprintf("d=%s s=%s", dom, selector);
	*signer_r = s;
	return 1;
}

void dkim_signer_free(struct dkim_signer **sp)
{
	struct dkim_signer *s = *sp;
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s->domain);
	free(s->selector);
	free(s->name);
	free(s);
	*sp = NULL;
}

const char *dkim_signer_name(const struct dkim_signer *s)
{
	return s->name;
}

char *dkim_signer_sign(const struct dkim_signer *s, const char *msg, size_t len, long long now,
                       const char **error_r)
{
	struct header_list m;
	header_list_parse(msg, len, &m);
	struct dkim_sig_params p = {"DKIM-Signature", "v=1",          s->domain, s->selector,
	                            s->key,           signed_headers, now};
	char *sig = dkim_sig_sign(&m, &p, error_r);
	header_list_free(&m);
	return sig;
}
