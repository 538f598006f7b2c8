"""Throttling and reputation replies after connect (issue #17, part 3): a relay that answers 421 4.7.0
"very low reputation" at RCPT opens its circuit like a dead relay, so the mail moves to the route's
second priority; mxctl route stats and the metrics count it apart from connection failures."""
import os
import re
import sys
import time
import unittest
import urllib.request

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

GMAIL_421 = ("421 4.7.0 [127.0.0.1] Our system has detected that this message is suspicious due to the very low "
             "reputation of the sending IP address.")


class Throttle(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.metrics_port = mxtest.free_port()
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
            "metrics_listen": "127.0.0.1:%d" % self.metrics_port,
        })
        self.inst.mxctl("domain", "add", "example.com")
        self.relay1 = sink.Sink("127.0.0.1", mxtest.free_port())
        self.relay2 = sink.Sink("127.0.0.1", mxtest.free_port())

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            self.relay1.stop()
            self.relay2.stop()
            self.dns.stop()

    def send(self, rcpt, n):
        c = self.inst.client()
        for k in range(n):
            r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message("t%d-%d@test" % (k, time.time_ns())))
            self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()

    def stats(self):
        out = self.inst.mxctl("route", "stats").stdout.splitlines()
        header = out[0].split()
        return {row.split()[1]: dict(zip(header, row.split())) for row in out[1:]}

    def test_421_at_rcpt_moves_mail_to_the_second_priority(self):
        self.relay1.rcpt_reply = {"*": GMAIL_421}
        self.inst.mxctl("alias", "add", "t@example.com", "user@gmail.test")
        hop1, hop2 = "[127.0.0.1]:%d" % self.relay1.port, "[127.0.0.1]:%d" % self.relay2.port
        self.inst.mxctl("route", "add", "gmail.test", hop1, "--priority", "1")
        self.inst.mxctl("route", "add", "gmail.test", hop2, "--priority", "2")
        self.inst.start()
        self.send("t@example.com", 1)
        self.assertTrue(self.relay2.wait(1, 30), self.inst.read_log()[-3000:])
        self.assertEqual(self.relay1.messages, [])
        log = self.inst.read_log()
        self.assertIn("throttles us: 421 4.7.0", log)
        self.assertRegex(log, r"nexthop %s unavailable after 3 consecutive failures \(throttled\)" % re.escape(hop1))
        # the next messages go straight to the second priority while the circuit is open
        asked = self.inst.read_log().count("throttles us")
        self.send("t@example.com", 5)
        self.assertTrue(self.relay2.wait(6, 30), self.inst.read_log()[-3000:])
        self.assertEqual(self.relay1.messages, [])
        self.assertEqual(self.inst.read_log().count("throttles us"), asked)  # relay 1 was not asked again
        time.sleep(5.5)  # route statistics are flushed every 5 s
        st = self.stats()
        self.assertGreaterEqual(int(st[hop1]["THROTTLED"]), 3, st)
        self.assertEqual(st[hop1]["CONNFAIL"], "0", st)
        self.assertEqual(st[hop1]["SENT"], "0", st)
        self.assertEqual(st[hop2]["SENT"], "6", st)
        self.assertEqual(st[hop2]["THROTTLED"], "0", st)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10) as r:
            metrics = r.read().decode()
        m = re.search(r"(?m)^mxd_delivery_throttled_total (\d+)$", metrics)
        self.assertTrue(m and int(m.group(1)) >= 3, metrics[-2000:])

    def test_an_ordinary_4xx_does_not_open_the_circuit(self):
        self.relay1.rcpt_reply = {"*": "452 4.2.2 mailbox full"}
        self.inst.mxctl("alias", "add", "t@example.com", "user@gmail.test")
        hop1 = "[127.0.0.1]:%d" % self.relay1.port
        self.inst.mxctl("route", "add", "gmail.test", hop1, "--priority", "1")
        self.inst.mxctl("route", "add", "gmail.test", "[127.0.0.1]:%d" % self.relay2.port, "--priority", "2")
        self.inst.start()
        self.send("t@example.com", 2)
        self.assertTrue(wait_for(lambda: self.inst.read_log().count("mailbox full") >= 6, 30),
                        self.inst.read_log()[-3000:])
        self.assertEqual(self.relay2.messages, [])  # a full mailbox is not the relay's fault
        self.assertNotIn("throttles us", self.inst.read_log())
        self.assertNotIn("unavailable after", self.inst.read_log())


class DirectBackoff(unittest.TestCase):
    """A destination reached directly (MX) that throttles us is backed off on its own: the next messages
    for it are deferred without an attempt until its backoff ends; other destinations are not held."""

    def setUp(self):
        self.dns = dnsserver.start(ZONES + "$ORIGIN gmail.test\n@ MX 10 mx\nmx A 127.0.0.1\n"
                                   "$ORIGIN other.test\n@ MX 10 mx\nmx A 127.0.0.1\n", port=0)
        self.mx = sink.Sink("127.0.0.1", mxtest.free_port())
        self.mx.rcpt_reply = {"user@gmail.test": GMAIL_421}
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port, "smtp_tcp_port": str(self.mx.port),
            "queue_run_delay": "1s", "minimal_backoff_time": "30s", "maximal_backoff_time": "60s",
            "smtp_tls_security_level": "none",
        })
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.mxctl("alias", "add", "t@example.com", "user@gmail.test")
        self.inst.mxctl("alias", "add", "o@example.com", "user@other.test")
        self.inst.start()

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            self.mx.stop()
            self.dns.stop()

    def send(self, rcpt, msgid):
        c = self.inst.client()
        r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message(msgid))
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def test_throttled_destination_backs_off_alone(self):
        self.send("t@example.com", "b1@test")
        self.assertTrue(wait_for(lambda: "throttles us" in self.inst.read_log(), 30), self.inst.read_log()[-3000:])
        self.assertIn("direct:gmail.test: throttled 1 time in a row: no attempt for 30s", self.inst.read_log())
        second = self.send("t@example.com", "b2@test")
        self.send("o@example.com", "b3@test")  # another destination is not held
        self.assertTrue(self.mx.wait(1, 30), self.inst.read_log()[-3000:])
        self.assertEqual(self.mx.messages[0].rcpt_tos, ["user@other.test"])
        self.assertTrue(wait_for(lambda: re.search(r"%s: to=<user@gmail\.test>.*status=deferred \(gmail\.test "
                                                   r"throttled us: backing off" % second, self.inst.read_log()), 30),
                        self.inst.read_log()[-3000:])
        time.sleep(2)
        self.assertEqual(self.inst.read_log().count("throttles us"), 1)  # no second attempt
        listing = self.inst.mxctl("queue", "list").stdout
        self.assertIn(second, listing)


if __name__ == "__main__":
    unittest.main()
