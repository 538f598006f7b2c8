#!/usr/bin/python3
"""test_replication: the tables replicated from a primary mxd to a secondary mxd over the TLS change feed.

Two mxd instances on loopback (tests/lib/mxtest.py). The primary serves the feed (sync_listen) with a
certificate for "primary.test" from a test CA made at test time; the secondary connects to 127.0.0.1 and
verifies the name primary.test (sync_tls_server_name), with a shared secret in a 0600 file. Covers: a
domain and an alias added on the primary are enforced by the secondary within 5 s (250 for the alias,
550 5.1.1 for an unknown user of the domain); a deleted alias is refused within 5 s; local writes on the
secondary are refused; the secondary keeps answering from its copy while the primary is stopped, records
the failure, and catches up when the primary returns; "mxctl sync status" on both; a wrong secret is
logged and shown by "mxctl sync status", and the secret never appears in a log.
"""
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import wait_for  # noqa: E402

SECRET = "b1f0e2d3c4a5968778695a4b3c2d1e0fb1f0e2d3c4a5968778695a4b3c2d1e0f"
ENFORCE_WITHIN = 5.0  # seconds: a change on the primary is enforced by the secondary within this


def setting_exists(name):
    """Whether this build knows a setting (replica_max_age comes with the secondary's RCPT policy)."""
    r = mxtest.subprocess.run([mxtest.MXCTL, "-c", "/dev/null", "config", name], capture_output=True, text=True,
                              env=dict(os.environ, MXD_CONFIG=""))
    return r.returncode == 0


def optional_settings():
    """Settings of features beside replication, when this build has them: no SPF lookups (the test
    resolver does not answer, and RCPT checks must not wait for it); a replica_max_age that a test never
    reaches (the secondary's RCPT policy answers 451 from an older replica)."""
    out = {}
    if setting_exists("spf_policy"):
        out["spf_policy"] = "off"
    if setting_exists("replica_max_age"):
        out["replica_max_age"] = "1h"
    return out


def status(inst):
    """"mxctl sync status" as a dict."""
    out = inst.mxctl("sync", "status").stdout
    return dict(line.split(": ", 1) for line in out.strip().split("\n"))


