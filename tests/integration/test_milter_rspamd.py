"""mxd with rspamd from Debian as its milter (the rspamd_proxy worker in milter mode, self_scan, no redis),
started here on loopback with a minimal configuration in a temporary directory: GTUBE is refused before
the 250 with rspamd's reply, a clean message is stored with rspamd's headers added, and with rspamd
stopped the message gets milter_default_action (451 4.7.1). Skipped when rspamd is not installed."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402

RSPAMD = shutil.which("rspamd")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# Only what the test needs: no redis (the modules that need it stay unconfigured, so disabled), no
# hyperscan cache, DNS to a loopback port nobody answers on (nothing leaves the machine), the headers
# routine of milter_headers for local clients too.
CONF = """
options {
  pidfile = "%(dir)s/rspamd.pid";
  dbdir = "%(dir)s/db";
  disable_hyperscan = true;
  dns { nameserver = ["127.0.0.1:9"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "%(dir)s/rspamd.log"; level = "info"; }
actions { reject = 15; add_header = 6; greylist = 4; }
lua = "/usr/share/rspamd/rules/rspamd.lua";
modules { path = "/usr/share/rspamd/plugins"; }
milter_headers {
  use = ["x-spamd-result", "x-rspamd-queue-id", "x-spam-status"];
  extended_spam_headers = true;
  skip_local = false;
  skip_authenticated = false;
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 30s;
  count = 1;
  upstream "local" { default = yes; self_scan = yes; }
}
"""


class Rspamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mxtest-rspamd-")
        os.mkdir(os.path.join(self.dir, "db"))
        self.port = mxtest.free_port()
        self.conf = os.path.join(self.dir, "rspamd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % {"dir": self.dir, "port": self.port})
        argv = [RSPAMD, "-f", "-i", "-c", self.conf]
        if os.getuid() == 0:
            argv += ["-u", "root", "-g", "root"]
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        mxtest.wait_port("127.0.0.1", self.port, timeout=60, proc=self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the main process and its workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def cleanup(self):
        self.stop()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def msg(msgid, body):
    return ("From: Sender <sender@example.org>\r\nTo: <info@example.com>\r\nSubject: hello\r\n"
            "Date: Sun, 06 Dec 2026 03:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n" % (msgid, body))


@unittest.skipIf(RSPAMD is None, "rspamd is not installed (apt-get install rspamd)")
class RspamdMilter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rspamd = Rspamd()

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
