"""Which peers found through DNS mxd refuses (qmgr_transport.c, peer_check.c): an MX host whose address is
one of ours (mxd's own listener, or an interface address under a wildcard listener) is a mail loop, bounced
5.4.6 "loops back to myself" after one attempt; a private or link-local MX address is refused unless
smtp_allow_private_destinations = yes; explicit [host]:port relays are exempt from both.

As root the file runs itself in a network namespace of its own (unshare --net) whose loopback also holds
PRIVATE (10.77.0.1), so that a sink can listen on a private address without any packet leaving the test;
elsewhere the tests that need that address are skipped."""
import email
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

NETNS_MARK = "MXD_TEST_PEERS_NETNS"
if os.environ.get(NETNS_MARK) is None and os.geteuid() == 0 and shutil.which("unshare"):
    os.environ[NETNS_MARK] = "1"
    try:
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    except OSError:
        pass  # run here, without the private address

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, wait_for  # noqa: E402

PRIVATE = "10.77.0.1"


def setup_private_address():
    """In our own namespace: loopback up, PRIVATE on it. True when PRIVATE can be used."""
    if os.environ.get(NETNS_MARK) is None:
        return False
    ok = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True).returncode == 0
    subprocess.run(["ip", "addr", "add", PRIVATE + "/32", "dev", "lo"], capture_output=True)
    out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    return ok and PRIVATE in out


HAVE_PRIVATE = setup_private_address()

ZONES = """
$ORIGIN loop.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN private.test
@        MX 10 mx
mx       A %s
$ORIGIN mixed.test
@        MX 10 inside
@        MX 20 outside
inside   A 192.168.1.1
outside  A 127.0.0.1
$ORIGIN sender.test
@        MX 10 mx
mx       A 127.0.0.1
""" % PRIVATE


