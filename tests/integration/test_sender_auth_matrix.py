"""Every SPF result under every spf_policy, end to end on loopback: for each of pass, fail, softfail,
neutral, none, temperror and permerror, and for each of spf_policy = off, tag and reject, the reply to
MAIL FROM (250; 550 5.7.23 for fail and 451 4.7.24 for temperror under reject) and what the forwarded
message carries at the sink (Received-SPF and Authentication-Results with the result under tag and reject;
neither header, and no SPF lookup at all, under off). A test DNS server publishes one domain per result,
an aiosmtpd sink stands in for the final mailboxes."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402

# one sender domain per SPF result; the client is always 127.0.0.1
ZONES = """
$ORIGIN pass.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
$ORIGIN fail.test
@        TXT "v=spf1 ip4:192.0.2.1 -all"
$ORIGIN softfail.test
@        TXT "v=spf1 ip4:192.0.2.1 ~all"
$ORIGIN neutral.test
@        TXT "v=spf1 ?all"
$ORIGIN none.test
@        A 192.0.2.9
@        TXT "site-verification=abc"
$ORIGIN temperror.test
@        TXT SERVFAIL
$ORIGIN permerror.test
@        TXT "v=spf1 ip4:127.0.0.1 frobnicate:x -all"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
"""

RESULTS = ["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]

# (policy, result) -> the reply to MAIL FROM: (code, enhanced status or None)
EXPECTED_MAIL = {(policy, result): (250, "2.1.0") for policy in ("off", "tag", "reject") for result in RESULTS}
EXPECTED_MAIL[("reject", "fail")] = (550, "5.7.23")
EXPECTED_MAIL[("reject", "temperror")] = (451, "4.7.24")

# the comment of each result in Received-SPF (libspf2's wording); {s} is the sender
COMMENT = {
    "pass": r"domain of {s} designates 127\.0\.0\.1 as permitted sender",
    "fail": r"domain of {s} does not designate 127\.0\.0\.1 as permitted sender",
    "softfail": r"domain of transitioning {s} does not designate 127\.0\.0\.1 as permitted sender",
    "neutral": r"127\.0\.0\.1 is neither permitted nor denied by domain of {s}",
    "none": r"domain of {s} does not designate permitted sender hosts",
    "temperror": r"temporary error in processing during lookup of {s}",
    "permerror": r"permanent error in processing during lookup of {s}",
}

# what problem= says for the errors
PROBLEM = {
    "temperror": r"Temporary DNS failure for 'temperror\.test'\.",
    "permerror": r"SPF record of permerror.test: unknown mechanism",
}


def unfolded(data):
    """The header section of a message as text, folded lines joined."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


class Matrix:
    """One mxd with spf_policy = cls.policy; test_results runs the seven results through it."""
    policy = None

    @classmethod
    def setUpClass(cls):
        cls.dns = dnsserver.start(ZONES, port=0)
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.inst = None
        try:
            cls.inst = mxtest.Instance({
                "resolver": "127.0.0.1:%d" % cls.dns.port,
                "smtp_tcp_port": str(cls.sink.port),
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
                "smtp_tls_security_level": "none",
                "spf_policy": cls.policy,
            })
            cls.inst.mxctl("domain", "add", "example.com")
            for result in RESULTS:
                cls.inst.mxctl("alias", "add", "%s@example.com" % result, "%s-%s@gmail.test" % (cls.policy, result))
            cls.inst.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.inst is not None:
                cls.inst.stop()
        finally:
            if cls.inst is not None:
                cls.inst.cleanup()
            cls.sink.stop()
            cls.dns.stop()

    def transaction(self, sender, rcpt, msgid):
        """MAIL, and when it is accepted RCPT and DATA; returns the reply to MAIL and the end of DATA."""
        c = self.inst.client()
        try:
            c.reply()
            self.assertEqual(c.cmd("EHLO client.example").code, 250)
            mail = c.cmd("MAIL FROM:<%s>" % sender)
            data = None
            if mail.code == 250:
                self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt).code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(mxtest.make_message(msgid, sender=sender, to=rcpt).encode() + b".\r\n")
                data = c.reply()
            c.cmd("QUIT")
        finally:
            c.close()
        return mail, data

    def received(self, rcpt, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if rcpt in m.rcpt_tos]
            if found:
                self.assertEqual(len(found), 1, [m.rcpt_tos for m in found])
                return found[0]
            time.sleep(0.05)
        self.fail("nothing for %s at the sink; mail.log:\n%s" % (rcpt, self.inst.read_log()[-3000:]))

    def test_results(self):
        delivered = []
        for result in RESULTS:
            with self.subTest(policy=self.policy, result=result):
                sender = "user@%s.test" % result
                mail, data = self.transaction(sender, "%s@example.com" % result, "%s-%s@test" % (self.policy, result))
                code, status = EXPECTED_MAIL[(self.policy, result)]
                self.assertEqual(mail.code, code, mail.lines)
                self.assertTrue(mail.text.startswith("%d %s " % (code, status)), mail.lines)
                if code == 250:
                    self.assertEqual(data.code, 250, data.lines)
                    delivered.append(result)
                elif code == 550:
                    self.assertIn("SPF fail", mail.text)
                else:
                    self.assertIn("SPF temporary error", mail.text)
        for result in delivered:
            with self.subTest(policy=self.policy, result=result, at="sink"):
                sender = "user@%s.test" % result
                m = self.received("%s-%s@gmail.test" % (self.policy, result))
                head = unfolded(m.data)
                if self.policy == "off":
                    self.assertNotRegex(head, r"(?mi)^(Received-SPF|Authentication-Results):", head)
                    continue
                # the whole field: comment, keys in order, problem= (RFC 7208 9.1) for the errors only
                problem = r"problem=\"%s\"; " % PROBLEM[result] if result in PROBLEM else ""
                self.assertRegex(head, r"(?m)^Received-SPF: %s \(mx\.mxd\.test: %s\) client-ip=127\.0\.0\.1; "
                                       r"envelope-from=\"%s\"; helo=client\.example; %s"
                                       r"receiver=mx\.mxd\.test; identity=mailfrom$"
                                 % (result, COMMENT[result].format(s=re.escape(sender)), re.escape(sender), problem),
                                 head)
                self.assertIn("Authentication-Results: mx.mxd.test; spf=%s smtp.mailfrom=%s" % (result, sender),
                              head)
                self.assertEqual(len(re.findall(r"(?mi)^Received-SPF:", head)), 1, head)
        if self.policy == "off":
            # off means no check at all: not one SPF lookup reached the DNS server
            self.assertEqual([q for q in self.dns.queries if q[1] in ("TXT", "SPF")], [])
        else:
            # nothing that was refused reached the sink
            with self.sink.lock:
                rcpts = [r for m in self.sink.messages for r in m.rcpt_tos]
            self.assertEqual(sorted(rcpts), sorted("%s-%s@gmail.test" % (self.policy, r) for r in delivered))


class PolicyOff(Matrix, unittest.TestCase):
    policy = "off"


class PolicyTag(Matrix, unittest.TestCase):
    policy = "tag"


class PolicyReject(Matrix, unittest.TestCase):
    policy = "reject"


if __name__ == "__main__":
    unittest.main(verbosity=2)
