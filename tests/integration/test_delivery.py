"""End-to-end delivery on loopback: a test DNS server serves the external domains, aiosmtpd sinks stand
in for the external mailboxes, and mxd forwards what it accepts: MX lookup, alias chains, retries with
backoff, bounces (RFC 3464), expiry, null MX / NXDOMAIN / SERVFAIL, concurrency limits, flush."""
import email
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, wait_for  # noqa: E402

ZONES = """
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN sender.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN nullmx.test
@        MX 0 .
$ORIGIN broken.test
@        SERVFAIL
$ORIGIN nomx.test
@        A 127.0.0.1
"""


class Delivery(unittest.TestCase):
    settings = {"default_destination_concurrency_limit": "3"}

    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        base = {
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
        }
        base.update(self.settings)
        self.inst = mxtest.Instance(base)
        i = self.inst
        hosted(i)
        i.mxctl("alias", "add", "team@example.com", "a@gmail.test", "sales@example.com")
        i.mxctl("alias", "add", "sales@example.com", "b@gmail.test", "c@gmail.test")
        i.mxctl("alias", "add", "loop1@example.com", "loop2@example.com")
        i.mxctl("alias", "add", "loop2@example.com", "loop1@example.com")
        i.mxctl("alias", "add", "nomail@example.com", "x@nullmx.test")
        i.mxctl("alias", "add", "gone@example.com", "x@nxdomain.gmail.test")
        i.mxctl("alias", "add", "flaky@example.com", "x@broken.test")
        i.mxctl("alias", "add", "bad@example.com", "nosuchuser@gmail.test")
        i.start()

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            self.sink.stop()
            self.dns.stop()

    def send(self, rcpts, msgid, sender="alice@sender.test", body="Hello.\r\n"):
        c = self.inst.client()
        r = c.send_mail(sender, rcpts, mxtest.make_message(msgid, sender=sender, body=body))
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def queue_empty(self):
        return re.search(r"^[0-9A-F]{16}", self.inst.mxctl("queue", "list").stdout, re.M) is None

    def bounces(self):
        return [m for m in self.sink.messages if m.mail_from == "" or m.mail_from == "<>"]

    def test_alias_delivered_by_mx(self):
        body = "Line one.\r\n.leading dot\r\n..two dots\r\nend\r\n"
        qid = self.send(["info@example.com"], "d1@test", body=body)
        self.assertTrue(self.sink.wait(1), self.inst.read_log())
        m = self.sink.messages[0]
        self.assertEqual(m.mail_from, "alice@sender.test")
        self.assertEqual(m.rcpt_tos, ["someone@gmail.test"])
        data = m.data.replace(b"\r\n", b"\n")
        sent = mxtest.make_message("d1@test", sender="alice@sender.test", body=body).encode().replace(b"\r\n", b"\n")
        # byte-identical apart from our Received: header on top
        self.assertTrue(data.startswith(b"Received: from client.example"), data[:200])
        self.assertTrue(data.endswith(sent), data)
        self.assertTrue(wait_for(self.queue_empty))
        log = self.inst.read_log()
        self.assertRegex(log, r"%s: to=<someone@gmail\.test>, orig_to=<info@example\.com>, relay=mx\.gmail\.test"
                              r"\[127\.0\.0\.1\]:%d, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                              r"status=sent \(250 2\.0\.0 Ok" % (qid, self.sink.port))
        self.assertRegex(log, r"%s: removed" % qid)

    def test_alias_chain_and_dedupe(self):
        self.send(["team@example.com", "sales@example.com"], "d2@test")
        self.assertTrue(self.sink.wait(1))
        self.assertTrue(wait_for(self.queue_empty))
        rcpts = sorted(r for m in self.sink.messages for r in m.rcpt_tos)
        self.assertEqual(rcpts, ["a@gmail.test", "b@gmail.test", "c@gmail.test"])

    def assert_one_bounce(self, rcpt, status, diag_re=None):
        self.assertTrue(self.sink.wait(1, timeout=30), self.inst.read_log())
        self.assertTrue(wait_for(self.queue_empty), self.inst.mxctl("queue", "list").stdout)
        time.sleep(0.5)
        b = self.bounces()
        self.assertEqual(len(b), 1, [m.mail_from for m in self.sink.messages])
        self.assertEqual(b[0].rcpt_tos, ["alice@sender.test"])
        msg = email.message_from_bytes(b[0].data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        parts = msg.get_payload()
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        ds = parts[1].as_string()
        self.assertIn("Final-Recipient: rfc822; %s" % rcpt, ds)
        self.assertIn("Status: %s" % status, ds)
        if diag_re:
            self.assertRegex(ds, diag_re)
        self.assertIn("Message-ID: <", parts[2].as_string())
        return ds

    def test_5xx_bounces_once(self):
        self.sink.rcpt_reply = {"nosuchuser@gmail.test": "550 5.1.1 no such user"}
        qid = self.send(["bad@example.com"], "d3@test")
        ds = self.assert_one_bounce("nosuchuser@gmail.test", "5.1.1", r"Diagnostic-Code: smtp; 550 5\.1\.1 no such")
        self.assertIn("Remote-MTA: dns; mx.gmail.test", ds)
        self.assertIn("Original-Recipient: rfc822; bad@example.com", ds)
        self.assertRegex(self.inst.read_log(), r"%s: to=<nosuchuser@gmail\.test>, orig_to=<bad@example\.com>, "
                                               r".*dsn=5\.1\.1, status=bounced" % qid)

    def test_loop_bounces_546(self):
        self.send(["loop1@example.com"], "d4@test")
        self.assert_one_bounce("loop1@example.com", "5.4.6")

    def test_null_mx_bounces(self):
        self.send(["nomail@example.com"], "d5@test")
        self.assert_one_bounce("x@nullmx.test", "5.1.10")

    def test_nxdomain_bounces(self):
        self.send(["gone@example.com"], "d6@test")
        self.assert_one_bounce("x@nxdomain.gmail.test", "5.1.2")

    def test_servfail_defers_then_flush(self):
        qid = self.send(["flaky@example.com"], "d7@test")
        self.assertTrue(wait_for(lambda: "status=deferred" in self.inst.read_log()))
        self.assertFalse(self.queue_empty())
        self.assertEqual(self.bounces(), [])
        self.assertRegex(self.inst.read_log(), r"%s: to=<x@broken\.test>, orig_to=<flaky@example\.com>, "
                                               r"relay=none, .*dsn=4\.4\.3, status=deferred" % qid)
        listing = self.inst.mxctl("queue", "list").stdout
        self.assertIn("x@broken.test", listing)
        self.assertEqual(self.inst.mxctl("queue", "flush").returncode, 0)

    def test_tempfail_retried_then_delivered(self):
        self.sink.data_reply = "451 4.3.0 try again later"
        qid = self.send(["info@example.com"], "d8@test")
        self.assertTrue(wait_for(lambda: self.inst.read_log().count("%s: to=<someone@gmail.test>" % qid) >= 2))
        self.assertIn("status=deferred", self.inst.read_log())
        self.sink.data_reply = None
        self.assertTrue(self.sink.wait(1, timeout=20), self.inst.read_log())
        self.assertTrue(wait_for(self.queue_empty))
        self.assertEqual(self.bounces(), [])

    def test_pflogsumm_counts(self):
        """Operators' tools keep working: pflogsumm reads our mail.log."""
        import subprocess
        self.sink.rcpt_reply = {"nosuchuser@gmail.test": "550 5.1.1 no such user"}
        self.send(["info@example.com"], "p1@test")
        self.send(["bad@example.com"], "p2@test")
        self.send(["flaky@example.com"], "p3@test")
        self.assertTrue(wait_for(lambda: "status=deferred" in self.inst.read_log() and
                                 "status=bounced" in self.inst.read_log() and len(self.sink.messages) >= 2))
        out = subprocess.run(["pflogsumm", "--syslog-name=mxd", self.inst.log], capture_output=True,
                             text=True).stdout
        self.assertRegex(out, r"\n\s+[34]\s+received\n", out)
        self.assertRegex(out, r"\n\s+2\s+delivered\n", out)  # the message and the bounce
        self.assertRegex(out, r"\n\s+1\s+deferred", out)
        self.assertRegex(out, r"\n\s+1\s+bounced\n", out)

    def test_concurrency_limit(self):
        self.sink.delay = 0.3
        for n in range(12):
            self.send(["info@example.com"], "c%d@test" % n)
        self.assertTrue(self.sink.wait(12, timeout=60), self.inst.read_log()[-3000:])
        self.assertLessEqual(self.sink.max_concurrent, 3)
        self.assertGreaterEqual(self.sink.max_concurrent, 2)


class Expiry(unittest.TestCase):
    def test_expired_message_bounces_once(self):
        dns = dnsserver.start(ZONES, port=0)
        s = sink.Sink("127.0.0.1", mxtest.free_port())
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % dns.port, "smtp_tcp_port": str(s.port),
                                "queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                "maximal_backoff_time": "1s", "maximal_queue_lifetime": "4s",
                                "smtp_tls_security_level": "none"})
        try:
            hosted(inst)
            inst.start()
            s.rcpt_reply = {"someone@gmail.test": "452 4.2.2 mailbox full"}
            c = inst.client()
            r = c.send_mail("alice@sender.test", ["info@example.com"], mxtest.make_message("e1@test"))
            self.assertEqual(r.code, 250)
            c.close()
            self.assertTrue(s.wait(1, timeout=30), inst.read_log())
            time.sleep(1.5)
            self.assertEqual(len(s.messages), 1)
            b = s.messages[0]
            self.assertIn(b.mail_from, ("", "<>"))
            msg = email.message_from_bytes(b.data)
            self.assertEqual(msg.get_content_type(), "multipart/report")
            self.assertIn("status=expired, returned to sender", inst.read_log())
            self.assertIn("4.2.2", msg.get_payload()[1].as_string())
        finally:
            inst.stop()
            inst.cleanup()
            s.stop()
            dns.stop()


class NextHopFaults(unittest.TestCase):
    """The next hop drops the connection mid-DATA, answers 421 at the greeting, or 4xx at DATA: each
    defers, nothing is lost or bounced, and the message goes once the next hop behaves."""

    def run_case(self, **sink_options):
        import sinkmx
        bad = sinkmx.Sink("127.0.0.1", 0, **sink_options).start()
        inst = mxtest.Instance({"queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "1s",
                                "smtp_tls_security_level": "none"})
        good = None
        try:
            hosted(inst)
            inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % bad.port)
            inst.start()
            c = inst.client()
            r = c.send_mail("alice@sender.test", ["info@example.com"],
                            mxtest.make_message("nh@test", body=("x" * 98 + "\r\n") * 50))
            c.close()
            self.assertEqual(r.code, 250)
            self.assertTrue(wait_for(lambda: "status=deferred" in inst.read_log(), 20), inst.read_log()[-2000:])
            self.assertNotIn("status=bounced", inst.read_log())
            self.assertNotIn("status=sent", inst.read_log())
            good = sink.Sink("127.0.0.1", mxtest.free_port())
            inst.mxctl("route", "del", "*")
            inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % good.port)
            self.assertTrue(good.wait(1, 20), inst.read_log()[-2000:])
            self.assertEqual(len(good.messages), 1)
            self.assertEqual(good.messages[0].data.count(b"x" * 98 + b"\r\n"), 50)
        finally:
            inst.stop()
            inst.cleanup()
            bad.stop()
            if good is not None:
                good.stop()

    def test_reset_mid_data(self):
        self.run_case(drop_after=1000)

    def test_421_greeting(self):
        self.run_case(mode="tempfail", tempfail_at="greeting")

    def test_4xx_at_data(self):
        self.run_case(mode="tempfail", tempfail_at="data")


