"""Sender authentication end to end on loopback: SPF on the way in (spf_policy = reject and tag, the
Received-SPF and Authentication-Results header fields), SRS on the way out (the forwarded message leaves
from an SRS0 address at srs_domain), and bounces to SRS addresses (reversed to the original sender when
the signature holds, 550 5.1.1 when it does not). A test DNS server publishes the SPF records, an aiosmtpd
sink stands in for every external mailbox."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted  # noqa: E402

ZONES = """
$ORIGIN sender.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN evil.test
@        TXT "v=spf1 ip4:192.0.2.1 -all"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
mx       TXT "v=spf1 a -all"
$ORIGIN slow.test
@        TIMEOUT
"""

SRS_DOMAIN = "srs.mxd.test"


def unfolded(data):
    """The header section of a message as text, folded lines joined."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


class SenderAuth(unittest.TestCase):
    spf_policy = "reject"

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
                "spf_policy": cls.spf_policy,
                "srs_domain": SRS_DOMAIN,
            })
            secret = os.path.join(cls.inst.dir, "srs.secret")
            with open(secret, "w") as f:
                f.write("# the first line signs\nt3st-s3cret\n")
            os.chmod(secret, 0o600)  # a secret others may read is refused
            cls.inst.settings["srs_secret_file"] = secret
            cls.inst.write_conf()
            hosted(cls.inst)
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

    def send(self, sender, rcpts, msgid, helo="client.example"):
        c = self.inst.client()
        try:
            r = c.send_mail(sender, rcpts, mxtest.make_message(msgid, sender=sender or "mailer-daemon@gmail.test"),
                            helo=helo)
            c.cmd("QUIT")
        finally:
            c.close()
        return r

    def received(self, rcpt, timeout=20):
        """The one message the sink got for rcpt."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if rcpt in m.rcpt_tos]
            if found:
                self.assertEqual(len(found), 1, [m.rcpt_tos for m in found])
                return found[0]
            time.sleep(0.05)
        self.fail("nothing for %s at the sink; mail.log:\n%s" % (rcpt, self.inst.read_log()[-3000:]))


class Reject(SenderAuth):
    def test_1_spf_fail_is_refused_at_mail_from(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        r = c.cmd("MAIL FROM:<mallory@evil.test>")
        self.assertEqual(r.code, 550, r.lines)
        self.assertTrue(r.text.startswith("550 5.7.23 "), r.lines)
        self.assertIn("evil.test does not designate 127.0.0.1 as permitted sender", r.text)
        # the session goes on: the next transaction is judged on its own
        r = c.cmd("MAIL FROM:<alice@sender.test>")
        self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()
        self.assertRegex(self.inst.read_log(), r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: 550 5\.7\.23 ")

    def test_2_forwarded_with_headers_and_srs(self):
        r = self.send("alice@sender.test", ["info@example.com"], "auth1@test")
        self.assertEqual(r.code, 250, r.lines)
        m = self.received("someone@gmail.test")
        # the envelope sender leaves as SRS0 at srs_domain
        self.assertRegex(m.mail_from, r"^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.test=alice@srs\.mxd\.test$")
        head = unfolded(m.data)
        self.assertIn("Authentication-Results: mx.mxd.test; spf=pass smtp.mailfrom=alice@sender.test", head)
        self.assertRegex(head, r"Received-SPF: pass \(mx\.mxd\.test: domain of alice@sender\.test designates "
                               r"127\.0\.0\.1 as permitted sender\) client-ip=127\.0\.0\.1; "
                               r"envelope-from=\"alice@sender\.test\"; helo=client\.example; "
                               r"receiver=mx\.mxd\.test; identity=mailfrom")
        # our trace fields on top, in the order RFC 7208 9.1 asks: Received-SPF above our Received:
        names = [line.split(":", 1)[0] for line in head.split("\n")[:3]]
        self.assertEqual(names, ["Authentication-Results", "Received-SPF", "Received"])
        self.assertIn("spf=pass identity=mailfrom client=unknown[127.0.0.1] from=<alice@sender.test>",
                      self.inst.read_log())
        type(self).srs_address = m.mail_from

    def test_3_bounce_to_srs_address_reaches_the_sender(self):
        srs = getattr(type(self), "srs_address", None)
        if srs is None:
            self.skipTest("needs test_2")
        # a bounce from the destination: the null sender, judged by its HELO name
        r = self.send("", [srs], "bounce1@test", helo="mx.gmail.test")
        self.assertEqual(r.code, 250, r.lines)
        m = self.received("alice@sender.test")
        self.assertIn(m.mail_from, ("", "<>"))
        head = unfolded(m.data)
        self.assertIn("Authentication-Results: mx.mxd.test; spf=pass smtp.helo=mx.gmail.test", head)
        self.assertRegex(self.inst.read_log(), r"to=<alice@sender\.test>, orig_to=<%s>, .*status=sent"
                         % re.escape(srs))

    def test_4_forged_srs_addresses_are_refused(self):
        good = getattr(type(self), "srs_address", None)
        if good is None:
            self.skipTest("needs test_2")
        local, domain = good.rsplit("@", 1)
        tag, hash_, rest = local.split("=", 2)
        forged = [
            "%s=%s=%s@%s" % (tag, "AAAA" if hash_ != "AAAA" else "BBBB", rest, domain),  # another hash
            good.replace("=sender.test=", "=evil.test="),                                 # another domain
            "SRS0=abcd=AA=sender.test=alice@" + SRS_DOMAIN,                               # made up
            "SRS0=oops@" + SRS_DOMAIN,                                                    # malformed
        ]
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO mx.gmail.test")
        self.assertEqual(c.cmd("MAIL FROM:<>").code, 250)
        for address in forged:
            r = c.cmd("RCPT TO:<%s>" % address)
            self.assertEqual(r.code, 550, (address, r.lines))
            self.assertTrue(r.text.startswith("550 5.1.1 "), r.lines)
        # the hash compares case-insensitively (some MTAs lower-case addresses)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % good.lower()).code, 250)
        c.cmd("RSET")
        c.cmd("QUIT")
        c.close()


    def test_5_srs_address_is_no_relay_token(self):
        """Whoever got one forwarded message cannot reuse its SRS address to send anything to the original
        sender through us: a non-null sender is refused before the signature is looked at, with the same
        reply for a good and a forged address, and the refusals count toward smtpd_hard_error_limit."""
        good = getattr(type(self), "srs_address", None)
        if good is None:
            self.skipTest("needs test_2")
        forged = good.replace("=sender.test=", "=evil.test=")
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<alice@sender.test>").code, 250)  # any sender SPF lets through
        replies = []
        for address in (good, forged, good):
            r = c.cmd("RCPT TO:<%s>" % address)
            replies.append(r.text.replace(address, "ADDR"))
            self.assertEqual(r.code, 550, r.lines)
            self.assertTrue(r.text.startswith("550 5.7.1 "), r.lines)
        self.assertEqual(len(set(replies)), 1, replies)
        # refusals count toward smtpd_hard_error_limit (20): the 20th error ends the session with 421
        for _ in range(16):
            self.assertEqual(c.cmd("RCPT TO:<%s>" % good).code, 550)
        r = c.cmd("RCPT TO:<%s>" % good)
        self.assertEqual(r.code, 550)
        self.assertTrue(c.reply().text.startswith("421 4.7.0 "))
        self.assertTrue(c.closed())
        c.close()
        self.assertIn("refused for sender <alice@sender.test>: not a bounce", self.inst.read_log())
        # a bounce (null sender) to the same address is still accepted
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO mx.gmail.test")
        self.assertEqual(c.cmd("MAIL FROM:<>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % good).code, 250)
        c.cmd("RSET")
        c.close()


class Tag(SenderAuth):
    spf_policy = "tag"

    def test_fail_is_accepted_and_recorded(self):
        r = self.send("mallory@evil.test", ["info@example.com"], "tag1@test")
        self.assertEqual(r.code, 250, r.lines)
        m = self.received("someone@gmail.test")
        head = unfolded(m.data)
        self.assertRegex(head, r"(?m)^Received-SPF: fail \(mx\.mxd\.test: domain of mallory@evil\.test does not "
                               r"designate 127\.0\.0\.1 as permitted sender\)")
        self.assertIn("Authentication-Results: mx.mxd.test; spf=fail smtp.mailfrom=mallory@evil.test", head)
        self.assertRegex(m.mail_from, r"^SRS0=.{4}=..=evil\.test=mallory@srs\.mxd\.test$")


    def test_z_client_leaves_and_shutdown_during_checks(self):
        """Checks still running when their client has left (noticed once the verdict is in, as while
        committing), or when mxd stops, end cleanly (the sanitizers watch the exit); the session that waited
        gets the 421 of the shutdown."""
        gone = self.inst.client()
        gone.reply()
        gone.cmd("EHLO client.example")
        gone.send("MAIL FROM:<alice@slow.test>\r\n")
        time.sleep(0.2)
        gone.close()
        waiting = self.inst.client()
        waiting.reply()
        waiting.cmd("EHLO client.example")
        waiting.send("MAIL FROM:<bob@slow.test>\r\n")
        time.sleep(0.3)
        started = time.time()
        self.assertEqual(self.inst.stop(), 0)
        self.assertLess(time.time() - started, 8)
        r = waiting.reply()
        self.assertTrue(r.text.startswith("421 4.3.2"), r.lines)
        waiting.close()
        # neither MAIL was answered: both sessions ended with their checks still running
        self.assertEqual(self.inst.read_log().count("ehlo=1 mail=0/1 commands=1/2"), 2)

if __name__ == "__main__":
    unittest.main(verbosity=2)
