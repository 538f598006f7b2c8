/* dkim_key: see dkim_key.h. */
#include "mxd/check/dkim_keydir.h"

#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static __thread char key_err[512];

static int fail(const char **error_r, const char *fmt, const char *a, const char *b)
{
	snprintf(key_err, sizeof(key_err), fmt, a, b);
	*error_r = key_err;
	return -1;
}

int dkim_keydir_selector_valid(const char *selector, const char **error_r)
{
	size_t label = 0, len = strlen(selector);
	if (len == 0 || len > DKIM_SELECTOR_MAX)
		return fail(error_r, "selector '%s': 1 to 63 octets%s", selector, "");
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)selector[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || selector[i - 1] == '-')
				return fail(error_r, "selector '%s': an empty label or one ending with '-'%s",
				            selector, "");
			label = 0;
		} else if (isalnum(c) || c == '_' || (c == '-' && label > 0)) {
			label++;
		} else {
			return fail(error_r,
			            "selector '%s': only letters, digits, '-', '_' and '.' are allowed%s",
			            selector, "");
		}
	}
	return 0;
}

char *dkim_keydir_path(const char *dir, const char *domain, const char *selector)
{
	return xasprintf("%s/%s/%s.pem", dir, domain, selector);
}

int dkim_keydir_generate(const char *type, EVP_PKEY **key_r, const char **error_r)
{
	EVP_PKEY *key = NULL;
	if (strcmp(type, "rsa") == 0)
		key = EVP_RSA_gen(2048);
	else if (strcmp(type, "ed25519") == 0)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		return fail(error_r, "--type '%s': rsa or ed25519%s", type, "");
	if (key == NULL)
		return fail(error_r, "generating a %s key: %s", type,
		            ERR_reason_error_string(ERR_get_error()));
	*key_r = key;
	return 0;
}

static int make_dir(const char *path, gid_t gid, const char **error_r)
{
	struct stat st;
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return fail(error_r, "%s: %s", path, strerror(errno));
	if (lstat(path, &st) < 0)
		return fail(error_r, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(error_r, "%s: %s", path, "not a directory (a symbolic link is not followed)");
	if (gid != (gid_t)-1 && (chown(path, 0, gid) < 0 || chmod(path, 0750) < 0))
		return fail(error_r, "%s: %s", path, strerror(errno));
	return 0;
}

int dkim_keydir_write(const char *dir, const char *domain, const char *selector, EVP_PKEY *key, bool force,
                      gid_t gid, const char **error_r)
{
	const char *why;
	/* missing parents (/etc/mxd) 0755 as usual; the directory itself 0750 (make_dir) */
	char *parent = xstrdup(dir), *slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent)
		*slash = '\0';
	int rc = slash != NULL && slash != parent ? mkdir_p(parent, 0755, &why) : 0;
	free(parent);
	if (rc < 0 || make_dir(dir, gid, &why) < 0)
		return fail(error_r, "dkim_key_directory: %s%s", why, "");
	char *ddir = xasprintf("%s/%s", dir, domain);
	char *path = dkim_keydir_path(dir, domain, selector);
	char *tmp = xasprintf("%s.new", path);
	int ret = -1, fd = -1;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long pem_len;
	if (make_dir(ddir, gid, error_r) < 0)
		goto out;
	if (!force && access(path, F_OK) == 0) {
		fail(error_r,
		     "%s exists already: a key is not replaced without --force (DNS still publishes "
		     "the old one; pick another --selector to rotate)%s",
		     path, "");
		goto out;
	}
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
		fail(error_r, "%s: cannot encode the key%s", path, "");
		goto out;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 || (gid != (gid_t)-1 && fchown(fd, 0, gid) < 0) || fchmod(fd, 0640) < 0 ||
	    fd_write_all(fd, pem, (size_t)pem_len) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		fail(error_r, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsync_dir(ddir);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	BIO_free(bio);
	free(ddir);
	free(path);
	free(tmp);
	return ret;
}

int dkim_keydir_record(EVP_PKEY *key, char **record_r, const char **error_r)
{
	unsigned char raw[8192], *p = raw;
	size_t len = sizeof(raw);
	bool ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
	if (ed) {
		if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1)
			return fail(error_r, "cannot read the Ed25519 public key%s%s", "", "");
	} else {
		int n = i2d_PUBKEY(key, NULL);
		if (n <= 0 || (size_t)n > sizeof(raw) || i2d_PUBKEY(key, &p) != n)
			return fail(error_r, "cannot encode the RSA public key%s%s", "", "");
		len = (size_t)n;
	}
	char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)len);
	*record_r = xasprintf("v=DKIM1; k=%s; p=%s", ed ? "ed25519" : "rsa", b64);
	free(b64);
	return 0;
}

