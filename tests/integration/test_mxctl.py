#!/usr/bin/python3
"""test_mxctl: mxctl against a fresh database in a temp dir, run as a subprocess.

Needs MXCTL_BIN (the binary under test). Each test gets its own directory with an mxd.conf
(database = TMP/db/mxd.db, queue_directory = TMP/queue, mail_owner empty so that no user switch
happens) and starts from "mxctl init". Covers init, domain, alias (several destinations,
catch-all), aliasdomain and resolve, and that bad input exits non-zero naming the field.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

MXCTL = os.environ.get("MXCTL_BIN", "")


class MxctlTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_mxctl.")
        self.conf = os.path.join(self.tmp, "mxd.conf")
        self.db = os.path.join(self.tmp, "db", "mxd.db")
        self.queue = os.path.join(self.tmp, "queue")
        with open(self.conf, "w") as f:
            f.write("# test configuration\n")
            f.write("database = %s\n" % self.db)
            f.write("queue_directory = %s\n" % self.queue)
            f.write("mail_owner =\n")
            f.write("recipient_delimiter = +\n")
        if self._testMethodName != "test_init":
            self.ok("init")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_mxctl(self, *args):
        env = dict(os.environ)
        env.pop("MXD_CONFIG", None)
        return subprocess.run([MXCTL, "-c", self.conf] + list(args), capture_output=True, text=True,
                              env=env, timeout=60)

    def ok(self, *args):
        p = self.run_mxctl(*args)
        self.assertEqual(p.returncode, 0, "mxctl %s: exit %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        return p.stdout

    def fails(self, args, words, status=1):
        """mxctl args must exit with status and print every one of words on stderr."""
        p = self.run_mxctl(*args)
        self.assertEqual(p.returncode, status, "mxctl %s: exit %d, expected %d\nstderr: %s"
                         % (" ".join(args), p.returncode, status, p.stderr))
        for w in words:
            self.assertIn(w, p.stderr, "mxctl %s" % " ".join(args))
        self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        return p

    @staticmethod
    def fields(output):
        """'key: value' lines into a dict (the last one wins)."""
        d = {}
        for line in output.splitlines():
            k, sep, v = line.partition(":")
            if sep:
                d[k.strip()] = v.strip()
        return d

    def table(self, output):
        """An aligned table: header line, then rows split on runs of two or more spaces."""
        lines = output.rstrip("\n").split("\n")
        header = lines[0]
        rows = []
        for line in lines[1:]:
            cells = [c for c in line.split("  ") if c != ""]
            rows.append([c.strip() for c in cells])
        return header, rows

    # --- init -----------------------------------------------------------------------------------

    def test_init(self):
        self.fails(["domain", "list"], ["does not exist", "mxctl init"])
        out = self.ok("init")
        self.assertIn("created", out)
        self.assertTrue(os.path.isfile(self.db))
        self.assertTrue(os.path.isdir(self.queue))
        out = self.ok("init")
        self.assertIn("up to date", out)
        self.fails(["init", "extra"], ["takes no arguments"], status=2)

    # --- domain ---------------------------------------------------------------------------------

    def test_domain_lifecycle(self):
        self.ok("domain", "add", "Example.COM", "--description", "Main domain", "--alias-limit", "10")
        self.ok("domain", "add", "--description=Second", "example.net")
        self.ok("alias", "add", "info@example.com", "a@x.net")
        header, rows = self.table(self.ok("domain", "list"))
        self.assertEqual(header.split(), ["DOMAIN", "ACTIVE", "ALIASES", "LIMIT", "DESCRIPTION"])
        self.assertEqual(rows, [["example.com", "yes", "1", "10", "Main domain"],
                                ["example.net", "yes", "0", "-", "Second"]])
        # columns are aligned: every line has the ACTIVE column at the same offset
        lines = self.ok("domain", "list").splitlines()
        col = lines[0].index("ACTIVE")
        self.assertTrue(all(line[col:col + 3] in ("yes", "no ", "ACT") for line in lines))

        show = self.fields(self.ok("domain", "show", "EXAMPLE.com"))
        self.assertEqual(show["name"], "example.com")
        self.assertEqual(show["description"], "Main domain")
        self.assertEqual(show["alias limit"], "10")
        self.assertEqual(show["aliases"], "1")

        self.ok("domain", "disable", "example.com")
        self.assertEqual(self.table(self.ok("domain", "list"))[1][0][1], "no")
        self.fails(["resolve", "info@example.com"], [])
        self.ok("domain", "enable", "example.com")
        self.assertEqual(self.table(self.ok("domain", "list"))[1][0][1], "yes")

        self.ok("domain", "set", "example.com", "--alias-limit", "0")
        self.assertEqual(self.table(self.ok("domain", "list"))[1][0][3], "-")

        self.ok("domain", "del", "example.com")
        _, rows = self.table(self.ok("domain", "list"))
        self.assertEqual([r[0] for r in rows], ["example.net"])
        self.assertEqual(self.table(self.ok("alias", "list"))[1], [])
        self.fails(["domain", "del", "example.com"], ["domain 'example.com'", "not a hosted domain"])
        self.fails(["domain", "show", "example.com"], ["not a hosted domain"])

    # --- alias ----------------------------------------------------------------------------------

    def test_alias_and_catchall(self):
        self.ok("domain", "add", "example.com")
        out = self.ok("alias", "add", "Info@Example.com", "A@x.net", "b@y.org", "c@z.com")
        self.assertIn("info@example.com -> a@x.net, b@y.org, c@z.com", out)
        self.ok("alias", "add", "@example.com", "catch@x.net")
        header, rows = self.table(self.ok("alias", "list", "example.com"))
        self.assertEqual(header.split(), ["ADDRESS", "ACTIVE", "DESTINATIONS"])
        self.assertEqual(rows, [["@example.com", "yes", "catch@x.net"],
                                ["info@example.com", "yes", "a@x.net, b@y.org, c@z.com"]])
        self.fails(["alias", "add", "info@example.com", "d@x.net"],
                   ["mxctl: alias add: address 'info@example.com': already exists"])
        self.ok("alias", "add", "--replace", "info@example.com", "d@x.net")
        self.assertEqual(self.fields(self.ok("alias", "show", "info@example.com"))["destinations"], "d@x.net")

        self.ok("alias", "disable", "info@example.com")
        self.assertEqual(self.fields(self.ok("resolve", "info@example.com"))["rule"], "catch-all")
        self.ok("alias", "enable", "info@example.com")
        self.assertEqual(self.fields(self.ok("resolve", "info@example.com"))["rule"], "exact")
        self.ok("alias", "del", "info@example.com")
        self.fails(["alias", "del", "info@example.com"], ["no such alias"])
        self.ok("alias", "del", "@example.com")
        self.assertEqual(self.table(self.ok("alias", "list"))[1], [])

    # --- alias domains --------------------------------------------------------------------------

    def test_aliasdomain(self):
        self.ok("domain", "add", "example.com")
        self.ok("alias", "add", "info@example.com", "a@x.net")
        self.ok("aliasdomain", "add", "Alias.Example", "example.com")
        header, rows = self.table(self.ok("aliasdomain", "list"))
        self.assertEqual(rows, [["alias.example", "yes", "example.com"]])
        res = self.fields(self.ok("resolve", "info+x@alias.example"))
        self.assertEqual(res["rule"], "delimiter via alias domain alias.example -> example.com")
        self.assertEqual(res["matched"], "info@example.com")
        self.assertEqual(res["destinations"], "a@x.net")
        self.ok("aliasdomain", "disable", "alias.example")
        p = self.fails(["resolve", "info@alias.example"], [])
        self.assertIn("alias domain alias.example", p.stdout)
        self.assertIn("disabled", p.stdout)
        self.ok("aliasdomain", "del", "alias.example")
        self.assertEqual(self.table(self.ok("aliasdomain", "list"))[1], [])

    # --- resolve --------------------------------------------------------------------------------

    def test_resolve(self):
        self.ok("domain", "add", "example.com")
        self.ok("domain", "add", "example.net")
        self.ok("alias", "add", "info@example.com", "a@x.net", "b@y.org")
        self.ok("alias", "add", "@example.com", "catch@x.net")
        rows = [
            # address, exit, rule, matched, destinations, words in "result"
            ("Info@Example.com", 0, "exact", "info@example.com", "a@x.net, b@y.org", "ok"),
            ("info+news@example.com", 0, "delimiter", "info@example.com", "a@x.net, b@y.org", "ok"),
            ("nobody@example.com", 0, "catch-all", "@example.com", "catch@x.net", "ok"),
            ("nobody@example.net", 1, None, None, None, "unknown user"),
            ("nobody@example.org", 1, None, None, None, "unknown domain"),
        ]
        for address, status, rule, matched, dests, result in rows:
            p = self.run_mxctl("resolve", address)
            self.assertEqual(p.returncode, status, address + ": " + p.stderr)
            res = self.fields(p.stdout)
            self.assertEqual(res["address"], address.lower())
            self.assertIn(result, res["result"], address)
            if rule is not None:
                self.assertEqual(res["rule"], rule, address)
                self.assertEqual(res["matched"], matched, address)
                self.assertEqual(res["destinations"], dests, address)
        self.ok("domain", "disable", "example.com")
        p = self.run_mxctl("resolve", "info@example.com")
        self.assertEqual(p.returncode, 1)
        self.assertIn("disabled", p.stdout)
        self.fails(["resolve", "bad"], ["mxctl: resolve: address 'bad'"])
        self.fails(["resolve"], ["usage"], status=2)

    # --- bad input ------------------------------------------------------------------------------

    def test_bad_input(self):
        self.ok("domain", "add", "example.com", "--alias-limit", "2")
        self.ok("alias", "add", "a@example.com", "a@x.net")
        rows = [
            (["domain", "add", "foo"], ["mxctl: domain add: domain 'foo':", "two labels"]),
            (["domain", "add", "bad_name.example"], ["domain 'bad_name.example'"]),
            (["domain", "add", "EXAMPLE.com"], ["domain 'example.com': already exists"]),
            (["domain", "add", "x.example", "--alias-limit", "many"], ["alias limit 'many'"]),
            (["domain", "add", "x.example", "--description", "a\nb"], ["description"]),
            (["domain", "enable", "nosuch.example"], ["domain 'nosuch.example'", "not a hosted domain"]),
            (["alias", "add", "foo@example.com", "foo@"],
             ["mxctl: alias add: destination 'foo@': empty domain"]),
            (["alias", "add", "foo@example.com", "a@x.net,b@y.org"], ["destination 'a@x.net,b@y.org'", "','"]),
            (["alias", "add", "foo@example.com", "nobody"], ["destination 'nobody'"]),
            (["alias", "add", "foo@nothosted.example", "a@x.net"],
             ["address 'foo@nothosted.example'", "not a hosted domain"]),
            (["alias", "add", "fo o@example.com", "a@x.net"], ["address 'fo o@example.com'"]),
            (["alias", "add", "a@example.com", "b@x.net"], ["already exists"]),
            (["alias", "list", "nothosted.example"], ["domain 'nothosted.example'"]),
            (["aliasdomain", "add", "example.com", "other.example"], ["alias domain 'example.com'", "hosted"]),
            (["aliasdomain", "add", "new.example", "nothosted.example"],
             ["target domain 'nothosted.example'", "not a hosted domain"]),
            (["aliasdomain", "add", "bad", "example.com"], ["alias domain 'bad'"]),
        ]
        for args, words in rows:
            self.fails(args, words)
        # the limit of 2: the catch-all counts as an alias too
        self.ok("alias", "add", "@example.com", "c@x.net")
        self.fails(["alias", "add", "b@example.com", "b@x.net"], ["alias limit", "example.com"])
        # nothing half-written: the failed adds left exactly the two aliases
        _, rows_out = self.table(self.ok("alias", "list"))
        self.assertEqual([r[0] for r in rows_out], ["@example.com", "a@example.com"])

        usage_rows = [
            ["nosuchcommand"],
            ["domain"],
            ["domain", "frobnicate"],
            ["domain", "add"],
            ["domain", "add", "a.example", "b.example"],
            ["domain", "add", "a.example", "--bogus"],
            ["domain", "set", "example.com"],
            ["alias", "add", "x@example.com"],
            ["aliasdomain", "add", "x.example"],
            ["config", "-x"],
        ]
        for args in usage_rows:
            p = self.run_mxctl(*args)
            self.assertEqual(p.returncode, 2, "mxctl %s: %s" % (" ".join(args), p.stderr))
            self.assertNotEqual(p.stderr, "")

    # --- config ---------------------------------------------------------------------------------

    def test_secret(self):
        """mxctl secret writes 32 random bytes (hex for sync, base64 for srs) into a new 0640 file, never
        over an existing one nor through a symlink, and never prints them."""
        sync = os.path.join(self.tmp, "sync.secret")
        out = self.ok("secret", "sync", sync)
        text = open(sync).read()
        self.assertRegex(text, r"^[0-9a-f]{64}\n$")
        self.assertNotIn(text.strip(), out)
        self.assertEqual(os.stat(sync).st_mode & 0o777, 0o640)
        self.fails(("secret", "sync", sync), ["sync_secret_file " + sync, "exists already"])
        self.assertEqual(open(sync).read(), text)
        srs = os.path.join(self.tmp, "srs.secret")
        self.ok("secret", "srs", srs)
        self.assertRegex(open(srs).read(), r"^[A-Za-z0-9+/]{43}=\n$")
        self.assertNotEqual(open(srs).read(), text)
        # the default file is the setting's; without one, a clear error
        self.fails(("-o", "sync_secret_file=", "secret", "sync"), ["no FILE given and sync_secret_file is not set"])
        self.fails(("secret", "dkim", srs), ["usage: mxctl secret"], status=2)
        # a symlink is not followed
        link = os.path.join(self.tmp, "link.secret")
        os.symlink(os.path.join(self.tmp, "elsewhere"), link)
        self.fails(("secret", "srs", link), ["srs_secret_file " + link])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "elsewhere")))

    def test_config(self):
        out = self.ok("config", "-n")
        self.assertIn("database = %s\n" % self.db, out)
        self.assertNotIn("smtpd_banner", out)
        out = self.ok("config")
        self.assertIn("smtpd_banner = $myhostname ESMTP mxd\n", out)
        self.assertEqual(self.ok("config", "queue_directory"), "queue_directory = %s\n" % self.queue)
        self.assertEqual(self.ok("config", "-d", "queue_directory"), "queue_directory = /var/spool/mxd\n")
        self.assertEqual(self.ok("config", "-n", "smtpd_banner"), "")
        self.fails(["config", "nosuch"], ["unknown setting 'nosuch'"])
        self.assertEqual(self.ok("-o", "smtpd_timeout=10s", "config", "smtpd_timeout"), "smtpd_timeout = 10s\n")
        with open(self.conf, "a") as f:
            f.write("bogus_setting = 1\n")
        self.fails(["config"], ["%s:6" % self.conf, "bogus_setting"])


if __name__ == "__main__":
    if not MXCTL or not os.access(MXCTL, os.X_OK):
        print("test_mxctl: MXCTL_BIN does not name an executable", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
