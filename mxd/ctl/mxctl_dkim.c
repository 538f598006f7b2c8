/*
 * mxctl_dkim: the DKIM keys under dkim_key_directory (mxd/check/dkim_keydir.h).
 *   mxctl dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--force]
 *       a new key (default selector mxd, RSA 2048) in dkim_key_directory/DOMAIN/S.pem, readable by mxd only
 *       (root:mail_owner's group 0640, directories 0750, when run as root); prints the zone line to
 *       publish on stdout. An existing key is kept unless --force.
 *   mxctl dkim list
 *       every key, its type, and whether the DNS (the resolver setting) publishes it as written.
 * Runs as the invoking user (root, to write /etc/mxd/dkim).
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/auth/dkim_key.h"
#include "mxd/check/dkim_keydir.h"
#include "mxd/common/addr.h"
#include "mxd/common/util.h"
#include "mxd/dns/dns_sync.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char dkim_usage[] =
    "usage: mxctl dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--force]\n"
    "       mxctl dkim list\n";

static int dkim_keygen(struct mxctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"selector", required_argument, NULL, 's'},
	                                     {"type", required_argument, NULL, 't'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	const char *selector = "mxd", *type = "rsa", *error;
	bool force = false;
	int opt;
	optind = 0; /* 0: glibc starts over (permuting options after DOMAIN too) */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 's')
			selector = optarg;
		else if (opt == 't')
			type = optarg;
		else if (opt == 'f')
			force = true;
		else {
			fputs(dkim_usage, stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(dkim_usage, stderr);
		return 2;
	}
	char domain[ADDR_DOMAIN_MAX + 1];
	if (addr_domain_valid(argv[optind], &error) < 0 ||
	    str_copy(domain, sizeof(domain), argv[optind]) < 0) {
		fprintf(stderr, "mxctl: dkim keygen: domain '%s': %s\n", argv[optind], error);
		return 1;
	}
	str_lower(domain);
	if (dkim_keydir_selector_valid(selector, &error) < 0) {
		fprintf(stderr, "mxctl: dkim keygen: --%s\n", error);
		return 1;
	}
	if (strcmp(type, "rsa") != 0 && strcmp(type, "ed25519") != 0) {
		fprintf(stderr, "mxctl: dkim keygen: --type '%s': rsa or ed25519\n", type);
		return 1;
	}
	gid_t gid = (gid_t)-1;
	if (geteuid() == 0 && ctl->cfg->mail_owner[0] != '\0') {
		struct passwd *pw = getpwnam(ctl->cfg->mail_owner);
		if (pw == NULL) {
			fprintf(stderr, "mxctl: dkim keygen: mail_owner %s is not a user of this system\n",
			        ctl->cfg->mail_owner);
			return 1;
		}
		gid = pw->pw_gid;
	}
	EVP_PKEY *key = NULL;
	char *record = NULL;
	if (dkim_keydir_generate(type, &key, &error) < 0 || dkim_keydir_record(key, &record, &error) < 0 ||
	    dkim_keydir_write(ctl->cfg->dkim_key_directory, domain, selector, key, force, gid, &error) < 0) {
		fprintf(stderr, "mxctl: dkim keygen: %s\n", error);
		EVP_PKEY_free(key);
		free(record);
		return 1;
	}
	char *path = dkim_keydir_path(ctl->cfg->dkim_key_directory, domain, selector);
	char *line = dkim_keydir_zone_line(domain, selector, record);
	fprintf(stderr, "mxctl: wrote a new %s key to %s; publish this record in the zone of %s:\n", type,
	        path, domain);
	printf("%s\n", line);
	free(line);
	free(path);
	free(record);
	EVP_PKEY_free(key);
	return 0;
}

static int dkim_list(struct mxctl *ctl)
{
	struct dkim_keydir_entry *keys;
	size_t n;
	const char *error;
	if (dkim_keydir_list(ctl->cfg->dkim_key_directory, &keys, &n, &error) < 0) {
		fprintf(stderr, "mxctl: dkim list: %s\n", error);
		return 1;
	}
	if (n == 0) {
		printf("no key in %s (mxctl dkim keygen DOMAIN makes one)\n", ctl->cfg->dkim_key_directory);
		return 0;
	}
	struct dns_sync *dns = dns_sync_new(ctl->cfg->resolver, &error);
	if (dns == NULL)
		fprintf(stderr, "mxctl: dkim list: %s\n", error);
	printf("%-30s %-12s %-8s %s\n", "DOMAIN", "SELECTOR", "TYPE", "DNS");
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY *key = NULL;
		char *record = NULL, state[300];
		const char *type = "?";
		if (dkim_key_load(keys[i].path, &key, &error) < 0 ||
		    dkim_keydir_record(key, &record, &error) < 0) {
			snprintf(state, sizeof(state), "unreadable: %s", error);
		} else {
			type = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? "ed25519" : "rsa";
			char *name = xasprintf("%s._domainkey.%s", keys[i].selector, keys[i].domain);
			struct dns_sync_answer txt;
			const char *why = "no TXT record", *detail = "no resolver";
			enum dns_status st =
			    dns != NULL ? dns_sync_txt(dns, name, &txt, &detail) : DNS_TEMPFAIL;
			bool match = false;
			for (size_t k = 0; st == DNS_OK && k < txt.n && !match; k++)
				match = dkim_keydir_record_matches(txt.rr[k].text, record, &why);
			if (st == DNS_OK)
				dns_sync_answer_free(&txt);
			snprintf(state, sizeof(state), "%s%s",
			         match                ? "published"
			         : st == DNS_TEMPFAIL ? "unknown: "
			                              : "NOT published: ",
			         match                ? ""
			         : st == DNS_TEMPFAIL ? detail
			                              : why);
			free(name);
		}
		printf("%-30s %-12s %-8s %s\n", keys[i].domain, keys[i].selector, type, state);
		EVP_PKEY_free(key);
		free(record);
	}
	dns_sync_free(&dns);
	dkim_keydir_list_free(&keys, n);
	return 0;
}

int mxctl_cmd_dkim(struct mxctl *ctl, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "help") == 0) {
		fputs(dkim_usage, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return dkim_keygen(ctl, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return dkim_list(ctl);
	fputs(dkim_usage, stderr);
	return 2;
}