class DelayWarning(unittest.TestCase):
    def test_one_delay_warning(self):
        dns = dnsserver.start(ZONES, port=0)
        s = sink.Sink("127.0.0.1", mxtest.free_port())
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % dns.port, "smtp_tcp_port": str(s.port),
                                "queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                "maximal_backoff_time": "1s", "delay_warning_time": "2s",
                                "smtp_tls_security_level": "none"})
        try:
            hosted(inst)
            inst.start()
            s.rcpt_reply = {"someone@gmail.test": "452 4.2.2 mailbox full"}
            c = inst.client()
            self.assertEqual(c.send_mail("alice@sender.test", ["info@example.com"],
                                         mxtest.make_message("w1@test")).code, 250)
            c.close()
            self.assertTrue(s.wait(1, timeout=20), inst.read_log())
            time.sleep(3)
            self.assertEqual(len(s.messages), 1, "exactly one warning")
            msg = email.message_from_bytes(s.messages[0].data)
            self.assertEqual(msg["Subject"], "Delayed Mail (still being retried)")
            ds = msg.get_payload()[1].as_string()
            self.assertIn("Action: delayed", ds)
            self.assertIn("Will-Retry-Until:", ds)
            self.assertNotIn("status=bounced", inst.read_log())
        finally:
            inst.stop()
            inst.cleanup()
            s.stop()
            dns.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