class Replication(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_replication.")
        self.ca = mxtest.make_ca(self.tmp, hostname="primary.test")
        self.secret = self.write_secret("sync.secret", SECRET)
        self.sync_port = mxtest.free_port()
        settings = {
            "myhostname": "mx1.example.com",
            "sync_listen": "127.0.0.1:%d" % self.sync_port,
            "sync_tls_cert_file": self.ca["cert"],
            "sync_tls_key_file": self.ca["key"],
            "sync_secret_file": self.secret,
        }
        settings.update(optional_settings())
        self.primary = mxtest.Instance(settings)
        self.secondary = None

    def tearDown(self):
        try:
            for inst in (self.secondary, self.primary):
                if inst is not None and inst.proc is not None:
                    inst.stop()
            for inst in (self.secondary, self.primary):
                if inst is not None:
                    for text in (inst.read_log(), inst.read_stderr()):
                        self.assertNotIn(SECRET, text, "the sync secret must never be logged")
                        self.assertNotIn("ERROR: AddressSanitizer", text)
        finally:
            for inst in (self.secondary, self.primary):
                if inst is not None:
                    inst.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def write_secret(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def make_secondary(self, secret_file):
        settings = {
            "role": "secondary",
            "myhostname": "mx2.example.com",
            "primary_hosts": "[127.0.0.1]:%d" % self.primary.port,
            "sync_primary": "127.0.0.1:%d" % self.sync_port,
            "sync_tls_CAfile": self.ca["ca"],
            "sync_tls_server_name": "primary.test",
            "sync_secret_file": secret_file,
        }
        settings.update(optional_settings())
        self.secondary = mxtest.Instance(settings, name="secondary")
        return self.secondary

    def sync_lines(self):
        """The replication lines of both logs, for failure messages."""
        out = []
        for name, inst in (("primary", self.primary), ("secondary", self.secondary)):
            if inst is not None:
                out.append("--- %s" % name)
                out += [l for l in inst.read_log().split("\n") if "/sync[" in l or "/master[" in l][-40:]
                out.append(inst.read_stderr()[-1000:])
        return "\n".join(out)

    def rcpt(self, inst, address):
        """The reply to RCPT TO:<address> in a fresh session (a client outside mynetworks)."""
        c = inst.client()
        try:
            c.reply()
            c.cmd("EHLO client.example")
            c.cmd("MAIL FROM:<someone@sender.test>")
            r = c.cmd("RCPT TO:<%s>" % address)
            c.cmd("QUIT")
            return r
        finally:
            c.close()

    def enforced(self, address, code_prefix, timeout=ENFORCE_WITHIN):
        """Wait until the secondary answers RCPT for address with a reply starting with code_prefix."""
        start = time.time()
        last = [None]

        def check():
            last[0] = self.rcpt(self.secondary, address)
            return last[0].text.startswith(code_prefix)

        ok = wait_for(check, timeout)
        self.assertTrue(ok, "RCPT %s: expected %s within %.0fs, got %r\n%s" % (
            address, code_prefix, timeout, last[0], self.sync_lines()))
        return time.time() - start

    def test_replicates_and_keeps_serving(self):
        self.primary.start()
        sec = self.make_secondary(self.secret).start()

        # A domain and an alias added on the primary: enforced by the secondary within 5 s.
        self.primary.mxctl("domain", "add", "example.com")
        self.primary.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        self.enforced("info@example.com", "250")
        # (waited for too: on a loaded machine the replica can be judged stale for a moment, 451)
        self.enforced("nobody@example.com", "550 5.1.1")
        self.assertIn("replica at seq", sec.read_log())

        # An alias deleted on the primary: refused by the secondary within 5 s.
        self.primary.mxctl("alias", "add", "sales@example.com", "boss@gmail.test")
        self.primary.mxctl("alias", "del", "info@example.com")
        self.enforced("info@example.com", "550 5.1.1")
        self.assertEqual(self.rcpt(sec, "sales@example.com").code, 250)

        # Routes (with their relay credentials) travel too; route_stats stays each host's own.
        pw = os.path.join(self.tmp, "relay.pw")
        with open(pw, "w") as f:
            f.write("relay-password\n")
        self.primary.mxctl("route", "add", "example.com", "[relay.test]:587", "--auth-user", "alice",
                           "--auth-password-file", pw)
        self.assertTrue(wait_for(lambda: "relay.test" in sec.mxctl("route", "list").stdout, ENFORCE_WITHIN),
                        sec.read_log()[-2000:])

        # The per-domain hourly cap travels too (migration 7's column): both MX hosts apply it.
        self.primary.mxctl("domain", "set", "example.com", "--hourly-message-limit", "250")
        self.assertTrue(wait_for(lambda: "messages/hour: 250" in sec.mxctl("domain", "show", "example.com").stdout,
                                 ENFORCE_WITHIN), sec.read_log()[-2000:])

        # The secondary's tables are the primary's: local changes are refused with a clear message.
        r = sec.mxctl("domain", "add", "local.example", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("this is a secondary: change the tables on the primary", r.stderr)
        r = sec.mxctl("alias", "del", "sales@example.com", check=False)
        self.assertIn("this is a secondary", r.stderr)

        # mxctl sync status on both.
        p = status(self.primary)
        self.assertEqual(p["role"], "primary")
        seq = int(p["changelog seq"])
        self.assertGreaterEqual(seq, 5)
        self.assertGreaterEqual(int(p["changelog rows"]), 1)
        s = wait_for(lambda: (lambda st: st if int(st["replica seq"]) == seq else None)(status(sec)), 5)
        self.assertTrue(s, status(sec))
        self.assertEqual(s["role"], "secondary")
        self.assertEqual(int(s["primary seq"]), seq)
        self.assertEqual(s["primary"], "127.0.0.1:%d" % self.sync_port)
        self.assertLessEqual(int(s["lag"].rstrip("s")), 5)
        self.assertEqual(s["last error"], "-")

        # The primary goes away: the secondary keeps answering from its copy, and says why it is stale.
        self.primary.stop()
        time.sleep(3)
        self.assertEqual(self.rcpt(sec, "sales@example.com").code, 250)
        self.assertTrue(self.rcpt(sec, "info@example.com").text.startswith("550 5.1.1"))
        s = wait_for(lambda: (lambda st: st if st["last error"] != "-" else None)(status(sec)), 5)
        self.assertTrue(s, status(sec))
        self.assertIn("connect to 127.0.0.1:%d" % self.sync_port, s["last error"])
        self.assertEqual(int(s["replica seq"]), seq)
        self.assertIn("pull from 127.0.0.1:%d failed" % self.sync_port, sec.read_log())

        # It comes back with a change made meanwhile: the secondary catches up.
        self.primary.mxctl("alias", "add", "info@example.com", "again@gmail.test")
        self.primary.start()
        self.enforced("info@example.com", "250", timeout=ENFORCE_WITHIN + 2)
        self.assertTrue(wait_for(lambda: "work again" in sec.read_log(), 5))
        self.assertEqual(status(sec)["last error"], "-")

        # After a restore of the primary's database from a backup: a new log, a snapshot on the secondary.
        snapshots = sec.read_log().count("snapshot of")
        self.assertIn("new change log started", self.primary.mxctl("sync", "new-log").stdout)
        self.assertTrue(wait_for(lambda: sec.read_log().count("snapshot of") > snapshots, ENFORCE_WITHIN),
                        self.sync_lines())
        self.assertEqual(self.rcpt(sec, "info@example.com").code, 250)
        r = sec.mxctl("sync", "new-log", check=False)
        self.assertEqual(r.returncode, 1)

    def test_wrong_secret(self):
        self.primary.start()
        self.primary.mxctl("domain", "add", "example.com")
        self.primary.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        wrong = self.write_secret("wrong.secret", "0000000000000000-not-the-secret-0000000000000000-0000000000")
        sec = self.make_secondary(wrong).start()
        self.assertTrue(wait_for(lambda: "refused our sync secret" in sec.read_log(), 10), sec.read_log())
        s = status(sec)
        self.assertIn("401", s["last error"])
        self.assertEqual(s["last sync"], "never")
        self.assertEqual(int(s["replica seq"]), 0)
        # Nothing was replicated: the secondary does not accept for the primary's domain.
        self.assertNotEqual(self.rcpt(sec, "info@example.com").code, 250)
        self.assertIn("no valid sync secret", self.primary.read_log())
        self.assertNotIn("0000000000000000-not-the-secret-0000000000000000-0000000000", self.primary.read_log() + sec.read_log())


if __name__ == "__main__":
    unittest.main()
