#!/usr/bin/python3
"""test_mxctl_route: "mxctl route add|list|del|stats" against a fresh database in a temp dir.

Needs MXCTL_BIN (the binary under test). Each test gets its own directory with an mxd.conf
(database = TMP/mxd.db, queue_directory = TMP/q, mail_owner empty so that no user switch happens)
and starts from "mxctl init". Covers adding rules and next hops, listing them, deleting a hop and a
route, the counters mxd writes to route_stats, that a password (from a file, an environment
variable or stdin) is never printed back nor taken on the command line, and that bad input exits 1
naming the field.
"""

import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

MXCTL = os.environ.get("MXCTL_BIN", "")
SECRET = "s3cret-Pa55word"


class MxctlRouteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_mxctl_route.")
        self.conf = os.path.join(self.tmp, "mxd.conf")
        self.db = os.path.join(self.tmp, "mxd.db")
        with open(self.conf, "w") as f:
            f.write("database = %s\n" % self.db)
            f.write("queue_directory = %s\n" % os.path.join(self.tmp, "q"))
            f.write("mail_owner =\n")
        self.ok("init")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_mxctl(self, *args, env_extra=None, stdin=None):
        env = dict(os.environ)
        env.pop("MXD_CONFIG", None)
        env.update(env_extra or {})
        return subprocess.run([MXCTL, "-c", self.conf] + list(args), capture_output=True, text=True,
                              env=env, timeout=60, input=stdin)

    def ok(self, *args, **kw):
        p = self.run_mxctl(*args, **kw)
        self.assertEqual(p.returncode, 0, "mxctl %s: exit %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
        return p.stdout

    def fails(self, args, words, status=1, **kw):
        p = self.run_mxctl(*args, **kw)
        self.assertEqual(p.returncode, status, "mxctl %s: exit %d, expected %d\nstderr: %s"
                         % (" ".join(args), p.returncode, status, p.stderr))
        for w in words:
            self.assertIn(w, p.stderr, "mxctl %s" % " ".join(args))
        self.assertNotIn("ERROR: AddressSanitizer", p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
        return p

    @staticmethod
    def table(output):
        """Header cells and rows, split on runs of two or more spaces."""
        lines = output.rstrip("\n").split("\n")
        split = lambda line: [c.strip() for c in line.split("  ") if c.strip() != ""]
        return split(lines[0]), [split(line) for line in lines[1:]]

    def rows(self, action="list"):
        header, rows = self.table(self.ok("route", action))
        return [dict(zip(header, r)) for r in rows]

    def password_file(self, content=SECRET + "\n"):
        path = os.path.join(self.tmp, "pw")
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, 0o600)
        return path

    def test_add_list_del(self):
        out = self.ok("route", "add", "Example.COM", "[Relay.example]:587", "--weight", "20",
                      "--tls-level", "verify", "--description", "warm-up of the new relay")
        self.assertIn("example.com", out)
        self.assertIn("[relay.example]:587", out)
        self.ok("route", "add", "example.com", "direct", "--weight=80")
        self.ok("route", "add", ".example.org", "smarthost.example")
        self.ok("route", "add", "*", "[fallback.example]", "--priority", "5")

        rows = self.rows()
        self.assertEqual([(r["MATCH"], r["NEXTHOP"]) for r in rows],
                         [("*", "[fallback.example]:25"), (".example.org", "smarthost.example:25"),
                          ("example.com", "[relay.example]:587"), ("example.com", "direct")])
        relay = rows[2]
        self.assertEqual(relay["WEIGHT"], "20")
        self.assertEqual(relay["TLS"], "verify")
        self.assertEqual(rows[3]["TLS"], "verify")  # route-level: every hop of the route
        self.assertEqual(rows[1]["TLS"], "default")
        self.assertEqual(rows[0]["PRIORITY"], "5")
        self.assertIn("warm-up of the new relay", self.ok("route", "list"))

        # Same match and next hop, however written: already exists.
        self.fails(["route", "add", "example.com", "[relay.example]:587"],
                   ["route add", "[relay.example]:587", "already exists"])
        self.fails(["route", "add", ".example.org", "SMARTHOST.example:25"], ["already exists"])

        # Delete one hop, then a whole route; deleting the last hop deletes the route.
        out = self.ok("route", "del", "example.com", "[relay.example]:587")
        self.assertIn("deleted", out)
        self.assertEqual([r["NEXTHOP"] for r in self.rows() if r["MATCH"] == "example.com"], ["direct"])
        out = self.ok("route", "del", "example.com", "direct")
        self.assertIn("route deleted", out)
        self.ok("route", "del", ".EXAMPLE.org")
        self.assertEqual([r["MATCH"] for r in self.rows()], ["*"])
        self.fails(["route", "del", "example.com"], ["match 'example.com'", "no such route"])
        self.fails(["route", "del", "*", "direct"], ["nexthop 'direct'"])

    def test_password_from_file_not_printed(self):
        pw = self.password_file()
        out = self.ok("route", "add", "example.com", "[relay.example]:587", "--auth-user", "alice",
                      "--auth-password-file", pw, "--allow-plaintext-auth")
        self.assertNotIn(SECRET, out)
        listing = self.ok("route", "list")
        self.assertIn("user=alice password=****", listing)
        self.assertIn("plaintext-ok", listing)
        self.assertNotIn(SECRET, self.ok("route", "stats"))
        # Stored for mxd, in a file that others cannot read.
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT auth_user, auth_password FROM route_hops").fetchall(),
                         [("alice", SECRET)])
        con.close()
        self.assertEqual(os.stat(self.db).st_mode & 0o007, 0)

    def test_allow_unverified_tls(self):
        pw = self.password_file()
        self.ok("route", "add", "example.com", "[relay.example]:587", "--auth-user", "alice",
                "--auth-password-file", pw, "--allow-unverified-tls")
        self.ok("route", "add", "example.com", "[relay2.example]:587", "--auth-user", "bob",
                "--auth-password-file", pw)
        listing = self.ok("route", "list")
        self.assertIn("user=alice password=**** unverified-tls-ok", listing)
        self.assertIn("user=bob password=****", listing)
        self.assertEqual(listing.count("unverified-tls-ok"), 1)
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT nexthop, allow_unverified_tls FROM route_hops ORDER BY id").fetchall(),
                         [("[relay.example]:587", 1), ("[relay2.example]:587", 0)])
        con.close()
        # Only with credentials, and only on "add".
        self.fails(["route", "add", "example.org", "[relay.example]", "--allow-unverified-tls"],
                   ["allow unverified tls", "auth user"])
        self.fails(["route", "list", "--allow-unverified-tls"], ["allow-unverified-tls"], status=2)

    def test_password_from_env_and_stdin(self):
        self.ok("route", "add", "a.example", "[relay.example]", "--auth-user", "bob",
                "--auth-password-env", "ROUTE_PW", env_extra={"ROUTE_PW": SECRET})
        self.ok("route", "add", "b.example", "[relay.example]", "--auth-user", "carol",
                "--auth-password-stdin", stdin=SECRET + "\n")
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT auth_password FROM route_hops ORDER BY id").fetchall(),
                         [(SECRET,), (SECRET,)])
        con.close()
        listing = self.ok("route", "list")
        self.assertIn("user=bob password=****", listing)
        self.assertIn("user=carol password=****", listing)

    def test_password_never_on_command_line(self):
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-user", "alice",
                    "--auth-password", SECRET], ["--auth-password", "command line"], status=2)
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-user=alice",
                    "--auth-password=" + SECRET], ["--auth-password"], status=2)
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-user", "alice"],
                   ["auth password"])
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-password-file",
                    self.password_file()], ["auth user"])
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-user", "alice",
                    "--auth-password-file", os.path.join(self.tmp, "missing")],
                   ["auth password file", "missing"])
        self.fails(["route", "add", "example.com", "[relay.example]", "--auth-user", "alice",
                    "--auth-password-env", "NO_SUCH_VAR_FOR_TEST"], ["auth password env", "not set"])
        self.fails(["route", "add", "example.com", "direct", "--auth-user", "alice",
                    "--auth-password-file", self.password_file()], ["auth user", "direct"])
        self.assertEqual(self.rows(), [])

    def test_bad_input_names_the_field(self):
        cases = [
            (["[x"], ["mxctl: route add: nexthop '[x'", "']'"]),
            (["192.0.2.1"], ["nexthop '192.0.2.1'", "brackets"]),
            (["[relay.example]:99999"], ["nexthop '[relay.example]:99999'", "port"]),
            (["direct", "--weight", "0"], ["weight '0'"]),
            (["direct", "--weight", "many"], ["weight 'many'"]),
            (["direct", "--priority", "-1"], ["priority '-1'"]),
            (["direct", "--tls-level", "strict"], ["tls level 'strict'"]),
            (["direct", "--description", "a\tb"], ["description"]),
        ]
        for extra, words in cases:
            self.fails(["route", "add", "example.com"] + extra, words)
        self.fails(["route", "add", "*.example.com", "direct"], ["match '*.example.com'", ".example.com"])
        self.fails(["route", "add", "nodot", "direct"], ["match 'nodot'"])
        self.fails(["route", "add", "example.com"], ["wrong number of arguments"], status=2)
        self.fails(["route", "add", "example.com", "direct", "--bogus"], ["unknown option"], status=2)
        self.fails(["route", "frobnicate"], ["unknown action"], status=2)
        self.assertEqual(self.rows(), [])

    def test_stats(self):
        self.ok("route", "add", "example.com", "[relay.example]", "--weight", "20")
        self.ok("route", "add", "example.com", "direct", "--weight", "80")
        self.ok("route", "add", "example.net", "[backup.example]", "--priority", "10")
        rows = self.rows("stats")
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0]["SELECTED"], "0")
        self.assertEqual(rows[0]["SHARE"], "-")

        # What mxd's route_stats_flush() writes.
        con = sqlite3.connect(self.db)
        ids = dict(con.execute("SELECT nexthop, id FROM route_hops").fetchall())
        for nexthop, counts in (("[relay.example]:25", (200, 190, 8, 2)), ("direct", (800, 790, 5, 5))):
            con.execute("INSERT INTO route_stats (hop_id, selected, sent, deferred, bounced, modified)"
                        " VALUES (?, ?, ?, ?, ?, 0)", (ids[nexthop],) + counts)
        con.commit()
        con.close()

        rows = {r["NEXTHOP"]: r for r in self.rows("stats")}
        relay = rows["[relay.example]:25"]
        self.assertEqual((relay["MATCH"], relay["WEIGHT"], relay["PRIORITY"]), ("example.com", "20", "0"))
        self.assertEqual((relay["SELECTED"], relay["SENT"], relay["DEFERRED"], relay["BOUNCED"]),
                         ("200", "190", "8", "2"))
        self.assertEqual(relay["SHARE"], "20.0%")
        self.assertEqual(rows["direct"]["SHARE"], "80.0%")
        self.assertEqual(rows["[backup.example]:25"]["PRIORITY"], "10")

        # Deleting a hop deletes its counters.
        self.ok("route", "del", "example.com", "direct")
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT count(*) FROM route_stats").fetchone()[0], 1)
        con.close()

    def test_help(self):
        out = self.ok("route", "help")
        self.assertIn("route add MATCH NEXTHOP", out)
        self.assertIn("--auth-password-file", out)


if __name__ == "__main__":
    if not MXCTL:
        raise SystemExit("MXCTL_BIN is not set")
    unittest.main()
