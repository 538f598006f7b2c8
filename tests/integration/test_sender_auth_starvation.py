"""SPF checks cannot be starved: 200 sessions name MAIL FROM domains whose DNS never answers, and a
sender from another address still gets its MAIL reply (its real verdict) within 5 s. The checks in
flight are bounded per client (spf_client_check_limit) and in all (spf_check_limit); a check over a
bound, or one that waited in the queue past its deadline, is a temperror: 451 4.7.24 with
spf_policy = reject, accepted with "Received-SPF: temperror" with spf_policy = tag."""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402

ZONES = """
$ORIGIN sender.test
@        TXT "v=spf1 ip4:127.0.0.0/8 -all"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN slow.test
@        TIMEOUT
"""

FLOOD = 200


class Starvation(unittest.TestCase):
    spf_policy = "reject"

    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.addCleanup(self.dns.stop)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.addCleanup(self.sink.stop)
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "smtp_tls_security_level": "none",
            "queue_run_delay": "1s",
            "spf_policy": self.spf_policy,
            "smtpd_client_connection_limit": "1000",
            "smtpd_timeout": "60s",
        })
        self.addCleanup(self.inst.cleanup)
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        self.inst.start()
        self.addCleanup(self.inst.stop)
        self.flood = []
        for i in range(FLOOD):
            c = self.inst.client(timeout=30)
            self.addCleanup(c.close)
            c.reply()
            c.cmd("EHLO flood.example")
            c.send("MAIL FROM:<u%d@slow.test>\r\n" % i)
            self.flood.append(c)
        time.sleep(0.5)

    def normal_sender_mail(self):
        c = self.inst.client(source="127.0.0.3")
        self.addCleanup(c.close)
        c.reply()
        c.cmd("EHLO client.example")
        started = time.time()
        r = c.cmd("MAIL FROM:<alice@sender.test>")
        return c, r, time.time() - started


class Reject(Starvation):
    def test_normal_sender_is_answered_within_5s(self):
        c, r, took = self.normal_sender_mail()
        self.assertEqual(r.code, 250, r.lines)
        self.assertLess(took, 5.0)
        self.assertRegex(self.inst.read_log()[-2000:], r"spf=pass identity=mailfrom client=\S+\[127\.0\.0\.3\]")
        # the flood's checks over the per-client bound are temperrors at once
        c = self.flood[-1]
        c.sock.settimeout(5)
        r = c.reply()
        self.assertTrue(r.text.startswith("451 4.7.24"), r.lines)


class Tag(Starvation):
    spf_policy = "tag"

    def test_over_the_bound_is_accepted_as_temperror(self):
        c, r, took = self.normal_sender_mail()
        self.assertEqual(r.code, 250, r.lines)
        self.assertLess(took, 5.0)
        last = self.flood[-1]
        last.sock.settimeout(5)
        self.assertEqual(last.reply().code, 250)
        self.assertEqual(last.cmd("RCPT TO:<info@example.com>").code, 250)
        self.assertEqual(last.cmd("DATA").code, 354)
        last.send(mxtest.make_message("flood@test", sender="u199@slow.test") + "\r\n.\r\n")
        self.assertEqual(last.reply().code, 250)
        deadline = time.time() + 20
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if "someone@gmail.test" in m.rcpt_tos]
            if found:
                break
            time.sleep(0.1)
        self.assertTrue(found, self.inst.read_log()[-3000:])
        head = found[0].data.decode("ascii", "replace")
        self.assertRegex(head, r"(?m)^Received-SPF: temperror")


if __name__ == "__main__":
    unittest.main(verbosity=2)