class Peers(unittest.TestCase):
    def start(self, settings=None, sink_host="127.0.0.1", own_port_mx=False, routes=()):
        """mxd with the test DNS; sender.test's bounces go to a sink through an explicit relay. With
        own_port_mx, MX hosts are looked for on mxd's own port (so an MX at 127.0.0.1 is mxd itself)."""
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink(sink_host, mxtest.free_port())
        base = {
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
            # loopback clients are trusted: mail that mxd sends to itself is relayed again (the loop)
            "mynetworks": "127.0.0.0/8",
        }
        base.update(settings or {})
        self.inst = mxtest.Instance(base)
        i = self.inst
        if own_port_mx:
            i.settings["smtp_tcp_port"] = str(i.port)
            if i.settings["smtpd_listen"].startswith("0.0.0.0:"):
                i.settings["smtpd_listen"] = "0.0.0.0:%d" % i.port
            i.write_conf()
        hosted(i)
        i.mxctl("alias", "add", "self@example.com", "x@loop.test")
        i.mxctl("alias", "add", "priv@example.com", "x@private.test")
        i.mxctl("alias", "add", "mixed@example.com", "x@mixed.test")
        i.mxctl("route", "add", "sender.test", "[%s]:%d" % (sink_host, self.sink.port))
        for match, nexthop in routes:
            i.mxctl("route", "add", match, nexthop % self.sink.port)
        i.start()

    def tearDown(self):
        try:
            if hasattr(self, "inst"):
                self.inst.stop()
        finally:
            if hasattr(self, "inst"):
                self.inst.cleanup()
            self.sink.stop()
            self.dns.stop()

    def send(self, rcpt, msgid):
        c = self.inst.client()
        r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message(msgid, sender="alice@sender.test"))
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def queue_empty(self):
        return re.search(r"^[0-9A-F]{16}", self.inst.mxctl("queue", "list").stdout, re.M) is None

    def one_bounce(self, rcpt, status, diag_re):
        self.assertTrue(self.sink.wait(1, timeout=30), self.inst.read_log()[-4000:])
        self.assertTrue(wait_for(self.queue_empty), self.inst.mxctl("queue", "list").stdout)
        time.sleep(0.5)
        self.assertEqual(len(self.sink.messages), 1, self.inst.read_log()[-4000:])
        b = self.sink.messages[0]
        self.assertIn(b.mail_from, ("", "<>"))
        self.assertEqual(b.rcpt_tos, ["alice@sender.test"])
        ds = email.message_from_bytes(b.data).get_payload()[1].as_string()
        self.assertIn("Final-Recipient: rfc822; %s" % rcpt, ds)
        self.assertIn("Status: %s" % status, ds)
        self.assertRegex(ds, diag_re)

    def test_mx_at_own_listen_address_loops_back(self):
        """MX -> 127.0.0.1, where mxd itself listens: one attempt, bounced 5.4.6, no relay to itself."""
        self.start(own_port_mx=True)
        qid = self.send("self@example.com", "p1@test")
        self.one_bounce("x@loop.test", "5.4.6", r"loops back to myself")
        log = self.inst.read_log()
        self.assertRegex(log, r"%s: to=<x@loop\.test>, orig_to=<self@example\.com>, relay=none, .*dsn=5\.4\.6, "
                              r"status=bounced \(mail for loop\.test loops back to myself\)" % qid)
        self.assertEqual(log.count("to=<x@loop.test>"), 1, log[-4000:])
        self.assertEqual([ln for ln in log.splitlines() if "status=sent" in ln and "relay=127.0.0.1[" not in ln], [])
        # mxd never accepted a message from itself
        self.assertEqual(len(re.findall(r": client=[^\[]*\[127\.0\.0\.1\]", log)), 1, log[-4000:])

    def test_private_mx_refused(self):
        """MX -> 10.77.0.1 (RFC 1918): refused without a connection, bounced."""
        self.start()
        qid = self.send("priv@example.com", "p2@test")
        self.one_bounce("x@private.test", "5.4.4", r"private address")
        self.assertRegex(self.inst.read_log(),
                         r"%s: to=<x@private\.test>, orig_to=<priv@example\.com>, relay=none, .*dsn=5\.4\.4, "
                         r"status=bounced \(mail for private\.test: mx\.private\.test\[10\.77\.0\.1\] is a "
                         r"private address \(smtp_allow_private_destinations = no\)\)" % qid)

    def test_private_mx_skipped_for_a_public_one(self):
        """A private MX host is passed over; the next MX host (here loopback, not ours) gets the mail."""
        self.start()
        self.send("mixed@example.com", "p3@test")
        self.assertTrue(self.sink.wait(1), self.inst.read_log()[-4000:])
        self.assertEqual(self.sink.messages[0].rcpt_tos, ["x@mixed.test"])
        self.assertRegex(self.inst.read_log(), r"to=<x@mixed\.test>, .*relay=outside\.mixed\.test\[127\.0\.0\.1\]")

    @unittest.skipUnless(HAVE_PRIVATE, "needs root: a network namespace holding %s" % PRIVATE)
    def test_private_mx_allowed_by_setting(self):
        self.start({"smtp_allow_private_destinations": "yes"}, sink_host=PRIVATE)
        self.send("priv@example.com", "p4@test")
        self.assertTrue(self.sink.wait(1), self.inst.read_log()[-4000:])
        self.assertEqual(self.sink.messages[0].rcpt_tos, ["x@private.test"])
        self.assertRegex(self.inst.read_log(), r"to=<x@private\.test>, .*relay=mx\.private\.test\[10\.77\.0\.1\]")

    @unittest.skipUnless(HAVE_PRIVATE, "needs root: a network namespace holding %s" % PRIVATE)
    def test_wildcard_listener_interface_address_loops_back(self):
        """Listening on 0.0.0.0: an MX at any interface address (here 10.77.0.1) is ourselves."""
        self.start({"smtp_allow_private_destinations": "yes", "smtpd_listen": "0.0.0.0:0"}, own_port_mx=True)
        self.send("priv@example.com", "p5@test")
        self.one_bounce("x@private.test", "5.4.6", r"loops back to myself")
        self.assertEqual(self.inst.read_log().count("to=<x@private.test>"), 1)

    def test_explicit_relay_exempt(self):
        """[127.0.0.1]:port is the operator's choice: used as it is, even on mxd's own address."""
        self.start(routes=[("private.test", "[127.0.0.1]:%d")])
        self.send("priv@example.com", "p6@test")
        self.assertTrue(self.sink.wait(1), self.inst.read_log()[-4000:])
        self.assertEqual(self.sink.messages[0].rcpt_tos, ["x@private.test"])
        self.assertRegex(self.inst.read_log(), r"to=<x@private\.test>, .*relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                                               r".*status=sent" % self.sink.port)

    @unittest.skipUnless(HAVE_PRIVATE, "needs root: a network namespace holding %s" % PRIVATE)
    def test_explicit_private_relay_exempt(self):
        """[10.77.0.1]:port with smtp_allow_private_destinations = no: an explicit relay is not checked."""
        self.start(sink_host=PRIVATE, routes=[("private.test", "[" + PRIVATE + "]:%d")])
        self.send("priv@example.com", "p7@test")
        self.assertTrue(self.sink.wait(1), self.inst.read_log()[-4000:])
        self.assertEqual(self.sink.messages[0].rcpt_tos, ["x@private.test"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