char *dkim_keydir_zone_line(const char *domain, const char *selector, const char *record)
{
	size_t len = strlen(record);
	char *out = xasprintf("%s._domainkey.%s. IN TXT ", selector, domain);
	for (size_t o = 0; o < len || o == 0; o += 255) {
		size_t n = len - o > 255 ? 255 : len - o;
		char *next = xasprintf("%s%s\"%.*s\"", out, o > 0 ? " " : "", (int)n, record + o);
		free(out);
		out = next;
		if (len == 0)
			break;
	}
	return out;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct dkim_keydir_entry *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	return c != 0 ? c : strcmp(x->selector, y->selector);
}

int dkim_keydir_list(const char *dir, struct dkim_keydir_entry **keys_r, size_t *n_r, const char **error_r)
{
	*keys_r = NULL;
	*n_r = 0;
	DIR *top = opendir(dir);
	if (top == NULL)
		return errno == ENOENT ? 0 : fail(error_r, "dkim_key_directory %s: %s", dir, strerror(errno));
	struct dirent *d;
	while ((d = readdir(top)) != NULL) {
		const char *why;
		if (d->d_name[0] == '.' || addr_domain_valid(d->d_name, &why) < 0)
			continue;
		char *sub = xasprintf("%s/%s", dir, d->d_name);
		DIR *dd = opendir(sub);
		struct dirent *f;
		while (dd != NULL && (f = readdir(dd)) != NULL) {
			size_t l = strlen(f->d_name);
			if (l <= 4 || strcmp(f->d_name + l - 4, ".pem") != 0)
				continue;
			char *sel = xstrndup(f->d_name, l - 4);
			if (dkim_keydir_selector_valid(sel, &why) < 0) {
				free(sel);
				continue;
			}
			*keys_r = xrealloc(*keys_r, (*n_r + 1) * sizeof(**keys_r));
			struct dkim_keydir_entry *e = &(*keys_r)[(*n_r)++];
			e->domain = str_lower(xstrdup(d->d_name));
			e->selector = sel;
			e->path = xasprintf("%s/%s", sub, f->d_name);
		}
		if (dd != NULL)
			closedir(dd);
		free(sub);
	}
	closedir(top);
	if (*n_r > 1)
		qsort(*keys_r, *n_r, sizeof(**keys_r), entry_cmp);
	return 0;
}

void dkim_keydir_list_free(struct dkim_keydir_entry **keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((*keys)[i].domain);
		free((*keys)[i].selector);
		free((*keys)[i].path);
	}
	free(*keys);
	*keys = NULL;
}

/* The value of tag in a tag-list (RFC 6376 3.2), white space removed, into out; false when absent. */
static bool tag_value(const char *rec, const char *tag, char *out, size_t size)
{
	size_t tl = strlen(tag);
	const char *p = rec;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len > tl && strncmp(p, tag, tl) == 0) {
			size_t i = tl;
			while (i < len && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i < len && p[i] == '=') {
				size_t o = 0;
				for (i++; i < len && o + 1 < size; i++) {
					if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
						out[o++] = p[i];
				}
				out[o] = '\0';
				return true;
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

bool dkim_keydir_record_matches(const char *published, const char *expected, const char **why_r)
{
	static __thread char a[2048], b[2048];
	if (!tag_value(published, "v", a, sizeof(a)) || strcmp(a, "DKIM1") != 0) {
		*why_r = "the record does not start with v=DKIM1";
		return false;
	}
	if (!tag_value(published, "k", a, sizeof(a)))
		str_copy(a, sizeof(a), "rsa");
	if (!tag_value(expected, "k", b, sizeof(b)) || strcmp(a, b) != 0) {
		*why_r = "the record names another key type (k=)";
		return false;
	}
	if (!tag_value(published, "p", a, sizeof(a)) || a[0] == '\0') {
		*why_r = "the record has no public key (p= empty: the key is revoked)";
		return false;
	}
	if (!tag_value(expected, "p", b, sizeof(b)) || strcmp(a, b) != 0) {
		*why_r = "the record publishes another public key (p=)";
		return false;
	}
	return true;
}
