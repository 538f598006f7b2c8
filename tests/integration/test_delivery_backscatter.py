"""Backscatter: after mxd has said 250, a forward refused with 5xx bounces to the envelope sender, whom
nobody verified. No notification goes to a sender whose SPF result here was fail (spf_policy = tag), nor for
automatic mail (Auto-Submitted other than "no", Precedence bulk/list/junk, List-Id or List-Unsubscribe);
the log says so. Other senders get their bounce, with the original headers and never the body."""
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
$ORIGIN pass.test
@        MX 10 mx
@        TXT "v=spf1 ip4:127.0.0.1 -all"
mx       A 127.0.0.1
$ORIGIN fail.test
@        MX 10 mx
@        TXT "v=spf1 ip4:192.0.2.1 -all"
mx       A 127.0.0.1
$ORIGIN soft.test
@        MX 10 mx
@        TXT "v=spf1 ip4:192.0.2.1 ~all"
mx       A 127.0.0.1
"""


class Backscatter(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.sink.rcpt_reply = {"someone@gmail.test": "550 5.1.1 no such user"}
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "smtp_tls_security_level": "none",
            "spf_policy": "tag",
            "failed_retention": "0",  # the bounced message is removed (test_failed covers keeping it)
        })
        hosted(self.inst)  # info@example.com -> someone@gmail.test, refused there
        self.inst.start()

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            self.sink.stop()
            self.dns.stop()

    def send(self, sender, msgid, headers=""):
        msg = headers + mxtest.make_message(msgid, sender=sender, body="BODY-SECRET line\r\n")
        c = self.inst.client()
        r = c.send_mail(sender, ["info@example.com"], msg)
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def finished(self, qid):
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.read_log()), self.inst.read_log()[-3000:])
        self.assertRegex(self.inst.read_log(), r"%s: to=<someone@gmail\.test>, .*dsn=5\.1\.1, status=bounced" % qid)

    def bounces(self):
        return [m for m in self.sink.messages if m.mail_from in ("", "<>")]

    def assert_suppressed(self, qid, reason):
        self.finished(qid)
        time.sleep(1)  # a bounce, if one were made, would be on its way by now
        self.assertEqual(self.bounces(), [])
        self.assertIn("%s: sender non-delivery notification suppressed: %s" % (qid, reason), self.inst.read_log())
        self.assertNotRegex(self.inst.read_log(), r"%s: sender non-delivery notification: " % qid)

    def assert_bounced(self, qid, sender):
        self.finished(qid)
        self.assertTrue(wait_for(lambda: len(self.bounces()) == 1), self.inst.read_log()[-3000:])
        b = self.bounces()[0]
        self.assertEqual(b.rcpt_tos, [sender])
        parts = email.message_from_bytes(b.data).get_payload()
        self.assertEqual(parts[2].get_content_type(), "text/rfc822-headers")
        self.assertIn("Message-ID: <", parts[2].as_string())
        self.assertNotIn(b"BODY-SECRET", b.data)

    def test_spf_fail_sender_gets_no_bounce(self):
        qid = self.send("alice@fail.test", "b1@test")
        self.assertRegex(self.inst.read_log(), r"spf=fail identity=mailfrom .*from=<alice@fail\.test>")
        self.assert_suppressed(qid, "SPF fail")

    def test_spf_pass_sender_gets_bounce(self):
        self.assert_bounced(self.send("alice@pass.test", "b2@test"), "alice@pass.test")

    def test_spf_softfail_sender_gets_bounce(self):
        self.assert_bounced(self.send("alice@soft.test", "b3@test"), "alice@soft.test")

    def test_forged_received_spf_in_body_headers_ignored(self):
        """A Received-SPF: fail the sender wrote below our Received: is not our verdict."""
        qid = self.send("alice@pass.test", "b4@test", headers="Received-SPF: fail (forged)\r\n")
        self.assert_bounced(qid, "alice@pass.test")

    def test_auto_submitted_gets_no_bounce(self):
        self.assert_suppressed(self.send("alice@pass.test", "b5@test", "Auto-Submitted: auto-replied\r\n"),
                               "Auto-Submitted: auto-replied")

    def test_auto_submitted_no_gets_bounce(self):
        self.assert_bounced(self.send("alice@pass.test", "b6@test", "Auto-Submitted: no\r\n"), "alice@pass.test")

    def test_precedence_bulk_gets_no_bounce(self):
        self.assert_suppressed(self.send("alice@pass.test", "b7@test", "Precedence: bulk\r\n"), "Precedence: bulk")

    def test_list_mail_gets_no_bounce(self):
        self.assert_suppressed(self.send("alice@pass.test", "b8@test", "List-Id: <news.pass.test>\r\n"),
                               "List-Id")


if __name__ == "__main__":
    unittest.main(verbosity=2)
