"""Relay routing end to end: a per-domain relay with SMTP AUTH over STARTTLS, a 20/80 warm-up split that
is exact, and failover from a dead provider to the next priority. Sinks on loopback stand in for the
relays; routes are made with mxctl route, as an operator would."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import wait_for  # noqa: E402

ZONES = """
$ORIGIN sender.test
@        MX 10 mx
mx       A 127.0.0.1
"""


class Routes(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sinks = []
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
        })
        self.inst.mxctl("domain", "add", "example.com")

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            for s in self.sinks:
                s.stop()
            self.dns.stop()

    def sink(self, **kw):
        s = sink.Sink("127.0.0.1", mxtest.free_port(), **kw)
        self.sinks.append(s)
        return s

    def send(self, rcpt, n):
        c = self.inst.client()
        for k in range(n):
            r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message("r%d-%d@test" % (k, time.time_ns())))
            self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()

    def test_weighted_split_is_exact(self):
        a, b = self.sink(), self.sink()
        self.inst.mxctl("alias", "add", "warm@example.com", "user@split.test")
        self.inst.mxctl("route", "add", "split.test", "[127.0.0.1]:%d" % a.port, "--weight", "20")
        self.inst.mxctl("route", "add", "split.test", "[127.0.0.1]:%d" % b.port, "--weight", "80")
        self.inst.start()
        self.send("warm@example.com", 100)
        self.assertTrue(wait_for(lambda: len(a.messages) + len(b.messages) >= 100, 60), self.inst.read_log()[-2000:])
        time.sleep(0.5)
        self.assertEqual((len(a.messages), len(b.messages)), (20, 80))
        time.sleep(5.5)  # route statistics are flushed every 5 s
        stats = self.inst.mxctl("route", "stats").stdout
        self.assertIn("[127.0.0.1]:%d" % a.port, stats)

    def test_failover_to_second_provider(self):
        dead_port = mxtest.free_port()  # nothing listens there
        backup = self.sink()
        self.inst.mxctl("alias", "add", "fo@example.com", "user@failover.test")
        self.inst.mxctl("route", "add", "failover.test", "[127.0.0.1]:%d" % dead_port, "--priority", "1")
        self.inst.mxctl("route", "add", "failover.test", "[127.0.0.1]:%d" % backup.port, "--priority", "2")
        self.inst.start()
        self.send("fo@example.com", 6)
        self.assertTrue(backup.wait(6, 30), self.inst.read_log()[-3000:])
        self.assertIn("Connection refused", self.inst.read_log())

    def test_relay_with_auth_over_tls(self):
        # The hop is [127.0.0.1], the certificate is for relay.test: it does not verify for the hop's
        # name, so the credentials go only because the hop is marked --allow-unverified-tls (warned).
        pki = mxtest.make_ca(self.inst.dir, hostname="relay.test")
        relay = self.sink(tls=(pki["cert"], pki["key"]), auth=("mxuser", "s3cret-pw"))
        pwfile = os.path.join(self.inst.dir, "relay.pw")
        with open(pwfile, "w") as f:
            f.write("s3cret-pw\n")
        self.inst.settings["smtp_tls_CAfile"] = pki["ca"]
        self.inst.write_conf()
        self.inst.mxctl("alias", "add", "ops@example.com", "team@provider.test")
        self.inst.mxctl("route", "add", "provider.test", "[127.0.0.1]:%d" % relay.port, "--auth-user", "mxuser",
                        "--auth-password-file", pwfile, "--tls-level", "encrypt", "--allow-unverified-tls")
        listing = self.inst.mxctl("route", "list").stdout
        self.assertNotIn("s3cret-pw", listing)
        self.inst.start()
        self.send("ops@example.com", 1)
        self.assertTrue(relay.wait(1, 30), self.inst.read_log()[-3000:])
        m = relay.messages[0]
        self.assertEqual(m.auth, "mxuser")
        self.assertTrue(m.tls)
        self.assertIn("sending AUTH credentials over unverified TLS", self.inst.read_log())
        self.assertNotIn("s3cret-pw", self.inst.read_log())

    def test_auth_never_sent_over_unverified_tls(self):
        pki = mxtest.make_ca(self.inst.dir, hostname="relay.test")
        relay = self.sink(tls=(pki["cert"], pki["key"]), auth=("mxuser", "s3cret-pw"))
        pwfile = os.path.join(self.inst.dir, "relay.pw")
        with open(pwfile, "w") as f:
            f.write("s3cret-pw\n")
        self.inst.settings["smtp_tls_CAfile"] = pki["ca"]
        self.inst.write_conf()
        self.inst.mxctl("alias", "add", "ops@example.com", "team@provider.test")
        self.inst.mxctl("route", "add", "provider.test", "[127.0.0.1]:%d" % relay.port, "--auth-user", "mxuser",
                        "--auth-password-file", pwfile, "--tls-level", "encrypt")
        self.inst.start()
        self.send("ops@example.com", 1)
        self.assertTrue(wait_for(lambda: "status=deferred" in self.inst.read_log(), 20), self.inst.read_log())
        log = self.inst.read_log()
        self.assertIn("AUTH refused over unverified TLS with", log)
        self.assertIn("dsn=4.7.5", log)
        self.assertEqual(relay.messages, [])
        self.assertNotIn("s3cret-pw", log)

    def test_auth_never_sent_in_plaintext(self):
        plain = self.sink()  # no TLS offered
        pwfile = os.path.join(self.inst.dir, "relay.pw")
        with open(pwfile, "w") as f:
            f.write("s3cret-pw\n")
        self.inst.mxctl("alias", "add", "ops@example.com", "team@plain.test")
        self.inst.mxctl("route", "add", "plain.test", "[127.0.0.1]:%d" % plain.port, "--auth-user", "mxuser",
                        "--auth-password-file", pwfile)
        self.inst.start()
        self.send("ops@example.com", 1)
        self.assertTrue(wait_for(lambda: "status=deferred" in self.inst.read_log(), 20), self.inst.read_log())
        self.assertEqual(plain.messages, [])
        self.assertNotIn("s3cret-pw", self.inst.read_log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
