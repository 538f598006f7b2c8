"""mxd with rspamd from Debian as its milter (the rspamd_proxy worker in milter mode, self_scan, no redis),
started here on loopback with a minimal configuration in a temporary directory: GTUBE is refused before
the 250 with rspamd's reply, a clean message is stored with rspamd's headers added, and with rspamd
stopped the message gets milter_default_action (451 4.7.1). Skipped when rspamd is not installed."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import rspamd_runner  # noqa: E402

RSPAMD = rspamd_runner.RSPAMD
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def msg(msgid, body):
    return ("From: Sender <sender@example.org>\r\nTo: <info@example.com>\r\nSubject: hello\r\n"
            "Date: Sun, 06 Dec 2026 03:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n" % (msgid, body))


@unittest.skipIf(RSPAMD is None, "rspamd is not installed (apt-get install rspamd)")
class RspamdMilter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rspamd = rspamd_runner.Rspamd()

    @classmethod
    def tearDownClass(cls):
        cls.rspamd.cleanup()

    def setUp(self):
        self.inst = mxtest.Instance({
            "smtpd_milters": "inet:127.0.0.1:%d" % self.rspamd.port,
            "milter_content_timeout": "30s",
        })
        self.addCleanup(self.inst.cleanup)
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        self.inst.start()
        self.addCleanup(self.inst.stop)

    def send(self, msgid, body):
        c = self.inst.client(timeout=40)
        self.addCleanup(c.close)
        return c.send_mail("sender@example.org", ["info@example.com"], msg(msgid, body))

    def queue(self):
        return self.inst.mxctl("queue", "list").stdout

    def test_1_gtube_refused_with_rspamds_reply(self):
        r = self.send("gtube", GTUBE)
        self.assertEqual(r.code, 554, r)
        self.assertEqual(r.text[4:], "5.7.1 Gtube pattern")
        self.assertIn("Mail queue is empty", self.queue())
        self.assertRegex(self.inst.read_log(), r"milter-reject: END-OF-MESSAGE from \S+: 554 5.7.1 Gtube pattern "
                         r"\(milter inet:127.0.0.1:%d\)" % self.rspamd.port)

    def test_2_clean_message_stored_with_rspamds_headers(self):
        r = self.send("clean", "Hello, this is an ordinary message about the meeting on Tuesday.")
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        show = self.inst.mxctl("queue", "show", qid).stdout
        content = show.split("*** CONTENT ***\n", 1)[1]
        self.assertIn("X-Spamd-Result: default: False [", content)
        self.assertIn("X-Rspamd-Queue-Id: %s" % qid, content)
        self.assertIn("X-Spam-Status: No", content)
        self.assertIn("Hello, this is an ordinary message", content)

    def test_3_rspamd_stopped_gives_default_action(self):
        self.rspamd.stop()
        r = self.send("down", "Hello again.")
        self.assertEqual((r.code, r.text[4:]), (451, "4.7.1 Service unavailable - try again later"), r)
        self.assertIn("Mail queue is empty", self.queue())
        self.assertIn("warning: milter inet:127.0.0.1:%d: Connection refused" % self.rspamd.port, self.inst.read_log())


if __name__ == "__main__":
    unittest.main()
