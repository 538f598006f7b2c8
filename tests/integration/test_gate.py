"""The connection gate and the anvil rate limits (issue 16, sections 1 and 2), on the primary and on the
secondary alike: a client that talks before the banner (554 5.5.0, closed; a client that waited is
remembered and not paused again), unauthorised pipelining (554 5.5.0), a client listed in a DNSBL served
by the test DNS (550 5.7.1 to every command after the banner) while an unlisted one is served, an
allowlisted one that skips the pause, connection, message, recipient and new-TLS-session rate limits
hit from one address while another is still served, the per-domain hourly cap, and the counters by reason in the metrics and mxctl status.
Clients connect from their own 127.0.0.x address each, so the per-address memory of one test does not
touch another's."""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
from fixtures import hosted, wait_for  # noqa: E402

ZONES = """
$ORIGIN bl.test
20.0.0.127   A 127.0.0.2
40.0.0.127   A 127.0.0.4
$ORIGIN wl.test
21.0.0.127   A 127.0.5.1
20.0.0.127   A 127.0.5.9
"""

GREET_WAIT = 1.0


def raw_connect(inst, source):
    s = socket.socket()
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", inst.port))
    return s


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return data


class Gate(unittest.TestCase):
    role = {}

    @classmethod
    def setUpClass(cls):
        cls.dns = dnsserver.start(ZONES, port=0)
        cls.metrics_port = mxtest.free_port()
        settings = {
            "resolver": "127.0.0.1:%d" % cls.dns.port,
            "postscreen_greet_wait": "%ds" % GREET_WAIT,
            "postscreen_dnsbl_sites": "bl.test*2, wl.test=127.0.[0..255].[1..3]*-2",
            "postscreen_dnsbl_threshold": "2",
            "postscreen_dnsbl_allowlist_threshold": "-1",
            "smtpd_client_connection_rate_limit": "3",
            "smtpd_client_message_rate_limit": "2",
            "smtpd_client_recipient_rate_limit": "3",
            "smtpd_client_new_tls_session_rate_limit": "1",
            "metrics_listen": "127.0.0.1:%d" % cls.metrics_port,
        }
        settings.update(cls.role)
        cls.inst = mxtest.Instance(settings)
        pki = mxtest.make_ca(cls.inst.dir)
        cls.inst.settings.update(smtpd_tls_cert_file=pki["cert"], smtpd_tls_key_file=pki["key"])
        cls.inst.write_conf()
        hosted(cls.inst)
        cls.inst.mxctl("domain", "add", "capped.example")
        cls.inst.mxctl("alias", "add", "info@capped.example", "someone@gmail.test")
        cls.inst.mxctl("domain", "set", "capped.example", "--hourly-message-limit", "2")
        if cls.inst.settings.get("role") == "secondary":
            # a secondary accepts recipients only from a fresh replica: what the sync client records
            import sqlite3
            db = sqlite3.connect(cls.inst.settings["database"])
            db.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)",
                       (str(int(time.time()) + 3600),))
            db.commit()
            db.close()
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.inst.stop()
        finally:
            cls.inst.cleanup()
            cls.dns.stop()

    def client(self, source):
        return mxtest.Client("127.0.0.1", self.inst.port, 10, source)

    def timed_banner(self, source):
        t0 = time.time()
        c = self.client(source)
        r = c.reply()
        return c, r, time.time() - t0

    def test_early_talker_refused_and_patient_client_remembered(self):
        early = raw_connect(self.inst, "127.0.0.10")
        early.sendall(b"EHLO spammer.example\r\nMAIL FROM:<a@b.example>\r\n")
        data = read_all(early)
        self.assertTrue(data.startswith(b"554 5.5.0"), data)
        self.assertNotIn(b"220", data)
        c, r, took = self.timed_banner("127.0.0.10")
        self.assertEqual(r.code, 220)
        self.assertGreaterEqual(took, GREET_WAIT * 0.9)
        c.cmd("QUIT")
        c.close()
        c, r, took = self.timed_banner("127.0.0.10")  # passed once: no pause now
        self.assertEqual(r.code, 220)
        self.assertLess(took, GREET_WAIT * 0.7)
        c.close()
        self.assertIn("PREGREET", self.inst.read_log())

    def test_trusted_client_skips_the_gate(self):
        c, r, took = self.timed_banner("127.0.0.2")  # mynetworks
        self.assertEqual(r.code, 220)
        self.assertLess(took, GREET_WAIT * 0.7)
        c.cmd("HELO client.example")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<info@example.com>\r\n")
        self.assertEqual(c.reply().code, 250)
        self.assertNotEqual(c.reply().code, 554)
        c.close()

    def test_pipelining_after_helo_refused(self):
        c = self.client("127.0.0.11")
        self.assertEqual(c.reply().code, 220)
        self.assertEqual(c.cmd("HELO client.example").code, 250)
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<info@example.com>\r\n")
        self.assertTrue(c.reply().text.startswith("554 5.5.0"))
        self.assertTrue(c.closed())
        c.close()
        self.assertIn("improper command pipelining after MAIL from unknown[127.0.0.11]", self.inst.read_log())

    def test_commands_after_ehlo_in_one_write_refused(self):
        c = self.client("127.0.0.12")
        self.assertEqual(c.reply().code, 220)
        c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n")
        self.assertTrue(c.reply().text.startswith("554 5.5.0"))
        self.assertTrue(c.closed())
        c.close()
        # a client told PIPELINING may send its group after the EHLO reply (RFC 2920)
        c = self.client("127.0.0.12")
        self.assertEqual(c.reply().code, 220)
        self.assertEqual(c.cmd("EHLO client.example").code, 250)
        c.send(b"MAIL FROM:<a@example.org>\r\nRSET\r\nNOOP\r\n")
        self.assertEqual([c.reply().code for _ in range(3)], [250, 250, 250])
        c.close()

    def test_dnsbl_listed_client_refused_unlisted_served(self):
        c = self.client("127.0.0.20")  # bl.test*2 and wl.test (127.0.5.9 is outside its filter): score 2
        self.assertEqual(c.reply().code, 220)
        r = c.cmd("EHLO client.example")
        self.assertEqual(r.text, "550 5.7.1 Service unavailable; client [127.0.0.20] blocked using bl.test")
        self.assertTrue(c.cmd("MAIL FROM:<a@example.org>").text.startswith("550 5.7.1"))
        self.assertEqual(c.cmd("QUIT").code, 221)
        c.close()
        log = self.inst.read_log()
        self.assertIn("DNSBL rank 2 for [127.0.0.20]", log)
        self.assertIn("reject: EHLO from unknown[127.0.0.20]: 550 5.7.1", log)
        c = self.client("127.0.0.22")  # in no list
        self.assertEqual(c.reply().code, 220)
        self.assertEqual(c.cmd("EHLO client.example").code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        c.close()

    def test_allowlisted_client_skips_the_pause(self):
        c, r, took = self.timed_banner("127.0.0.21")  # wl.test: score -2
        self.assertEqual(r.code, 220)
        self.assertLess(took, GREET_WAIT * 0.7)
        self.assertEqual(c.cmd("EHLO client.example").code, 250)
        c.close()
        self.assertIn("PASS NEW [127.0.0.21]", self.inst.read_log())

    def test_connection_rate_limit(self):
        for _ in range(3):
            c = self.client("127.0.0.30")
            self.assertEqual(c.reply().code, 220)
            c.cmd("QUIT")
            c.close()
        data = read_all(raw_connect(self.inst, "127.0.0.30"))
        self.assertTrue(data.startswith(b"421 4.7.0 "), data)
        self.assertIn(b"too many connections from 127.0.0.30", data)
        self.assertIn("connection rate limit exceeded from unknown[127.0.0.30]", self.inst.read_log())
        c = self.client("127.0.0.31")
        self.assertEqual(c.reply().code, 220)
        c.close()

    def test_message_rate_limit(self):
        c = self.client("127.0.0.32")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        for _ in range(2):
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
            self.assertEqual(c.cmd("RSET").code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").text, "450 4.7.1 Error: too much mail from 127.0.0.32")
        self.assertIn("message rate limit exceeded from unknown[127.0.0.32]", self.inst.read_log())
        c.close()
        c = self.client("127.0.0.33")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        c.close()

    def test_recipient_rate_limit(self):
        c = self.client("127.0.0.34")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        for _ in range(3):
            self.assertNotEqual(c.cmd("RCPT TO:<info@example.com>").code, 450)
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").text,
                         "450 4.7.1 Error: too many recipients from 127.0.0.34")
        c.close()
        c = self.client("127.0.0.35")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@example.org>")
        self.assertNotEqual(c.cmd("RCPT TO:<info@example.com>").code, 450)
        c.close()

    def test_new_tls_session_rate_limit(self):
        c = self.client("127.0.0.70")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("STARTTLS").code, 220)
        c.close()
        c = self.client("127.0.0.70")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("STARTTLS").text, "454 4.7.0 Error: too many new TLS sessions from 127.0.0.70")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)  # the session goes on in plaintext
        c.close()
        c = self.client("127.0.0.71")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("STARTTLS").code, 220)
        c.close()

    def test_domain_hourly_cap(self):
        self.assertIn("messages/hour: 2", self.inst.mxctl("domain", "show", "capped.example").stdout)
        msg = mxtest.make_message("cap@test")
        for source in ("127.0.0.36", "127.0.0.37"):
            c = self.client(source)
            self.assertEqual(c.reply().code, 220)
            self.assertEqual(c.send_mail("a@example.org", ["info@capped.example"], msg).code, 250)
            c.close()
        c = self.client("127.0.0.38")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<info@capped.example>").text,
                         "450 4.7.1 Error: too much mail for capped.example this hour; try again later")
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)  # another domain: no cap
        c.close()
        self.assertIn("hourly message limit (2) of capped.example reached", self.inst.read_log())
        # lifting the cap takes effect at once
        self.inst.mxctl("domain", "set", "capped.example", "--hourly-message-limit", "0")
        c = self.client("127.0.0.38")
        self.assertEqual(c.reply().code, 220)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@example.org>")
        self.assertEqual(c.cmd("RCPT TO:<info@capped.example>").code, 250)
        c.close()
        self.inst.mxctl("domain", "set", "capped.example", "--hourly-message-limit", "2")

    def test_bad_hourly_limit_named(self):
        r = self.inst.mxctl("domain", "set", "capped.example", "--hourly-message-limit", "-3", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("hourly message limit '-3'", r.stderr)

    def test_counters_by_reason(self):
        early = raw_connect(self.inst, "127.0.0.40")
        early.sendall(b"EHLO spammer.example\r\n")
        read_all(early)
        c = self.client("127.0.0.41")
        c.reply()
        c.cmd("HELO client.example")
        c.send(b"NOOP\r\nNOOP\r\n")
        c.reply()
        c.close()

        def sample(reason):
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith('mxd_smtpd_gate_refused_total{reason="%s"}' % reason):
                        return float(line.split()[-1])
            return 0
        self.assertTrue(wait_for(lambda: sample("pregreet") >= 1 and sample("pipelining") >= 1, 5))
        out = self.inst.mxctl("status").stdout
        self.assertIn("refused at the gate:", out)
        self.assertIn('reason="pregreet"', out)


class BadSites(unittest.TestCase):
    def test_bad_dnsbl_sites_stop_mxd_naming_the_item(self):
        inst = mxtest.Instance({"postscreen_dnsbl_sites": "bl.test=127.0.0.[3..2]"})
        try:
            r = subprocess.run(inst.command(), capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("postscreen_dnsbl_sites: bad item 'bl.test=127.0.0.[3..2]'", r.stderr + inst.read_log())
        finally:
            inst.cleanup()


class GateReload(unittest.TestCase):
    """SIGHUP turns DNSBL checks on (the resolver starts then); a bad list on reload is refused and the
    running configuration stays."""

    def test_reload_turns_dnsbl_on_and_keeps_it_on_a_bad_list(self):
        dns = dnsserver.start(ZONES, port=0)
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % dns.port})
        try:
            inst.start()
            c = self.session(inst)
            self.assertEqual(c.cmd("EHLO client.example").code, 250)  # no lists yet
            c.close()
            inst.settings["postscreen_dnsbl_sites"] = "bl.test*2"
            inst.write_conf()
            inst.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload -- configuration" in inst.read_log(), 10))
            c = self.session(inst)
            self.assertTrue(c.cmd("EHLO client.example").text.startswith("550 5.7.1"))
            c.close()
            inst.settings["postscreen_dnsbl_sites"] = "bl.test*2, =127.0.0.2"
            inst.write_conf()
            inst.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload failed, the running configuration stays: "
                                     "postscreen_dnsbl_sites: bad item '=127.0.0.2'" in inst.read_log(), 10),
                            inst.read_log()[-1500:])
            c = self.session(inst)
            self.assertTrue(c.cmd("EHLO client.example").text.startswith("550 5.7.1"))
            c.close()
        finally:
            try:
                inst.stop()
            finally:
                inst.cleanup()
                dns.stop()

    @staticmethod
    def session(inst):
        c = mxtest.Client("127.0.0.1", inst.port, 10, "127.0.0.20")  # listed in bl.test
        assert c.reply().code == 220
        return c


class GateSecondary(Gate):
    """The secondary refuses what the primary would, or it relays spam to us."""
    role = {"role": "secondary", "myhostname": "mx2.example.com", "primary_hosts": "[127.0.0.1]:9",
            "smtp_tls_security_level": "none"}


if __name__ == "__main__":
    unittest.main(verbosity=2)
